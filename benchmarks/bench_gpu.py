"""GPU validation benchmarks (one CUDA GPU): training throughput, teacher cache fill, inference latency.

Driven by ``benchmarks/gpu_check.sh``; each subcommand prints a table and writes ``<out>/<name>.json``
(rewritten after every measurement, so a step killed by its timeout keeps what it finished).

    python benchmarks/bench_gpu.py train   --out gpu_out [--dry-run] [--budget-s 230]
    python benchmarks/bench_gpu.py teacher --out gpu_out [--dry-run]
    python benchmarks/bench_gpu.py infer   --out gpu_out [--dry-run]

``--dry-run`` (or no CUDA): device cpu, tiny sizes and steps, every JSON marked ``"dry_run": true``.

Videos: ``levil_edge.data.synthetic.generate_dataset`` writes H.264 through PyAV. Where PyAV does not
import (the lent GPU machine), the videos are written by OpenCV (MPEG-4 Part 2 in .mp4, else MJPG in
.avi) and read by a decord-only decoder defined here (the project's ``DecordDecoder`` probes through
PyAV, so it cannot run without it); with neither PyAV nor decord the from-disk runs are skipped and the
RAM-cache runs decode through OpenCV. ``--simulate-no-av`` (dry run) blocks ``import av`` after the
videos are written, to exercise that path on a machine that has PyAV.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests.teacher_fixtures (tokenizer and image processor builders)

os.environ.setdefault("LEVIL_NO_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402


# ------------------------------------------------------------------------------------ helpers
def has_module(name: str) -> bool:
    try:
        __import__(name)
        return True
    except Exception:  # noqa: BLE001 - a broken install counts as absent
        return False


def block_av() -> None:
    """Make ``import av`` fail from now on (simulates the GPU machine's image)."""
    for k in [k for k in sys.modules if k == "av" or k.startswith("av.")]:
        del sys.modules[k]
    sys.modules["av"] = None  # type: ignore[assignment]


class Report:
    """A JSON document under ``out`` rewritten after each change."""

    def __init__(self, out: Path, name: str, dry_run: bool, **head) -> None:
        import torch

        self.path = out / f"{name}.json"
        self.data = {"dry_run": dry_run, "benchmark": name, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                     "host": platform.node(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
                     "torch": torch.__version__, "cuda": torch.version.cuda,
                     "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
                     **head}
        self.save()

    def __setitem__(self, k, v):
        self.data[k] = v
        self.save()

    def __getitem__(self, k):
        return self.data[k]

    def append(self, k, row):
        self.data.setdefault(k, []).append(row)
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str))
        tmp.replace(self.path)


def print_table(title: str, rows: list[dict], cols: list[str]) -> None:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)

    try:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title)
        for c in cols:
            t.add_column(c)
        for r in rows:
            t.add_row(*(fmt(r.get(c)) for c in cols))
        Console(width=200).print(t)
    except Exception:  # noqa: BLE001 - plain markdown table
        print(f"\n{title}\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(fmt(r.get(c)) for c in cols) + " |")
    sys.stdout.flush()


def sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()


class Deadline:
    def __init__(self, budget_s: float) -> None:
        self.t0 = time.perf_counter()
        self.budget = budget_s

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t0)


