"""A run folder after things went wrong: a crash between the two renames of a checkpoint swap,
leftover temporary folders, a moved folder, a damaged config, weights or trainer state."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from levil_edge.cli.app import run as cli
from levil_edge.errors import CheckpointError, ConfigError, UsageError
from tests.robust_fixtures import dead_pid
from tests.train_fixtures import tiny_distill_options, train_assets


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return train_assets(tmp_path_factory)


@pytest.fixture(scope="module")
def stopped(assets, tmp_path_factory):
    """A distill run stopped (with a checkpoint) after 2 of its 6 steps."""
    from levil_edge.train import distill

    out = tmp_path_factory.mktemp("stopped") / "run"
    distill(tiny_distill_options(assets, out, stop_after=2))
    return out


def _copy(stopped, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(stopped, dst)
    return dst


def _steps(run) -> list[int]:
    return [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "step"]


def test_crash_between_the_renames_is_recovered(assets, stopped, tmp_path):
    from levil_edge.train import distill

    run = _copy(stopped, tmp_path)
    # What a crash between `last/ -> .last.old-<pid>` and `.last.tmp-<pid> -> last/` leaves, plus
    # an unfinished save of another dead process.
    pid = dead_pid()
    os.replace(run / "last", run / f".last.old-{pid}")
    shutil.copytree(run / f".last.old-{pid}", run / f".last.tmp-{pid}")
    (run / f".last.tmp-{dead_pid()}").mkdir()
    metrics = (run / "metrics.jsonl").read_text()
    with pytest.raises(UsageError, match="already holds a run"):  # a fresh start erases nothing
        distill(tiny_distill_options(assets, run))
    assert (run / "metrics.jsonl").read_text() == metrics
    assert torch.load(run / "last" / "trainer_state.pt", weights_only=True)["step"] == 2  # put back as last/
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]
    # and --resume continues from it
    os.replace(run / "last", run / f".last.old-{pid}")
    assert distill(tiny_distill_options(assets, run, resume=True))["steps"] == 6
    assert _steps(run) == list(range(1, 7))
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]


def test_leftovers_of_a_live_process_are_kept(stopped, tmp_path):
    from levil_edge.train.run import RunFolder

    run = _copy(stopped, tmp_path)
    busy = run / f".best.tmp-{os.getppid()}"  # a save that may still be running
    busy.mkdir()
    dead = run / f".best.tmp-{dead_pid()}"
    dead.mkdir()
    assert RunFolder(run).recover() == [f"removed {dead.name}"]
    assert busy.is_dir() and not dead.exists()


def test_a_crash_left_checkpoint_is_recovered_when_its_pid_was_reused(stopped, tmp_path):
    """The pid in ``.last.old-<pid>`` may belong to a new, unrelated process by now: the good
    checkpoint is still put back, and a fresh start still refuses to erase the run."""
    from levil_edge.train.run import RunFolder

    run = _copy(stopped, tmp_path)
    os.replace(run / "last", run / f".last.old-{os.getppid()}")  # a live pid
    metrics = (run / "metrics.jsonl").read_text()
    folder = RunFolder(run)
    assert folder.holds_run()
    with pytest.raises(UsageError, match="already holds a run"):
        folder.prepare(folder.load_config(), resume=False)
    assert (run / "metrics.jsonl").read_text() == metrics
    assert torch.load(run / "last" / "trainer_state.pt", weights_only=True)["step"] == 2
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]


def test_a_moved_run_folder_resumes(assets, stopped, tmp_path):
    from levil_edge.train import distill

    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    shutil.move(str(_copy(stopped, tmp_path)), moved)
    assert distill(tiny_distill_options(assets, moved, resume=True))["steps"] == 6
    assert json.loads((moved / "config.json").read_text())["out"] == str(moved)


def test_damaged_run_is_one_line_on_resume(assets, stopped, tmp_path, capsys):
    def resume(run):
        capsys.readouterr()
        rc = cli(["distill", "--videos", str(assets.videos), "--vocab", str(assets.vocab), "--teacher",
                  str(assets.teacher), "--cache", str(assets.cache), "--out", str(run), "--student", "x3d_xs",
                  "--epochs", "2", "--batch-size", "4", "--frames", "4", "--size", "32", "--workers", "0",
                  "--device", "cpu", "--log-every", "1", "--warmup-epochs", "0.5", "--resume"])
        lines = capsys.readouterr().err.strip().splitlines()
        assert rc == 1 and len(lines) == 1 and lines[0].startswith("error: "), lines
        return lines[0]

    broken_config = _copy(stopped, tmp_path / "a")
    (broken_config / "config.json").write_text('{"out": ')
    line = resume(broken_config)
    assert "config.json is damaged" in line and "delete it to --resume" in line

    truncated = _copy(stopped, tmp_path / "b")
    weights = truncated / "last" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    line = resume(truncated)
    assert "model.safetensors" in line and "checkpoint is damaged" in line

    pickled = _copy(stopped, tmp_path / "c")
    torch.save({"step": 2, "hook": _Gadget()}, pickled / "last" / "trainer_state.pt")
    line = resume(pickled)
    assert "_Gadget object, which a safe load refuses" in line
    assert "weights_only=False" not in line and "likely succeed" not in line


class _Gadget:  # a class a checkpoint must not carry
    pass


def test_refused_pickle_backbone_never_advises_weights_only_false(tmp_path):
    from levil_edge.students.checkpoint import read_state_dict

    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": _Gadget()}, tmp_path / "backbone.pth")
    with pytest.raises(CheckpointError) as err:
        read_state_dict(tmp_path / "backbone.pth")
    assert "safe load refuses" in str(err.value) and "weights_only=False" not in str(err.value)


def test_broken_config_is_a_config_error(stopped, tmp_path):
    from levil_edge.train.run import RunFolder

    run = _copy(stopped, tmp_path)
    (run / "config.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a JSON object"):
        RunFolder(run).load_config()
