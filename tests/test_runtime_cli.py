"""End to end through the real CLI: export --int8, then bench, predict and evaluate on the files."""

from __future__ import annotations

import json

import pytest

from tests import export_fixtures as F

pytest.importorskip("torch")


def _run(capsys, *argv) -> dict:
    from levil_edge.cli.app import run

    capsys.readouterr()
    rc = run([str(a) for a in argv])
    cap = capsys.readouterr()
    assert rc == 0, cap.err[-2000:]
    return json.loads(cap.out)


@pytest.mark.integration
def test_export_bench_predict_evaluate_cli(tmp_path_factory, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("LEVIL_NO_PROGRESS", "1")
    ckpt, data = F.trained_checkpoint(tmp_path_factory), F.dataset(tmp_path_factory)
    out = tmp_path / "deploy"
    exp = _run(capsys, "export", "--model", ckpt, "--out", out, "--int8", "--calib-data", data,
               "--calib-clips", 40, "--dynamic-batch", 4, "--decoder", "pyav", "--json")
    files = {r["file"]: r for r in exp["files"]}
    fp16 = {"model.fp16.onnx", "model.int8.trt.fp16.onnx"}  # written where ModelOpt is installed
    assert set(files) - fp16 == {"model.onnx", "model.int8.trt.onnx", "model.int8.cpu.onnx"}
    assert exp["int8"]["trt_check"]["model.int8.trt.onnx"]["ok"] and (out / "build_engine.sh").is_file()
    assert (out / "calibration.json").is_file() and json.loads((out / "model.json").read_text())["files"]["model.int8.cpu.onnx"] == "int8-cpu"

    models = [out / "model.onnx", out / "model.int8.cpu.onnx", out / "model.int8.trt.onnx"]
    bench = _run(capsys, "bench", "--model", *models, "--batch", 2, "--iters", 3, "--threads", 1,
                 "--data", data, "--clips", 2, "--max-videos", 6, "--decoder", "pyav", "--plot", tmp_path / "lat.png", "--json")
    rows = {r["precision"]: r for r in bench["models"]}
    assert set(rows) == {"fp32", "int8-cpu", "int8-qdq"} and (tmp_path / "lat.png").is_file()
    assert set(rows["fp32"]["latency"]) == {"1", "2"} and rows["fp32"]["accuracy"]["num_videos"] == 6
    assert 0.0 <= rows["int8-cpu"]["agreement_with_fp32"]["top1_agreement"] <= 1.0
    assert "agreement_with_fp32" not in rows["fp32"]

    videos = sorted(data.rglob("*.mp4"))[:2]
    pred = _run(capsys, "predict", *videos, "--model", out / "model.int8.cpu.onnx", "--topk", 2, "--clips", 2, "--json")
    assert [len(v["top"]) for v in pred["videos"]] == [2, 2] and pred["model"]["precision"] == "int8-cpu"

    ev = _run(capsys, "evaluate", "--model", out / "model.int8.cpu.onnx", "--data", data, "--clips", 2, "--json")
    assert ev["num_videos"] == 30 and ev["top1"] >= 0.5  # the fixture model learnt the 3 classes

    from levil_edge.cli.app import run

    assert run(["predict", str(tmp_path / "nope.mp4"), "--model", str(out / "model.onnx")]) == 1  # one line, exit 1
    assert "error:" in capsys.readouterr().err
