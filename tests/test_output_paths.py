"""Outputs that cannot be written: checked before long work, one line through the CLI, files
written with the user's umask, and a disk that fills up while a checkpoint is saved."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from levil_edge.cli.app import run
from levil_edge.errors import OutputError
from levil_edge.utils.io import atomic_write_text, ensure_writable, os_error_message
from tests.robust_fixtures import run_on_small_fs
from tests.train_fixtures import train_assets


def _one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_ensure_writable_names_what_is_in_the_way(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"file is a file where a folder goes"):
        ensure_writable(tmp_path / "file" / "run", "folder")
    with pytest.raises(OutputError, match=r"file is a file where a folder goes"):
        ensure_writable(tmp_path / "file", "folder")
    with pytest.raises(OutputError, match=r"is a folder but a file is expected"):
        ensure_writable(tmp_path, "file")
    assert ensure_writable(tmp_path / "new" / "deep", "folder").is_dir()
    assert ensure_writable(tmp_path / "other" / "vocab.txt", "file") == tmp_path / "other" / "vocab.txt"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "file", "new", "other"]  # no probe file left


def test_os_error_message_for_real_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError) as exists:
        (tmp_path / "file").mkdir()
    with pytest.raises(OSError) as notdir:
        (tmp_path / "file" / "sub").mkdir(parents=True)
    with pytest.raises(OSError) as isdir:
        open(tmp_path, "w")
    with pytest.raises(OSError) as missing:
        open(tmp_path / "gone" / "x.json")
    assert "file is a file where a folder goes" in os_error_message(exists.value)
    assert "file is a file where a folder goes" in os_error_message(notdir.value)
    assert "is a folder where a file is expected" in os_error_message(isdir.value)
    assert "no such file or folder" in os_error_message(missing.value)
    for code, needle in [(errno.ENOSPC, "no space left"), (errno.EROFS, "read-only"), (errno.EACCES, "permission"),
                         (errno.EIO, "check the device"), (errno.ENFILE, "close other programs"),
                         (errno.EXDEV, "check the path and retry")]:  # no advice of its own: the generic one
        assert needle in os_error_message(OSError(code, os.strerror(code), "/x/y"))


def test_os_error_message_says_what_to_do_for_limits_and_links(tmp_path):
    """Real errors: a symlink loop, a name too long, the file-size limit, the open-file limit."""
    import subprocess
    import sys

    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(OSError) as loop:
        open(tmp_path / "loop")
    with pytest.raises(OSError) as long_name:
        open(tmp_path / ("x" * 300), "w")
    assert "symbolic links: a link in the path points back at itself" in os_error_message(loop.value)
    assert "file name too long: choose a shorter path" in os_error_message(long_name.value)
    script = """
import os, resource, signal, sys
from levil_edge.utils.io import os_error_message
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal that kills the process
resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    with open(sys.argv[1], "wb") as f:
        f.write(b"0" * 4096)
except OSError as exc:
    print(os_error_message(exc))
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
try:
    files = [open(sys.argv[1], "rb") for _ in range(100)]
except OSError as exc:
    print(os_error_message(exc))
