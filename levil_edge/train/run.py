"""The run folder: resolved config, metrics log, checkpoints and the state needed to resume.

    runs/NAME/
      config.json             resolved options (what was actually run)
      metrics.jsonl           one line per logged step and per epoch
      last/  best/            model.safetensors + config.json (students.save_checkpoint)
                              + trainer_state.pt (optimizer, scheduler, RNG, step; weights_only-safe)
      labeled.txt             finetune: the stratified labeled subset actually used
      loss_curve.png          written at the end
      summary.json            the result dict returned by distill()/finetune()
      tensorboard/            with --tensorboard

A checkpoint folder is replaced as a whole: written under a temporary name, then renamed, so a
crash leaves either the old or the new checkpoint, never a mix."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from levil_edge.errors import CheckpointError, UsageError
from levil_edge.utils.io import append_jsonl, atomic_path, atomic_write_json, read_jsonl

TRAINER_STATE = "trainer_state.pt"


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # --- paths ---
    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def checkpoint_dir(self, kind: str = "last") -> Path:
        return self.path / kind

    def has_checkpoint(self, kind: str = "last") -> bool:
        return (self.checkpoint_dir(kind) / TRAINER_STATE).is_file()

    # --- creation ---
    def prepare(self, config: dict[str, Any], resume: bool) -> None:
        """Create the folder, or check that resuming makes sense. A finished or started run is never
        overwritten quietly."""
        if resume:
            if not self.has_checkpoint("last"):
                raise UsageError(f"--resume: {self.path} has no last/ checkpoint to resume from; drop --resume")
            return
        if self.has_checkpoint("last"):
            raise UsageError(
                f"run folder {self.path} already holds a run: pass --resume to continue it or another --out"
            )
        # A run that stopped before its first checkpoint (a bad option, a NaN in step 1) has nothing
        # to resume: its folder is reused, without its stale log.
        self.path.mkdir(parents=True, exist_ok=True)
        self.metrics_path.unlink(missing_ok=True)
        atomic_write_json(self.config_path, config)

    def load_config(self) -> dict[str, Any]:
        import json

        return json.loads(self.config_path.read_text(encoding="utf-8"))

    # --- metrics ---
    def log(self, record: dict[str, Any]) -> None:
        append_jsonl(self.metrics_path, record)

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        return read_jsonl(self.metrics_path)[0]

    def truncate_metrics(self, step: int) -> None:
        """On resume, drop log lines written after the checkpoint we resume from (they will be
        written again), so metrics.jsonl reads like one uninterrupted run."""
        records = [r for r in self.read_metrics() if r.get("step", 0) <= step]
        import json

        with atomic_path(self.metrics_path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    # --- checkpoints ---
    def save_checkpoint(self, kind: str, model: torch.nn.Module, model_cfg, trainer_state: dict[str, Any]) -> Path:
        """Write ``kind/`` (model + config + trainer state) as one atomic folder swap."""
        from levil_edge.students import save_checkpoint

        final = self.checkpoint_dir(kind)
        tmp = self.path / f".{kind}.tmp-{os.getpid()}"
        old = self.path / f".{kind}.old-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_checkpoint(tmp, model, model_cfg)
        with atomic_path(tmp / TRAINER_STATE) as state_tmp:
            torch.save(trainer_state, state_tmp)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        return final

    def copy_checkpoint(self, src: str, dst: str) -> None:
        """best/ <- last/ when the last epoch is the best so far (a copy, then a folder swap)."""
        tmp = self.path / f".{dst}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(self.checkpoint_dir(src), tmp)
        old = self.path / f".{dst}.old-{os.getpid()}"
        if self.checkpoint_dir(dst).exists():
            os.replace(self.checkpoint_dir(dst), old)
        os.replace(tmp, self.checkpoint_dir(dst))
        shutil.rmtree(old, ignore_errors=True)

    def load_trainer_state(self, kind: str = "last") -> dict[str, Any]:
        path = self.checkpoint_dir(kind) / TRAINER_STATE
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError as exc:
            raise CheckpointError(f"no trainer state at {path}: the run cannot be resumed; start a new run") from exc
        except Exception as exc:  # noqa: BLE001 - corrupt pickle, wrong format
            raise CheckpointError(f"cannot read {path} ({exc}): start a new run or restore the file") from exc


def find_run_checkpoint(path: str | Path) -> Path:
    """A run folder -> its best/ (else last/) checkpoint; a checkpoint folder or .safetensors -> itself
    (``levil_edge.artifacts.resolve_model``, the one place a --model argument is resolved)."""
    from levil_edge.artifacts import CHECKPOINT, resolve_model

    return resolve_model(path, (CHECKPOINT,))
