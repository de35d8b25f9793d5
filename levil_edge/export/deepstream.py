"""DeepStream configs for NVIDIA's 3D action-recognition pipeline, generated from the model's config.

    streammux -> Gst-nvdspreprocess (custom sequence library) -> Gst-nvinfer (tensor from metadata)

Written into ``deploy/NAME/deepstream/``:

- ``config_preprocess_3d.txt``: nvdspreprocess with ``libnvds_custom_sequence_preprocess.so``
  (``CustomSequenceTensorPreparation``), which gathers T frames per source into an NCDHW tensor.
- ``config_infer_<precision>.txt``: nvinfer, ``input-tensor-from-meta=1``, classifier, the engine
  that build_engine.sh makes (``model-engine-file``) and the ONNX it was made from (``onnx-file``).
- ``labels_nvinfer.txt``: nvinfer's classifier label file (one line, ``;``-separated: one line per
  output attribute), ``deepstream_action_recognition_config.txt``: the app config of the
  ``deepstream-3d-action-recognition`` sample (every key its parser requires).

All are GKeyFile files (``key=value``, ``#`` comments, lists separated by ``;``), the format the
plugins and the sample app load with ``g_key_file_load_from_file``. Relative paths are resolved by
nvinfer against the config file's folder, and by the sample app against the working directory (run
it from ``deepstream/``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from levil_edge import artifacts as A
from levil_edge.config import ModelConfig

SEQUENCE_LIB = "/opt/nvidia/deepstream/deepstream/lib/libnvds_custom_sequence_preprocess.so"
SEQUENCE_FUNCTION = "CustomSequenceTensorPreparation"
PREPROCESS_CONFIG = "config_preprocess_3d.txt"
APP_CONFIG = "deepstream_action_recognition_config.txt"
NVINFER_LABELS = "labels_nvinfer.txt"
SAMPLE_URI = "file:///opt/nvidia/deepstream/deepstream/samples/streams/sample_walk.mov"
NETWORK_MODE = {"fp32": 0, "int8": 1, "fp16": 2}  # nvinfer: 0=FP32, 1=INT8, 2=FP16
MUXER_W, MUXER_H = 1280, 720


def infer_config_name(precision: str) -> str:
    return f"config_infer_{precision}.txt"


@dataclass(frozen=True)
class SequenceSettings:
    """What nvdspreprocess and the sequence library need, derived from the model's ModelConfig."""

    batch: int
    frames: int
    size: int
    scales: tuple[float, float, float]  # channel-scale-factors
    offsets: tuple[float, float, float]  # channel-mean-offsets
    subsample: int
    stride: int


def sequence_settings(cfg: ModelConfig, sources: int = 1, max_batch: int | None = 16) -> SequenceSettings:
    """The library computes ``scale * (x - offset)`` on uint8 RGB x (sequence_preprocess_kernel.cu:
    ``x * scale + (-scale * offset)``); training feeds ``(x / 255 - mean) / std``. Equal for
    scale = 1 / (255 std) and offset = 255 mean.

    Frame sampling, read from sequence_image_process.cpp (BufferManager::locateRoiDst/collectReady
    in DeepStream's deepstream-3d-action-recognition/custom_sequence_preprocess):

    - ``subsample``: frames skipped between two sampled frames (a frame is taken when
      frame_num > last taken + subsample), so the model's frame stride s maps to subsample = s - 1;
    - ``stride``: how many *sampled* frames the window slides after each tensor (the next one is ready
      at last + stride * (subsample + 1)). stride = frames / s slides the window by ``frames`` source
      frames, the step of ``levil-edge predict --stream`` by default: the same windows it classifies.
      The library slides in whole sampled frames, so when ``frames`` is not a multiple of s the step is
      rounded to the nearest multiple of s (``predict --stream --step`` gives the same windows)."""
    scales = tuple(1.0 / (255.0 * s) for s in cfg.std)
    offsets = tuple(255.0 * m for m in cfg.mean)
    stride = max(1, round(cfg.frames / cfg.stride))
    batch = max(1, min(sources, max_batch or 1))
    return SequenceSettings(batch=batch, frames=cfg.frames, size=cfg.size, scales=scales, offsets=offsets,  # type: ignore[arg-type]
                            subsample=cfg.stride - 1, stride=stride)


def _list(values) -> str:
    return ";".join(repr(float(v)) if isinstance(v, float) else str(v) for v in values)


def preprocess_config(cfg: ModelConfig, st: SequenceSettings) -> str:
    shape = _list([st.batch, 3, st.frames, st.size, st.size])
    return f"""# Gst-nvdspreprocess for {cfg.student} ({cfg.num_classes} classes), written by levil-edge {cfg.version}.
# Custom sequence library: gathers {st.frames} frames per source into one NCDHW float32 tensor.
[property]
enable=1
# the gie-unique-id of the nvinfer that reads the tensor
target-unique-ids=1
process-on-frame=1
# batch;channels;frames;height;width: batch = sources per tensor (one per source in [group-0])
network-input-shape={shape}
# 0=RGB (the model was trained on RGB)
network-color-format=0
# 2=CUSTOM: NCDHW, laid out by the sequence library
network-input-order=2
# 0=FP32: the library writes float32, the ONNX input is float32 (FP16 engines keep float32 I/O)
tensor-data-type=0
tensor-name={A.INPUT_NAME}
processing-width={st.size}
processing-height={st.size}
scaling-pool-memory-type=0
scaling-pool-compute-hw=0
# 1=bilinear, as levil-edge's own resize
scaling-filter=1
tensor-buf-pool-size=8
custom-lib-path={SEQUENCE_LIB}
custom-tensor-preparation-function={SEQUENCE_FUNCTION}

[user-configs]
# scale * (x - offset) = (x / 255 - mean) / std: scale = 1 / (255 std), offset = 255 mean (RGB order)
channel-scale-factors={_list(st.scales)}
channel-mean-offsets={_list(st.offsets)}
# subsample = model frame stride {cfg.stride} - 1: frames skipped between two sampled frames
subsample={st.subsample}
# stride = sampled frames the window slides per tensor: {st.stride} x {cfg.stride} = {st.stride * cfg.stride} source frames,
# the default step of `levil-edge predict --stream`
stride={st.stride}

[group-0]
# every source (src-ids=-1 covers network-input-shape[0] sources), full frame.
# DeepStream scales the whole frame to {st.size}x{st.size}; training and `levil-edge predict` resize the
# short side and crop the centre square. For that geometry on {MUXER_W}x{MUXER_H} frames use instead:
#   process-on-roi=1
#   roi-params-src-0={(MUXER_W - MUXER_H) // 2};0;{MUXER_H};{MUXER_H}
src-ids=-1
process-on-roi=0
"""