"""
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "big")], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[1])
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout + proc.stderr
    assert "file too large" in lines[0] and "ulimit -f" in lines[0], lines[0]
    assert "too many open files: raise the open-file limit (ulimit -n" in lines[1], lines[1]


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_atomic_writes_and_checkpoints_honour_the_umask(tmp_path, umask):
    import torch

    from levil_edge.config import ModelConfig
    from levil_edge.students import create_student, save_checkpoint

    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "model.json", "{}")
        save_checkpoint(tmp_path / "ckpt", create_student("r3d_tiny", 2),
                        ModelConfig(student="r3d_tiny", num_classes=2, labels=["a", "b"], size=32))
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    for path in (tmp_path / "model.json", tmp_path / "ckpt" / "model.safetensors", tmp_path / "ckpt" / "config.json"):
        assert path.stat().st_mode & 0o777 == want, path
    assert torch.is_tensor(torch.zeros(1))  # torch imported once for the checkpoint


def test_cli_output_in_the_way_is_one_line_before_any_work(tmp_path_factory, tmp_path, capsys):
    a = train_assets(tmp_path_factory)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    capsys.readouterr()
    rc = run(["distill", "--videos", str(a.videos), "--vocab", str(a.vocab), "--teacher", str(a.teacher),
              "--out", str(blocker / "run"), "--cache", str(tmp_path / "cache"), "--student", "x3d_xs",
              "--size", "32", "--device", "cpu", "--workers", "0"])
    assert rc == 1 and "is a file where a folder goes" in _one_error_line(capsys)
    assert not (tmp_path / "cache").exists()  # refused before the teacher ran
    captions = tmp_path / "captions.jsonl"
    captions.write_text(json.dumps({"path": "a.mp4", "caption": "A man rides a horse."}) + "\n")
    assert run(["vocab", str(captions), "--out", str(blocker / "vocab.txt")]) == 1
    assert "is a file where a folder goes" in _one_error_line(capsys)
    # An OSError no command checked for (a split list written under a file) is mapped too.
    assert run(["data", "split", str(a.videos), "--labels-per-class", "1", "--out", str(blocker / "split")]) == 1
    assert "is a file where a folder goes" in _one_error_line(capsys)


def _as_unprivileged_user(fn) -> str:
    """``fn()`` -> its error message (or ""), run as user nobody when the tests run as root
    (root writes anywhere): in a forked child, so this process keeps its user."""
    def message() -> str:
        try:
            fn()
        except OutputError as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - reported through the pipe, so the test shows it
            return f"not an OutputError: {exc!r}"
        return ""

    if os.geteuid() != 0:
        return message()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, report, leave without running pytest's exit handlers
        os.close(read)
        try:
            os.setgid(65534)
            os.setuid(65534)
            os.write(write, message().encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        text = f.read().decode()
    os.waitpid(pid, 0)
    return text


def test_permission_denied_is_found_before_work(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    tmp_path.chmod(0o755)
    message = _as_unprivileged_user(lambda: ensure_writable(locked / "run", "folder"))
    assert message.startswith(f"{locked / 'run'}: permission denied: choose a folder you can write to")
    assert not (locked / "run").exists()


def test_read_only_file_system_is_one_line(tmp_path):
    ro = tmp_path / "ro"
    captions = tmp_path / "captions.jsonl"
    captions.write_text(json.dumps({"path": "a.mp4", "caption": "A man rides a horse."}) + "\n")
    code = ("import sys\nfrom levil_edge.cli.app import run\n"
            f"sys.exit(run(['vocab', {str(captions)!r}, '--out', {str(ro / 'vocab.txt')!r}]))")
    proc = run_on_small_fs({ro: "ro,size=64k"}, code)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: {ro / 'vocab.txt'}: read-only file system: write to a folder "
                                                "on a writable disk (another --out)"]


@pytest.mark.integration
def test_disk_full_while_saving_a_checkpoint(tmp_path_factory, tmp_path):
    """r3d_tiny (3.6 MB of weights, 7 MB more of optimizer state) trained into tmpfs folders too
    small for (a) the weights, (b) the trainer state, (c) the copy to best/ after a good last/."""
    a = train_assets(tmp_path_factory)
    sizes = {"weights": "2m", "state": "6m", "best": "14m"}
    code = f"""
