"""What this machine has: the facts ``levil-edge doctor`` prints. Torch-free; every probe is
guarded so that a broken package shows up as a row, never as a crash."""

from __future__ import annotations

import importlib
import platform
import sys
from pathlib import Path
from typing import Any


def _version(module: str) -> tuple[bool, str]:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - a CUDA-only wheel on CPU raises OSError, not ImportError
        return False, f"not importable ({type(exc).__name__})"
    return True, str(getattr(mod, "__version__", "installed"))


def jetson_info() -> dict[str, str] | None:
    """L4T/JetPack release and power mode on a Jetson; None elsewhere."""
    release = Path("/etc/nv_tegra_release")
    if not release.exists():
        return None
    info = {"l4t": release.read_text(errors="replace").splitlines()[0].strip()}
    model = Path("/proc/device-tree/model")
    if model.exists():
        info["model"] = model.read_text(errors="replace").strip("\x00\n ")
    nvp = Path("/etc/nvpmodel.conf")
    status = Path("/var/lib/nvpmodel/status")
    if status.exists():
        info["power_mode"] = status.read_text(errors="replace").strip()
    elif nvp.exists():
        info["power_mode"] = "see `sudo nvpmodel -q`"
    return info


def collect() -> dict[str, Any]:
    from levil_edge import __version__

    facts: dict[str, Any] = {
        "levil_edge": __version__,
        "python": sys.version.split()[0],
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
    }
    ok, ver = _version("torch")
    facts["torch"] = ver
    facts["cuda"] = None
    facts["gpu"] = None
    if ok:
        import torch

        if torch.cuda.is_available():
            facts["cuda"] = torch.version.cuda
            facts["gpu"] = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        else:
            facts["cuda"] = "not available"
    ok, ver = _version("onnxruntime")
    facts["onnxruntime"] = ver
    if ok:
        import onnxruntime as ort

        facts["onnxruntime_providers"] = ort.get_available_providers()
    ok, ver = _version("tensorrt")
    facts["tensorrt"] = ver if ok else "absent"
    # PyAV first: decord ships its own FFmpeg libraries, and loaded before PyAV it breaks some of
    # PyAV's encoders (seen here with libvpx-vp9).
    facts["decoders"] = {name: _version(mod)[1] for name, mod in (("pyav", "av"), ("decord", "decord"))}
    facts["transformers"] = _version("transformers")[1]
    facts["onnx"] = _version("onnx")[1]
    facts["spacy"] = _version("spacy")[1]
    facts["spacy_models"] = {
        name: _version(name)[0] for name in ("en_core_web_sm", "en_core_web_trf")
    }
    facts["jetson"] = jetson_info()
    return facts
