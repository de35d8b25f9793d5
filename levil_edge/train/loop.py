"""The trainer: AdamW, linear warm-up + cosine schedule, AMP on CUDA, gradient clipping, NaN guard,
progress bar, metrics JSONL, checkpoints every epoch and every ``save_every`` steps, resume.

Resume contract: a run stopped after any step and resumed reaches the same weights as an
uninterrupted run (CPU, workers=0 is tested bit-for-bit up to float tolerance). It holds because
batches are a function of (seed, epoch, step) (``data.MixedBatchSampler``) and the checkpoint
carries optimizer, scheduler, step counters and torch/python RNG state."""

from __future__ import annotations

import contextlib
import math
import random
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch

from levil_edge.errors import CheckpointError, TrainingError, UsageError
from levil_edge.train.ddp import DistInfo, all_reduce_sum, barrier, broadcast_flag, union_over_ranks, wrap_model
from levil_edge.train.run import RunFolder


@dataclass
class OptimConfig:
    epochs: int = 10
    lr: float = 1e-4  # LEViL
    weight_decay: float = 0.05  # ours (the paper is silent)
    warmup_epochs: float = 1.0  # ours: linear warm-up, then cosine to zero
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    amp: str = "auto"  # auto (bf16 on CUDA, none on CPU) | bf16 | fp16 | none
    log_every: int = 10
    save_every: int = 0  # steps; 0 = only at epoch ends
    stop_after: int | None = None  # debug: stop (with a checkpoint) after this many steps in total


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases and norm scales (1-D parameters), the usual AdamW practice."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:  # LambdaLR calls it with the number of steps taken
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    if amp == "none":
        return None
    if amp == "fp16" and device.type != "cuda":
        raise UsageError("--amp fp16 needs CUDA: use --amp none (or bf16) on CPU")
    if amp not in ("bf16", "fp16"):
        raise UsageError(f"--amp {amp}: choose auto, bf16, fp16 or none")
    return torch.bfloat16 if amp == "bf16" else torch.float16


