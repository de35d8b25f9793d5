"""Export: a checkpoint -> the deploy folder a Jetson runs as it is: ONNX (FP32), INT8 Q/DQ (two
forms, TensorRT-checked), build_engine.sh, DeepStream configs, a device README, model.json; engines
when TensorRT is here. The file names and metadata they share with the runtime: ``levil_edge.artifacts``.

Import the submodules you need; ``trt_check``, ``build_script``, ``deepstream``, ``device_readme``,
``staging`` and ``report`` are torch-free (``tensorrt`` needs TensorRT).

>>> from levil_edge.export import export_model
>>> result = export_model("runs/ft/best", "deploy/r3d", int8=True, calib_data="data/train")
"""


def export_model(*args, **kwargs):  # noqa: D103 - lazy re-export: importing the package must not import torch
    from levil_edge.export.pipeline import export_model as _export_model

    return _export_model(*args, **kwargs)


export_model.__doc__ = "See levil_edge.export.pipeline.export_model."
