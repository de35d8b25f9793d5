"""TensorRT: the parts that run everywhere (build_engine.sh, engine.json refusal, the torch-free
module) and the engine build/run that needs TensorRT and a GPU (skipped with a reason elsewhere)."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from levil_edge.errors import EngineError
from tests import export_fixtures as F


def test_build_script_is_valid_bash_with_both_spellings(tmp_path) -> None:
    from levil_edge.export.build_script import write_build_script

    path = write_build_script(tmp_path, F.tiny_config(), int8=True, max_batch=16, workspace_gb=1.5)
    text = path.read_text()
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    trt11, trt10 = text.split('if [ "$TRT_MAJOR" -ge 11 ]; then', 1)[1].split("\nelse\n", 1)
    assert "--fp16" not in trt11 and "--int8" not in trt11 and "model.int8.trt.onnx" in trt11
    assert "--int8 --fp16" in trt10 and "model.fp16.engine --fp16" in trt10
    assert "--optShapes=video:8x3x4x32x32" in text and "--maxShapes=video:16x3x4x32x32" in text
    assert "--memPoolSize=workspace:1536M" in text and "--timingCacheFile=timing.cache" in text
    assert path.stat().st_mode & 0o111  # executable


def test_engine_without_engine_json_entry_is_refused(tmp_path) -> None:
    from levil_edge.runtime.model import load_model

    (tmp_path / "model.fp16.engine").write_bytes(b"\0" * 16)
    with pytest.raises(EngineError, match="build_engine.sh"):
        load_model(tmp_path / "model.fp16.engine")
    (tmp_path / "engine.json").write_text(json.dumps({"engines": {"other.engine": {}}}))
    with pytest.raises(EngineError, match="not listed in engine.json"):
        load_model(tmp_path / "model.fp16.engine")


def _trt_or_skip():
    from levil_edge.export import tensorrt as trt_mod

    if not trt_mod.available():
        pytest.skip(f"TensorRT not importable here ({trt_mod.import_error()})")
    try:
        from levil_edge.runtime.cudart import device_info

        device_info()
    except EngineError as exc:
        pytest.skip(f"no usable CUDA GPU: {exc}")
    return trt_mod


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_engine_build_run_and_version_refusal(tmp_path_factory, tmp_path) -> None:
    trt_mod = _trt_or_skip()
    from levil_edge.export import export_model
    from levil_edge.runtime.model import load_model

    out = tmp_path / "deploy"
    res = export_model(F.trained_checkpoint(tmp_path_factory), out, int8=True, calib_data=str(F.dataset(tmp_path_factory)),
                       calib_clips=40, max_batch=4, engine=True, heldout_clips=8)
    engines = [e for e in res["engines"] if e.get("path")]
    assert engines, res["engines"]
    x = np.random.default_rng(0).standard_normal((3, *F.tiny_config().input_shape)).astype(np.float32)
    ref = load_model(out / "model.onnx", providers=["cpu"]).predict(x)
    for e in engines:
        data = (out / "model.fp16.engine").read_bytes() if e["precision"] == "fp16" else None
        if data is not None:
            assert not data.startswith(b"{")  # nothing prepended: a plain serialized plan
        got = load_model(e["path"]).predict(x)
        assert got.shape == ref.shape and np.abs(got - ref).max() < 0.1 * max(1.0, np.abs(ref).max())
    meta = json.loads((out / "engine.json").read_text())
    name = next(iter(meta["engines"]))
    meta["engines"][name]["tensorrt"] = "0.0.0"
    (out / "engine.json").write_text(json.dumps(meta))
    with pytest.raises(EngineError, match="rebuild it"):
        load_model(out / name)
    assert trt_mod.trt_major(trt_mod.require_trt()) >= 10
