"""``levil-edge distill`` and ``levil-edge finetune``: thin wrappers over levil_edge.train."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from levil_edge.cli.common import console, fmt_pct, kv_table, print_json
from levil_edge.cli.options import (
    Amp,
    AmpOpt,
    CacheFillBatchOpt,
    CacheOpt,
    ClipFramesOpt,
    ClipOpt,
    ConfigOpt,
    Decoder,
    DecoderOpt,
    DeviceOpt,
    EpochsOpt,
    FlipOpt,
    JsonOpt,
    LogEveryOpt,
    LrOpt,
    MinCropOpt,
    RamCacheOpt,
    ResumeOpt,
    RootOpt,
    RunDirOpt,
    SaveEveryOpt,
    SeedOpt,
    StopAfterOpt,
    TauOpt,
    TbOpt,
    TrainAliasOpt,
    TrainBatchOpt,
    TrainDataOpt,
    TrustRemoteCodeOpt,
    UnlabeledDataOpt,
    VideosAliasOpt,
    WarmupOpt,
    WdOpt,
    WorkersOpt,
)
from levil_edge.cli.params import build_options, command_values, field_defaults, merge_data, on_command_line
from levil_edge.errors import UsageError
from levil_edge.train.run_options import DistillOptions, FinetuneOptions  # torch-free

# The option defaults live in the library's dataclasses only; the flags show and pass those.
_D, _F = field_defaults(DistillOptions), field_defaults(FinetuneOptions)


StudentOpt = Annotated[str, typer.Option("--student", help="Student model (see `levil-edge models`).")]
SizeOpt = Annotated[Optional[int], typer.Option("--size", help="Crop size (224 = paper setting); default: the student's.")]
StrideOpt = Annotated[Optional[int], typer.Option("--stride", help="Frame stride (1 = consecutive frames, as in LEViL); default: the student's.")]
_FROM_INIT = " Default: the --init checkpoint's, else {}."
FtStudentOpt = Annotated[Optional[str], typer.Option("--student", help="Student model (see `levil-edge models`)." + _FROM_INIT.format("r3d_18"))]
FtSizeOpt = Annotated[Optional[int], typer.Option("--size", help="Crop size." + _FROM_INIT.format("the student's"))]
FtFramesOpt = Annotated[Optional[int], typer.Option("--frames", help="Frames per clip." + _FROM_INIT.format("the student's"))]
FtStrideOpt = Annotated[Optional[int], typer.Option("--stride", help="Frame stride." + _FROM_INIT.format("the student's"))]

# What a run's config.json records besides the options (train/common.py), skipped on replay.
RUN_RECORD_KEYS = ("world_size", "device_resolved")


def train_options(ctx: typer.Context, cls: type, data_field: str, *, config: Optional[Path], data: Optional[str],
                  old_spelling: str, old_value: Optional[str]):
    """The options dataclass of distill/finetune from the parsed parameters, by field name: the
    --config file's values under the flags given on the command line. ``data_field``: the field
    that --data fills (distill: videos, finetune: train); ``old_spelling``: its hidden flag."""
    import dataclasses

    merged = merge_data(data, **{old_spelling: old_value})
    cli_names = {p.name for p in ctx.command.params}
    fields = {f.name for f in dataclasses.fields(cls)}
    values = command_values(
        ctx, config, data=merged, data_given=old_value is not None or on_command_line(ctx, "data"),
        aliases={data_field: "data"}, extras=fields - cli_names - {data_field}, ignored=RUN_RECORD_KEYS,
        hidden=[p for p in cli_names if p.endswith("_alias")],
    )
    return build_options(cls, values, renames={"data": data_field})


def _show(result: dict, title: str, as_json: bool) -> None:
    if result.get("rank", 0) != 0:
        return  # torchrun: only rank 0 reports
    if as_json:
        print_json(result)
        return
    rows = {
        "run": result["run"],
        "steps / epochs": f"{result['steps']} / {result['epochs']}" + (" (stopped early)" if result["stopped_early"] else ""),
        "final train loss": None if result["final_loss"] is None else f"{result['final_loss']:.4f}",
        "best epoch": result["best_epoch"],
        "best val top-1": fmt_pct(result.get("best_val_top1")),
        "clips/s": None if result["clips_per_s"] is None else f"{result['clips_per_s']:.1f}",
        "data wait": fmt_pct(result["data_wait_frac"]),
        "checkpoint": result["checkpoint"],
        "skipped videos": len(result["bad_videos"]),
        "time": f"{result['elapsed_s']:.0f} s",
    }
    for key in ("num_labeled", "num_unlabeled", "num_videos", "num_classes", "teacher", "teacher_targets", "init"):
        if key in result:
            rows[key.replace("_", " ")] = result[key]
    console.print(kv_table(title, rows))
    if result["bad_videos"]:
        console.print(f"[yellow]{len(result['bad_videos'])} videos could not be decoded and were skipped[/], e.g. "
                      + ", ".join(result["bad_videos"][:3]))


def register(app: typer.Typer) -> None:
    @app.command("distill")
    def distill_cmd(
        ctx: typer.Context,
        data: UnlabeledDataOpt = None,
        vocab: Annotated[Optional[Path], typer.Option("--vocab", exists=True, dir_okay=False, help="Pseudo-label vocabulary, one per line (`levil-edge vocab`).", show_default=False)] = None,
        teacher: Annotated[Optional[str], typer.Option("--teacher", help="Frozen teacher: a local Hugging Face model folder or id.", show_default=False)] = None,
        out: RunDirOpt = None,
        config: ConfigOpt = None,
        student: StudentOpt = _D["student"],
        feature_weight: Annotated[float, typer.Option("--feature-weight", help="FD-VLM: weight of the embedding MSE to the teacher (0 = off).")] = _D["feature_weight"],
        teacher_adapter: Annotated[Optional[Path], typer.Option("--teacher-adapter", exists=True, file_okay=False, help="Co-Settle adapter folder (`levil-edge adapt`): its temporally consistent features become the --feature-weight target; soft targets keep the text-aligned embedding.")] = None,
        tau: TauOpt = _D["tau"],
        template: Annotated[str, typer.Option("--template", help="Prompt around each pseudo-label.")] = _D["template"],
        epochs: EpochsOpt = None,
        batch_size: TrainBatchOpt = _D["batch_size"],
        lr: LrOpt = _D["lr"],
        weight_decay: WdOpt = _D["weight_decay"],
        warmup_epochs: WarmupOpt = _D["warmup_epochs"],
        grad_clip: ClipOpt = _D["grad_clip"],
        amp: AmpOpt = Amp(_D["amp"]),
        workers: WorkersOpt = _D["workers"],
        seed: SeedOpt = _D["seed"],
        device: DeviceOpt = _D["device"],
        frames: ClipFramesOpt = None,
        stride: StrideOpt = None,
        size: SizeOpt = None,
        decoder: DecoderOpt = Decoder(_D["decoder"]),
        ram_cache_mb: RamCacheOpt = _D["ram_cache_mb"],
        root: RootOpt = None,
        flip: FlipOpt = _D["flip"],
        min_crop: MinCropOpt = _D["min_crop"],
        cache: CacheOpt = None,
        teacher_batch_size: CacheFillBatchOpt = _D["teacher_batch_size"],
        log_every: LogEveryOpt = _D["log_every"],
        save_every: SaveEveryOpt = _D["save_every"],
        stop_after: StopAfterOpt = None,
        resume: ResumeOpt = _D["resume"],
        tensorboard: TbOpt = _D["tensorboard"],
        trust_remote_code: TrustRemoteCodeOpt = _D["trust_remote_code"],
        videos_alias: VideosAliasOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Annotation-free pretraining: distil the teacher's soft targets over the pseudo-labels into a student.

        Example: levil-edge distill --data clips/ --vocab vocab.txt --teacher ./clip-b32 --student x3d_xs --out runs/zsd
        (or from a file: levil-edge distill --config distill.yaml --epochs 5; a run's config.json replays it)
        """
        from levil_edge.train import DistillOptions, distill

        opts = train_options(ctx, DistillOptions, "videos", config=config, data=data,
                             old_spelling="--videos", old_value=videos_alias)
        if opts.teacher_adapter is not None and opts.feature_weight <= 0:
            raise UsageError("--teacher-adapter only changes the feature-distillation target: add --feature-weight (e.g. 1.0)")
        _show(distill(opts), "distill", json_out)

    @app.command("finetune")
    def finetune_cmd(
        ctx: typer.Context,
        labels: Annotated[Optional[Path], typer.Option("--labels", exists=True, dir_okay=False, help="labels.txt: the target classes, one per line.", show_default=False)] = None,
        data: TrainDataOpt = None,
        out: RunDirOpt = None,
        config: ConfigOpt = None,
        label_ratio: Annotated[Optional[float], typer.Option("--label-ratio", help="Keep labels for this stratified fraction of --data; the rest is the unlabeled pool.")] = None,
        labels_per_class: Annotated[Optional[int], typer.Option("--labels-per-class", help="Keep labels for N videos per class instead.")] = None,
        unlabeled: Annotated[Optional[str], typer.Option("--unlabeled", help="Unlabeled pool (default: the rest of --data).")] = None,
        val: Annotated[Optional[str], typer.Option("--val", help="Validation videos: evaluated each epoch, picks best/.")] = None,
        val_clips: Annotated[int, typer.Option("--val-clips", help="Clips per validation video.")] = _F["val_clips"],
        init: Annotated[Optional[str], typer.Option("--init", help="A distill run folder, a checkpoint, a torchvision .pth, or nothing (from scratch).")] = None,
        teacher: Annotated[Optional[str], typer.Option("--teacher", help="Teacher for zero-shot soft targets on unlabeled clips.")] = None,
        no_teacher: Annotated[bool, typer.Option("--no-teacher", help="Plain supervised training on the labeled clips.")] = _F["no_teacher"],
        student: FtStudentOpt = None,
        template: Annotated[str, typer.Option("--template", help="Class prompt for the teacher.")] = _F["template"],
        tau: TauOpt = _F["tau"],
        ce_weight: Annotated[float, typer.Option("--ce-weight", help="Weight of CE on labeled clips.")] = _F["ce_weight"],
        soft_weight: Annotated[float, typer.Option("--soft-weight", help="Weight of soft-CE to the teacher on unlabeled clips.")] = _F["soft_weight"],
        pseudo_threshold: Annotated[Optional[float], typer.Option("--pseudo-threshold", help="FD-VLM: hard CE on unlabeled clips whose teacher confidence exceeds this (e.g. 0.4).")] = None,
        pseudo_weight: Annotated[float, typer.Option("--pseudo-weight", help="Weight of the pseudo-label CE.")] = _F["pseudo_weight"],
        unlabeled_fraction: Annotated[float, typer.Option("--unlabeled-fraction", help="Share of each batch taken from the unlabeled pool (paper: 40 + 40 = 0.5).")] = _F["unlabeled_fraction"],
        epochs: EpochsOpt = None,
        batch_size: TrainBatchOpt = _F["batch_size"],
        lr: LrOpt = _F["lr"],
        weight_decay: WdOpt = _F["weight_decay"],
        warmup_epochs: WarmupOpt = _F["warmup_epochs"],
        grad_clip: ClipOpt = _F["grad_clip"],
        amp: AmpOpt = Amp(_F["amp"]),
        workers: WorkersOpt = _F["workers"],
        seed: SeedOpt = _F["seed"],
        device: DeviceOpt = _F["device"],
        frames: FtFramesOpt = None,
        stride: FtStrideOpt = None,
        size: FtSizeOpt = None,
        decoder: DecoderOpt = Decoder(_F["decoder"]),
        ram_cache_mb: RamCacheOpt = _F["ram_cache_mb"],
        root: RootOpt = None,
        flip: FlipOpt = _F["flip"],
        min_crop: MinCropOpt = _F["min_crop"],
        cache: CacheOpt = None,
        teacher_batch_size: CacheFillBatchOpt = _F["teacher_batch_size"],
        log_every: LogEveryOpt = _F["log_every"],
        save_every: SaveEveryOpt = _F["save_every"],
        stop_after: StopAfterOpt = None,
        resume: ResumeOpt = _F["resume"],
        tensorboard: TbOpt = _F["tensorboard"],
        trust_remote_code: TrustRemoteCodeOpt = _F["trust_remote_code"],
        train_alias: TrainAliasOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Target-label-set-aware fine-tuning: CE on few labels + the teacher's zero-shot soft targets on unlabeled clips.

        Example: levil-edge finetune --labels labels.txt --data ucf/:1:train --label-ratio 0.05 --init runs/zsd --teacher ./clip-b32 --out runs/zsd-ft
        (or replay a run with other flags: levil-edge finetune --config runs/zsd-ft/config.json --out runs/zsd-ft2 --seed 1)
        """
        from levil_edge.train import FinetuneOptions, finetune

        opts = train_options(ctx, FinetuneOptions, "train", config=config, data=data,
                             old_spelling="--train", old_value=train_alias)
        _show(finetune(opts), "finetune", json_out)
