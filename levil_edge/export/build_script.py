"""Write ``build_engine.sh``: the trtexec commands that build the engines on the Jetson itself.

An engine is tied to the GPU and TensorRT version it was built with, so the ONNX files travel and
the engine is built where it runs. The script detects the TensorRT major version because the
spellings differ: TensorRT 10 takes precision flags (--fp16, --int8 with Q/DQ), TensorRT 11 has no
weak typing (precision comes from the ONNX: the Q/DQ file for INT8, an FP16 ONNX for FP16)."""

from __future__ import annotations

from pathlib import Path

from levil_edge.config import ModelConfig

TEMPLATE = """#!/usr/bin/env bash
# Build TensorRT engines for {student} on THIS device (an engine only runs on the GPU and
# TensorRT version that built it). Written by levil-edge {version}.
# Usage: bash build_engine.sh   (run from anywhere; needs trtexec, e.g. /usr/src/tensorrt/bin/trtexec)
set -euo pipefail
cd "$(dirname "$0")"
TRTEXEC="${{TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}}"
[ -x "$TRTEXEC" ] || {{ echo "trtexec not found: set TRTEXEC=/path/to/trtexec" >&2; exit 1; }}
TRT_MAJOR="$(python3 -c 'import tensorrt as t; print(t.__version__.split(".")[0])' 2>/dev/null || echo 10)"
SHAPES="--minShapes={inp}:{min_shape} --optShapes={inp}:{opt_shape} --maxShapes={inp}:{max_shape}"
COMMON="$SHAPES --memPoolSize=workspace:{workspace_mb}M --timingCacheFile=timing.cache"

if [ "$TRT_MAJOR" -ge 11 ]; then
  # TensorRT 11: strongly typed only; the fp16/int8 precision flags are gone. FP32 from model.onnx, INT8 from the Q/DQ file.
  "$TRTEXEC" --onnx=model.onnx --saveEngine=model.fp32.engine $COMMON
  if [ -f model.fp16.onnx ]; then
    "$TRTEXEC" --onnx=model.fp16.onnx --saveEngine=model.fp16.engine $COMMON
  else
    echo "FP16 on TensorRT 11 needs an FP16 ONNX: python -m modelopt.onnx.autocast --onnx_path model.onnx --output_path model.fp16.onnx --keep_io_types, then re-run" >&2
  fi
{int8_11}else
  # TensorRT 10 (JetPack 6 ships 10.3): precision by builder flags.
  "$TRTEXEC" --onnx=model.onnx --saveEngine=model.fp16.engine --fp16 $COMMON
{int8_10}fi
python3 -m levil_edge.export.tensorrt --describe model.*.engine > engine.json
echo "done: $(ls model.*.engine | tr '\\n' ' ') + engine.json. Next: levil-edge bench --model model.*.engine"
"""


def write_build_script(out_dir: str | Path, cfg: ModelConfig, *, int8: bool, max_batch: int, workspace_gb: float = 2.0) -> Path:
    from levil_edge.utils.io import atomic_write_text

    c, t, s = cfg.input_shape[0], cfg.frames, cfg.size
    shape = lambda b: f"{b}x{c}x{t}x{s}x{s}"  # noqa: E731 - trtexec's NxCxTxHxW spelling
    int8_11 = int8_10 = ""
    if int8:
        int8_11 = '  "$TRTEXEC" --onnx=model.int8.trt.onnx --saveEngine=model.int8.engine $COMMON\n'
        # --fp16 next to --int8 lets layers without Q/DQ run in FP16 instead of FP32.
        int8_10 = '  "$TRTEXEC" --onnx=model.int8.trt.onnx --saveEngine=model.int8.engine --int8 --fp16 $COMMON\n'
    text = TEMPLATE.format(
        student=cfg.student, version=cfg.version, inp="video",
        min_shape=shape(1), opt_shape=shape(max_batch if max_batch <= 8 else 8), max_shape=shape(max_batch),
        workspace_mb=int(workspace_gb * 1024), int8_11=int8_11, int8_10=int8_10,
    )
    path = Path(out_dir) / "build_engine.sh"
    atomic_write_text(path, text)
    path.chmod(0o755)
    return path
