"""Write ``build_engine.sh``: the trtexec commands that build the engines on the device itself.

An engine is tied to the GPU and TensorRT release that built it, so the ONNX files travel and the
engines are built where they run. The script must work on a bare JetPack: bash, trtexec and the
system ``python3`` with its standard library only (a venv without system site-packages cannot
import tensorrt, and levil-edge need not be installed where the engines are built). So:

- the TensorRT version comes from trtexec itself (its banner, ``[TensorRT v100300]`` = 10.3.0),
  then from the system packages (dpkg) or the headers (NvInferVersion.h); ``TRT_VERSION=`` overrides.
  Nothing found is an error, never a guess: TensorRT 11 refuses the flags TensorRT 10 needs.
- TensorRT 10 (JetPack 6.1 and 6.2 ship 10.3): FP16 with ``--fp16`` from model.onnx, INT8 with
  ``--int8 --fp16`` from the Q/DQ file. TensorRT 11: no precision flag exists (strong typing); FP32
  from model.onnx, FP16 from model.fp16.onnx, INT8 from model.int8.trt.fp16.onnx (else
  model.int8.trt.onnx, with a note). Older than 10 (JetPack 6.0 ships 8.6): refused, saying to
  upgrade to JetPack 6.1 or later.
- ``--minShapes/--optShapes/--maxShapes`` only for a dynamic batch: trtexec refuses explicit shapes
  for a static model (TensorRT issue 2043).
- each engine is saved under a temporary name and renamed when trtexec succeeds; engine.json is
  merged (entries of other engines, e.g. from ``export --engine``, are kept) into a temporary file
  that replaces it atomically; the TensorRT release, GPU and compute capability are read from
  trtexec's own log."""

from __future__ import annotations

from pathlib import Path

from levil_edge import artifacts as A
from levil_edge.config import ModelConfig

