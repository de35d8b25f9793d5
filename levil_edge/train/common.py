"""Pieces shared by distill() and finetune(): process setup, run folder, loaders, the trainer call
and the summary."""

from __future__ import annotations

import dataclasses
import math
import os
import random
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from levil_edge.config import KINETICS_MEAN, KINETICS_STD
from levil_edge.errors import UsageError
from levil_edge.train.run_options import TrainOptions
from levil_edge.train.ddp import DistInfo, barrier, init_distributed
from levil_edge.train.run import RunFolder


def check_options(opts: TrainOptions) -> None:
    """Contradictory or impossible options fail before any work starts."""
    for f in dataclasses.fields(opts):
        value = getattr(opts, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"--{f.name.replace('_', '-')} must be a finite number (got {value})")
    for name in ("epochs", "batch_size", "frames", "stride", "size", "log_every"):
        if getattr(opts, name) is not None and getattr(opts, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(opts, name)})")
    if opts.lr <= 0:
        raise UsageError(f"--lr must be positive (got {opts.lr})")
    tau = getattr(opts, "tau", None)
    if tau is not None and not tau > 0:  # q = softmax(cos / tau): 0 divides by zero, < 0 inverts the ranking
        raise UsageError(f"--tau must be positive, got {tau} (LEViL uses 1/50 = 0.02)")
    if not 0 <= opts.flip <= 1:
        raise UsageError(f"--flip is a probability in [0, 1] (got {opts.flip})")
    if opts.workers < 0 or opts.save_every < 0 or opts.grad_clip < 0 or opts.weight_decay < 0 or opts.warmup_epochs < 0:
        raise UsageError("--workers, --save-every, --grad-clip, --weight-decay and --warmup-epochs must be >= 0")
    if opts.stop_after is not None and opts.stop_after < 1:
        raise UsageError(f"--stop-after must be >= 1 (got {opts.stop_after})")
    student = _student_name(opts)
    if student is not None:
        check_size(student, opts.size)
    from levil_edge.utils.device import resolve_device
    from levil_edge.train.loop import resolve_amp

    resolve_amp(opts.amp, resolve_device(opts.device))  # e.g. fp16 on CPU: refuse before any work


# The smallest crop (px) each student family trains on, found by trying every size (checked in
# tests/test_train_robust.py). Below its spatial stride (16 for resnet3d, 32 for x3d and tsm)
# the last layers see nothing but padding. A resnet3d also halves time down to one frame, so at
# 16 px its last BatchNorm sees one value per channel and fails on a batch that holds one clip.
MIN_SIZE = {"resnet3d": 17, "x3d": 32, "tsm": 32}


def _student_name(opts: TrainOptions) -> str | None:
    """The student a run will train, known before any work: --student, else (finetune) the
    --init checkpoint's, else finetune's default. None when --init cannot be read (finetune
    reports that itself)."""
    if opts.student is not None:
        return opts.student
    init = getattr(opts, "init", None)
    if not init or Path(init).suffix in (".pth", ".pt", ".bin", ".ckpt"):
        return "r3d_18"
    from levil_edge.config import ModelConfig
    from levil_edge.errors import LevilError
    from levil_edge.train.run import find_run_checkpoint

    try:
        ckpt = find_run_checkpoint(init)
        return ModelConfig.load((ckpt if ckpt.is_dir() else ckpt.parent) / "config.json").student
    except (LevilError, OSError, ValueError):
        return None


GEOMETRY = ("frames", "stride", "size")


def with_student_geometry(opts: TrainOptions) -> TrainOptions:
    """``opts`` with frames / stride / size left None filled from the student's registry default cfg."""
    from levil_edge.students.factory import get_default_cfg

    if all(getattr(opts, k) is not None for k in GEOMETRY):
        return opts
    cfg = get_default_cfg(opts.student)
    return dataclasses.replace(opts, **{k: cfg[k] for k in GEOMETRY if getattr(opts, k) is None})