# nvinfer has no calibration table for a Q/DQ model: when it rebuilds an INT8 engine itself it warns
# "INT8 calibration file not specified. Trying FP16 mode" (nvdsinfer_model_builder.cpp), and TensorRT 10
# wants the INT8 flag for a network with Q/DQ nodes. So the INT8 engine comes from build_engine.sh only.
_INT8_REBUILD = """# INT8: do not let nvinfer build this engine. Without a calibration file it switches to FP16 mode
# ("INT8 calibration file not specified. Trying FP16 mode"), which does not build a Q/DQ model as INT8:
# if it says it is building from onnx-file, stop it and run build_engine.sh again.
"""


def infer_config(cfg: ModelConfig, st: SequenceSettings, precision: str, onnx_file: str) -> str:
    return f"""# Gst-nvinfer for {cfg.student}, {precision.upper()} engine, written by levil-edge {cfg.version}.
# Build the engine first (bash ../{A.BUILD_SCRIPT}): nvinfer then loads model-engine-file; it rebuilds from
# onnx-file only when the engine is missing or was built for another GPU/TensorRT.
{_INT8_REBUILD if precision == "int8" else ""}[property]
gpu-id=0
onnx-file=../{onnx_file}
model-engine-file=../{A.engine_file(precision)}
labelfile-path={NVINFER_LABELS}
batch-size={st.batch}
# 1=primary: runs on the tensors nvdspreprocess attaches
process-mode=1
# read the input tensor from nvdspreprocess's metadata
input-tensor-from-meta=1
# 0=FP32, 1=INT8, 2=FP16
network-mode={NETWORK_MODE[precision]}
gie-unique-id=1
# 1=classifier
network-type=1
# The model outputs logits. nvinfer's default classifier parser keeps the arg-max only when it is
# above classifier-threshold and above 0; the raw logits are in the tensor meta (softmax them there).
classifier-threshold=0.0
# attach the raw output tensor (NvDsInferTensorMeta) for the application
output-tensor-meta=1
tensor-meta-pool-size=8
"""


def app_config(st: SequenceSettings, precision: str) -> str:
    uris = ";".join([SAMPLE_URI] * st.batch)
    return f"""# deepstream-3d-action-recognition app config. Run from this folder:
#   deepstream-3d-action-recognition -c {APP_CONFIG}
[action-recognition]
# one URI per source (file://, rtsp://); as many as network-input-shape[0] in {PREPROCESS_CONFIG}
uri-list={uris}
# 1: sync to the clock; 0: as fast as possible (benchmarking)
display-sync=1
# 0: show the video (eglglessink); 1: no display (headless)
fakesink=0
preprocess-config={PREPROCESS_CONFIG}
infer-config={infer_config_name(precision)}
muxer-height={MUXER_H}
muxer-width={MUXER_W}
# usec
muxer-batch-timeout=40000
tiler-height={MUXER_H}
tiler-width={MUXER_W}
# 0: off, 1: debug, 2: verbose (also the sequence library's log)
debug=0
enable-fps=1
"""


def nvinfer_labels(cfg: ModelConfig) -> str:
    # One output attribute: its labels on one line, ';'-separated (nvinfer's parseLabelsFile).
    names = list(cfg.labels) or [str(i) for i in range(cfg.num_classes)]
    return ";".join(n.replace(";", ",") for n in names) + "\n"


def write_deepstream_configs(folder: str | Path, cfg: ModelConfig, *, int8: bool, max_batch: int | None,
                             sources: int = 1) -> dict[str, str]:
    """Write the configs into ``folder/deepstream/``; returns {file name: what it is}."""
    from levil_edge.utils.io import atomic_write_text

    ds = Path(folder) / A.DEEPSTREAM_DIR
    ds.mkdir(parents=True, exist_ok=True)
    st = sequence_settings(cfg, sources, max_batch)
    files = {PREPROCESS_CONFIG: preprocess_config(cfg, st), NVINFER_LABELS: nvinfer_labels(cfg),
             infer_config_name("fp16"): infer_config(cfg, st, "fp16", A.FP32_FILE), APP_CONFIG: app_config(st, "fp16")}
    if int8:
        files[infer_config_name("int8")] = infer_config(cfg, st, "int8", A.INT8_TRT_FILE)
    for name, text in files.items():
        atomic_write_text(ds / name, text)
    return {f"{A.DEEPSTREAM_DIR}/{name}": "deepstream" for name in files}
