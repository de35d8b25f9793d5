"""``run_demo``: the whole levil-edge pipeline on generated data, the paper's comparison in miniature.

generate -> captions -> vocab -> teacher zero-shot -> distill + finetune (5% labels) -> scratch
baseline -> export FP32 + INT8 -> bench. Every stage calls the same library function as the
corresponding CLI command; the results land in ``<out>/demo.json`` and ``<out>/REPORT.md``.

>>> from levil_edge.demo import DemoOptions, run_demo
>>> results = run_demo(DemoOptions(out="runs/demo", quick=True))
>>> results["table"]
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from levil_edge.demo.narrative import STAGES, flip_note
from levil_edge.errors import UsageError

TEACHER_DIR = Path(__file__).resolve().parent.parent / "assets" / "demo_teacher"
# Horizontal flips swap these classes with each other (see ``classes_for_training``).
FLIP_SENSITIVE = ("move_left", "move_right", "rotate_clockwise", "rotate_counterclockwise")


@dataclass(frozen=True)
class Scale:
    """Dataset sizes and training budget of one demo size."""

    pool_per_class: int
    train_per_class: int
    val_per_class: int
    test_per_class: int
    size: int  # student input (videos are 64 px)
    distill_epochs: int
    finetune_epochs: int
    eval_clips: int
    calib_clips: int
    bench_seconds: float
    frames: int = 8
    stride: int = 2
    batch: int = 16
    lr: float = 1e-3  # short schedules from scratch want more than LEViL's 1e-4 over 100 epochs
    video_frames: int = 16
    video_size: int = 64
    min_df: int = 5  # LEViL's vocabulary filter
    feature_weight: float = 0.0  # FD-VLM embedding MSE in distill (0 = LEViL's ZSD only)
    min_crop: float = 1.0  # no random crop: the moving object is a few pixels of a 32 px frame
    ram_cache_mb: int = 512  # decoded demo videos stay in RAM: decoding costs more than a tiny student's step


# What makes a student learn these motions on 2 CPU cores in minutes (BENCHMARKS.md, "Demo"):
# r3d_tiny at 32 px (x3d_xs and mobilenetv2_tsm stayed at chance for 300 steps; their depthwise
# convolutions run ~5x slower per clip on CPU), decoded videos kept in RAM (decoding was 65% of the step),
# no random crop (crops of a 32 px frame cut the moving object out), lr 1e-3 (3e-3 stalled), and
# enough distillation steps: the student finds motion features after a few hundred steps.
# INT8: minmax calibration on 160 clips lost 1.7 points on the full demo, on 400 clips 0.7.
QUICK = Scale(pool_per_class=40, train_per_class=40, val_per_class=0, test_per_class=10, size=32,
              distill_epochs=32, finetune_epochs=12, eval_clips=2, calib_clips=200, bench_seconds=1.0)
FULL = Scale(pool_per_class=100, train_per_class=60, val_per_class=5, test_per_class=30, size=32,
             distill_epochs=40, finetune_epochs=15, eval_clips=4, calib_clips=400, bench_seconds=3.0)


@dataclass
class DemoOptions:
    out: str = "runs/demo"
    quick: bool = False
    seed: int = 0
    student: str = "r3d_tiny"
    captioner: Optional[str] = None
    teacher: Optional[str] = None  # default: the shipped demo teacher
    label_ratio: float = 0.05
    difficulty: float = 0.3
    device: str = "auto"
    decoder: str = "auto"
    workers: int = 0  # in-process decoding: deterministic and cheapest on 2 cores
    scale: Optional[Scale] = None  # overrides QUICK/FULL (benchmarks, tests)

    def resolved_scale(self) -> Scale:
        return self.scale or (QUICK if self.quick else FULL)


Narrate = Callable[[str, str, str], None]  # (stage key, title, text)


def _silent(stage: str, title: str, text: str) -> None:
    pass


def flip_supported() -> bool:
    """Whether levil_edge.train can switch off horizontal-flip augmentation."""
    from levil_edge.train.run_options import TrainOptions

    return "flip" in {f.name for f in dataclasses.fields(TrainOptions)}


def classes_for_training() -> tuple[list[str], list[str]]:
    """(demo classes, notes). All motion classes when flips can be switched off; otherwise the
    classes a flip does not turn into one another."""
    from levil_edge.data.synthetic import CLASS_NAMES

    if flip_supported():
        return list(CLASS_NAMES), []
    return [c for c in CLASS_NAMES if c not in FLIP_SENSITIVE], [flip_note()]


def _train_kw(opts: DemoOptions, sc: Scale, seed: int) -> dict[str, Any]:
    kw = dict(student=opts.student, batch_size=sc.batch, lr=sc.lr, frames=sc.frames, stride=sc.stride, size=sc.size,
              workers=opts.workers, seed=seed, device=opts.device, decoder=opts.decoder, warmup_epochs=0.5,
              ram_cache_mb=sc.ram_cache_mb, min_crop=sc.min_crop)
    if flip_supported():
        kw["flip"] = 0.0  # a flipped "move left" is a "move right"
    return kw


class _Clock:
    """Times each stage and narrates it."""

    def __init__(self, narrate: Narrate):
        self.narrate, self.times = narrate, {}

    @contextlib.contextmanager
    def stage(self, key: str):
        title, text = STAGES[key]
        self.narrate(key, title, text)
        t0 = time.perf_counter()
        yield
        self.times[key] = round(time.perf_counter() - t0, 1)


# ----------------------------------------------------------------------------- stages
def generate_data(root: Path, classes: list[str], sc: Scale, seed: int, difficulty: float) -> dict[str, Any]:
    """Unlabeled pool (flat, all classes mixed, labels hidden) and target train/val/test folders.
    Each split has its own seed, so no clip appears twice."""
    from levil_edge.data.synthetic import generate_dataset

    common = dict(classes=classes, frames=sc.video_frames, size=sc.video_size, difficulty=difficulty, progress=True)
    splits = {"pool": (sc.pool_per_class, "flat"), "train": (sc.train_per_class, "folders"),
              "val": (sc.val_per_class, "folders"), "test": (sc.test_per_class, "folders")}
    out: dict[str, Any] = {}
    for i, (name, (per_class, layout)) in enumerate(splits.items()):
        if per_class <= 0:
            continue
        recs = generate_dataset(root / name, videos_per_class=per_class, seed=seed * 100 + i, layout=layout, **common)
        out[name] = {"path": str(root / name), "videos": len(recs)}
    out["labels"] = str(root / "train" / "labels.txt")
    return out


def caption_pool(data: dict, out: Path, opts: DemoOptions) -> dict[str, Any]:
    """Template captions written by the generator, or a real VLM with ``opts.captioner``."""
    from levil_edge.vocab import read_captions

    if opts.captioner is None:
        path = Path(data["pool"]["path"]) / "captions.jsonl"
        source = "synthetic-template"
    else:
        from levil_edge.captioning import caption_dataset

        path = out / "captions.jsonl"
        caption_dataset(data["pool"]["path"], opts.captioner, path, device=opts.device)
        source = opts.captioner
    captions, _ = read_captions(path)
    return {"path": str(path), "source": source, "num_captions": len(captions), "examples": captions[:5]}


def build_vocabulary(captions: dict, out: Path, min_df: int = 5) -> dict[str, Any]:
    from levil_edge.vocab import vocab_from_file

    vocab = vocab_from_file(captions["path"], min_df=min_df)
    files = vocab.save(out / "vocab.txt")
    return {"path": str(files["txt"]), "size": len(vocab), "labels": vocab.labels, "chart": str(files.get("png", ""))}


def teacher_zero_shot(teacher_path: str, data: dict, classes: list[str], opts: DemoOptions, out: Path) -> dict[str, Any]:
    """Zero-shot top-1 of the teacher on the target test split; class names as bare prompts
    ("move left"), the same texts fine-tuning uses."""
    from levil_edge.data.specs import load_spec
    from levil_edge.teachers import load_teacher
    from levil_edge.teachers.zeroshot import zeroshot_eval
    from levil_edge.utils.plots import confusion_matrix_plot

    teacher = load_teacher(teacher_path, device=opts.device)
    spec = load_spec(data["test"]["path"], labels=data["labels"])
    res = zeroshot_eval(teacher, spec.items, spec.classes, template="{}", decoder=opts.decoder,
                        cache_dir=out / "teacher_cache" / "test")
    confusion_matrix_plot(out / "teacher_confusion.png", res["confusion_matrix"], spec.classes, title="teacher zero-shot")
    return {**res, "plot": str(out / "teacher_confusion.png")}


def distill_and_finetune(teacher_path: str, data: dict, vocab: dict, opts: DemoOptions, sc: Scale, out: Path) -> dict:
    from levil_edge.train import DistillOptions, FinetuneOptions, distill, finetune

    base = _train_kw(opts, sc, opts.seed)
    zsd = distill(DistillOptions(videos=data["pool"]["path"], vocab=vocab["path"], teacher=teacher_path,
                                 out=str(out / "distill"), epochs=sc.distill_epochs,
                                 feature_weight=sc.feature_weight, **base))
    val = data.get("val", {}).get("path")
    ft = finetune(FinetuneOptions(labels=data["labels"], train=data["train"]["path"], label_ratio=opts.label_ratio,
                                  val=val, init=zsd["checkpoint"], teacher=teacher_path, template="{}",
                                  out=str(out / "finetune"), epochs=sc.finetune_epochs, **base))
    return {"distill": zsd, "finetune": ft}


def scratch_baseline(data: dict, opts: DemoOptions, sc: Scale, out: Path, ft: dict) -> dict:
    """Supervised only, on the labeled subset fine-tuning used (same seed -> same split), for as
    many optimizer steps as fine-tuning took."""
    from levil_edge.train import FinetuneOptions, finetune

    num_labeled = int(ft.get("num_labeled") or 1)
    steps_per_epoch = max(1, math.ceil(num_labeled / sc.batch))
    epochs = max(1, math.ceil(int(ft["steps"]) / steps_per_epoch))
    # No per-epoch validation: with a handful of labels an epoch is one or two steps, and validating
    # after each of hundreds of epochs would dominate the demo's time. Both students are compared
    # on their last checkpoint (see run_demo), so neither gets best-on-validation selection.
    return finetune(FinetuneOptions(labels=data["labels"], train=data["train"]["path"], label_ratio=opts.label_ratio,
                                    val=None, no_teacher=True, out=str(out / "scratch"), epochs=epochs,
                                    **_train_kw(opts, sc, opts.seed)))


def evaluate_on_test(checkpoint: str, data: dict, sc: Scale, out: Path, opts: DemoOptions) -> dict:
    from levil_edge.train import evaluate

    return evaluate(checkpoint, data["test"]["path"], clips=sc.eval_clips, labels=data["labels"], out=out,
                    decoder=opts.decoder, device=opts.device)


def export_and_bench(checkpoint: str, data: dict, sc: Scale, out: Path, opts: DemoOptions) -> dict:
    from levil_edge.export import export_model
    from levil_edge.runtime import bench_models

    exp = export_model(checkpoint, out / "export", int8=True, calib_data=data["train"]["path"], labels=data["labels"],
                       calib_clips=sc.calib_clips, heldout_clips=16, max_batch=8, decoder=opts.decoder, seed=opts.seed)
    fp32, int8 = out / "export" / "model.onnx", out / "export" / "model.int8.cpu.onnx"
    bench = bench_models([fp32, int8], batch=8, seconds=sc.bench_seconds, data=data["test"]["path"],
                         labels=data["labels"], num_clips=sc.eval_clips, decoder=opts.decoder, plot=out / "latency.png")
    return {"export": exp, "bench": bench}


# ----------------------------------------------------------------------------- the run
def run_demo(opts: DemoOptions, narrate: Narrate = _silent) -> dict[str, Any]:
    """Run every stage; return the results (also written to ``<out>/demo.json`` and ``REPORT.md``)."""
    from levil_edge.demo.report import summary_table, write_report
    from levil_edge.utils.io import atomic_write_json

    if not 0 < opts.label_ratio < 1:
        raise UsageError(f"--label-ratio must be in (0, 1), got {opts.label_ratio}")
    sc, out = opts.resolved_scale(), Path(opts.out)
    teacher_path = str(opts.teacher or TEACHER_DIR)
    if not (Path(teacher_path) / "config.json").is_file() and opts.teacher is None:
        raise UsageError(f"the shipped demo teacher is missing from {TEACHER_DIR}: reinstall levil-edge")
    out.mkdir(parents=True, exist_ok=True)
    classes, notes = classes_for_training()
    clock, t0 = _Clock(narrate), time.perf_counter()
    r: dict[str, Any] = {"options": {**dataclasses.asdict(opts), "scale": dataclasses.asdict(sc)}, "classes": classes,
                         "notes": notes, "teacher_path": teacher_path}
    for note in notes:
        narrate("note", "Note", note)
    with clock.stage("generate"):
        r["data"] = generate_data(out / "data", classes, sc, opts.seed, opts.difficulty)
    with clock.stage("captions"):
        r["captions"] = caption_pool(r["data"], out, opts)
    with clock.stage("vocab"):
        r["vocab"] = build_vocabulary(r["captions"], out, sc.min_df)
    with clock.stage("teacher"):
        r["teacher"] = teacher_zero_shot(teacher_path, r["data"], classes, opts, out)
    with clock.stage("distill"):
        r.update(distill_and_finetune(teacher_path, r["data"], r["vocab"], opts, sc, out))
        # The last checkpoint, like the scratch baseline's: a like-for-like comparison.
        ft_last = str(out / "finetune" / "last")
        r["finetune_test"] = evaluate_on_test(ft_last, r["data"], sc, out / "finetune" / "test", opts)
    with clock.stage("scratch"):
        r["scratch"] = scratch_baseline(r["data"], opts, sc, out, r["finetune"])
        r["scratch_test"] = evaluate_on_test(str(out / "scratch" / "last"), r["data"], sc, out / "scratch" / "test", opts)
    with clock.stage("export"):
        r.update(export_and_bench(ft_last, r["data"], sc, out, opts))
    r["stage_seconds"], r["total_seconds"] = clock.times, round(time.perf_counter() - t0, 1)
    r["table"] = summary_table(r)
    atomic_write_json(out / "demo.json", r)
    r["report"] = str(write_report(out, r))
    return r