import contextlib, io, json, pathlib, sys
from levil_edge.cli.app import run
report = {{}}
for name in {list(sizes)!r}:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = run(['distill', '--videos', {str(a.videos)!r}, '--vocab', {str(a.vocab)!r}, '--teacher', {str(a.teacher)!r},
                  '--cache', {str(a.cache)!r}, '--out', {str(tmp_path)!r} + '/' + name + '/run', '--student', 'r3d_tiny',
                  '--size', '32', '--frames', '4', '--epochs', '1', '--batch-size', '4', '--workers', '0',
                  '--device', 'cpu'])
    run_dir = pathlib.Path({str(tmp_path)!r}) / name / 'run'
    report[name] = {{'rc': rc, 'err': [l for l in err.getvalue().splitlines() if l.startswith('error:')],
                    'files': sorted(p.name for p in run_dir.iterdir())}}
print(json.dumps(report))
"""
    proc = run_on_small_fs({tmp_path / name: f"size={size}" for name, size in sizes.items()}, code, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in sizes:
        assert report[name]["rc"] == 1 and len(report[name]["err"]) == 1, (name, report[name])
    # the unfinished checkpoint folders were deleted; what was saved before stays
    assert report["weights"]["files"] == report["state"]["files"] == ["config.json", "metrics.jsonl"]
    assert report["best"]["files"] == ["config.json", "last", "metrics.jsonl"]
    first = f"error: disk full while saving the last/ checkpoint in {tmp_path}/{{}}/run: free space there, then --resume"
    assert report["weights"]["err"][0] == first.format("weights") + " (no checkpoint was saved yet)"  # SafetensorError
    assert report["state"]["err"][0] == first.format("state") + " (no checkpoint was saved yet)"  # torch's writer
    assert report["best"]["err"][0] == (f"error: disk full while saving the best/ checkpoint in {tmp_path}/best/run: free "
                                        f"space there, then --resume (the last good checkpoint is {tmp_path}/best/run/last)")


def test_full_disk_error_names_the_output_not_the_temp_file(tmp_path):
    full = tmp_path / "full"
    code = ("from levil_edge.utils.io import atomic_write_bytes, os_error_message\n"
            "try:\n"
            f"    atomic_write_bytes({str(full / 'model.onnx')!r}, b'0' * 200_000)\n"
            "except OSError as exc:\n"
            "    print(os_error_message(exc))\n"
            "import os\n"
            f"print(sorted(os.listdir({str(full)!r})))")
    proc = run_on_small_fs({full: "size=64k"}, code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{full / 'model.onnx'}: no space left on the device: free space there or write "
                                        "elsewhere (another --out)", "[]"]  # and the partial temp file is gone


def test_every_long_command_checks_its_output_before_loading_a_model(tmp_path_factory, tmp_path, capsys):
    """The model named here does not exist: a command that loaded it before checking --out would
    fail on the model instead. Each must name the file in the way, in one line, and write nothing."""
    a = train_assets(tmp_path_factory)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    missing = str(tmp_path / "no-such-model")
    calls = {
        "zeroshot --out": ["zeroshot", "--teacher", missing, "--data", str(a.videos), "--out", str(blocker / "zs.json")],
        "zeroshot --cache": ["zeroshot", "--teacher", missing, "--data", str(a.videos), "--cache", str(blocker / "c")],
        "cache fill": ["cache", "fill", "--teacher", missing, "--data", str(a.videos), "--cache", str(blocker / "c")],
        "caption": ["caption", str(a.videos), "--captioner", missing, "--out", str(blocker / "captions.jsonl")],
        "adapt": ["adapt", "--teacher", missing, "--videos", str(a.videos), "--out", str(blocker / "adapter")],
        "export": ["export", "--model", missing, "--out", str(blocker / "deploy" / "x")],
        "evaluate": ["evaluate", "--model", missing, "--data", str(a.videos), "--out", str(blocker / "eval")],
        "bench --plot": ["bench", "--model", missing + ".onnx", "--plot", str(blocker / "bench.png")],
    }
    capsys.readouterr()
    for name, argv in calls.items():
        assert run(argv) == 1, name
        line = _one_error_line(capsys)
        assert "is a file where a folder goes" in line, (name, line)
    assert blocker.read_text() == "x"
