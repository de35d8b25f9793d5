"""Teacher target cache: fill throughput of a real-size CLIP ViT-B/32 (random init), and proof that
a second distillation epoch runs zero teacher forwards.

    OMP_NUM_THREADS=2 python benchmarks/bench_teacher_cache.py --videos 6 --threads 2

Builds ``CLIPModel(CLIPConfig())`` (ViT-B/32, 224 px, projection 512: the real architecture with
random weights; nothing is downloaded), saves it and loads it back through ``load_teacher`` like a
user's model. Generates short synthetic videos, fills the cache (8 frames per view, 224 px), then
reads targets for an epoch over a pseudo-label vocabulary twice and counts teacher forwards.
Prints a Markdown table."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tiny tokenizer lives in tests/
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LEVIL_NO_PROGRESS", "1")


def build_vitb32(folder: Path) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPModel

    from tests.teacher_fixtures import _image_processor_for, make_tiny_tokenizer

    torch.manual_seed(0)
    tok = make_tiny_tokenizer()
    tok.model_max_length = 77
    cfg = CLIPConfig(text_config=dict(eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
                                      pad_token_id=tok.pad_token_id))  # fmt: skip
    model = CLIPModel(cfg).eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    _image_processor_for(224).save_pretrained(folder)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=200, help="pseudo-labels (LEViL: 2391; the text tower runs once per label)")
    args = ap.parse_args()

    import numpy as np
    import torch

    from levil_edge.data.synthetic import generate_dataset
    from levil_edge.teachers import TeacherTargets, fill_cache, load_teacher

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-teacher-cache-") as tmp:
        tmp = Path(tmp)
        recs = generate_dataset(tmp / "videos", videos_per_class=1, frames=48, size=240, seed=0,
                                classes=None)[: args.videos]  # fmt: skip
        paths = [r["path"] for r in recs]
        t0 = time.perf_counter()
        teacher = load_teacher(build_vitb32(tmp / "clip-vit-b32"), device="cpu", batch_size=args.batch_size)
        load_s = time.perf_counter() - t0
        n_params = sum(p.numel() for p in teacher.model.vision_model.parameters()) / 1e6

        fill = fill_cache(paths, teacher, tmp / "cache", views=1, progress=False)
        vocab = [f"pseudo label {i}" for i in range(args.vocab)]
        epochs = []
        for epoch in (1, 2):
            calls = dict(teacher.calls)
            t1 = time.perf_counter()
            targets = TeacherTargets.load(tmp / "cache", paths, label_texts=vocab, teacher=teacher)
            q = targets.soft_targets(np.arange(len(paths)), 0, tau=0.02)  # (V, M), what distill reads
            epochs.append((epoch, teacher.calls["video"] - calls["video"], teacher.calls["text"] - calls["text"],
                           time.perf_counter() - t1, q.shape))  # fmt: skip

    per_video = fill["elapsed_s"] / max(fill["computed"], 1)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{args.threads}, python {platform.python_version()}, torch {torch.__version__}")  # fmt: skip
    print(f"teacher: CLIP ViT-B/32 random init ({n_params:.1f} M vision params), load {load_s:.1f} s, "
          f"batch {args.batch_size}, 8 frames x 224 px, {fill['computed']} videos of 48 frames 240x240\n")
    print("| step | videos | teacher video forwards | text forwards | time | throughput |")
    print("|---|---|---|---|---|---|")
    print(f"| cache fill (decode + ViT-B/32) | {fill['computed']} | {fill['teacher_forwards']['video']} | "
          f"{fill['teacher_forwards']['text']} | {fill['elapsed_s']:.2f} s | {fill['videos_per_s']:.2f} videos/s "
          f"({1000 * per_video / 8:.0f} ms/frame) |")
    for epoch, v, t, dt, shape in epochs:
        what = "first read (+ vocab text embeddings)" if epoch == 1 else "second epoch (all from cache)"
        print(f"| epoch {epoch} targets: {what} | {shape[0]} | {v} | {t} | {dt * 1000:.1f} ms | "
              f"{shape[1]} labels |")


if __name__ == "__main__":
    main()
