"""The demo's final table and its Markdown report (with plots) in the run folder."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

from levil_edge.demo.narrative import STAGES


def _latency(row: dict | None, batch: str) -> float | None:
    if not row:
        return None
    lat = row.get("latency", {}).get(batch)
    return None if lat is None else float(lat["p50_ms"])


def _bench_rows(r: dict) -> tuple[dict | None, dict | None]:
    rows = r.get("bench", {}).get("models", [])
    fp32 = next((m for m in rows if m.get("precision") == "fp32"), None)
    int8 = next((m for m in rows if m.get("precision") not in (None, "fp32")), None)
    return fp32, int8


def summary_table(r: dict) -> list[dict[str, Any]]:
    """One row per model: top-1 on the target test split; ONNX latency where there is one."""
    fp32, int8 = _bench_rows(r)
    acc = lambda row: None if not row or not row.get("accuracy") else row["accuracy"].get("top1")  # noqa: E731
    batch = str(r.get("bench", {}).get("batch", 8))
    return [
        {"model": "teacher zero-shot (X-CLIP)", "top1": r["teacher"]["top1"], "p50_ms_b1": None, "p50_ms_batch": None},
        {"model": f"{_student(r)} scratch, {_pct(r)} labels", "top1": r["scratch_test"]["top1"],
         "p50_ms_b1": None, "p50_ms_batch": None},
        {"model": f"{_student(r)} distilled + finetuned, {_pct(r)} labels", "top1": r["finetune_test"]["top1"],
         "p50_ms_b1": None, "p50_ms_batch": None},
        {"model": "  ONNX FP32 (ONNX Runtime)", "top1": acc(fp32), "p50_ms_b1": _latency(fp32, "1"),
         "p50_ms_batch": _latency(fp32, batch)},
        {"model": "  ONNX INT8 Q/DQ (ONNX Runtime)", "top1": acc(int8), "p50_ms_b1": _latency(int8, "1"),
         "p50_ms_batch": _latency(int8, batch)},
    ]


def _student(r: dict) -> str:
    return r["options"]["student"]


def _pct(r: dict) -> str:
    return f"{100 * r['options']['label_ratio']:g}%"


def _fmt(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.1f}" if pct else f"{x:.1f}"


def markdown_table(rows: list[dict], batch: int = 8) -> str:
    lines = [f"| model | top-1 (%) | p50 latency b1 (ms) | p50 latency b{batch} (ms) |", "|---|---|---|---|"]
    lines += [f"| {x['model'].strip()} | {_fmt(x['top1'], True)} | {_fmt(x['p50_ms_b1'])} | {_fmt(x['p50_ms_batch'])} |"
              for x in rows]
    return "\n".join(lines)


def _plots(out: Path, r: dict) -> dict[str, Path]:
    from levil_edge.utils.plots import bar_chart

    plots = {"top1": bar_chart(out / "top1.png", {x["model"].strip(): 100 * x["top1"] for x in r["table"] if x["top1"] is not None},
                               title="top-1 on the target test split", xlabel="top-1 (%)")}
    for key, path in (("teacher confusion", r["teacher"].get("plot")), ("latency", r.get("bench", {}).get("plot")),
                      ("vocabulary", r["vocab"].get("chart")),
                      ("distilled + finetuned confusion", out / "finetune" / "test" / "eval_confusion.png"),
                      ("scratch confusion", out / "scratch" / "test" / "eval_confusion.png"),
                      ("distill loss", out / "distill" / "loss_curve.png"),
                      ("finetune loss", out / "finetune" / "loss_curve.png")):
        if path and Path(path).is_file():
            plots[key] = Path(path)
    return plots


def write_report(out: str | Path, r: dict) -> Path:
    """REPORT.md in ``out``: the table, what each stage did, per-class teacher accuracy, plots."""
    from levil_edge.utils.io import atomic_write_text

    out = Path(out)
    plots = _plots(out, r)
    sc, d = r["options"]["scale"], r["data"]
    gap = r["finetune_test"]["top1"] - r["scratch_test"]["top1"]
    fp32, int8 = (x["top1"] for x in r["table"][3:5])
    lines = [
        "# levil-edge demo report", "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()} {platform.system()}, "
        f"seed {r['options']['seed']}, {'quick' if r['options']['quick'] else 'full'} run, {r['total_seconds']:.0f} s.", "",
        markdown_table(r["table"], r.get("bench", {}).get("batch", 8)), "",
        f"Distilled + finetuned minus scratch: **{100 * gap:+.1f} points** at {_pct(r)} labels. "
        + (f"INT8 minus FP32 (ONNX): **{100 * (int8 - fp32):+.1f} points**." if fp32 is not None and int8 is not None else ""),
        "",
        f"Data: {len(r['classes'])} classes ({', '.join(r['classes'])}); pool {d['pool']['videos']} unlabeled videos, "
        f"target train {d['train']['videos']} (of which {r['finetune'].get('num_labeled')} labeled), "
        f"test {d['test']['videos']}; {sc['video_frames']} frames of {sc['video_size']} px per video. Student input "
        f"{sc['frames']}x{sc['size']}x{sc['size']} (stride {sc['stride']}); evaluation averages {sc['eval_clips']} clips per video.",
        "", *(f"> {n}" for n in r.get("notes", [])), "",
    ]
    for key, (title, text) in STAGES.items():
        lines += [f"## {title}", "", text, "", f"Took {r['stage_seconds'].get(key, 0):.0f} s.", ""]
        lines += _stage_details(key, r)
    lines += ["## Plots", ""] + [f"### {k}\n\n![{k}]({Path(p).resolve().relative_to(out.resolve()) if _inside(p, out) else p})\n" for k, p in plots.items()]
    path = out / "REPORT.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _inside(p, out: Path) -> bool:
    try:
        Path(p).resolve().relative_to(out.resolve())
        return True
    except ValueError:
        return False


def _stage_details(key: str, r: dict) -> list[str]:
    if key == "captions":
        return [f"Source: {r['captions']['source']}; {r['captions']['num_captions']} captions, e.g.:", "",
                *(f"- {c}" for c in r["captions"]["examples"][:3]), ""]
    if key == "vocab":
        return [f"{r['vocab']['size']} pseudo-labels: {', '.join(r['vocab']['labels'][:20])}"
                + (" ..." if r["vocab"]["size"] > 20 else ""), ""]
    if key == "teacher":
        rows = ["| class | zero-shot top-1 (%) |", "|---|---|"]
        rows += [f"| {c['class']} | {_fmt(c['accuracy'], True)} |" for c in r["teacher"]["per_class"]]
        return [f"Teacher: `{r['teacher'].get('teacher')}`, top-1 {_fmt(r['teacher']['top1'], True)}%.", "", *rows, ""]
    if key == "distill":
        z, f = r["distill"], r["finetune"]
        return [f"Distillation: {z.get('steps')} steps on {z.get('num_videos')} videos, {z.get('num_pseudo_labels')} pseudo-labels. "
                f"Fine-tuning: {f.get('steps')} steps, {f.get('num_labeled')} labeled + {f.get('num_unlabeled')} unlabeled videos.", ""]
    if key == "scratch":
        s = r["scratch"]
        return [f"{s.get('steps')} steps on {s.get('num_labeled')} labeled videos.", ""]
    if key == "export":
        w = r.get("bench", {}).get("warnings") or []
        return [*(f"- {x}" for x in w), ""] if w else []
    return []