TEMPLATE = r"""#!/usr/bin/env bash
# Build TensorRT engines for @STUDENT@ on THIS device: an engine only runs on the GPU and TensorRT
# release that built it. Written by levil-edge @VERSION@.
#
#   bash build_engine.sh                  # from anywhere; needs trtexec (JetPack: /usr/src/tensorrt/bin/trtexec)
#   TRT_VERSION=10.3 bash build_engine.sh # only if trtexec prints no "[TensorRT vNNNNNN]" banner
#   TRTEXEC=/path/to/trtexec bash build_engine.sh
#
# Needs bash, trtexec and python3 (standard library only: it writes engine.json).
set -euo pipefail
cd "$(dirname "$0")"

DYNAMIC=@DYNAMIC@   # 1: dynamic batch 1..@MAX_BATCH@, 0: static batch of 1
INT8=@INT8@
INPUT=@INPUT@
MIN_SHAPE=@MIN_SHAPE@
OPT_SHAPE=@OPT_SHAPE@
MAX_SHAPE=@MAX_SHAPE@
WORKSPACE_MB=@WORKSPACE_MB@

TRTEXEC="${TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}"
if [ ! -x "$TRTEXEC" ]; then
  echo "error: trtexec not found: install TensorRT (JetPack: sudo apt install tensorrt) or set TRTEXEC=/path/to/trtexec" >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "error: python3 not found (it writes engine.json with its standard library): sudo apt install python3" >&2
  exit 1
fi

# The TensorRT release as "MAJOR.MINOR.PATCH SOURCE", or nothing.
trt_version() {
  if [ -n "${TRT_VERSION:-}" ]; then echo "$TRT_VERSION TRT_VERSION"; return; fi
  local banner n v h
  # trtexec prints "&&&& RUNNING TensorRT.trtexec [TensorRT v100300] ..." first, even for --help.
  banner="$("$TRTEXEC" --help 2>&1 | grep -o -m1 '\[TensorRT v[0-9]*\]' || true)"
  n="${banner//[^0-9]/}"
  if [ -n "$n" ]; then
    if [ "$n" -ge 100000 ]; then   # 10.x and later: MAJOR*10000 + MINOR*100 + PATCH
      echo "$((n / 10000)).$((n / 100 % 100)).$((n % 100)) trtexec"
    else                           # 8.x: MAJOR*1000 + MINOR*100 + PATCH
      echo "$((n / 1000)).$((n / 100 % 10)).$((n % 100)) trtexec"
    fi
    return
  fi
  v="$(dpkg-query -W -f='${Version}\n' tensorrt libnvinfer11 libnvinfer10 libnvinfer-bin 2>/dev/null | grep -o -m1 '^[0-9][0-9.]*' || true)"
  if [ -n "$v" ]; then echo "$v dpkg"; return; fi
  for h in ${TENSORRT_INCLUDE:+"$TENSORRT_INCLUDE/NvInferVersion.h"} /usr/include/aarch64-linux-gnu/NvInferVersion.h \
           /usr/include/x86_64-linux-gnu/NvInferVersion.h /usr/include/NvInferVersion.h /usr/local/tensorrt/include/NvInferVersion.h; do
    [ -f "$h" ] || continue
    v="$(python3 -I -c 'import re, sys
t = open(sys.argv[1]).read()
def num(*names):
    for n in names:
        m = re.search(r"#define\s+" + n + r"\s+(\d+)", t)
        if m:
            return m.group(1)
    return ""
parts = [num("NV_TENSORRT_MAJOR", "TRT_MAJOR_ENTERPRISE"), num("NV_TENSORRT_MINOR", "TRT_MINOR_ENTERPRISE"), num("NV_TENSORRT_PATCH", "TRT_PATCH_ENTERPRISE")]
print(".".join(parts) if all(parts) else "")' "$h")"
    if [ -n "$v" ]; then echo "$v $h"; return; fi
  done
}

read -r TRT_VER TRT_FROM <<<"$(trt_version)" || true
if [ -z "${TRT_VER:-}" ]; then
  echo "error: cannot tell the TensorRT version: $TRTEXEC printed no [TensorRT vNNNNNN] banner and no tensorrt/libnvinfer package or NvInferVersion.h was found; re-run with TRT_VERSION=10.3 (JetPack 6.1/6.2) or TRT_VERSION=11.x" >&2
  exit 1
fi
TRT_MAJOR="${TRT_VER%%.*}"
if [ "$TRT_MAJOR" -lt 10 ]; then
  echo "error: TensorRT $TRT_VER (from $TRT_FROM) is older than 10: levil-edge engines need TensorRT 10 or 11, on a Jetson JetPack 6.1 or later (6.2 recommended; both ship TensorRT 10.3). JetPack 6.0 ships TensorRT 8.6: upgrade to JetPack 6.1 or later" >&2
  exit 1
fi
echo "TensorRT $TRT_VER (from $TRT_FROM), trtexec $TRTEXEC"

COMMON=(--memPoolSize=workspace:${WORKSPACE_MB}M --timingCacheFile=timing.cache)
if [ "$DYNAMIC" = 1 ]; then
  COMMON+=(--minShapes=$INPUT:$MIN_SHAPE --optShapes=$INPUT:$OPT_SHAPE --maxShapes=$INPUT:$MAX_SHAPE)
fi

mkdir -p @LOG_DIR@
BUILT=()
build() {  # build PRECISION ONNX [TRTEXEC FLAGS...]
  local precision="$1" onnx="$2"
  shift 2
  local engine="model.$precision.engine" log="@LOG_DIR@/model.$precision.engine.log"
  echo "building $engine from $onnx ${*:-(no precision flag)}: log in $log"
  if ! "$TRTEXEC" --onnx="$onnx" --saveEngine=".$engine.tmp" "${COMMON[@]}" "$@" >"$log" 2>&1; then
    rm -f ".$engine.tmp"
    echo "error: trtexec failed to build $engine; the end of $log:" >&2
    tail -n 15 "$log" >&2
    exit 1
  fi
  mv -f ".$engine.tmp" "$engine"
  BUILT+=("$engine|$precision|$onnx|$log")
}

if [ "$TRT_MAJOR" -ge 11 ]; then
  # TensorRT 11: networks are always strongly typed and trtexec has no --fp16/--int8/--best:
  # the precision is the ONNX file's.
  build fp32 model.onnx
  if [ -f model.fp16.onnx ]; then
    build fp16 model.fp16.onnx
  else
    echo "note: no model.fp16.onnx, so no FP16 engine (TensorRT 11 builds FP16 only from an FP16 ONNX). Make it with" \
         "'python3 -m modelopt.onnx.autocast --onnx_path model.onnx --output_path model.fp16.onnx --keep_io_types'" \
         "(pip install nvidia-modelopt), or re-export with ModelOpt installed, then re-run this script" >&2
  fi
  if [ "$INT8" = 1 ]; then
    if [ -f model.int8.trt.fp16.onnx ]; then
      build int8 model.int8.trt.fp16.onnx
    else
      echo "note: no model.int8.trt.fp16.onnx: the INT8 engine is built from model.int8.trt.onnx and its layers without" \
           "Q/DQ run in FP32 under strong typing (export with ModelOpt installed for the FP16 variant)" >&2
      build int8 model.int8.trt.onnx
    fi
  fi
else
  # TensorRT 10 (JetPack 6.1 and 6.2 ship 10.3): weak typing, precision by flags. With the Q/DQ file, --int8
  # enables the explicit quantization and --fp16 lets the layers without Q/DQ run in half precision.
  build fp16 model.onnx --fp16
  if [ "$INT8" = 1 ]; then
    build int8 model.int8.trt.onnx --int8 --fp16
  fi
fi

# engine.json: merge the new entries into the existing file (other entries are kept), written to a
# temporary file and swapped in, so it is never empty or half-written. Standard library only.
SHAPES="@SHAPES_JSON@"
[ "$DYNAMIC" = 1 ] || SHAPES="{}"
python3 -I - "$TRT_VER" "$SHAPES" "${BUILT[@]}" <<'PYTHON'
import hashlib, json, os, platform, re, sys, tempfile, time

version, shapes, records = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
data = {"engines": {}}
if os.path.exists("engine.json"):
    try:
        with open("engine.json", encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict) or not isinstance(data.get("engines", {}), dict):
            raise ValueError("not an engine.json")
    except ValueError as exc:
        kept = "engine.json.broken-%d" % time.time()
        os.replace("engine.json", kept)
        print("warning: engine.json was unreadable (%s): kept it as %s" % (exc, kept), file=sys.stderr)
        data = {"engines": {}}
data.setdefault("engines", {})
jetpack = None
if os.path.exists("/etc/nv_tegra_release"):
    with open("/etc/nv_tegra_release", errors="replace") as f:
        jetpack = f.readline().strip() or None

def fact(text, label):
    m = re.search(re.escape(label) + r":[ \t]*(.+)", text)
    return m.group(1).strip() if m else None

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

for rec in records:
    engine, precision, onnx, log = rec.split("|")
    with open(log, errors="replace") as f:
        text = f.read()
    data["engines"][engine] = {
        "path": engine, "precision": precision, "onnx": onnx, "onnx_sha256": sha256(onnx),
        "shapes": shapes, "tensorrt": fact(text, "TensorRT version") or version,
        "gpu": fact(text, "Selected Device"), "compute_capability": fact(text, "Compute Capability"),
        "jetpack": jetpack, "arch": platform.machine(), "built_by": "trtexec", "log": log,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
fd, tmp = tempfile.mkstemp(prefix=".engine.json.", dir=".")
try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, "engine.json")
finally:
    if os.path.exists(tmp):
        os.unlink(tmp)
PYTHON

ENGINES="$(for b in "${BUILT[@]}"; do printf '%s ' "${b%%|*}"; done)"
echo "done: ${ENGINES}+ engine.json"
echo "next: levil-edge bench --model ${ENGINES}--batch @BENCH_BATCH@"
"""


