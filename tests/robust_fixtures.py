"""Helpers for the robustness tests: videos that pass the teacher cache but fail in the student
loader, dead process ids, and small or read-only file systems (tmpfs in a user namespace)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def fill_teacher_cache(videos: Path, teacher: Path, cache: Path, vocab: Path) -> list[str]:
    """Run the teacher over ``videos`` into ``cache`` (as distill would); returns the video paths
    in the order distill indexes them."""
    from levil_edge.data.specs import load_spec
    from levil_edge.train.ddp import DistInfo
    from levil_edge.train.distill import read_vocab
    from levil_edge.train.target_table import TeacherSetup, load_target_table

    items = load_spec(videos).items
    setup = TeacherSetup(str(teacher), cache, device="cpu", batch_size=8)
    _, valid, _ = load_target_table(setup, items, read_vocab(vocab), "{}", 0.02, DistInfo())
    assert valid.all()
    return [it.path for it in items]


def corrupt_keeping_stat(path: str | Path) -> None:
    """Overwrite a video with zeros of the same size and put its mtime back: the teacher cache
    (keyed by path, size and mtime) still holds its targets, but it no longer decodes (bit rot,
    a file replaced on a network share)."""
    path = Path(path)
    st = path.stat()
    path.write_bytes(b"\0" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def run_on_small_fs(mounts: dict[Path, str], code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -c code`` where each folder of ``mounts`` is a fresh tmpfs with the given
    mount options (e.g. "size=2m", "ro"), in a private mount namespace (``unshare -rm``): a full
    disk and a read-only file system, for real, without root. Skips where that is not possible."""
    if not _can_mount_tmpfs():
        pytest.skip("needs `unshare -rm` and tmpfs mounts in a user namespace")
    script = " && ".join(f"mkdir -p '{p}' && mount -t tmpfs -o {opts} tmpfs '{p}'" for p, opts in mounts.items())
    env = {**os.environ, "LEVIL_NO_PROGRESS": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(["unshare", "-rm", "sh", "-c", f'{script} && exec "$0" -c "$1"', sys.executable, code],
                          capture_output=True, text=True, timeout=timeout, env=env)
