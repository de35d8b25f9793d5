"""distill under torchrun: 2 processes, gloo backend on CPU, a few steps. The processes run
tests/ddp_worker.py, which records per rank what the trainer did."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.robust_fixtures import corrupt_keeping_stat, fill_teacher_cache
from tests.train_fixtures import train_assets

pytestmark = pytest.mark.distributed

WORKER = Path(__file__).with_name("ddp_worker.py")


def _torchrun(options: dict, report: Path, timeout: float = 300) -> tuple[subprocess.CompletedProcess, list[dict]]:
    report.mkdir(parents=True, exist_ok=True)
    (report / "options.json").write_text(json.dumps(options))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(WORKER), str(report / "options.json"), str(report)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "LEVIL_NO_PROGRESS": "1",
           "PYTHONPATH": os.pathsep.join([str(WORKER.parent.parent), os.environ.get("PYTHONPATH", "")])}
    # Own process group: on a timeout (a hang) the ranks go too, not only torchrun.
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          start_new_session=True) as popen:
        try:
            stdout, stderr = popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.communicate()
            pytest.fail(f"torchrun did not finish within {timeout} s: the ranks hang")
    proc = subprocess.CompletedProcess(cmd, popen.returncode, stdout, stderr)
    ranks = [json.loads((report / f"rank{r}.json").read_text()) for r in range(2)] if proc.returncode == 0 else []
    return proc, ranks


def _assert_same_weights(report: Path) -> None:
    w0, w1 = load_file(str(report / "rank0.safetensors")), load_file(str(report / "rank1.safetensors"))
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.isfinite(w0[k].float()).all(), k
        torch.testing.assert_close(w0[k], w1[k], rtol=0, atol=0, msg=k)


def _options(assets, out: Path, **kw) -> dict:
    base = dict(videos=str(assets.videos), vocab=str(assets.vocab), teacher=str(assets.teacher), out=str(out),
                cache=str(assets.cache), student="x3d_xs", epochs=2, batch_size=4, frames=4, size=32, workers=0,
                device="cpu", log_every=1)
    return {**base, **kw}


def test_distill_with_torchrun_two_processes(tmp_path_factory, tmp_path):
    assets = train_assets(tmp_path_factory)
    out = tmp_path / "ddp"
    proc, ranks = _torchrun(_options(assets, out), tmp_path / "report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["world_size"] for r in ranks] == [2, 2] and [r["steps"] for r in ranks] == [4, 4]  # 12 / (4 x 2) -> 2 per epoch
    # The trainer really wrapped the student, the ranks trained on different clips, and still end
    # with the same weights: their gradients were all-reduced at every step.
    assert [r["module"] for r in ranks] == ["DistributedDataParallel"] * 2
    assert set(ranks[0]["rows"][0]).isdisjoint(ranks[1]["rows"][0])
    assert all(sorted(a) != sorted(b) for a, b in zip(ranks[0]["rows"], ranks[1]["rows"]))
    _assert_same_weights(tmp_path / "report")
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
    assert (out / "last" / "model.safetensors").is_file() and (out / "best" / "model.safetensors").is_file()
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps if r["kind"] == "step"] == [1, 2, 3, 4]  # one writer: rank 0


def test_rank_whose_batch_is_all_broken_videos_keeps_in_step(tmp_path_factory, tmp_path):
    """Rank 1's first batch holds only videos that pass the teacher cache but fail in the student
    loader. It must still join the step's collectives (else the ranks hang), with weight 0."""
    from levil_edge.train.data import MixedBatchSampler, steps_per_epoch

    assets = train_assets(tmp_path_factory)
    videos, cache = tmp_path / "videos", tmp_path / "cache"
    shutil.copytree(assets.videos, videos)
    paths = fill_teacher_cache(videos, assets.teacher, cache, assets.vocab)
    per_rank = 2
    sampler = MixedBatchSampler([len(paths)], [per_rank], steps_per_epoch(len(paths), per_rank, 2), seed=0, rank=1,
                                world_size=2)
    broken = [paths[i] for i, *_ in sampler.batch(0, 0)]  # rank 1, epoch 0, step 0
    for p in broken:
        corrupt_keeping_stat(p)
    opts = _options(assets, tmp_path / "run", videos=str(videos), cache=str(cache), epochs=1, batch_size=per_rank)
    proc, ranks = _torchrun(opts, tmp_path / "report", timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["steps"] for r in ranks] == [3, 3]  # the step was taken: rank 0 had clips
    assert ranks[1]["clips"][0] == 0 and ranks[0]["clips"][0] == per_rank
    # Both ranks (and rank 0's log, the one users read) count the videos rank 1 could not decode.
    assert sorted(ranks[0]["bad_videos"]) == sorted(ranks[1]["bad_videos"]) == sorted(broken)
    epochs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["bad_videos"] for r in epochs if r["kind"] == "epoch"] == [len(broken)]
    _assert_same_weights(tmp_path / "report")