def check_size(student: str, size: int | None) -> None:
    """Refuse a crop ``size`` the student cannot train on (None: the student's default)."""
    from levil_edge.students.factory import get_default_cfg

    cfg = get_default_cfg(student)
    size = cfg["size"] if size is None else size
    smallest = MIN_SIZE.get(cfg.get("family", ""), 1)
    if size < smallest:
        raise UsageError(f"--size {size} is too small for {student}: it takes crops of at least {smallest} px "
                         f"(its default is {cfg['size']})")
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(opts: TrainOptions) -> tuple[DistInfo, RunFolder]:
    """Join torchrun's process group (if any), seed, and prepare the run folder on rank 0."""
    check_options(opts)
    dist = init_distributed(opts.device)
    seed_everything(opts.seed)
    run = RunFolder(opts.out)
    if dist.is_main:
        config = {**opts.to_dict(), "world_size": dist.world_size, "device_resolved": str(dist.device)}
        if opts.resume:
            _check_resume_config(run, config)
        run.prepare(config, resume=opts.resume)
    barrier(dist)
    return dist, run


# Options that may differ on --resume (the rest must match, or the run would not be "the same").
# "out" too: a run folder that was moved or copied is resumed where it is now.
_RESUME_FREE = {"resume", "stop_after", "workers", "tensorboard", "log_every", "device", "decoder", "teacher_batch_size",
                "device_resolved", "root", "cache", "ram_cache_mb", "out"}
# Compared as paths: "data/x" and "/home/me/data/x" name the same videos.
_PATH_OPTIONS = {"videos", "vocab", "teacher", "teacher_adapter", "labels", "train", "unlabeled", "val", "init"}


def _check_resume_config(run: RunFolder, config: dict[str, Any]) -> None:
    if not run.config_path.is_file():
        return
    old = run.load_config()
    changed = sorted(k for k in config if k not in _RESUME_FREE and k in old and not _same(k, old[k], config[k]))
    if changed:
        diff = ", ".join(f"{k}: {old[k]!r} -> {config[k]!r}" for k in changed[:4])
        raise UsageError(f"--resume with different options ({diff}): use the run's options (see {run.config_path})")


def _same(key: str, old: Any, new: Any) -> bool:
    if old == new:
        return True
    if key in _PATH_OPTIONS and isinstance(old, str) and isinstance(new, str):
        return os.path.realpath(old) == os.path.realpath(new)
    return False


def build_loader(sources, opts: TrainOptions, dist: DistInfo, main_pool: int, main_per_batch: int, num_views: int,
                 mean: Sequence[float] = KINETICS_MEAN, std: Sequence[float] = KINETICS_STD):
    """A DataLoader over ``sources`` whose epoch is one pass over the main pool."""
    from levil_edge.train.data import ClipSettings, MixedBatchSampler, TrainClips, make_loader, steps_per_epoch

    settings = ClipSettings(frames=opts.frames, stride=opts.stride, size=opts.size, flip=opts.flip, min_crop=opts.min_crop, mean=tuple(mean),
                            std=tuple(std), num_views=num_views, decoder=opts.decoder, seed=opts.seed,
                            ram_cache_mb=opts.ram_cache_mb)
    steps = steps_per_epoch(main_pool, main_per_batch, dist.world_size)
    sampler = MixedBatchSampler([len(s.items) for s in sources], [s.per_batch for s in sources], steps,
                                seed=opts.seed, rank=dist.rank, world_size=dist.world_size)
    return make_loader(TrainClips(list(sources), settings), sampler, opts.workers, pin_memory=dist.device.type == "cuda")


def optim_config(opts: TrainOptions):
    from levil_edge.train.loop import OptimConfig

    return OptimConfig(epochs=opts.epochs, lr=opts.lr, weight_decay=opts.weight_decay, warmup_epochs=opts.warmup_epochs,
                       grad_clip=opts.grad_clip, amp=opts.amp, log_every=opts.log_every, save_every=opts.save_every,
                       stop_after=opts.stop_after)


def keep_valid(items: Sequence[Any], valid: np.ndarray) -> tuple[list[Any], list[int]]:
    """Items whose teacher targets exist, and their rows in the target table."""
    rows = [i for i, ok in enumerate(valid) if ok]
    return [items[i] for i in rows], rows


def finish(result: dict[str, Any], run: RunFolder, dist: DistInfo) -> dict[str, Any]:
    from levil_edge.train.ddp import cleanup
    from levil_edge.utils.io import atomic_write_json

    result["rank"] = dist.rank
    result["world_size"] = dist.world_size
    if dist.is_main:
        atomic_write_json(Path(run.path) / "summary.json", result)
    cleanup(dist)
    return result
