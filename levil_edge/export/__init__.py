"""Export: ONNX (FP32, metadata), INT8 Q/DQ (two forms), TensorRT check, engines, build_engine.sh.

Import the submodules you need; only ``metadata``, ``trt_check`` and ``tensorrt`` are torch-free.

>>> from levil_edge.export import export_model
>>> result = export_model("runs/ft/best", "deploy/r3d", int8=True, calib_data="data/train")
"""


def export_model(*args, **kwargs):  # noqa: D103 - lazy re-export: importing the package must not import torch
    from levil_edge.export.pipeline import export_model as _export_model

    return _export_model(*args, **kwargs)


export_model.__doc__ = "See levil_edge.export.pipeline.export_model."