# ------------------------------------------------------------------------------------ videos
def _cv2_write_video(path, frames, fps: int = 10, crf: int = 18):
    """OpenCV stand-in for ``synthetic.write_video`` (no PyAV): MPEG-4 Part 2 .mp4, else MJPG .avi."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t, h, w, _ = frames.shape
    for fourcc, target in (("mp4v", path.with_suffix(".mp4")), ("MJPG", path.with_suffix(".avi"))):
        wr = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*fourcc), float(fps), (w, h))
        if not wr.isOpened():
            continue
        for f in frames:
            wr.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
        wr.release()
        if target.exists() and target.stat().st_size > 0:
            return target
    raise RuntimeError(f"OpenCV could not write {path} with mp4v or MJPG")


def make_videos(root: Path, classes: int, per_class: int, frames: int, size: int) -> dict:
    """Synthetic class-folder dataset at ``root`` (reused when ``root/labels.txt`` exists)."""
    from levil_edge.data import synthetic

    info = {"root": str(root), "classes": classes, "per_class": per_class, "frames": frames, "size": size}
    marker = root / "videos.json"
    if marker.exists():
        return json.loads(marker.read_text())
    t0 = time.perf_counter()
    if has_module("av"):
        info["writer"] = "pyav-h264"
    elif has_module("cv2"):
        info["writer"] = "opencv"
        synthetic.write_video = _cv2_write_video  # generate_dataset looks it up at call time
    else:
        raise RuntimeError("neither PyAV nor OpenCV imports: cannot write videos")
    synthetic.generate_dataset(root, classes=synthetic.CLASS_NAMES[:classes], videos_per_class=per_class,
                               frames=frames, size=size, seed=0)
    info["write_s"] = round(time.perf_counter() - t0, 2)
    info["files"] = sorted({p.suffix for p in root.rglob("*") if p.suffix in (".mp4", ".avi")})
    marker.write_text(json.dumps(info))
    return info


def _decoder_classes():
    from levil_edge.data.decoders import DecodeError, VideoDecoder, VideoInfo

    class DecordOnlyDecoder(VideoDecoder):
        """decord alone (probe and read): for a machine without PyAV. Benchmark use only."""

        name = "decord"

        def _open(self, path, out_hw=None):
            import decord

            kw = {"num_threads": 1}
            if out_hw is not None:
                kw.update(height=out_hw[0], width=out_hw[1])
            try:
                return decord.VideoReader(path, ctx=decord.cpu(0), **kw)
            except Exception as exc:  # noqa: BLE001
                raise DecodeError(f"{path}: decord cannot open it ({exc})") from exc

        def _probe(self, path):
            vr = self._open(path)
            h, w = vr[0].shape[:2]
            n, fps = len(vr), float(vr.get_avg_fps() or 0) or 10.0
            return VideoInfo(path=path, num_frames=n, fps=fps, width=w, height=h, duration=n / fps,
                             codec="?", container=Path(path).suffix.lstrip("."))

        def _read(self, path, idx, out_hw, info):
            vr = self._open(path, out_hw if out_hw != (info.height, info.width) else None)
            return vr.get_batch([int(i) for i in idx]).asnumpy()

    class OpenCVDecoder(VideoDecoder):
        """OpenCV sequential decode (short videos): for a machine with neither PyAV nor decord."""

        name = "opencv"

        def _probe(self, path):
            import cv2

            cap = cv2.VideoCapture(path)
            if not cap.isOpened():
                raise DecodeError(f"{path}: OpenCV cannot open it")
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            fps = float(cap.get(cv2.CAP_PROP_FPS)) or 10.0
            w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            cap.release()
            return VideoInfo(path=path, num_frames=n, fps=fps, width=w, height=h, duration=n / fps, codec="?",
                             container=Path(path).suffix.lstrip("."))

        def _read(self, path, idx, out_hw, info):
            import cv2

            cap = cv2.VideoCapture(path)
            got, last, k = {}, None, 0
            top = int(idx.max())
            while k <= top:
                ok, bgr = cap.read()
                if not ok:
                    break
                last = bgr
                if k in set(idx.tolist()):
                    got[k] = bgr
                k += 1
            cap.release()
            if last is None:
                raise DecodeError(f"{path}: OpenCV decoded no frame")
            out = []
            for i in idx.tolist():
                f = got.get(i, last)
                if f.shape[:2] != tuple(out_hw):
                    f = cv2.resize(f, (out_hw[1], out_hw[0]), interpolation=cv2.INTER_AREA)
                out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
            return np.stack(out)

    return DecordOnlyDecoder, OpenCVDecoder


def setup_decoder() -> dict:
    """Pick the decoder finetune / fill_cache will use; returns {"decoder": name for options, "reader": ..}.

    With PyAV: the project's own ``get_decoder("auto")``. Without: a benchmark decoder is put into
    ``levil_edge.data.decoders._INSTANCES`` under the name passed as the ``decoder`` option (DataLoader
    workers are forked, so they inherit it)."""
    from levil_edge.data import decoders

    if has_module("av"):
        dec = decoders.get_decoder("auto")
        return {"decoder": "auto", "reader": f"levil_edge {dec.name}", "from_disk_ok": True}
    decord_cls, cv2_cls = _decoder_classes()
    if has_module("decord"):
        decoders._INSTANCES["decord"] = decord_cls()
        return {"decoder": "decord", "reader": "benchmark decord-only decoder (no PyAV)", "from_disk_ok": True}
    if has_module("cv2"):
        decoders._INSTANCES["decord"] = cv2_cls()
        return {"decoder": "decord", "reader": "benchmark OpenCV decoder (no PyAV, no decord)", "from_disk_ok": False,
                "why": "neither PyAV nor decord imports: from-disk runs skipped (RAM-cache runs decode via OpenCV)"}
    return {"decoder": "auto", "reader": None, "from_disk_ok": False, "why": "no video decoder at all"}


def device_of(args):
    import torch

    if args.dry_run or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


# ------------------------------------------------------------------------------------ train
def matmul_tflops(dev, dry: bool) -> dict:
    import torch

    n = 512 if dry else 8192
    a = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    reps = 3 if dry else 50
    for _ in range(3):
        torch.matmul(a, b)
    if dev.type == "cuda":
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        s.record()
        for _ in range(reps):
            torch.matmul(a, b)
        e.record()
        torch.cuda.synchronize()
        sec = s.elapsed_time(e) / 1e3
    else:
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.matmul(a, b)
        sec = time.perf_counter() - t0
    return {"n": n, "reps": reps, "tflops": 2 * n ** 3 * reps / sec / 1e12, "timer": "cuda events" if dev.type == "cuda" else "perf_counter"}


def forward_gflops(student: str, frames: int, size: int) -> float:
    from levil_edge.students import count_flops, create_student

    return count_flops(create_student(student, num_classes=8), (1, 3, frames, size, size))


def finetune_run(student, videos: Path, out: Path, dev, batch: int, workers: int, ram_mb: int, steps: int,
                 clip: dict, decoder: str, amp: str) -> dict:
    import torch

    from levil_edge.train import finetune
    from levil_edge.train.run_options import FinetuneOptions

    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    opts = FinetuneOptions(labels=str(videos / "labels.txt"), train=str(videos), out=str(out), no_teacher=True,
                           student=student, epochs=10_000, batch_size=batch, workers=workers,
                           device=dev.type, stop_after=steps, log_every=1, amp=amp, ram_cache_mb=ram_mb,
                           decoder=decoder, **clip)
    t0 = time.perf_counter()
    summary = finetune(opts)
    wall = time.perf_counter() - t0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    all_steps = [r for r in records if r["kind"] == "step"]
    skip = max(1, len(all_steps) // 4)  # warm-up: allocator, cudnn autotune, RAM cache's first decodes
    st = all_steps[skip:] or all_steps
    row = {"student": student, "batch": batch, "workers": workers, "ram_cache_mb": ram_mb, "amp": amp,
           "steps_logged": len(all_steps), "steps_used": len(st),
           "clips_per_s": statistics.median(r["clips_per_s"] for r in st),
           "clips_per_s_mean": statistics.fmean(r["clips_per_s"] for r in st),
           "data_wait_frac": statistics.median(r["data_wait_frac"] for r in st),
           "wall_s": round(wall, 2)}
    bad = summary.get("bad_videos") if isinstance(summary, dict) else None
    row["bad_videos"] = len(bad) if isinstance(bad, (list, tuple)) else bad
    if dev.type == "cuda":
        row["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    shutil.rmtree(out, ignore_errors=True)
    return row


def train_step_bench(student: str, dev, batch: int, clip: dict, variant: str, steps: int, warm: int) -> dict:
    """A plain training step on random tensors: model + AdamW + bf16 autocast (+ compile / channels_last_3d)."""
    import torch

    from levil_edge.students import create_student

    torch.manual_seed(0)
    model = create_student(student, num_classes=8).to(dev).train()
    x = torch.randn(batch, 3, clip["frames"], clip["size"], clip["size"], device=dev)
    y = torch.randint(0, 8, (batch,), device=dev)
    if variant == "channels_last_3d":
        model = model.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    fwd = torch.compile(model) if variant == "compile" else model

    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            out = fwd(x)
            logits = out["logits"] if isinstance(out, dict) else getattr(out, "logits", out)
            loss = torch.nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(warm):
        step()
    sync(dev)
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(dev)
    sec = time.perf_counter() - t0
    row = {"student": student, "variant": variant, "batch": batch, "steps": steps,
           "clips_per_s": batch * steps / sec, "warmup_s": round(warm_s, 2)}
    if dev.type == "cuda":
        row["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    return row


def cmd_train(args) -> None:
    import torch

    dev = device_of(args)
    dry = args.dry_run or dev.type == "cpu"
    dl = Deadline(args.budget_s)
    if dry:
        students, batches, disk_workers, steps = ["r3d_tiny", "x3d_xs"], [4], [2], 4
        clip = dict(frames=8, stride=1, size=32, min_crop=1.0, flip=0.0)
        vids = dict(classes=4, per_class=3, frames=16, size=40)
        micro = dict(batch=2, steps=2, warm=1)
        amp = "none"  # bf16 autocast is CUDA-only in finetune
    else:
        students, batches, disk_workers, steps = ["r3d_18", "x3d_xs"], [32, 64], [8, 16], args.steps
        clip = dict(frames=8, stride=1, size=112)
        vids = dict(classes=8, per_class=24, frames=32, size=128)
        micro = dict(batch=32, steps=10, warm=3)
        amp = "bf16"
    if args.students:
        students = args.students.split(",")
    work = Path(args.work or (Path(args.out) / "work"))
    rep = Report(Path(args.out), "train", dry, device=str(dev), clip=clip, amp=amp, budget_s=args.budget_s)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    try:
        import torch.multiprocessing as mp

        mp.set_start_method("fork", force=True)  # workers inherit the decoder set up below
    except Exception:  # noqa: BLE001
        pass
    rep["videos"] = make_videos(work / "videos", **vids)
    if args.simulate_no_av:
        block_av()
        rep["simulated_no_av"] = True
    rep["decoder"] = dec = setup_decoder()
    videos = Path(rep["videos"]["root"])

    # (a) decoded videos in RAM (workers 0), (b) from disk with workers
    plan = [(s, b, 0, 4096 if not dry else 64) for s in students for b in batches]
    if dec["from_disk_ok"]:
        plan += [(s, b, w, 0) for s in students for b in batches for w in disk_workers]
    else:
        rep["from_disk_skipped"] = dec.get("why")
    rep["finetune"] = []
    for s, b, w, mb in plan:
        if dl.left() < args.reserve_s + args.micro_s:  # keep time for the step micro-benchmark
            rep.append("skipped", {"run": f"finetune {s} b{b} w{w} ram{mb}", "why": "time budget"})
            continue
        try:
            row = finetune_run(s, videos, work / f"ft-{s}-{b}-{w}-{mb}", dev, b, w, mb, steps, clip, dec["decoder"], amp)
            row["mode"] = "ram" if mb else "disk"
        except Exception as exc:  # noqa: BLE001 - record and go on
            traceback.print_exc()
            row = {"student": s, "batch": b, "workers": w, "ram_cache_mb": mb, "error": f"{type(exc).__name__}: {exc}"}
        rep.append("finetune", row)
        print(f"  {row}", flush=True)
    print_table("finetune (real loop)", rep["finetune"],
                ["student", "mode", "batch", "workers", "clips_per_s", "data_wait_frac", "peak_mem_gib", "wall_s", "error"])

    # FLOP bound: 3 x forward FLOPs per clip x clips/s vs a measured bf16 matmul
    try:
        mm = matmul_tflops(dev, dry)
    except Exception as exc:  # noqa: BLE001
        mm = {"error": str(exc)}
    rep["matmul_bf16"] = mm
    gf = {s: forward_gflops(s, clip["frames"], clip["size"]) for s in students}
    rep["forward_gflops_per_clip"] = gf
    bound = []
    for r in rep["finetune"]:
        if "clips_per_s" not in r:
            continue
        tf = 3 * gf[r["student"]] * r["clips_per_s"] / 1e3
        bound.append({"student": r["student"], "mode": r["mode"], "batch": r["batch"], "workers": r["workers"],
                      "train_gflops_per_clip": 3 * gf[r["student"]], "achieved_tflops": tf,
                      "matmul_tflops": mm.get("tflops"),
                      "frac_of_matmul": tf / mm["tflops"] if mm.get("tflops") else None})
    rep["flop_bound"] = bound
    print(f"bf16 matmul {mm}")
    print_table("FLOP bound (training FLOPs = 3 x forward)", bound,
                ["student", "mode", "batch", "workers", "train_gflops_per_clip", "achieved_tflops", "matmul_tflops",
                 "frac_of_matmul"])

    # plain training step: eager vs channels_last_3d vs torch.compile
    variants = ["eager", "channels_last_3d"] + ([] if dry and not args.compile_in_dry_run else ["compile"])
    rep["step_variants"] = []
    for v in variants:
        for s in (students[:1] if dry and v == "compile" else students):
            if dl.left() < (args.reserve_s + (60 if v == "compile" else 0)):
                rep.append("skipped", {"run": f"step {s} {v}", "why": "time budget"})
                continue
            try:
                row = train_step_bench(s, dev, micro["batch"], clip, v, micro["steps"], micro["warm"])
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                row = {"student": s, "variant": v, "error": f"{type(exc).__name__}: {exc}"[:500]}
            rep.append("step_variants", row)
            print(f"  {row}", flush=True)
    print_table("plain training step (random tensors, AdamW, bf16 autocast)", rep["step_variants"],
                ["student", "variant", "batch", "clips_per_s", "warmup_s", "peak_mem_gib", "error"])
    rep["wall_s"] = round(time.perf_counter() - dl.t0, 1)


# ------------------------------------------------------------------------------------ teacher
def make_clip_b32(folder: Path, tiny: bool) -> Path:
    """ViT-B/32-sized CLIP with random weights (CLIPConfig defaults), tokenizer and processor built offline."""
    if tiny:
        from tests.teacher_fixtures import make_tiny_clip

        return make_tiny_clip(folder, name="tiny-clip")
    import torch
    from transformers import CLIPConfig, CLIPModel

    from tests.teacher_fixtures import _image_processor_for, _save, make_tiny_tokenizer

    torch.manual_seed(0)
    tok = make_tiny_tokenizer()
    tok.model_max_length = 77
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(tok), max_position_embeddings=77, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=32),
        projection_dim=512,
    )
    return _save(CLIPModel(cfg), tok, _image_processor_for(224), folder / "clip-b32-random")


def cmd_teacher(args) -> None:
    import torch

    from levil_edge.teachers import fill_cache, load_teacher

    dev = device_of(args)
    dry = args.dry_run or dev.type == "cpu"
    vids = dict(classes=4, per_class=3, frames=16, size=40) if dry else dict(classes=8, per_class=24, frames=32, size=128)
    work = Path(args.work or (Path(args.out) / "work"))
    rep = Report(Path(args.out), "teacher", dry, device=str(dev))
    rep["videos"] = make_videos(work / "videos-teacher", **vids)
    if args.simulate_no_av:
        block_av()
        rep["simulated_no_av"] = True
    rep["decoder"] = dec = setup_decoder()
    items = sorted(str(p) for p in Path(rep["videos"]["root"]).rglob("*") if p.suffix in (".mp4", ".avi"))
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        t0 = time.perf_counter()
        tiny = dry and not args.full_model
        folder = make_clip_b32(Path(tmp), tiny)
        rep["model"] = {"path": folder.name, "build_s": round(time.perf_counter() - t0, 2),
                        "config": "tiny CLIP (tests.teacher_fixtures)" if tiny else
                        "CLIP ViT-B/32 (vision 768x12, patch 32, 224 px; text default), random init"}
        rows = []
        for bs in ([4] if dry else [32, 64]):
            try:
                t0 = time.perf_counter()
                teacher = load_teacher(folder, device=dev.type, num_frames=8, batch_size=bs)
                load_s = time.perf_counter() - t0
                # warm-up on a few videos (own cache), then the timed fill on a fresh cache
                fill_cache(items[: max(2, len(items) // 8)], teacher, Path(tmp) / f"warm{bs}", decoder=dec["decoder"],
                           workers=args.decode_workers, progress=False)
                if dev.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                t0 = time.perf_counter()
                r = fill_cache(items, teacher, Path(tmp) / f"cache{bs}", decoder=dec["decoder"],
                               workers=args.decode_workers, progress=False)
                wall = time.perf_counter() - t0
                row = {"batch_size": bs, "frames": teacher.num_frames, "dtype": str(teacher.dtype),
                       "videos": r["computed"], "bad": r["bad"], "videos_per_s": r["videos_per_s"],
                       "frames_per_s": r["videos_per_s"] * teacher.num_frames, "elapsed_s": r["elapsed_s"],
                       "wall_s": round(wall, 2), "load_s": round(load_s, 2), "decode_workers": args.decode_workers}
                if dev.type == "cuda":
                    row["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
                del teacher
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                row = {"batch_size": bs, "error": f"{type(exc).__name__}: {exc}"[:500]}
            rows.append(row)
            rep["fill"] = rows
            print(f"  {row}", flush=True)
    print_table("teacher cache fill", rows, ["batch_size", "frames", "dtype", "videos", "videos_per_s", "frames_per_s",
                                             "wall_s", "peak_mem_gib", "error"])


# ------------------------------------------------------------------------------------ infer
def latency(fn, dev, runs: int, warm: int) -> dict:
    import torch

    for _ in range(warm):
        fn()
    sync(dev)
    times = []
    for _ in range(runs):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        sync(dev)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "p90_ms": float(np.percentile(times, 90)), "runs": runs}


def cmd_infer(args) -> None:
    import torch

    from levil_edge.students import create_student, list_students

    dev = device_of(args)
    dry = args.dry_run or dev.type == "cpu"
    dl = Deadline(args.budget_s)
    students = list_students()
    if args.students:
        students = args.students.split(",")
    elif dry:
        students = [s for s in ("r3d_tiny", "x3d_xs") if s in students] or students[:2]
    batches = [1, 2] if dry else [1, 32]
    runs, warm = (3, 1) if dry else (args.runs, 10)
    modes = ["fp32", "bf16"] + ([] if dry and not args.compile_in_dry_run else ["compile"])
    rep = Report(Path(args.out), "infer", dry, device=str(dev), students=students, input="(B,3,8,112,112)")
    rows = []
    for mode in modes:  # fp32 and bf16 of every student first; compile (slow to build) last
        for s in (students[:1] if dry and mode == "compile" else students):
            if dl.left() < (40 if mode == "compile" else 5):
                rows.append({"student": s, "mode": mode, "skipped": "time budget"})
                continue
            model = create_student(s, num_classes=400).to(dev).eval()
            fwd = torch.compile(model, dynamic=False) if mode == "compile" else model
            for b in batches:
                x = torch.randn(b, 3, 8, 112, 112, device=dev)
                try:
                    def fn(fwd=fwd, x=x):  # bound now: the loop rebinds both
                        with torch.inference_mode():
                            if mode == "bf16":
                                with torch.autocast(dev.type, dtype=torch.bfloat16):
                                    return fwd(x)
                            return fwd(x)

                    t0 = time.perf_counter()
                    fn()
                    sync(dev)
                    first = time.perf_counter() - t0
                    row = {"student": s, "mode": mode, "batch": b, **latency(fn, dev, runs, warm),
                           "first_call_s": round(first, 2)}
                    row["clips_per_s"] = b / row["median_ms"] * 1e3
                except Exception as exc:  # noqa: BLE001
                    traceback.print_exc()
                    row = {"student": s, "mode": mode, "batch": b, "error": f"{type(exc).__name__}: {exc}"[:500]}
                rows.append(row)
                rep["latency"] = rows
                print(f"  {row}", flush=True)
            del model, fwd
    rep["latency"] = rows
    print_table("student inference latency (B,3,8,112,112)", rows,
                ["student", "mode", "batch", "median_ms", "p90_ms", "clips_per_s", "first_call_s", "error", "skipped"])
    rep["wall_s"] = round(time.perf_counter() - dl.t0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["train", "teacher", "infer"])
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu_out"))
    ap.add_argument("--work", default=None, help="scratch folder (videos, runs); default <out>/work")
    ap.add_argument("--dry-run", action="store_true", help="cpu, tiny sizes")
    ap.add_argument("--students", default=None)
    ap.add_argument("--steps", type=int, default=16, help="finetune steps per run (GPU)")
    ap.add_argument("--runs", type=int, default=50, help="timed inference runs (GPU)")
    ap.add_argument("--budget-s", type=float, default=230, help="stop starting new measurements after this")
    ap.add_argument("--reserve-s", type=float, default=20, help="start no finetune run with less than this left")
    ap.add_argument("--micro-s", type=float, default=70, help="train: seconds kept for the step micro-benchmark")
    ap.add_argument("--decode-workers", type=int, default=8, help="fill_cache decode threads")
    ap.add_argument("--simulate-no-av", action="store_true", help="block `import av` after writing the videos")
    ap.add_argument("--compile-in-dry-run", action="store_true")
    ap.add_argument("--full-model", action="store_true", help="teacher: the ViT-B/32-sized CLIP even in a dry run")
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    {"train": cmd_train, "teacher": cmd_teacher, "infer": cmd_infer}[args.command](args)


if __name__ == "__main__":
    main()
