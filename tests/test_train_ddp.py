"""distill under torchrun: 2 processes, gloo backend on CPU, a few steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.train_fixtures import train_assets

pytestmark = pytest.mark.distributed


def test_distill_with_torchrun_two_processes(tmp_path_factory, tmp_path):
    assets = train_assets(tmp_path_factory)
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "levil_edge.train", "distill", "--videos", str(assets.videos), "--vocab", str(assets.vocab),
           "--teacher", str(assets.teacher), "--cache", str(tmp_path / "cache"), "--student", "x3d_xs",
           "--out", str(out), "--epochs", "2", "--batch-size", "4", "--frames", "4", "--size", "32",
           "--workers", "0", "--device", "cpu", "--log-every", "1", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "LEVIL_NO_PROGRESS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout[proc.stdout.index("{"):])  # rank 0 alone prints the summary
    assert proc.stdout.count('"run"') == 1
    assert result["world_size"] == 2
    assert result["steps"] == 4  # 12 videos / (4 per rank x 2 ranks) -> 2 steps per epoch
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
    assert (out / "last" / "model.safetensors").is_file() and (out / "best" / "model.safetensors").is_file()
    steps = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps if r["kind"] == "step"] == [1, 2, 3, 4]  # one writer: rank 0
