"""The artifact contract between ``export`` and the edge runtime, in one torch-free, onnx-free module.

What a deploy folder holds and how its files vouch for each other:

    deploy/NAME/
      model.onnx                 FP32, the source of every other file (its SHA-256 stamps them)
      model.fp16.onnx            FP16 by ModelOpt AutoCast (TensorRT 11 builds FP16 only from it)
      model.int8.trt.onnx        INT8 Q/DQ, TensorRT form (symmetric int8)
      model.int8.trt.fp16.onnx   the same with its non-quantized layers in FP16 (TensorRT 11)
      model.int8.cpu.onnx        INT8 Q/DQ, ONNX Runtime CPU form (uint8 activations)
      model.json                 sidecar: ModelConfig, precision and SHA-256 of every file
      labels.txt  calibration.json  build_engine.sh  README.md  deepstream/
      model.<precision>.engine   built on the device; engine.json says by which TensorRT, for which GPU

- sidecar ``model.json``: the source of truth (an engine file carries no metadata of its own); the
  ONNX ``metadata_props`` repeat the config so that a lone ``.onnx`` still says what it expects.
- derived ONNX files carry ``levil_edge.source_sha256`` = the SHA-256 of the ``model.onnx`` they were
  made from, and the sidecar lists every file's SHA-256: a folder mixing two exports is refused.
- ``engine.json``: per engine, the TensorRT release, GPU and compute capability it was built with
  (by ``export --engine`` or by ``build_engine.sh``, which merge into it).
- ``resolve_model``: the one place a ``--model`` argument becomes a file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable

from levil_edge.config import ModelConfig
from levil_edge.errors import CheckpointError, EngineError, RuntimeModelError, UsageError

# ---------------------------------------------------------------- file names

FP32_FILE = "model.onnx"
FP16_FILE = "model.fp16.onnx"
INT8_TRT_FILE = "model.int8.trt.onnx"
INT8_TRT_FP16_FILE = "model.int8.trt.fp16.onnx"
INT8_CPU_FILE = "model.int8.cpu.onnx"
SIDECAR = "model.json"
ENGINE_JSON = "engine.json"
LABELS_FILE = "labels.txt"
RANGES_FILE = "calibration.json"
BUILD_SCRIPT = "build_engine.sh"
DEVICE_README = "README.md"
DEEPSTREAM_DIR = "deepstream"
TIMING_CACHE = "timing.cache"
BUILD_LOG_DIR = "build_logs"

INPUT_NAME = "video"  # the ONNX input tensor: float32 (B, 3, T, H, W)
OUTPUT_NAME = "logits"  # the ONNX output tensor: float32 (B, C)

ENGINE_SUFFIXES = (".engine", ".plan")
ONNX_SUFFIXES = (".onnx",)
RUNTIME_SUFFIXES = ONNX_SUFFIXES + ENGINE_SUFFIXES

# Key in ONNX metadata_props that holds the whole ModelConfig as JSON.
CONFIG_KEY = "levil_edge.config"
# Key in a derived ONNX file's metadata_props: SHA-256 of the model.onnx it was made from.
SOURCE_KEY = "levil_edge.source_sha256"

PRECISION_OF_FILE = {
    FP32_FILE: "fp32",
    FP16_FILE: "fp16",
    INT8_TRT_FILE: "int8-qdq",
    INT8_TRT_FP16_FILE: "int8-qdq",
    INT8_CPU_FILE: "int8-cpu",
}


def engine_file(precision: str) -> str:
    """``model.<precision>.engine``: fp32, fp16 or int8."""
    return f"model.{precision}.engine"


def precision_of(path: str | Path, sidecar: dict | None = None) -> str:
    """fp32 / fp16 / int8-qdq (TensorRT form) / int8-cpu (ORT CPU form), from the sidecar or the name."""
    name = Path(path).name
    if sidecar and isinstance(sidecar.get("files", {}).get(name), str):
        return sidecar["files"][name]
    parts = name.split(".")
    if "int8" in parts:
        return "int8-cpu" if "cpu" in parts else "int8-qdq" if "trt" in parts else "int8"
    if "fp16" in parts:
        return "fp16"
    return "fp32"


# ---------------------------------------------------------------- sidecar model.json


def export_info(cfg: ModelConfig, files: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """The sidecar content: the model config plus what was exported and how."""
    return {"format": "levil-edge-model", "config": cfg.to_dict(), "files": files or {}, **extra}


def write_sidecar(folder: str | Path, info: dict[str, Any]) -> Path:
    from levil_edge.utils.io import atomic_write_json

    path = Path(folder) / SIDECAR
    atomic_write_json(path, info)
    return path


def read_sidecar(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / SIDECAR
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RuntimeModelError(f"{path} is not valid JSON ({exc}): re-run `levil-edge export`") from exc
    if not isinstance(data, dict):
        raise RuntimeModelError(f"{path} is not a levil-edge model.json: re-run `levil-edge export`")
    return data


def check_in_export(path: str | Path, sidecar: dict | None, props: dict[str, str] | None = None) -> None:
    """Refuse a model file that does not belong to the export described by the ``model.json`` beside it
    (a re-export killed halfway, files copied in from another export).

    A listed file must have the SHA-256 the sidecar recorded; an unlisted derived ONNX must name the
    same source model.onnx in its metadata."""
    if not sidecar:
        return
    from levil_edge.utils.io import file_sha256

    path = Path(path)
    again = f"run `levil-edge export` again into {path.parent}"
    expected = (sidecar.get("sha256") or {}).get(path.name)
    if expected is not None:
        if file_sha256(path) != expected:
            raise RuntimeModelError(f"{path.name} is not the file {SIDECAR} beside it describes (it comes from another export): {again}")
        return
    source, ours = (props or {}).get(SOURCE_KEY), sidecar.get("source_sha256")
    if source and ours and source != ours:
        raise RuntimeModelError(f"{path.name} was made from another model.onnx than {SIDECAR} beside it describes: {again}")


# ---------------------------------------------------------------- ONNX metadata


def onnx_props(cfg: ModelConfig) -> dict[str, str]:
    """Flat string props for ONNX metadata_props (readable by Netron and onnxruntime's modelmeta)."""
    return {
        CONFIG_KEY: cfg.to_json(),
        "labels": json.dumps(cfg.labels),
        "frames": str(cfg.frames),
        "stride": str(cfg.stride),
        "size": str(cfg.size),
        "mean": json.dumps(list(cfg.mean)),
        "std": json.dumps(list(cfg.std)),
        "student": cfg.student,
        "run": cfg.run or "",
        "levil_edge_version": cfg.version or "",
        "input_layout": "float32 (B, 3, T, H, W) = (uint8 / 255 - mean) / std, RGB",
    }


def set_onnx_metadata(model_proto, cfg: ModelConfig | None, extra: dict[str, str] | None = None) -> None:
    """Replace levil-edge's keys in ``model_proto.metadata_props`` (an onnx.ModelProto).

    ``extra``: more string props, e.g. {"max_batch": "16"} or {SOURCE_KEY: sha}. cfg=None sets only ``extra``."""
    props = {**(onnx_props(cfg) if cfg is not None else {}), **(extra or {})}
    keep = [p for p in model_proto.metadata_props if p.key not in props]
    del model_proto.metadata_props[:]
    for p in keep:
        model_proto.metadata_props.add(key=p.key, value=p.value)
    for k, v in props.items():
        model_proto.metadata_props.add(key=k, value=v)


def config_from_props(props: dict[str, str]) -> ModelConfig | None:
    """ModelConfig from ONNX custom metadata (onnxruntime's ``modelmeta.custom_metadata_map``)."""
    text = props.get(CONFIG_KEY)
    return ModelConfig.from_json(text) if text else None


# ---------------------------------------------------------------- engine.json


def read_engine_json(folder: str | Path) -> dict[str, Any]:
    """{"engines": {name: entry}}; an absent file is an empty one. A broken file is an error: it is
    never silently replaced, since it may hold entries of engines built earlier."""
    path = Path(folder) / ENGINE_JSON
    if not path.is_file():
        return {"engines": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EngineError(f"{path} is not valid JSON ({exc}): delete it and rebuild with `bash {path.parent / BUILD_SCRIPT}`") from exc
    if not isinstance(data, dict) or not isinstance(data.get("engines", {}), dict):
        raise EngineError(f"{path} is not a levil-edge engine.json: delete it and rebuild with `bash {path.parent / BUILD_SCRIPT}`")
    data.setdefault("engines", {})
    return data


def record_engines(folder: str | Path, entries: dict[str, dict[str, Any]]) -> Path:
    """Add or replace these engines' entries in the folder's engine.json, keeping every other entry."""
    from levil_edge.utils.io import atomic_write_json

    data = read_engine_json(folder)
    data["engines"].update(entries)
    path = Path(folder) / ENGINE_JSON
    atomic_write_json(path, data)
    return path


def trt_release(version: str | None) -> str | None:
    """'10.3.0.30' -> '10.3.0': engines are tied to the release; the build number does not change the
    plan format, and trtexec's banner (v100300) only gives the release."""
    if not version:
        return None
    nums = re.findall(r"\d+", str(version))
    return ".".join(nums[:3]) if nums else None


def check_engine_entry(engine_path: str | Path, here: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Refuse an engine whose engine.json entry does not match ``here()`` (this TensorRT and GPU), or
    that was built from another ONNX than the sidecar describes. Returns the entry.

    ``here`` is called only once the entry exists, so an unlisted engine is refused without TensorRT."""
    engine_path = Path(engine_path)
    folder = engine_path.parent
    rebuild = f"rebuild it on this device with `bash {folder / BUILD_SCRIPT}`"
    entry = read_engine_json(folder)["engines"].get(engine_path.name)
    if entry is None:
        raise EngineError(f"{engine_path.name} is not listed in {ENGINE_JSON}: {rebuild}")
    here = here()
    built, now = trt_release(entry.get("tensorrt")), trt_release(here.get("tensorrt"))
    if built != now:
        raise EngineError(f"{engine_path.name} was built with TensorRT {entry.get('tensorrt')}, this is {here.get('tensorrt')}: {rebuild}")
    for key in ("gpu", "compute_capability"):
        if entry.get(key) and here.get(key) and str(entry[key]) != str(here[key]):
            raise EngineError(f"{engine_path.name} was built for {key} {entry[key]}, this device has {here[key]}: {rebuild}")
    sidecar = read_sidecar(folder)
    expected = ((sidecar or {}).get("sha256") or {}).get(entry.get("onnx", ""))
    if expected and entry.get("onnx_sha256") and entry["onnx_sha256"] != expected:
        raise EngineError(f"{engine_path.name} was built from another {entry['onnx']} than this folder holds: {rebuild}")
    return entry


# ---------------------------------------------------------------- --model resolution

CHECKPOINT = "checkpoint"  # run folder, checkpoint folder, .safetensors
RUNTIME = "runtime"  # .onnx, .engine


def _is_checkpoint_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def _listing(folder: Path, limit: int = 8) -> str:
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if not p.name.startswith("."))
    except OSError:
        return "unreadable"
    if not names:
        return "nothing"
    return ", ".join(names[:limit]) + (f" ... ({len(names)} in all)" if len(names) > limit else "")


def _export_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in RUNTIME_SUFFIXES) if folder.is_dir() else []


def resolve_model(path: str | os.PathLike, accept: Iterable[str] = (CHECKPOINT,), what: str = "this command") -> Path:
    """The file or folder a ``--model`` argument names, for a command that accepts ``accept``:

    - CHECKPOINT: a run folder (its best/, else last/), a checkpoint folder, or a .safetensors file;
    - RUNTIME: a .onnx or .engine file (an export folder is refused with the files it holds).

    Errors are one line naming what exists at ``path``."""
    accept = tuple(accept)
    p = Path(path)
    if not p.exists():
        parent = p.parent if str(p.parent) else Path(".")
        near = f" ({parent} holds: {_listing(parent)})" if parent.is_dir() else ""
        raise (CheckpointError if CHECKPOINT in accept else RuntimeModelError)(f"no model at {p}{near}: pass {_expected(accept)}")
    if p.is_file():
        if p.suffix in RUNTIME_SUFFIXES:
            if RUNTIME in accept:
                return p
            raise UsageError(f"{p} is an exported model: {what} takes {_expected(accept)}")
        if p.suffix == ".safetensors" and CHECKPOINT in accept:
            return p
        if p.suffix == ".safetensors":
            raise UsageError(f"{p} is a PyTorch checkpoint: export it first (levil-edge export --model {p} --out deploy/NAME) "
                             "and pass a .onnx or .engine")
        raise UsageError(f"{p}: not a model file {what} can use; pass {_expected(accept)}")
    if CHECKPOINT in accept:
        if _is_checkpoint_dir(p):
            return p
        for kind in ("best", "last"):
            if _is_checkpoint_dir(p / kind):
                return p / kind
    exported = _export_files(p)
    if exported and RUNTIME in accept:
        raise UsageError(f"{p} is an export folder: pass one of its files ({', '.join(exported)})")
    if exported:
        raise UsageError(f"{p} is an export folder ({', '.join(exported)}): {what} takes {_expected(accept)}")
    if _is_checkpoint_dir(p) or any(_is_checkpoint_dir(p / k) for k in ("best", "last")):
        raise UsageError(f"{p} is a PyTorch checkpoint: export it first (levil-edge export --model {p} --out deploy/NAME) "
                         "and pass a .onnx or .engine")
    raise (CheckpointError if CHECKPOINT in accept else RuntimeModelError)(
        f"{p} has no best/ or last/ checkpoint and no model file (it holds: {_listing(p)}): pass {_expected(accept)}"
    )


def _expected(accept: tuple[str, ...]) -> str:
    """What a command that accepts ``accept`` takes, as the object of "takes" or "pass"."""
    kinds = []
    if CHECKPOINT in accept:
        kinds.append("a run folder, a checkpoint folder (config.json + .safetensors) or a .safetensors file")
    if RUNTIME in accept:
        kinds.append("a .onnx or .engine file written by `levil-edge export`")
    return ", or ".join(kinds)