@contextlib.contextmanager
def _norm_stats_frozen(module: torch.nn.Module, frozen: bool):
    """With ``frozen``, BatchNorm layers normalise with batch statistics as usual but leave their
    running statistics alone (momentum 0): a placeholder clip must not move them."""
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)] if frozen else []
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Runs ``task(model, batch) -> {"loss": ..., named losses}`` over ``loader``.

    ``validate(student) -> dict`` (optional, rank 0) is called after every epoch; its ``top1``
    picks the best checkpoint (without validation, the lowest mean training loss does)."""

    def __init__(self, student, task, loader, run: RunFolder | None, optim: OptimConfig, model_cfg,
                 dist: DistInfo, validate=None, with_embed: bool = False, tensorboard: bool = False,
                 run_info: dict | None = None):
        from levil_edge.train.tasks import TrainModule

        self.student, self.task, self.loader, self.run = student, task, loader, run
        self.optim_cfg, self.model_cfg, self.dist, self.validate = optim, model_cfg, dist, validate
        self.module = wrap_model(TrainModule(student, with_embed).to(dist.device), dist)
        self.steps_per_epoch = loader.batch_sampler.steps_per_epoch
        self.total_steps = optim.epochs * self.steps_per_epoch
        self.optimizer = torch.optim.AdamW(param_groups(self.module, optim.weight_decay), lr=optim.lr)
        warmup = min(self.total_steps, max(1, round(optim.warmup_epochs * self.steps_per_epoch))) if optim.warmup_epochs > 0 else 0
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, warmup_cosine(self.total_steps, warmup))
        self.amp_dtype = resolve_amp(optim.amp, dist.device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.step, self.epoch, self.step_in_epoch = 0, 0, 0
        self.best: dict[str, Any] = {"metric": -math.inf, "epoch": None}
        self.bad_videos: list[str] = []
        self.history: list[dict[str, Any]] = []
        self.run_info = run_info or {}
        self.tb = self._tensorboard() if tensorboard and dist.is_main and run is not None else None

    # --- state ---
    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else {},
            "step": self.step, "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
            "best_metric": float(self.best["metric"]), "best_epoch": -1 if self.best["epoch"] is None else self.best["epoch"],
            "bad_videos": list(self.bad_videos), "rng": rng_state(), "world_size": self.dist.world_size,
        }

    def load_state(self, state: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        if state.get("world_size", 1) != self.dist.world_size:
            raise UsageError(
                f"the run was trained with {state['world_size']} processes, now {self.dist.world_size}: "
                "resume with the same --nproc_per_node (the batch order depends on it)"
            )
        head = weights.get("fc.weight")
        if head is not None and head.shape[0] != self.student.num_classes:
            raise CheckpointError(
                f"the checkpoint's head has {head.shape[0]} outputs but the vocabulary/labels now have "
                f"{self.student.num_classes}: resume with the vocabulary or labels file the run started with"
            )
        try:
            self.student.load_state_dict(weights)
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{self.run.checkpoint_dir('last') if self.run else 'the checkpoint'} does not fit "
                                  f"this {self.model_cfg.student} run ({str(exc).splitlines()[0][:120]}): resume with "
                                  "the options the run started with, or start a new run") from exc
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.epoch, self.step_in_epoch = state["step"], state["epoch"], state["step_in_epoch"]
        self.best = {"metric": state["best_metric"], "epoch": None if state["best_epoch"] < 0 else state["best_epoch"]}
        self.bad_videos = list(state.get("bad_videos", []))
        set_rng_state(state["rng"])

    def resume(self) -> None:
        state = self.run.load_trainer_state("last")
        self.load_state(state, self.run.load_weights("last"))
        if self.dist.is_main:
            self.run.truncate_metrics(self.step)

    def save(self, kind: str = "last") -> None:
        barrier(self.dist)  # every rank has finished the step before rank 0 snapshots it
        self.bad_videos = union_over_ranks(self.bad_videos, self.dist)  # rank 0 writes what every rank saw
        if self.dist.is_main and self.run is not None:
            self.run.save_checkpoint(kind, self.student, self.model_cfg, self.state_dict())
        barrier(self.dist)

    # --- one step ---
    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.dist.device.type, dtype=self.amp_dtype)

    def train_step(self, batch: dict, clips: int | None = None, total: int | None = None) -> dict[str, float]:
        """One optimizer step on this rank's ``clips`` clips of the ``total`` over all ranks.

        Every rank takes part in the same collectives: a rank whose clips all failed to decode
        passes a placeholder batch with ``clips=0``, which runs forward and backward with weight 0
        (DDP all-reduces gradients inside backward and needs every rank there)."""
        clips = len(batch["video"]) if clips is None else clips
        total = clips * self.dist.world_size if total is None else total
        batch = {k: v.to(self.dist.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        with self._autocast(), _norm_stats_frozen(self.module, clips == 0):
            losses = self.task(self.module, batch)
        loss = losses["loss"]
        if broadcast_flag(not bool(torch.isfinite(loss.detach())), self.dist):
            raise TrainingError(self._nan_message())
        if total != clips * self.dist.world_size:
            # DDP averages gradients over ranks; weighting each rank by its share of the clips keeps
            # that the mean over all clips when decoding failures left ranks with fewer (or none).
            loss = loss * (clips * self.dist.world_size / total)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.optim_cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.optim_cfg.grad_clip)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        return self._reduce_logged(losses, clips, total)

    def _reduce_logged(self, losses: dict[str, torch.Tensor], clips: int, total: int) -> dict[str, float]:
        """The named losses averaged over all clips of all ranks (one all-reduce)."""
        if not self.dist.distributed:
            return {k: float(v.detach().float()) for k, v in losses.items()}
        keys = sorted(losses)  # the same on every rank: a task's loss names do not depend on the batch
        summed = all_reduce_sum(torch.stack([losses[k].detach().float() for k in keys]) * clips, self.dist)
        return {k: float(summed[i]) / total for i, k in enumerate(keys)}

    def _placeholder_batch(self) -> dict:
        """One black clip for a rank whose clips all failed to decode (it trains with weight 0).
        Row, view, source and label 0 exist in every task's targets."""
        s = self.loader.dataset.settings
        zeros = torch.zeros(1, dtype=torch.long)
        return {"video": torch.zeros(1, 3, s.frames, s.size, s.size), "source": zeros, "row": zeros, "view": zeros,
                "label": zeros, "bad": []}

    def _clips_everywhere(self, clips: int) -> int:
        """Decoded clips of this step summed over ranks (every rank calls it at every step)."""
        if not self.dist.distributed:
            return clips
        return int(all_reduce_sum(torch.tensor([float(clips)], device=self.dist.device), self.dist).item())

    def _nan_message(self) -> str:
        where = f"step {self.step + 1} (epoch {self.epoch + 1})"
        keep = f"; the last good checkpoint is {self.run.checkpoint_dir('last')}" if self.run and self.run.has_checkpoint() else ""
        return f"loss is NaN/inf at {where}{keep}: lower --lr, use --amp none, or check the inputs, then --resume"

    # --- the loop ---
    def fit(self, resume: bool = False) -> dict[str, Any]:
        if resume:
            self.resume()
        start = time.perf_counter()
        stopped = False
        from levil_edge.train.loss_curve import TrainProgress

        with TrainProgress(self.total_steps, self.step, enabled=self.dist.is_main) as bar:
            while self.epoch < self.optim_cfg.epochs and not stopped:
                stopped = self._run_epoch(bar)
        self._finish()
        return self.result(time.perf_counter() - start, stopped)

    def _run_epoch(self, bar) -> bool:
        """One epoch (or the rest of it after a resume). True when --stop-after ended the run."""
        sampler = self.loader.batch_sampler
        sampler.set_epoch(self.epoch, self.step_in_epoch)
        self.module.train()
        epoch_losses: list[float] = []
        t_data = time.perf_counter()
        for batch in self.loader:
            waited = time.perf_counter() - t_data
            self.bad_videos.extend(batch["bad"])
            clips = 0 if batch["video"] is None else len(batch["video"])
            total = self._clips_everywhere(clips)  # all ranks agree on taking or skipping the step
            if total == 0:  # every clip of every rank's batch failed to decode
                self.step_in_epoch += 1
                self.step += 1
                with warnings.catch_warnings():  # the schedule follows the step count, taken or not
                    warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
                    self.scheduler.step()
                t_data = time.perf_counter()
                continue
            t0 = time.perf_counter()
            logged = self.train_step(batch if clips else self._placeholder_batch(), clips, total)
            self.step += 1
            self.step_in_epoch += 1
            epoch_losses.append(logged["loss"])
            self._log_step(logged, total, waited, time.perf_counter() - t0, bar)
            if self.optim_cfg.stop_after and self.step >= self.optim_cfg.stop_after:
                self.save("last")
                return True
            if self.optim_cfg.save_every and self.step % self.optim_cfg.save_every == 0:
                self.save("last")
            t_data = time.perf_counter()
        self._end_epoch(epoch_losses)
        return False

    def _log_step(self, logged: dict, clips: int, waited: float, busy: float, bar) -> None:
        lr = self.scheduler.get_last_lr()[0]
        clips_s = clips / max(waited + busy, 1e-9)  # clips of all ranks
        bar.update(self.step, loss=logged["loss"], lr=lr, clips_s=clips_s)
        if not self.dist.is_main or (self.step % self.optim_cfg.log_every and self.step != 1):
            return
        record = {"kind": "step", "step": self.step, "epoch": self.epoch + 1, **logged, "lr": lr,
                  "clips_per_s": clips_s, "data_wait_frac": waited / max(waited + busy, 1e-9)}
        self._write(record)

    def _end_epoch(self, epoch_losses: list[float]) -> None:
        self.bad_videos = union_over_ranks(self.bad_videos, self.dist)  # the count covers every rank
        self.epoch += 1
        self.step_in_epoch = 0
        record: dict[str, Any] = {"kind": "epoch", "step": self.step, "epoch": self.epoch,
                                  "train_loss": sum(epoch_losses) / max(1, len(epoch_losses)),
                                  "bad_videos": len(set(self.bad_videos))}
        metric = -record["train_loss"]
        if self.validate is not None and self.dist.is_main:
            val = self.validate(self.student)
            record.update({f"val_{k}": val[k] for k in ("top1", "top5", "mean_class_accuracy") if k in val})
            metric = val.get("top1", metric)
        improved = metric > self.best["metric"]
        if improved:
            self.best = {"metric": metric, "epoch": self.epoch}
        if self.dist.is_main:
            self._write(record)
        self.history.append(record)
        self.save("last")
        if improved and self.dist.is_main and self.run is not None:
            self.run.copy_checkpoint("last", "best")
        barrier(self.dist)

    def _write(self, record: dict) -> None:
        if self.run is not None:
            self.run.log(record)
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self.tb.add_scalar(f"{record['kind']}/{k}", v, record["step"])

    def _tensorboard(self):
        from levil_edge.utils.extras import require

        require("tensorboard", what="--tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.run.path / "tensorboard"))

    def _finish(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.dist.is_main and self.run is not None:
            from levil_edge.train.loss_curve import write_loss_curve

            write_loss_curve(self.run)

    def result(self, elapsed: float, stopped: bool) -> dict[str, Any]:
        """The summary returned by distill()/finetune() (rank 0 reads the whole log, so a resumed
        run reports all of its steps)."""
        records = self.run.read_metrics() if self.run is not None and self.dist.is_main else self.history
        epochs = [r for r in records if r.get("kind") == "epoch"]
        steps = [r for r in records if r.get("kind") == "step"]
        best = self.run.checkpoint_dir("best") if self.run is not None else None
        return {
            "run": str(self.run.path) if self.run else None,
            "steps": self.step, "epochs": self.epoch, "stopped_early": stopped,
            "final_loss": epochs[-1]["train_loss"] if epochs else (steps[-1]["loss"] if steps else None),
            "best_epoch": self.best["epoch"], "best_metric": None if self.best["epoch"] is None else self.best["metric"],
            "checkpoint": None if best is None else str(best if best.exists() else self.run.checkpoint_dir("last")),
            "clips_per_s": _mean(r["clips_per_s"] for r in steps),
            "data_wait_frac": _mean(r["data_wait_frac"] for r in steps),
            "elapsed_s": elapsed, "bad_videos": sorted(set(self.bad_videos)), "epoch_metrics": epochs,
            **self.run_info, "optim": asdict(self.optim_cfg),
        }


def _mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None
