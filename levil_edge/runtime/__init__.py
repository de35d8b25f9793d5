"""The edge runtime: exported models (.onnx via ONNX Runtime, .engine via TensorRT) on videos.

What a Jetson installs. It imports only numpy, a video decoder (PyAV / decord through
``levil_edge.data``), onnxruntime or tensorrt, and levil-edge's torch-free modules (config, errors,
metrics, utils, data, artifacts, eval_report, system): never torch, and nothing of export/train.
``tests/test_runtime.py::test_runtime_imports_and_predicts_without_torch`` runs predict in a
process where importing torch fails; ``tests/test_runtime_imports.py`` checks the imports.

>>> from levil_edge.runtime import load_model, predict_videos
>>> predict_videos(["clip.mp4"], "deploy/r3d/model.int8.cpu.onnx", topk=3)
"""

from levil_edge.runtime.bench import bench_models
from levil_edge.runtime.eval_edge import evaluate_model
from levil_edge.runtime.model import EdgeModel, load_model
from levil_edge.runtime.predict import predict_videos
from levil_edge.runtime.stream import stream_predict

__all__ = ["EdgeModel", "bench_models", "evaluate_model", "load_model", "predict_videos", "stream_predict"]
