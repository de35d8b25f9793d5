"""``adapt``: train a Co-Settle projection on unlabeled videos and write the adapter folder.

Usable from Python::

    from levil_edge.adapt import AdaptConfig, adapt
    result = adapt("openai/clip-vit-base-patch16", "videos/", "adapters/k400", AdaptConfig(epochs=5))
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from levil_edge.adapt.adapt_options import AdaptConfig
from levil_edge.errors import DatasetError, TrainingError


@dataclass
class AdaptResult:
    out_dir: Path
    teacher_id: str
    adapter_id: str
    train_videos: int
    val_videos: int
    skipped: int  # undecodable training samples, counted over all epochs
    steps: int
    history: list[dict] = field(default_factory=list)
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready: paths as strings, NaN (undefined metric) as None."""
        from levil_edge.adapt.diagnostics import nan_to_none

        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        d["files"] = {k: str(v) for k, v in self.files.items()}
        return nan_to_none(d)


def lr_at(progress: float, cfg: AdaptConfig, peak: float) -> float:
    """Per-step schedule: linear warm-up over ``warmup_epochs``, then half-cosine to ``min_lr``.
    ``progress`` is in epochs (step / steps_per_epoch + epoch)."""
    warm = min(cfg.warmup_epochs, cfg.epochs)
    if progress < warm:
        return peak * progress / warm
    span = max(cfg.epochs - warm, 1e-8)
    return cfg.min_lr + (peak - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warm) / span)))


def split_videos(
    paths: Sequence[str], val_paths: Sequence[str] | None, cfg: AdaptConfig
) -> tuple[list[str], list[str]]:
    """(train, held-out). Without ``val_paths`` a seeded ``val_fraction`` of the videos is held out
    of training (at least one, at most ``max_val_videos``; none when there is only one video)."""
    paths = list(paths)
    if val_paths is not None:
        return paths, list(val_paths)[: cfg.max_val_videos]
    n = len(paths)
    # two or more when possible: the inter-video distance needs a pair of held-out videos
    n_val = 0 if n < 2 else 1 if n < 4 else min(cfg.max_val_videos, max(2, round(cfg.val_fraction * n)))
    order = np.random.default_rng([cfg.seed, 1]).permutation(len(paths))
    held = set(order[:n_val].tolist())
    return [p for i, p in enumerate(paths) if i not in held], [paths[i] for i in sorted(held)]


def _spec_paths(videos, root: str | None) -> list[str]:
    if isinstance(videos, (list, tuple)):
        return [os.fspath(v) for v in videos]
    from levil_edge.data.specs import load_spec

    return load_spec(videos, root=root).paths


def adapt(
    teacher: str | os.PathLike,
    videos: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    cfg: AdaptConfig | None = None,
    val: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    device: str = "auto",
    root: str | None = None,
) -> AdaptResult:
    """Train the projection on ``videos`` (a dataset spec or a list of paths), measure the
    diagnostics on held-out videos before and after, write the adapter folder to ``out_dir``."""
    from levil_edge.adapt.artifact import save_adapter
    from levil_edge.adapt.diagnostics import measure, prepare_held_out, write_diagnostics
    from levil_edge.adapt.encoder import load_encoder
    from levil_edge.adapt.objective import CoSettleObjective
    from levil_edge.adapt.projection import CoSettleProjection
    from levil_edge.utils.device import resolve_device
    from levil_edge.utils.io import append_jsonl

    cfg = cfg or AdaptConfig()
    cfg.validate()
    torch.manual_seed(cfg.seed)
    dev = resolve_device(device)
    train_paths, val_paths = split_videos(
        _spec_paths(videos, root), None if val is None else _spec_paths(val, root), cfg
    )
    if not train_paths:
        raise DatasetError("no training videos: give --videos a folder or list with at least one video")
    if not val_paths:
        raise DatasetError("no held-out videos for the diagnostics: give --val, or at least two --videos")

    from levil_edge.utils.io import ensure_writable

    ensure_writable(out_dir, "folder")  # before the encoder loads and trains
    encoder = load_encoder(teacher, device=dev)
    objective = CoSettleObjective(
        encoder, CoSettleProjection(encoder.dim), cfg.temperature, cfg.pos_ratio, cfg.kl_weight, cfg.pool
    ).to(dev)
    held = prepare_held_out(
        encoder, val_paths, cfg.diag_frames, objective.pool, cfg.temperature, cfg.pos_ratio, cfg.decoder, cfg.seed
    )
    before = measure(held)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_run_config(out, teacher, videos, val, device, root, cfg)
    metrics_path = out / "metrics.jsonl"
    if metrics_path.exists():
        metrics_path.unlink()  # a fresh run folder; the old log would mix two runs
    project = _projector(objective, dev)
    history = [{"epoch": 0, **_val_scores(held, project)}]
    append_jsonl(metrics_path, history[0])

    steps, skipped = _train(objective, train_paths, cfg, dev, held, project, history, metrics_path)
    after = measure(held, project)

    meta = _adapter_meta(str(teacher), objective, cfg, dev, len(train_paths), len(held.paths), skipped, steps)
    written = save_adapter(out, objective.projection, meta)
    files = write_diagnostics(out, before, after, {"videos": held.paths, "skipped": held.skipped})
    files.update({"weights": out / "adapter.safetensors", "meta": out / "adapter.json", "metrics": metrics_path})
    teacher_id = str(teacher)
    return AdaptResult(
        out, teacher_id, f"{teacher_id}+cosettle-{written['sha256'][:12]}", len(train_paths), len(held.paths),
        skipped + held.skipped, steps, history, before, after, files,
    )