def write_build_script(out_dir: str | Path, cfg: ModelConfig, *, int8: bool, max_batch: int | None,
                       workspace_gb: float = 2.0) -> Path:
    """``build_engine.sh`` for a folder exported with batch 1..max_batch (None: a static batch of 1)."""
    import json

    from levil_edge.utils.io import atomic_write_text

    dynamic = max_batch is not None
    hi = max_batch or 1
    c, t, s = cfg.input_shape[0], cfg.frames, cfg.size
    dims = lambda b: [b, c, t, s, s]  # noqa: E731
    shape = lambda b: "x".join(map(str, dims(b)))  # noqa: E731 - trtexec's NxCxTxHxW spelling
    opt = min(8, hi)
    values = {
        "STUDENT": cfg.student, "VERSION": cfg.version or "", "DYNAMIC": "1" if dynamic else "0",
        "MAX_BATCH": str(hi), "INT8": "1" if int8 else "0", "INPUT": A.INPUT_NAME,
        "MIN_SHAPE": shape(1), "OPT_SHAPE": shape(opt), "MAX_SHAPE": shape(hi),
        "WORKSPACE_MB": str(int(workspace_gb * 1024)), "LOG_DIR": A.BUILD_LOG_DIR,
        "SHAPES_JSON": json.dumps({A.INPUT_NAME: [dims(1), dims(opt), dims(hi)]}).replace('"', '\\"'),
        "BENCH_BATCH": str(opt),
    }
    text = TEMPLATE
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    path = Path(out_dir) / A.BUILD_SCRIPT
    atomic_write_text(path, text)
    path.chmod(0o755)
    return path
