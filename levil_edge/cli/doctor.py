"""`levil-edge doctor`: what this machine can run. The first thing to run on a Jetson."""

from __future__ import annotations

from levil_edge.cli.common import JsonOpt, console, kv_table, print_json


def doctor(json_out: JsonOpt = False) -> None:
    """Show Python, torch/CUDA, GPU, ONNX Runtime providers, TensorRT, video decoders and spaCy models.

    Example: levil-edge doctor --json
    """
    from levil_edge.system import collect

    facts = collect()
    if json_out:
        print_json(facts)
        return
    rows = dict(facts)
    rows["decoders"] = ", ".join(f"{k} {v}" for k, v in facts["decoders"].items())
    rows["spacy_models"] = ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in facts["spacy_models"].items())
    if "onnxruntime_providers" in rows:
        rows["onnxruntime_providers"] = ", ".join(rows["onnxruntime_providers"])
    if facts["jetson"]:
        rows["jetson"] = ", ".join(f"{k}={v}" for k, v in facts["jetson"].items())
    console.print(kv_table("levil-edge doctor", rows))


def register(app) -> None:
    app.command("doctor", help="Show what this machine has: torch/CUDA, GPU, ONNX Runtime, TensorRT, decoders.")(doctor)
