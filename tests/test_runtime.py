"""The edge runtime: imports and predicts without torch, preprocesses exactly like training,
loads models by file type with their metadata, refuses what it cannot run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests import export_fixtures as F

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    """A tiny exported model folder (model.onnx + model.json) and one generated video."""
    pytest.importorskip("torch")
    from levil_edge.export import export_model

    out = tmp_path_factory.mktemp("rt") / "deploy"
    export_model(F.trained_checkpoint(tmp_path_factory), out, calib_data=str(F.dataset(tmp_path_factory)),
                 max_batch=4, heldout_clips=4)
    video = sorted(F.dataset(tmp_path_factory).rglob("*.mp4"))[0]
    return out, video


NO_TORCH = textwrap.dedent(
    """
    import importlib.abc, sys, json

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in this test")
            return None

    sys.meta_path.insert(0, NoTorch())
    import levil_edge.runtime as rt
    from levil_edge.runtime import load_model, predict_videos
    import levil_edge.runtime.tensorrt, levil_edge.runtime.cudart, levil_edge.artifacts
    import levil_edge.export.trt_check, levil_edge.calibration.ranges
    m = load_model(sys.argv[1], providers=["cpu"])
    out = predict_videos([sys.argv[2]], m, topk=2, num_clips=2)
    assert "torch" not in sys.modules
    assert not any(k.startswith(("levil_edge.export.", "levil_edge.train")) and k != "levil_edge.export.trt_check"
                   for k in sys.modules), sorted(sys.modules)
    print(json.dumps({"top": out["videos"][0]["top"], "mods": sorted(k for k in sys.modules if k.startswith("levil_edge"))}))
    """
)


def test_runtime_imports_and_predicts_without_torch(tiny_onnx, tmp_path) -> None:
    out, video = tiny_onnx
    script = tmp_path / "no_torch.py"
    script.write_text(NO_TORCH)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script), str(out / "model.onnx"), str(video)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(res["top"]) == 2 and res["top"][0]["label"] in F.CLASSES
    assert 0.0 < res["top"][0]["score"] <= 1.0


def test_runtime_preprocessing_equals_the_training_pipeline(tiny_onnx) -> None:
    torch = pytest.importorskip("torch")
    from levil_edge.data.dataset import ClipDataset
    from levil_edge.runtime.preprocess import video_to_input

    _, video = tiny_onnx
    cfg = F.tiny_config()
    got = video_to_input(video, cfg, 3, "pyav")  # (K, 3, T, S, S)
    sample = ClipDataset([str(video)], mode="eval", frames=cfg.frames, stride=cfg.stride, size=cfg.size,
                         num_clips=3, decoder="pyav")[0]
    clips = torch.as_tensor(np.asarray(sample["clip"])).float()  # (K, T, S, S, 3) uint8 -> float
    mean, std = torch.tensor(cfg.mean), torch.tensor(cfg.std)
    ref = ((clips / 255.0 - mean) / std).permute(0, 4, 1, 2, 3)  # (K, 3, T, S, S), the torch formula
    assert got.shape == tuple(ref.shape) == (3, 3, cfg.frames, cfg.size, cfg.size)
    assert np.abs(got - ref.numpy()).max() < 1e-5


def test_stream_over_a_video(tiny_onnx) -> None:
    from levil_edge.runtime import stream_predict

    out, video = tiny_onnx
    events = list(stream_predict(video, out / "model.onnx", step=2, topk=2, providers=["cpu"]))
    span = F.FRAMES * F.STRIDE  # 8 frames per window, a window every 2 frames of a 16-frame video
    assert len(events) == (16 - span) // 2 + 1
    assert [e["frame"] for e in events] == list(range(span - 1, 16, 2))
    assert all(e["fps"] > 0 and e["top"][0]["label"] in F.CLASSES for e in events)


def test_load_model_errors(tiny_onnx, tmp_path) -> None:
    import shutil

    import onnx

    from levil_edge.errors import RuntimeModelError, UsageError
    from levil_edge.runtime.model import load_model, precision_of

    out, _ = tiny_onnx
    with pytest.raises(RuntimeModelError, match="no model at .*missing.onnx"):
        load_model(tmp_path / "missing.onnx")
    (tmp_path / "m.tflite").write_bytes(b"x")
    with pytest.raises(UsageError, match="not a model file"):
        load_model(tmp_path / "m.tflite")
    with pytest.raises(UsageError, match=r"is an export folder: pass one of its files \((model.fp16.onnx, )?model.onnx\)"):
        load_model(out)
    with pytest.raises(UsageError, match="not available here"):
        load_model(out / "model.onnx", providers=["NoSuchExecutionProvider"])
    bare = onnx.load(str(out / "model.onnx"))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(RuntimeModelError, match="no levil-edge metadata"):
        load_model(tmp_path / "bare.onnx")
    shutil.copy(out / "model.json", tmp_path / "model.json")  # the sidecar alone is enough
    assert load_model(tmp_path / "bare.onnx").cfg.labels == F.CLASSES
    assert precision_of("a/model.int8.cpu.onnx") == "int8-cpu" and precision_of("model.int8.trt.onnx") == "int8-qdq"
    assert precision_of("model.fp16.engine") == "fp16" and precision_of("model.onnx") == "fp32"


def test_bench_and_evaluate_library(tiny_onnx, tmp_path_factory, tmp_path) -> None:
    from levil_edge.runtime import bench_models, evaluate_model
    from levil_edge.runtime.bench import int8_warnings, latency_stats

    out, _ = tiny_onnx
    res = bench_models([out / "model.onnx"], batch=3, iters=4, providers=["cpu"], threads=1, plot=tmp_path / "b.png")
    lat = res["models"][0]["latency"]
    assert set(lat) == {"1", "3"} and lat["3"]["iters"] == 4
    assert lat["3"]["p50_ms"] <= lat["3"]["p99_ms"] and lat["3"]["clips_per_s"] > 0
    assert (tmp_path / "b.png").stat().st_size > 1000 and res["device"]["cores"]
    s = latency_stats([0.010, 0.020, 0.030, 0.040], batch=2)
    assert s["p50_ms"] == pytest.approx(25.0) and s["clips_per_s"] == pytest.approx(80.0)
    rows = [{"path": "a.onnx", "precision": "fp32", "provider": "CPU", "latency": {"1": {"p50_ms": 5.0}}},
            {"path": "b.onnx", "precision": "int8-qdq", "provider": "CPU", "latency": {"1": {"p50_ms": 6.0}}},
            {"path": "c.onnx", "precision": "int8-cpu", "provider": "CPU", "latency": {"1": {"p50_ms": 2.0}}}]
    warns = int8_warnings(rows)
    assert len(warns) == 1 and "b.onnx is not faster than a.onnx" in warns[0] and "use model.int8.cpu.onnx" in warns[0]
    # The CPU form itself not faster: the advice must not send the user to the file they are running.
    rows[2]["latency"]["1"]["p50_ms"] = 7.0
    warns = int8_warnings(rows)
    assert len(warns) == 2 and warns[1].startswith("c.onnx is not faster than a.onnx")
    assert "model.int8.cpu.onnx" not in warns[1] and "ship the FP32 model" in warns[1]
    rows = [{"path": "m.fp16.engine", "precision": "fp16", "provider": "TensorRT", "latency": {"8": {"p50_ms": 3.0}}},
            {"path": "m.int8.engine", "precision": "int8", "provider": "TensorRT", "latency": {"8": {"p50_ms": 3.1}}}]
    assert "ship FP16" in int8_warnings(rows)[0] and "than m.fp16.engine at batch 8" in int8_warnings(rows)[0]
    from levil_edge.data.specs import load_spec

    items = load_spec(str(F.dataset(tmp_path_factory))).items[::5]
    scores, labels, names = evaluate_model(out / "model.onnx", items, num_clips=2, decoder="pyav")
    assert scores.shape == (len(items), 3) and names == F.CLASSES
    assert np.allclose(scores.sum(1), 1.0) and list(labels) == [it.label for it in items]
