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


def _subset(data, tmp_path, classes, per_class=4):
    """A class-folder dataset with ``per_class`` videos of ``classes`` (their index order differs from the model's)."""
    import shutil

    root = tmp_path / "subset"
    for c in classes:
        (root / c).mkdir(parents=True)
        for v in sorted((data / c).glob("*.mp4"))[:per_class]:
            shutil.copy(v, root / c / v.name)
    return root


@pytest.mark.integration
def test_export_bench_predict_evaluate_cli(tmp_path_factory, tmp_path, capsys, monkeypatch) -> None:
    import shutil

    monkeypatch.setenv("LEVIL_NO_PROGRESS", "1")
    ckpt, data = F.trained_checkpoint(tmp_path_factory), F.dataset(tmp_path_factory)
    run_dir = tmp_path / "runs" / "ft"  # a finetune run folder, as README passes it: export takes its best/
    shutil.copytree(ckpt, run_dir / "best")
    out = tmp_path / "deploy"
    exp = _run(capsys, "export", "--model", run_dir, "--out", out, "--int8", "--calib-data", data,
               "--calib-clips", 40, "--dynamic-batch", 4, "--decoder", "pyav", "--json")
    files = {r["file"]: r for r in exp["files"]}
    fp16 = {"model.fp16.onnx", "model.int8.trt.fp16.onnx"}  # written where ModelOpt is installed
    assert set(files) - fp16 == {"model.onnx", "model.int8.trt.onnx", "model.int8.cpu.onnx"}
    assert exp["int8"]["trt_check"]["model.int8.trt.onnx"]["ok"] and (out / "build_engine.sh").is_file()
    assert (out / "calibration.json").is_file() and json.loads((out / "model.json").read_text())["files"]["model.int8.cpu.onnx"] == "int8-cpu"

    # Classes in another index order than the model's (grow, move_right vs move_left, move_right, grow):
    # bench maps them by name, as evaluate does, and both report the same accuracy.
    sub = _subset(data, tmp_path, ["move_right", "grow"])
    models = [out / "model.onnx", out / "model.int8.cpu.onnx", out / "model.int8.trt.onnx"]
    bench = _run(capsys, "bench", "--model", *models, "--batch", 2, "--iters", 3, "--threads", 1,
                 "--data", sub, "--clips", 2, "--decoder", "pyav", "--plot", tmp_path / "lat.png", "--json")
    rows = {r["precision"]: r for r in bench["models"]}
    assert set(rows) == {"fp32", "int8-cpu", "int8-qdq"} and (tmp_path / "lat.png").is_file()
    assert set(rows["fp32"]["latency"]) == {"1", "2"} and rows["fp32"]["accuracy"]["num_videos"] == 8
    ev = _run(capsys, "evaluate", "--model", out / "model.onnx", "--data", sub, "--clips", 2, "--decoder", "pyav", "--json")
    assert rows["fp32"]["accuracy"]["top1"] == pytest.approx(ev["top1"]) and ev["top1"] >= 0.8  # the fixture model learnt
    assert rows["int8-cpu"]["agreement_with_fp32"]["top1_agreement"] >= 0.8  # INT8 kept the FP32 decisions
    assert rows["int8-cpu"]["agreement_with_fp32"]["logit_cosine"] > 0.95
    assert "agreement_with_fp32" not in rows["fp32"]

    # A folder of videos is its videos.
    pred = _run(capsys, "predict", sub / "grow", "--model", out / "model.int8.cpu.onnx", "--topk", 2, "--clips", 2, "--json")
    assert len(pred["videos"]) == 4 and pred["model"]["precision"] == "int8-cpu"
    assert sum(v["top"][0]["label"] == "grow" for v in pred["videos"]) >= 3

    ev = _run(capsys, "evaluate", "--model", out / "model.int8.cpu.onnx", "--data", data, "--clips", 2, "--json")
    assert ev["num_videos"] == 30 and ev["top1"] >= 0.8

    from levil_edge.cli.app import run

    # Data whose classes the model does not know: refused in one line by bench, as by evaluate.
    other = tmp_path / "other"
    for c in ("jump", "wave"):
        (other / c).mkdir(parents=True)
        shutil.copy(sorted((data / "grow").glob("*.mp4"))[0], other / c / "a.mp4")
    for argv in (["bench", "--model", str(out / "model.onnx"), "--data", str(other), "--iters", "1"],
                 ["evaluate", "--model", str(out / "model.onnx"), "--data", str(other)]):
        capsys.readouterr()
        assert run(argv) == 1
        err = capsys.readouterr().err.strip()
        assert "does not know: jump, wave" in err and "\n" not in err

    assert run(["predict", str(tmp_path / "nope.mp4"), "--model", str(out / "model.onnx")]) == 1  # one line, exit 1
    assert "error:" in capsys.readouterr().err
