"""What this machine has: the facts ``levil-edge doctor`` prints. Torch-free; every probe is
guarded so that a broken package shows up as a row, never as a crash.

On a Jetson (``/etc/nv_tegra_release`` exists) it adds the L4T release, the JetPack meta package
(``dpkg -l nvidia-jetpack``), TensorRT as Python sees it and as trtexec reports it (its banner),
CUDA, the power mode (``nvpmodel -q``) and one install line per missing piece; a TensorRT older
than 10 (JetPack 6.0 ships 8.6) is a problem too, with the JetPack upgrade that fixes it. The probes
read files under a root folder and run commands through a runner (:class:`Probe`), so tests replay
the recorded files and outputs of real JetPack 6 devices."""

from __future__ import annotations

import importlib
import json
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


def _version(module: str) -> tuple[bool, str]:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - a CUDA-only wheel on CPU raises OSError, not ImportError
        return False, f"not importable ({type(exc).__name__})"
    return True, str(getattr(mod, "__version__", "installed"))


@dataclass
class Probe:
    """Where the Jetson facts come from. The defaults read this machine; tests pass a folder of
    recorded files (``root``) and a command runner that replays recorded output."""

    root: Path = Path("/")
    run: Callable[[list[str]], "CommandResult | None"] = field(default=None)  # type: ignore[assignment]
    which: Callable[[str], str | None] = shutil.which
    import_version: Callable[[str], tuple[bool, str]] = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.run = self.run or run_command
        self.import_version = self.import_version or _version

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def read(self, absolute: str) -> str | None:
        try:
            return self.path(absolute).read_text(errors="replace")
        except OSError:
            return None


@dataclass
class CommandResult:
    returncode: int
    output: str  # stdout and stderr together


def run_command(argv: list[str], timeout: float = 20.0) -> CommandResult | None:
    """Run a probe command; None when it is not installed (or hangs)."""
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return CommandResult(proc.returncode, proc.stdout)


TRTEXEC_PATHS = ("/usr/src/tensorrt/bin/trtexec",)  # where JetPack's libnvinfer-bin puts it
# What to run when a piece is missing on a Jetson (JetPack 6, Ubuntu 22.04, system Python 3.10).
# levil-edge engines need TensorRT 10 or 11: JetPack 6.1 and 6.2 (L4T R36.4.x) ship 10.3, JetPack 6.0
# (L4T R36.3) ships 8.6.
INSTALL = {
    "jetpack": "sudo apt update && sudo apt install nvidia-jetpack   # CUDA, cuDNN, TensorRT, VPI for this L4T",
    "tensorrt_python": "sudo apt install python3-libnvinfer   # TensorRT's Python bindings for the system Python 3.10",
    "tensorrt_venv": "python3 -m venv --system-site-packages VENV   # this venv cannot see JetPack's TensorRT in {where}",
    "trtexec": "sudo apt install libnvinfer-bin   # trtexec, at /usr/src/tensorrt/bin/trtexec (build_engine.sh uses it)",
    "cuda": "sudo apt install nvidia-jetpack   # or cuda-toolkit-12-6 alone; it lands in /usr/local/cuda",
    "nvpmodel": "sudo apt install nvidia-l4t-nvpmodel   # power modes (nvpmodel -q / -m N)",
    "tensorrt_version": "TensorRT {version} is too old: levil-edge engines need TensorRT 10 or 11. JetPack 6.0 ships "
                        "TensorRT 8.6: upgrade to JetPack 6.1 or later (6.2 recommended; TensorRT 10.3), e.g. with NVIDIA SDK Manager",
}
MIN_TRT_MAJOR = 10


