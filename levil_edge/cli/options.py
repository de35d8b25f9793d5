"""Every option alias shared by two or more commands, defined once.

One name per meaning: ``--data`` is the dataset a command reads, everywhere; ``--json`` is one
alias with one parameter name (``json_out``). Aliases whose flag is the same but whose meaning
differs (``--frames``, ``--batch-size``, ``--out``) get one alias per meaning, named after it.
The old dataset spellings (``--videos``, ``--train``) stay accepted through hidden aliases that
:func:`levil_edge.cli.params.merge_data` folds into ``data``.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, List, Optional

import typer


class Decoder(str, enum.Enum):
    auto = "auto"
    decord = "decord"
    pyav = "pyav"


# --- output ---
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout instead of a table.")]

# --- the dataset a command reads: always --data ---
_SPEC = "class folders, a folder of videos, a 'path label' list, a CSV, or split files (ucfTrainTestlist/:1:train)"
DataOpt = Annotated[str, typer.Option("--data", help=f"Labeled videos: {_SPEC}.", show_default=False)]
UnlabeledDataOpt = Annotated[
    Optional[str], typer.Option("--data", help=f"Unlabeled videos: {_SPEC} (labels ignored).", show_default=False)
]
TrainDataOpt = Annotated[
    Optional[str], typer.Option("--data", help=f"Labeled training videos: {_SPEC}.", show_default=False)
]
SpecDataOpt = Annotated[
    Optional[str], typer.Option("--data", help="The dataset, instead of the positional SPEC.", show_default=False)
]
# hidden spellings of --data kept for old scripts and the README's first examples
VideosAliasOpt = Annotated[Optional[str], typer.Option("--videos", hidden=True, help="Old spelling of --data.")]
TrainAliasOpt = Annotated[Optional[str], typer.Option("--train", hidden=True, help="Old spelling of --data.")]

# --- options files (distill, finetune, adapt) ---
ConfigOpt = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", exists=True, dir_okay=False,
                 help="YAML or JSON options file (a run's config.json replays it); flags given here override it."),
]

# --- common knobs ---
DecoderOpt = Annotated[
    Decoder, typer.Option("--decoder", help="Video decoder: auto prefers decord (x86_64) and falls back to PyAV.")
]
DeviceOpt = Annotated[str, typer.Option("--device", help="torch device: auto, cpu, cuda, cuda:1 ...")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (sampling, subsets, init).")]
RootOpt = Annotated[
    Optional[str],
    typer.Option(
        "--root",
        help="Rewrite video path prefixes in list files: 'OLD=NEW', or just NEW to join relative paths to it.",
    ),
]
LabelsOpt = Annotated[
    Optional[Path],
    typer.Option("--labels", exists=True, dir_okay=False, help="labels.txt: one class name per line, in index order."),
]
TrustRemoteCodeOpt = Annotated[
    bool,
    typer.Option(
        "--trust-remote-code",
        help="Allow the model repo to run its own Python code (off by default; only for models you trust).",
    ),
]

# --- teachers (zeroshot, cache fill) ---
TeacherOpt = Annotated[
    str, typer.Option("--teacher", help="Hugging Face id or local folder of a CLIP, MetaCLIP-2, SigLIP(2) or X-CLIP model.")
]
TemplateOpt = Annotated[
    Optional[list[str]],
    typer.Option("--template", help="Prompt template with {} for the label; repeat it to ensemble prompts."),
]
DtypeOpt = Annotated[Optional[str], typer.Option("--dtype", help="float32, float16 or bfloat16 (default: fp16 on CUDA, fp32 on CPU).")]
TeacherBatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Videos per teacher forward.")]
TeacherFramesOpt = Annotated[Optional[int], typer.Option("--frames", min=1, help="Frames per view (default 8; X-CLIP: its own).")]
# Checked by the library (one line, e.g. "tau must be positive"), the same in every command.
TauOpt = Annotated[float, typer.Option("--tau", help="Teacher softmax temperature on cosine similarity (LEViL: 1/50).")]
# The teacher target cache: one teacher per folder, reused across runs and commands (`levil-edge cache`).
CacheOpt = Annotated[Optional[Path], typer.Option("--cache", help="Teacher target cache folder, reused across runs (distill/finetune default: <out>/teacher_cache; zeroshot: none).")]
CacheFolderOpt = Annotated[Path, typer.Option("--cache", help="Teacher target cache folder (one teacher per folder).")]

# --- training (distill, finetune): one clip per video per step ---
TrainBatchOpt = Annotated[int, typer.Option("--batch-size", "-b", help="Clips per step per process (finetune: labeled + unlabeled).")]
ClipFramesOpt = Annotated[Optional[int], typer.Option("--frames", help="Frames per clip (LEViL: 8); default: the student's.")]


class Amp(str, enum.Enum):  # TrainOptions.amp
    auto = "auto"
    bf16 = "bf16"
    fp16 = "fp16"
    none = "none"


EpochsOpt = Annotated[Optional[int], typer.Option("--epochs", help="Epochs (distill: 100, finetune: 20, as in LEViL).")]
LrOpt = Annotated[float, typer.Option("--lr", help="AdamW learning rate (LEViL: 1e-4).")]
WdOpt = Annotated[float, typer.Option("--weight-decay", help="AdamW weight decay (ours: 0.05).")]
WarmupOpt = Annotated[float, typer.Option("--warmup-epochs", help="Linear warm-up length in epochs, then cosine decay.")]
ClipOpt = Annotated[float, typer.Option("--grad-clip", help="Max gradient norm; 0 disables.")]
AmpOpt = Annotated[Amp, typer.Option("--amp", help="Mixed precision: auto = bf16 on CUDA, none on CPU.")]
WorkersOpt = Annotated[int, typer.Option("--workers", "-j", help="Data-loading worker processes (0 = in the main process).")]
FlipOpt = Annotated[float, typer.Option("--flip", help="Horizontal-flip probability; 0 when left/right matters to the labels.")]
SaveEveryOpt = Annotated[int, typer.Option("--save-every", help="Also checkpoint last/ every N steps (0: epoch ends only).")]
StopAfterOpt = Annotated[Optional[int], typer.Option("--stop-after", help="Debug: checkpoint and stop after N steps in total (then --resume).", hidden=False)]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last/ checkpoint.")]
TbOpt = Annotated[bool, typer.Option("--tensorboard", help="Also log to <out>/tensorboard.")]
LogEveryOpt = Annotated[int, typer.Option("--log-every", help="Write a metrics.jsonl line every N steps.")]
MinCropOpt = Annotated[float, typer.Option("--min-crop", min=0.05, max=1.0, help="Random resized crop keeps at least this fraction of the frame area (1 = whole frame, no crop).")]
RamCacheOpt = Annotated[int, typer.Option("--ram-cache-mb", help="Keep decoded videos in RAM up to this many MB, so later epochs skip decoding (small datasets of short videos; use with --workers 0).")]
CacheFillBatchOpt = Annotated[int, typer.Option("--teacher-batch-size", help="Videos per teacher forward when filling the cache.")]

# --- captioning ---
CaptionBatchOpt = Annotated[int, typer.Option("--batch-size", "-b", help="Videos per generate() call.")]
CaptionFramesOpt = Annotated[int, typer.Option("--frames", help="Frames sampled uniformly over each video.")]

# --- outputs named after what they are ---
RunDirOpt = Annotated[
    Optional[Path], typer.Option("--out", help="Run folder (config, metrics.jsonl, last/ and best/ checkpoints).", show_default=False)
]
CaptionsOutOpt = Annotated[Path, typer.Option("--out", "-o", dir_okay=False, help="captions.jsonl to write or resume.")]
VocabOutOpt = Annotated[Path, typer.Option("--out", "-o", help="vocab.txt to write; vocab.json and vocab.png go beside it.")]

# --- ONNX Runtime (predict, bench) ---
ProviderOpt = Annotated[
    Optional[List[str]],
    typer.Option("--provider", help="ONNX Runtime execution provider(s) in order: cpu, cuda, tensorrt (default: cuda if present, else cpu)."),
]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", min=1, help="ONNX Runtime intra-op threads (default: all cores).")]
