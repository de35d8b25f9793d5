"""Student models: a registry (``registry.py``), a factory above it (``factory.py``) and the
shared interface (torch).

>>> from levil_edge.students import create_student
>>> model = create_student("x3d_xs", num_classes=10, embed_dim=512)
"""

from levil_edge.students.base import Student
from levil_edge.students.factory import (
    create_student,
    get_default_cfg,
    list_students,
    student_config,
)
from levil_edge.students.registry import register_student

__all__ = [
    "Student",
    "create_student",
    "get_default_cfg",
    "list_students",
    "register_student",
    "student_config",
    "save_checkpoint",
    "load_checkpoint",
    "load_pretrained_backbone",
    "count_params",
    "count_flops",
]


def __getattr__(name: str):
    # Lazy so that importing the package does not build every model module up front.
    if name in ("save_checkpoint", "load_checkpoint", "load_pretrained_backbone"):
        from levil_edge.students import checkpoint

        return getattr(checkpoint, name)
    if name in ("count_params", "count_flops"):
        from levil_edge.students import flops

        return getattr(flops, name)
    raise AttributeError(name)