def _dist_version(dist: str) -> str | None:
    """An installed distribution's version without importing it (ModelOpt takes seconds to import)."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def jetson_info(probe: Probe | None = None) -> dict[str, Any] | None:
    """L4T/JetPack release, board, TensorRT (Python and trtexec), CUDA and power mode on a Jetson;
    ``missing`` lists one install line per missing piece. None when this is not a Jetson."""
    probe = probe or Probe()
    release = probe.read("/etc/nv_tegra_release")
    if release is None:
        return None
    info: dict[str, Any] = {"l4t": parse_l4t(release) or (release.strip().splitlines() or ["unreadable"])[0]}
    model = probe.read("/proc/device-tree/model")
    if model:
        info["model"] = model.strip("\x00\n ")
    missing: dict[str, str] = {}
    info["jetpack"] = _jetpack(probe, info["l4t"], missing)
    info["tensorrt_python"] = _tensorrt_python(probe, missing)
    info["trtexec"] = _trtexec(probe, missing)
    _tensorrt_too_old(info, missing)
    info["cuda"] = _cuda(probe, missing)
    info["power_mode"] = _power_mode(probe, missing)
    info["missing"] = missing
    return info


def parse_l4t(text: str) -> str | None:
    """``# R36 (release), REVISION: 4.4, GCID: ...`` -> ``R36.4.4``."""
    m = re.search(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"R{m.group(1)}.{m.group(2)}" if m else None


def parse_dpkg_version(text: str, package: str) -> str | None:
    """The version of an installed (``ii``) package in ``dpkg -l`` output."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "ii" and parts[1].split(":")[0] == package:
            return parts[2]
    return None


def parse_trt_banner(text: str) -> str | None:
    """trtexec's banner ``[TensorRT v100300]`` -> ``10.3.0`` (``v8602`` -> ``8.6.2`` before TensorRT 10)."""
    m = re.search(r"\[TensorRT v(\d+)\]", text)
    if not m:
        return None
    v = int(m.group(1))
    if v >= 100000:  # TensorRT >= 10: major*10000 + minor*100 + patch
        return f"{v // 10000}.{v // 100 % 100}.{v % 100}"
    return f"{v // 1000}.{v // 100 % 10}.{v % 100}"  # TensorRT 8: major*1000 + minor*100 + patch


def parse_nvpmodel(text: str) -> str | None:
    """``NV Power Mode: MAXN_SUPER`` then the mode id -> ``MAXN_SUPER (mode 2)``."""
    m = re.search(r"NV Power Mode:\s*(\S[^\n]*)", text)
    if not m:
        return None
    after = text[m.end():].split()
    mode_id = next((t for t in after if t.isdigit()), None)
    return f"{m.group(1).strip()} (mode {mode_id})" if mode_id else m.group(1).strip()


def _jetpack(probe: Probe, l4t: str, missing: dict[str, str]) -> str:
    res = probe.run(["dpkg", "-l", "nvidia-jetpack"])
    version = parse_dpkg_version(res.output, "nvidia-jetpack") if res and res.returncode == 0 else None
    if version:
        return version
    missing["jetpack"] = INSTALL["jetpack"]
    major = re.match(r"R(\d+)", l4t)
    series = {"36": "6", "35": "5", "34": "5", "32": "4"}.get(major.group(1)) if major else None
    return f"JetPack {series} (from L4T {l4t}); nvidia-jetpack not installed" if series else "nvidia-jetpack not installed"


def _tensorrt_python(probe: Probe, missing: dict[str, str]) -> str:
    ok, version = probe.import_version("tensorrt")
    if ok:
        return version
    system = sorted(probe.root.glob("usr/lib/python3*/dist-packages/tensorrt"))
    if system:
        where = "/" + str(system[0].relative_to(probe.root))
        missing["tensorrt_python"] = INSTALL["tensorrt_venv"].format(where=where)
        return f"{version}; JetPack's is in {where}"
    missing["tensorrt_python"] = INSTALL["tensorrt_python"]
    return version


def _trtexec(probe: Probe, missing: dict[str, str]) -> str:
    path = next((p for p in TRTEXEC_PATHS if probe.path(p).is_file()), None) or probe.which("trtexec")
    if not path:
        missing["trtexec"] = INSTALL["trtexec"]
        return "absent"
    res = probe.run([str(path), "--help"])
    version = parse_trt_banner(res.output) if res else None
    return f"{version} ({path})" if version else f"{path} (version unknown: no [TensorRT vNNNN] banner)"


def _tensorrt_too_old(info: dict[str, Any], missing: dict[str, str]) -> None:
    """TensorRT older than 10, as Python or trtexec reports it: build_engine.sh refuses it."""
    for text in (info["tensorrt_python"], info["trtexec"]):  # "8.6.2", "8.6.2 (/usr/src/...)" or a reason
        m = re.match(r"(\d+)\.\d+[.\d]*", text)
        if m and int(m.group(1)) < MIN_TRT_MAJOR:
            missing["tensorrt_version"] = INSTALL["tensorrt_version"].format(version=m.group(0))
            return


def _cuda(probe: Probe, missing: dict[str, str]) -> str:
    text = probe.read("/usr/local/cuda/version.json")
    if text:
        try:
            return str(json.loads(text)["cuda"]["version"]) + " (/usr/local/cuda)"
        except (ValueError, KeyError, TypeError):
            pass
    text = probe.read("/usr/local/cuda/version.txt")
    m = re.search(r"CUDA Version\s+([\d.]+)", text or "")
    if m:
        return m.group(1) + " (/usr/local/cuda)"
    nvcc = "/usr/local/cuda/bin/nvcc" if probe.path("/usr/local/cuda/bin/nvcc").is_file() else probe.which("nvcc")
    res = probe.run([str(nvcc), "--version"]) if nvcc else None
    m = re.search(r"release [\d.]+, V([\d.]+)", res.output if res else "")
    if m:
        return f"{m.group(1)} ({nvcc})"
    missing["cuda"] = INSTALL["cuda"]
    return "absent"


def _power_mode(probe: Probe, missing: dict[str, str]) -> str:
    res = probe.run(["nvpmodel", "-q"])
    if res is None:
        missing["nvpmodel"] = INSTALL["nvpmodel"]
        return "unknown (no nvpmodel)"
    mode = parse_nvpmodel(res.output)
    if mode:
        return mode
    last = (res.output.strip().splitlines() or ["no output"])[-1][:120]
    return f"unknown (nvpmodel -q: {last})"


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
    facts["modelopt"] = _dist_version("nvidia-modelopt") or "absent (pip install 'levil-edge[modelopt]')"
    facts["spacy"] = _version("spacy")[1]
    facts["spacy_models"] = {
        name: _version(name)[0] for name in ("en_core_web_sm", "en_core_web_trf")
    }
    facts["jetson"] = jetson_info()
    return facts
