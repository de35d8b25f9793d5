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

A checkpoint folder is replaced as a whole: written under ``.last.tmp-<pid>``, the old folder renamed
to ``.last.old-<pid>``, the new one renamed to ``last/``, the old one deleted. A crash leaves the old
or the new checkpoint, never a mix; a crash between the two renames leaves the old one under its
temporary name, and ``RunFolder.recover`` (run by ``prepare``) puts it back as ``last/``."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from levil_edge.errors import CheckpointError, ConfigError, OutputError, UsageError
from levil_edge.utils.io import (append_jsonl, atomic_path, atomic_write_json, ensure_writable, is_disk_full,
                                 os_error_message, read_jsonl)

TRAINER_STATE = "trainer_state.pt"
CHECKPOINT_KINDS = ("last", "best")
log = logging.getLogger(__name__)
_LEFTOVER = re.compile(r"^\.(last|best)\.(tmp|old)-(\d+)$")


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
        overwritten quietly; what an interrupted checkpoint save left behind is repaired first."""
        for note in self.recover():
            log.warning("%s: %s (left by an interrupted checkpoint save)", self.path, note)
        if resume:
            if not self.has_checkpoint("last"):
                raise UsageError(f"--resume: {self.path} has no last/ checkpoint to resume from; drop --resume")
            ensure_writable(self.path, "folder")
            if not self.config_path.is_file():
                atomic_write_json(self.config_path, config)
            elif self.load_config().get("out") != config.get("out"):  # the folder was moved or copied
                atomic_write_json(self.config_path, {**self.load_config(), "out": config.get("out")})
            return
        if self.holds_run():
            raise UsageError(
                f"run folder {self.path} already holds a run: pass --resume to continue it or another --out"
            )
        # A run that stopped before its first checkpoint (a bad option, a NaN in step 1) has nothing
        # to resume: its folder is reused, without its stale log.
        ensure_writable(self.path, "folder")
        self.metrics_path.unlink(missing_ok=True)
        atomic_write_json(self.config_path, config)

    def holds_run(self) -> bool:
        """A checkpoint of any kind, or one an interrupted save left under a temporary name."""
        if any(self.checkpoint_dir(kind).exists() for kind in CHECKPOINT_KINDS):
            return True
        return any(kind == "old" for _, kind, _ in self._leftovers())

    def load_config(self) -> dict[str, Any]:
        try:
            config = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
            raise ConfigError(
                f"the run config {self.config_path} is damaged ({exc}): restore it, or delete it to --resume "
                "without the option check (the options you pass are then recorded as the run's)"
            ) from exc
        if not isinstance(config, dict):
            raise ConfigError(f"the run config {self.config_path} is not a JSON object: restore it or delete it")
        return config

    # --- repair after a crash ---
    def _leftovers(self) -> list[tuple[str, str, Path]]:
        """(checkpoint kind, "tmp" | "old", path) of the temporary folders an interrupted save left:
        every ``.old`` folder, and the ``.tmp`` folders of processes that are gone (or of this one,
        which is not saving now). A live process holds its ``.old`` folder only for the instant
        between its two renames, so one found here is a crash's even when its pid now belongs to
        another process (pids are reused); a ``.tmp`` folder of a live process may be a save in
        progress, which can take minutes."""
        if not self.path.is_dir():
            return []
        found = []
        for entry in self.path.iterdir():
            m = _LEFTOVER.match(entry.name)
            if m and entry.is_dir() and (m.group(2) == "old" or not _alive_other(int(m.group(3)))):
                found.append((m.group(1), m.group(2), entry))
        return sorted(found, key=lambda f: f[2].stat().st_mtime)

    def recover(self) -> list[str]:
        """Put back a checkpoint that a crash between the two renames of a save left as
        ``.last.old-<pid>`` (or ``.best.old-<pid>``), and delete unfinished ``.tmp-<pid>`` folders,
        which can be as large as the model and its optimizer state. Returns what was done."""
        done = []
        for kind, stage, path in self._leftovers():
            final = self.checkpoint_dir(kind)
            if stage == "old" and not final.exists() and (path / TRAINER_STATE).is_file():
                os.replace(path, final)
                done.append(f"recovered {final} from {path.name}")
            else:
                shutil.rmtree(path, ignore_errors=True)
                done.append(f"removed {path.name}")
        return done

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

        tmp = self.path / f".{kind}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
            save_checkpoint(tmp, model, model_cfg)
            # Straight into the temporary folder (the folder swap is what makes it atomic): when a
            # full disk stops torch's writer ("inline_container ... unexpected pos", no reason
            # given), the partial file is still there for is_disk_full to measure the free space.
            torch.save(trainer_state, tmp / TRAINER_STATE)
            with open(tmp / TRAINER_STATE, "rb+") as f:
                os.fsync(f.fileno())
        except Exception as exc:
            self._failed_save(kind, tmp, exc)
        return self._swap_in(tmp, kind)

    def copy_checkpoint(self, src: str, dst: str) -> None:
        """best/ <- last/ when the last epoch is the best so far (a copy, then a folder swap)."""
        tmp = self.path / f".{dst}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            shutil.copytree(self.checkpoint_dir(src), tmp)
        except Exception as exc:
            self._failed_save(dst, tmp, exc)
        self._swap_in(tmp, dst)

    def _swap_in(self, tmp: Path, kind: str) -> Path:
        final, old = self.checkpoint_dir(kind), self.path / f".{kind}.old-{os.getpid()}"
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)  # a crash before this line leaves `old`: recover() puts it back
        shutil.rmtree(old, ignore_errors=True)
        return final

    def _failed_save(self, kind: str, tmp: Path, exc: Exception) -> None:
        """Delete the unfinished folder (it can be as large as the model and optimizer state, on a
        disk that is already full) and say in one line what happened and what is kept."""
        full = is_disk_full(exc, self.path)  # before the delete, which frees the space again
        shutil.rmtree(tmp, ignore_errors=True)
        last = self.checkpoint_dir("last")
        kept = f"the last good checkpoint is {last}" if self.has_checkpoint("last") else "no checkpoint was saved yet"
        if full:
            raise OutputError(f"disk full while saving the {kind}/ checkpoint in {self.path}: free space there, "
                              f"then --resume ({kept})") from exc
        if isinstance(exc, OSError):
            raise OutputError(f"cannot save the {kind}/ checkpoint: {os_error_message(exc)} ({kept})") from exc
        raise exc

    def load_trainer_state(self, kind: str = "last") -> dict[str, Any]:
        from levil_edge.students.checkpoint import torch_load_failure

        path = self.checkpoint_dir(kind) / TRAINER_STATE
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError as exc:
            raise CheckpointError(f"no trainer state at {path}: the run cannot be resumed; start a new run") from exc
        except Exception as exc:  # noqa: BLE001 - corrupt pickle, wrong format
            raise CheckpointError(f"cannot read {path}: {torch_load_failure(exc)}; restore the file or start a "
                                  "new run (another --out)") from exc

    def load_weights(self, kind: str = "last") -> dict[str, torch.Tensor]:
        """The student weights of ``kind/`` for a resume; a damaged file is a one-line error."""
        from safetensors.torch import load_file

        files = sorted(self.checkpoint_dir(kind).glob("*.safetensors"))
        if not files:
            raise CheckpointError(f"{self.checkpoint_dir(kind)} holds no .safetensors weights: restore them or "
                                  "start a new run (another --out)")
        try:
            return load_file(str(files[0]))
        except Exception as exc:  # noqa: BLE001 - SafetensorError on truncated or foreign files
            raise CheckpointError(f"cannot read {files[0]} ({exc}): the checkpoint is damaged; restore it or start "
                                  "a new run (another --out)") from exc


def _alive_other(pid: int) -> bool:
    """Is ``pid`` a running process other than this one? (Its save may be in progress.)"""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    except OSError:
        return False
    return True


def find_run_checkpoint(path: str | Path, what: str = "this command") -> Path:
    """A run folder -> its best/ (else last/) checkpoint; a checkpoint folder or .safetensors -> itself
    (``levil_edge.artifacts.resolve_model``, the one place a --model argument is resolved; ``what``
    names the command in its errors)."""
    from levil_edge.artifacts import CHECKPOINT, resolve_model

    return resolve_model(path, (CHECKPOINT,), what=what)
