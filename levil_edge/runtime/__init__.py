"""The edge runtime: exported models (.onnx via ONNX Runtime, .engine via TensorRT) on videos.

Imports only numpy, a video decoder (PyAV / decord through ``levil_edge.data``) and onnxruntime
or tensorrt: never torch. ``tests/test_runtime_notorch.py`` enforces it.

>>> from levil_edge.runtime import load_model, predict_videos
>>> predict_videos(["clip.mp4"], "deploy/r3d/model.int8.cpu.onnx", topk=3)
"""

from levil_edge.runtime.bench import bench_models
from levil_edge.runtime.evaluate import evaluate_model
from levil_edge.runtime.model import EdgeModel, load_model
from levil_edge.runtime.predict import predict_videos
from levil_edge.runtime.stream import stream_predict

__all__ = ["EdgeModel", "bench_models", "evaluate_model", "load_model", "predict_videos", "stream_predict"]
