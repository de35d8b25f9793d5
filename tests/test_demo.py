"""`levil-edge demo`: the report pieces, and the quick demo end to end (integration)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from levil_edge.demo.report import markdown_table, summary_table


def _fake_results(teacher=0.8, scratch=0.3, ft=0.7, fp32=0.7, int8=0.69) -> dict:
    row = lambda prec, top1, ms: {"precision": prec, "accuracy": {"top1": top1}, "latency": {"1": {"p50_ms": ms}, "8": {"p50_ms": 8 * ms}}}  # noqa: E731
    return {
        "options": {"student": "x3d_xs", "label_ratio": 0.05},
        "teacher": {"top1": teacher}, "scratch_test": {"top1": scratch}, "finetune_test": {"top1": ft},
        "bench": {"batch": 8, "models": [row("fp32", fp32, 2.0), row("int8-cpu", int8, 1.0)]},
    }  # fmt: skip


def test_summary_table_rows_come_from_the_results():
    rows = summary_table(_fake_results())
    assert [r["top1"] for r in rows] == [0.8, 0.3, 0.7, 0.7, 0.69]
    assert rows[3]["p50_ms_b1"] == 2.0 and rows[4]["p50_ms_batch"] == 8.0
    assert "5% labels" in rows[1]["model"] and "scratch" in rows[1]["model"]
    md = markdown_table(rows)
    assert md.count("\n") == len(rows) + 1 and "| 69.0 |" in md


def test_summary_table_without_a_benchmark_shows_dashes():
    r = _fake_results()
    r["bench"] = {}
    rows = summary_table(r)
    assert rows[3]["top1"] is None and "| - |" in markdown_table(rows)


def test_demo_rejects_a_bad_label_ratio(tmp_path):
    from levil_edge.demo import DemoOptions, run_demo
    from levil_edge.errors import UsageError

    with pytest.raises(UsageError, match="label-ratio"):
        run_demo(DemoOptions(out=str(tmp_path), label_ratio=1.5))


@pytest.mark.integration
def test_quick_demo_end_to_end(tmp_path):
    """The README's first command, quick, end to end: every stage runs, and the paper's claim holds
    in miniature: at 5% labels (2 per class) the distilled + finetuned student beats the same
    student from scratch by at least 20 points, and INT8 stays with FP32.

    Measured (BENCHMARKS.md, "Demo"): seed 0 gives 84% vs 7%, INT8 84%; harder data, seeds 1-3: see there."""
    pytest.importorskip("torch")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LEVIL_NO_PROGRESS": "1"}
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-c", "from levil_edge.cli.app import main; main()", "demo", "--quick", "--out", str(out), "--json"],
                          capture_output=True, text=True, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # --json: stdout is JSON only
    top1 = {row["model"].strip(): row["top1"] for row in summary["table"]}
    scratch = next(v for k, v in top1.items() if "scratch" in k)
    distilled = next(v for k, v in top1.items() if "distilled" in k)
    fp32 = next(v for k, v in top1.items() if "FP32" in k)
    int8 = next(v for k, v in top1.items() if "INT8" in k)
    assert all(0.0 <= v <= 1.0 for v in (scratch, distilled, fp32, int8)), top1
    assert distilled >= scratch + 0.20, top1  # LEViL's central claim, at the aim of +20 points
    assert abs(fp32 - distilled) <= 0.02, top1  # the ONNX export is the finetuned student
    # INT8 within 1 point of FP32 is the target (seed 0: 84 vs 84 of 100 clips); one more clip
    # of slack for CPUs whose u8 kernels round differently.
    assert abs(int8 - fp32) <= 0.02, top1
    results = json.loads((out / "demo.json").read_text())
    assert results["teacher"]["top1"] > 0.5  # the shipped teacher knows the classes (87% measured, chance 10%)
    for f in ("REPORT.md", "top1.png", "export/model.onnx", "export/model.int8.cpu.onnx", "vocab.txt"):
        assert (out / f).is_file(), f
    report = (out / "REPORT.md").read_text()
    assert "template captions" in report.lower() or "synthetic-template" in report
