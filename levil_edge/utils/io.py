"""Atomic file writes: write to a temporary name in the same folder, fsync, then rename.
A crash never leaves a half-written checkpoint, cache shard or JSON behind.

Also the checks and wording for output paths: ``ensure_writable`` fails before long work starts
when an output cannot be written, and ``os_error_message`` is the one line an ``OSError`` becomes
(the CLI's error map uses it too)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from levil_edge.errors import OutputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    Use it for writers that want a file name (safetensors, ONNX, matplotlib)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        # mkstemp creates 0600 files (and some writers, e.g. safetensors, recreate the file as
        # 0600): a deploy folder copied to a Jetson and read by DeepStream or a container under
        # another user would fail. Give the file the mode open() would have given it.
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, path)
    except OSError as exc:
        _name_output(exc, path, tmp_path)
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def current_umask() -> int:
    """The process umask. Read from /proc where possible: ``os.umask`` can only be read by
    setting it, which briefly changes the mode of files other threads create."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (weights and ONNX files can be large)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def append_jsonl(path: str | os.PathLike, obj: Any) -> None:
    """Append one JSON line and flush it to disk (used for metrics and captions: resumable logs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(obj, default=_json_default) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        _name_output(exc, path)
        raise


def _name_output(exc: OSError, path: Path, tmp: Path | None = None) -> None:
    """Errors of write() carry no file name and those of a temp file name the temp file: make the
    error name the output the user asked for (the CLI's one line shows it)."""
    if exc.filename is None or (tmp is not None and str(exc.filename) == str(tmp)):
        exc.filename = str(path)


def read_jsonl(path: str | os.PathLike) -> tuple[list[dict], int]:
    """Read a JSONL file; return (records, number of broken lines skipped)."""
    records, bad = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(obj, dict):
                records.append(obj)
            else:
                bad += 1
    return records, bad


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    try:  # numpy scalars and arrays, without importing numpy eagerly
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# --- output paths: checks before long work, and the one line an OSError becomes ---
_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def blocking_file(path: str | os.PathLike) -> Path | None:
    """The existing non-folder at ``path`` or above it (a file where a folder goes), if any."""
    for p in (Path(path), *Path(path).parents):
        if p.exists() or p.is_symlink():
            return None if p.is_dir() else p
    return None


def os_error_message(exc: OSError, path: str | os.PathLike | None = None) -> str:
    """One line for an ``OSError``: the path, the reason, what to do. ``path`` overrides the
    file name the error carries (e.g. the output the user named rather than a temp file)."""
    where = str(path if path is not None else exc.filename if exc.filename is not None else "")
    prefix = f"{where}: " if where else ""
    code = exc.errno
    if code in _DISK_FULL:
        return f"{prefix}no space left on the device: free space there or write elsewhere (another --out)"
    if code == errno.EROFS:
        return f"{prefix}read-only file system: write to a folder on a writable disk (another --out)"
    if code in (errno.EACCES, errno.EPERM):
        return f"{prefix}permission denied: choose a folder you can write to (another --out) or fix its permissions"
    if code in (errno.EEXIST, errno.ENOTDIR) and where:
        try:
            blocker = blocking_file(where) or (Path(where) if Path(where).is_file() else None)
        except OSError:  # a parent we may not look into
            blocker = None
        if blocker is not None:
            return (f"{where}: {blocker} is a file where a folder goes: "
                    "remove or rename that file, or choose another path")
    if code == errno.EISDIR:
        return f"{prefix}is a folder where a file is expected: name a file (e.g. {Path(where or '.') / 'out.json'})"
    if code == errno.ENOENT:
        return f"{prefix}no such file or folder: check the path (or the folder it goes into)"
    if code in _ADVICE:
        return f"{prefix}{_ADVICE[code]}"
    return f"{prefix}{exc.strerror or exc}: check the path and retry"


# errno -> "reason: what to do", for the errors a long write or a data loader meets
_ADVICE = {
    errno.ENAMETOOLONG: "file name too long: choose a shorter path",
    errno.EFBIG: ("file too large for this file system or for the file-size limit (ulimit -f): write to another "
                  "file system (FAT32 stops at 4 GiB) or raise the limit"),
    errno.EIO: "input/output error: the disk or its connection failed; check the device (dmesg), then retry or "
               "write elsewhere",
    errno.ELOOP: "too many levels of symbolic links: a link in the path points back at itself; fix the link or "
                 "choose another path",
    errno.EMFILE: "too many open files: raise the open-file limit (ulimit -n 4096) and retry",
    errno.ENFILE: "too many open files on this system: close other programs or raise the system's limit "
                  "(fs.file-max), then retry",
}


def ensure_writable(path: str | os.PathLike, kind: str = "folder") -> Path:
    """Fail now, in one line, if ``path`` cannot be written (before hours of work, not after).

    ``kind="folder"``: ``path`` is an output folder; it is created. ``kind="file"``: ``path`` is
    an output file; its folder is created. Detects a file where a folder goes, a folder where a
    file goes, a read-only file system, no permission and a full disk (a probe file is written
    in the folder and removed). Raises ``OutputError``."""
    path = Path(path)
    folder = path if kind == "folder" else path.parent
    try:
        blocker = blocking_file(folder)
        if blocker is not None:
            raise OutputError(f"{path}: {blocker} is a file where a folder goes: remove or rename that file, "
                              "or choose another path")
        if kind == "file" and path.is_dir():
            raise OutputError(f"{path} is a folder but a file is expected here: name a file (e.g. {path / 'out.json'})")
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".levil-write-probe-", dir=folder)
        try:
            os.write(fd, b"\0")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise OutputError(os_error_message(exc, path)) from exc
    if kind == "file" and path.exists() and not os.access(path, os.W_OK):
        raise OutputError(os_error_message(OSError(errno.EACCES, "Permission denied"), path))
    return path


def is_disk_full(exc: BaseException, folder: str | os.PathLike | None = None) -> bool:
    """Did this write fail because the disk is full? ``OSError`` ENOSPC/EDQUOT, safetensors'
    ``SafetensorError ... No space left on device``, or torch's ``inline_container`` /
    ``PytorchStreamWriter`` error (which hides the reason) on a ``folder`` with no space left.
    Call it before deleting the partial files, which would free the space again."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in _DISK_FULL:
            return True
        text = str(e)
        if "No space left on device" in text or "Disk quota exceeded" in text:
            return True
        if folder is not None and ("inline_container" in text or "PytorchStreamWriter" in text):
            try:
                return shutil.disk_usage(folder).free < (1 << 20)
            except OSError:
                return False
    return False


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__