def _write_run_config(out: Path, teacher, videos, val, device: str, root: str | None, cfg: AdaptConfig) -> None:
    """``config.json``: the run's options, so that ``levil-edge adapt --config OUT/config.json`` replays it
    (its keys are adapt's flags and AdaptConfig's fields; a dataset given as a list of paths is kept as the list)."""
    from levil_edge.utils.io import atomic_write_json

    def spec(v):
        return os.fspath(v) if isinstance(v, (str, os.PathLike)) else (None if v is None else [os.fspath(x) for x in v])

    atomic_write_json(out / "config.json", {"teacher": os.fspath(teacher), "data": spec(videos), "out": str(out),
                                           "val": spec(val), "device": device, "root": root, **asdict(cfg)})


def _adapter_meta(teacher: str, objective, cfg: AdaptConfig, dev, n_train: int, n_val: int, skipped: int, steps: int) -> dict:
    """What adapter.json records besides the format and hash: enough to rebuild and check the adapter."""
    enc = objective.encoder
    return {
        "teacher": teacher,
        "family": enc.family,
        "dim": enc.dim,
        "grid": enc.grid,
        "patch_size": enc.patch_size,
        "image_size": enc.image_size,
        "mean": enc.mean.flatten().tolist(),
        "std": enc.std.flatten().tolist(),
        "pool": objective.pool,
        "num_frames": cfg.diag_frames,
        "training": {**asdict(cfg), "lr_resolved": cfg.resolved_lr(), "device": str(dev)},
        "train_videos": n_train,
        "val_videos": n_val,
        "skipped": skipped,
        "steps": steps,
    }


def _projector(objective, dev):
    """Tokens (..., N, D) on CPU -> projected tokens on CPU, in chunks, without grad."""

    @torch.no_grad()
    def project(tokens: torch.Tensor) -> torch.Tensor:
        flat = tokens.reshape(-1, *tokens.shape[-2:])
        out = [objective.projection(flat[i : i + 256].to(dev)).cpu() for i in range(0, flat.shape[0], 256)]
        return torch.cat(out).reshape(tokens.shape)

    return project


def _val_scores(held, project) -> dict:
    from levil_edge.adapt.diagnostics import cycle_scores

    with torch.no_grad():
        acc, loss = cycle_scores(project(held.tokens), project(held.returning), held)
    return {"val_cycle_acc": acc, "val_cycle_loss": loss}


def _train(objective, paths, cfg: AdaptConfig, dev, held, project, history, metrics_path) -> tuple[int, int]:
    """The epoch loop. Returns (optimizer steps, skipped samples)."""
    from rich.progress import TextColumn

    from levil_edge.adapt.pairs import FramePairDataset, collate_pairs
    from levil_edge.utils.io import append_jsonl
    from levil_edge.utils.progress import progress_bar

    data = FramePairDataset(
        paths, objective.encoder.image_size, cfg.frames_gap, cfg.crop_scale, cfg.flip, cfg.decoder, cfg.seed
    )
    loader = torch.utils.data.DataLoader(
        data, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers, collate_fn=collate_pairs,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    params = list(objective.projection.parameters())
    optim = torch.optim.AdamW(params, lr=cfg.resolved_lr(), betas=cfg.betas, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed + 1)  # position-grid windows
    steps, skipped, per_epoch = 0, 0, len(loader)
    with progress_bar(TextColumn("loss {task.fields[loss]}")) as bar:
        task = bar.add_task("co-settle", total=cfg.epochs * per_epoch, loss="-")
        for epoch in range(cfg.epochs):
            data.epoch = epoch
            objective.projection.train()
            sums, count = {"loss": 0.0, "cycle": 0.0, "kl": 0.0, "acc": 0.0}, 0
            for i, batch in enumerate(loader):
                skipped += batch["num_invalid"]
                bar.advance(task)
                if batch["frames"] is None:
                    continue
                for group in optim.param_groups:
                    group["lr"] = lr_at(epoch + (i + 1) / per_epoch, cfg, cfg.resolved_lr())
                losses = objective(batch["frames"].to(dev), generator=gen)
                if not torch.isfinite(losses["loss"]):
                    raise TrainingError(f"Co-Settle loss is {losses['loss'].item()} at epoch {epoch + 1}: lower --lr")
                optim.zero_grad(set_to_none=True)
                losses["loss"].backward()
                optim.step()
                steps += 1
                count += 1
                for k in sums:
                    sums[k] += float(losses[k].detach())
                bar.update(task, loss=f"{float(losses['loss'].detach()):.3f}")
            objective.projection.eval()
            record = {"epoch": epoch + 1, "lr": optim.param_groups[0]["lr"], "steps": count, "skipped": skipped}
            record.update({f"train_{k}": v / max(count, 1) for k, v in sums.items()})
            record.update(_val_scores(held, project))
            history.append(record)
            append_jsonl(metrics_path, record)
    if steps == 0:
        raise DatasetError(f"none of the {len(paths)} training videos could be decoded; check them with `levil-edge data check`")
    return steps, skipped
