"""Co-Settle cost on a real-size tower: one training step (frozen ViT forward for t1, t2 and the
position-augmented t1, projection forward + backward, AdamW) and adapted video features.

The tower is a CLIP ViT-B/16 or B/32 vision model with *random* weights built from its config (no
download): the cost is the same as with the real weights; the numbers say nothing about quality.

    python benchmarks/bench_adapt.py [--arch b16,b32] [--batch 4] [--steps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

ARCHS = {  # CLIP ViT-B vision configs at 224 px
    "b16": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, patch_size=16),
    "b32": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, patch_size=32),
}


def build(arch: str, device: str):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from levil_edge.adapt.encoder import encoder_from_model
    from levil_edge.adapt.objective import CoSettleObjective
    from levil_edge.adapt.projection import CoSettleProjection

    torch.manual_seed(0)
    tower = CLIPVisionModel(CLIPVisionConfig(image_size=224, **ARCHS[arch])).to(device)
    enc = encoder_from_model(tower, f"clip-vit-{arch}-random")
    return CoSettleObjective(enc, CoSettleProjection(enc.dim)).to(device)


def time_it(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="b16,b32")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from levil_edge.adapt.teacher import AdaptedTeacher

    rng = np.random.default_rng(0)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, "
          f"{args.threads} threads, device {args.device}, batch {args.batch} pairs")
    print("| tower | grid -> walk nodes | projection params | train step (s) | pairs/s | features, 1 video x 8 frames (s) |")
    print("|---|---|---|---|---|---|")
    for arch in args.arch.split(","):
        obj = build(arch, args.device)
        optim = torch.optim.AdamW(obj.projection.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
        pairs = torch.from_numpy(rng.integers(0, 256, (args.batch, 2, 224, 224, 3), dtype=np.uint8)).to(args.device)
        gen = torch.Generator().manual_seed(0)

        def step():
            loss = obj(pairs, generator=gen)["loss"]
            optim.zero_grad()
            loss.backward()
            optim.step()

        step_s = time_it(step, args.steps)
        meta = {"teacher": arch, "sha256": "0" * 64, "dim": obj.encoder.dim, "grid": obj.encoder.grid}
        adapted = AdaptedTeacher(obj.encoder, obj.projection, meta)
        video = rng.integers(0, 256, (1, 8, 240, 320, 3), dtype=np.uint8)
        feat_s = time_it(lambda: adapted.embed_features(video), args.steps)
        nodes = (obj.encoder.grid // obj.pool) ** 2
        params = sum(p.numel() for p in obj.projection.parameters())
        print(f"| CLIP ViT-{arch.upper()} | {obj.encoder.grid}x{obj.encoder.grid} -> {nodes} | {params / 1e6:.2f} M "
              f"| {step_s:.2f} | {args.batch / step_s:.2f} | {feat_s:.2f} |")


if __name__ == "__main__":
    main()
