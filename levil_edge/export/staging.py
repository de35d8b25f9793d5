"""A deploy folder is built as a whole and swapped in at the end.

``export --out deploy/NAME`` writes everything into ``deploy/.NAME.staging-<pid>/`` (its temporary
work too, in ``.work/``), and only when every file is there replaces ``deploy/NAME`` with it. An
export killed halfway therefore leaves the previous folder intact, never a new model.onnx beside the
old INT8 files and model.json, and leaks nothing into the system temp dir. The next export removes
the staging folders of exports that are gone (and restores a previous folder a crash left renamed).
An export holds a lock (``flock``) on its staging folder until it ends: the kernel releases it when
the process dies, so a leftover is told from a live export even when its pid was reused.

Files in an old deploy folder that export does not make (notes, a video) are carried over."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: the pid alone tells a live export
    fcntl = None

from levil_edge import artifacts as A
from levil_edge.errors import UsageError
from levil_edge.utils.io import current_umask, ensure_writable

WORK = ".work"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _lock(path: Path) -> int | None:
    """Hold an exclusive lock on the folder ``path`` (an open fd; closing it releases the lock)."""
    if fcntl is None:
        return None
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _held(path: Path) -> bool:
    """True while a live export holds ``path``'s lock (a folder that is gone is held by nobody)."""
    if fcntl is None:
        pid = _pid_of(path)
        return pid is not None and _alive(pid)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock we may just have taken
    return False


def _pid_of(path: Path) -> int | None:
    tail = path.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def is_artifact(name: str) -> bool:
    """Made by export or build_engine.sh (replaced by a new export), as opposed to a user's file."""
    made = {A.SIDECAR, A.ENGINE_JSON, A.LABELS_FILE, A.RANGES_FILE, A.BUILD_SCRIPT, A.DEVICE_README,
            A.DEEPSTREAM_DIR, A.TIMING_CACHE, A.BUILD_LOG_DIR}
    return name in made or name.startswith(("model.", "engine.json", ".model.", ".engine.json."))


def clean_stale(out: Path) -> list[str]:
    """Remove staging folders of dead exports into ``out``; put back a previous folder that a crash
    left renamed. Refuses when a live export is writing the same folder."""
    done = []
    for p in sorted(out.parent.glob(f".{out.name}.staging-*")) + sorted(out.parent.glob(f".{out.name}.old-*")):
        pid = _pid_of(p)
        if pid is None or pid == os.getpid():
            continue
        # A live export holds its staging folder's lock; mid-swap, that folder is already ``out``.
        staging = out.parent / f".{out.name}.staging-{pid}"
        if _held(staging) or (".old-" in p.name and _held(out)):
            raise UsageError(f"another export (pid {pid}) is writing {out}: wait for it or pass another --out")
        if ".old-" in p.name and not out.exists():
            os.replace(p, out)
            done.append(f"restored {out} from {p.name}")
        else:
            shutil.rmtree(p, ignore_errors=True)
            done.append(f"removed {p.name}")
    return done


def check_out(out: Path) -> None:
    if out.is_file():
        raise UsageError(f"--out {out} is a file: pass a folder, e.g. deploy/NAME")
    if out.is_dir() and not (out / A.SIDECAR).is_file():
        others = [p.name for p in out.iterdir()]
        if others:
            shown = ", ".join(sorted(others)[:6]) + (" ..." if len(others) > 6 else "")
            raise UsageError(f"--out {out} holds files that are not a levil-edge export ({shown}): pass a new or empty folder")


def _honour_umask(folder: Path) -> None:
    """Temporary files are created 0600; a deploy folder is read by DeepStream or a container running as
    another user, so the files export wrote get the modes the umask gives (executables stay executable).
    Run before the user's own files are carried over: their modes are theirs."""
    umask = current_umask()  # not os.umask(0): other threads would create files 0666 meanwhile
    for p in [folder, *folder.rglob("*")]:
        mode = 0o777 if p.is_dir() or os.access(p, os.X_OK) else 0o666
        p.chmod(mode & ~umask)


class DeployStage:
    """``with DeployStage(out) as stage:`` write into ``stage.path``, then ``stage.commit()``.

    Making the stage checks ``out`` (a levil-edge export or a new/empty folder, whose parent can be
    written), so an export makes it before any long work. While the stage is open, Python's temporary files (ours, ONNX Runtime's quantization and the
    exporters') go to ``stage.work`` through ``tempfile.tempdir``: a killed export leaves them inside
    the staging folder, which the next export removes."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        check_out(self.out)
        ensure_writable(self.out.parent, "folder")  # a file in the way, read-only, full: one line now
        self.path = self.out.parent / f".{self.out.name}.staging-{os.getpid()}"
        self.work = self.path / WORK
        self.cleaned: list[str] = []
        self._tempdir = None
        self._lock_fd: int | None = None

    def __enter__(self) -> "DeployStage":
        self.cleaned = clean_stale(self.out)
        shutil.rmtree(self.path, ignore_errors=True)
        self.work.mkdir(parents=True)
        self._lock_fd = _lock(self.path)  # held through the swap (the fd follows the renamed folder)
        self._tempdir, tempfile.tempdir = tempfile.tempdir, str(self.work)
        return self

    def __exit__(self, *exc) -> bool:
        tempfile.tempdir = self._tempdir
        if self.path.exists():  # not committed: an error or an interrupt
            shutil.rmtree(self.path, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        return False

    def commit(self) -> list[str]:
        """Swap the staged folder in; returns the names of user files carried over from the old one."""
        shutil.rmtree(self.work, ignore_errors=True)
        _honour_umask(self.path)  # what this export wrote, not the files carried over below
        kept = []
        if self.out.is_dir():
            for p in self.out.iterdir():
                if not is_artifact(p.name) and not (self.path / p.name).exists():
                    shutil.move(str(p), str(self.path / p.name))
                    kept.append(p.name)
        old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
        if self.out.exists():
            os.replace(self.out, old)
        os.replace(self.path, self.out)
        shutil.rmtree(old, ignore_errors=True)
        return kept
