"""The README.md that travels in a deploy folder: what is in it, and how to run it on a Jetson.

It is written from the export's own facts (files, checks, model geometry), so it describes this
folder and not a generic one. The long walk-through lives in the repository's docs/jetson.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from levil_edge import artifacts as A
from levil_edge.config import ModelConfig
from levil_edge.export import deepstream as D


def _files_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| file | precision | size | check | top-1 agreement with FP32 |", "|---|---|---|---|---|"]
    for r in rows:
        size = "-" if r.get("size_mb") is None else f"{r['size_mb']:.1f} MB"
        agr = "-" if r.get("top1_agreement") is None else f"{100 * r['top1_agreement']:.1f}%"
        check = (r.get("check") or "-").replace("|", "\\|")  # "max|diff|" must not split the markdown cell
        lines.append(f"| `{r['file']}` | {r['precision']} | {size} | {check} | {agr} |")
    return "\n".join(lines)


def device_readme(name: str, cfg: ModelConfig, rows: list[dict[str, Any]], *, int8: bool, max_batch: int | None,
                  heldout: str) -> str:
    batch = f"dynamic, 1..{max_batch}" if max_batch else "static, 1"
    st = D.sequence_settings(cfg, 1, max_batch)
    int8_engine = f" {A.engine_file('int8')}" if int8 else ""
    cpu_model = A.INT8_CPU_FILE if int8 else A.FP32_FILE
    return f"""# {name}: {cfg.student} action classifier for NVIDIA Jetson

Exported by levil-edge {cfg.version}. {cfg.num_classes} classes ({', '.join(cfg.labels[:8])}{' ...' if len(cfg.labels) > 8 else ''}).
Input: float32 `(B, 3, {cfg.frames}, {cfg.size}, {cfg.size})` named `{A.INPUT_NAME}`, {cfg.frames} RGB frames taken every
{cfg.stride} frames, short side resized to {cfg.size} and centre-cropped, `(x / 255 - mean) / std`; batch {batch}.
Output: `{A.OUTPUT_NAME}` `(B, {cfg.num_classes})`. `{A.SIDECAR}` holds all of this and the SHA-256 of every file.

{_files_table(rows)}

Agreement was measured with ONNX Runtime on {heldout}. TensorRT engines are not in this folder: an
engine only runs on the GPU and TensorRT release that built it, so `build_engine.sh` builds them here.

## 1. Copy

```bash
scp -r {name} jetson:~/          # or any copy; keep the folder as it is
```

## 2. Install (JetPack 6.1 or later, 6.2 recommended: TensorRT 10.3 and Python 3.10 come with the system)

JetPack 6.0 ships TensorRT 8.6, which cannot build these engines: upgrade to JetPack 6.1 or later first
(`levil-edge doctor` says which TensorRT this device has).

```bash
sudo apt install python3-venv python3-pip
python3 -m venv --system-site-packages ~/levil      # sees the system tensorrt package
. ~/levil/bin/activate
pip install levil-edge                                # the edge runtime: numpy, onnxruntime, PyAV; no torch
python3 -c "import tensorrt, av; print(tensorrt.__version__, av.__version__)"   # 10.3.0.x
```

PyAV decodes on aarch64 (decord has no aarch64 wheel): pass `--decoder pyav` or leave `auto`.

## 3. Build the engines

```bash
cd ~/{name} && bash build_engine.sh
```

It reads the TensorRT version from trtexec's banner (`[TensorRT v100300]` = 10.3.0) and builds
`{A.engine_file('fp16')}`{' and ' + A.engine_file('int8') if int8 else ''} (TensorRT 10: `--fp16`{', `--int8 --fp16`' if int8 else ''};
TensorRT 11: no precision flags, FP32 from `{A.FP32_FILE}`, FP16 from `{A.FP16_FILE}`, INT8 from
`{A.INT8_TRT_FP16_FILE}` or `{A.INT8_TRT_FILE}`). It records the TensorRT release, GPU and compute
capability of each engine in `{A.ENGINE_JSON}`; levil-edge refuses an engine built elsewhere and says to
re-run this script. trtexec's logs are in `{A.BUILD_LOG_DIR}/`.

## 4. Run

```bash
levil-edge predict clip.mp4 --model {A.engine_file('fp16')} --topk 3
levil-edge predict videos/ --model {A.engine_file('fp16')}          # every video in a folder
levil-edge predict --stream /dev/video0 --model {A.engine_file('fp16')}   # camera, RTSP URL or long file
levil-edge bench --model {A.engine_file('fp16')}{int8_engine} {cpu_model} --batch {min(8, max_batch or 1)}
levil-edge bench --model {A.engine_file('fp16')} {A.FP32_FILE} --data labelled_videos/   # accuracy and agreement
sudo nvpmodel -q                                       # note the power mode beside any figure
```

## 5. DeepStream (3D action recognition)

`{A.DEEPSTREAM_DIR}/` holds configs for NVIDIA's `deepstream-3d-action-recognition` sample:
Gst-nvdspreprocess with the custom sequence library (`libnvds_custom_sequence_preprocess.so`,
`CustomSequenceTensorPreparation`) builds the `{st.batch};3;{st.frames};{st.size};{st.size}` tensor
(normalisation as in training, `subsample={st.subsample}` for the frame stride {cfg.stride}, `stride={st.stride}`), and
Gst-nvinfer reads it from the metadata (`input-tensor-from-meta=1`) and runs `{A.engine_file('fp16')}`.

```bash
cd /opt/nvidia/deepstream/deepstream/sources/apps/sample_apps/deepstream-3d-action-recognition
sudo CUDA_VER=12.6 make             # the CUDA of your JetPack: ls -d /usr/local/cuda-*
cd ~/{name}/{A.DEEPSTREAM_DIR}
/opt/nvidia/deepstream/deepstream/sources/apps/sample_apps/deepstream-3d-action-recognition/deepstream-3d-action-recognition \\
    -c {D.APP_CONFIG}
```

Edit `uri-list` in `{D.APP_CONFIG}` for your streams (one per source; for N sources also set
`network-input-shape` N;... in `{D.PREPROCESS_CONFIG}` and `batch-size` in the nvinfer config).
`infer-config={D.infer_config_name('int8')}` switches to the INT8 engine{'' if int8 else ' (export with --int8 first)'}.
Two differences from `levil-edge predict`: DeepStream scales the whole frame to {cfg.size}x{cfg.size}
(the preprocess config shows the centre-square ROI that matches training), and nvinfer's default
classifier parser reads the output as probabilities while the model gives logits (it labels a window
only when the top logit is positive; the logits are in the tensor meta).
"""


def write_device_readme(folder: str | Path, name: str, cfg: ModelConfig, rows: list[dict[str, Any]], *,
                        int8: bool, max_batch: int | None, heldout: str) -> Path:
    from levil_edge.utils.io import atomic_write_text

    path = Path(folder) / A.DEVICE_README
    atomic_write_text(path, device_readme(name, cfg, rows, int8=int8, max_batch=max_batch, heldout=heldout))
    return path
