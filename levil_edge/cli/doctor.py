"""`levil-edge doctor`: what this machine can run. The first thing to run on a Jetson."""

from __future__ import annotations

from levil_edge.cli.options import JsonOpt
from levil_edge.cli.common import console, kv_table, print_json


def doctor(json_out: JsonOpt = False) -> None:
    """Show Python, torch/CUDA, GPU, ONNX Runtime providers, TensorRT, video decoders and spaCy models;
    on a Jetson also L4T/JetPack, TensorRT (Python and trtexec), CUDA, the power mode, and what to install.

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
    jetson = rows.pop("jetson")
    console.print(kv_table("levil-edge doctor", rows))
    if jetson:
        missing = jetson.get("missing", {})
        console.print(kv_table("Jetson", {k: v for k, v in jetson.items() if k != "missing"}))
        if missing:
            console.print("to install:")
            for line in missing.values():
                console.print(f"  {line}", highlight=False, markup=False)


def register(app) -> None:
    app.command("doctor", help="Show what this machine has: torch/CUDA, GPU, ONNX Runtime, TensorRT, decoders; Jetson facts.")(doctor)
