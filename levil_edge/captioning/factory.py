"""``load_captioner``: a Hugging Face id or local folder -> a ``Captioner``, picked by its
config's ``model_type`` through the registry. Above the backends: importing them here (inside the
function, so the package stays torch-free) runs their ``@register_captioner`` decorators."""

from __future__ import annotations

from levil_edge.captioning.base import Captioner, load_model_config
from levil_edge.captioning.registry import captioner_class, families
from levil_edge.errors import TeacherError


def _ensure_builtin() -> None:
    from levil_edge.captioning import qwen, smolvlm  # noqa: F401


def load_captioner(model: str, device: str = "auto", dtype: str = "auto",
                   trust_remote_code: bool = False) -> Captioner:
    """A Captioner for a Hugging Face id or local folder, picked by its config's model_type."""
    config = load_model_config(model, trust_remote_code)
    kind = getattr(config, "model_type", "")
    _ensure_builtin()
    cls = captioner_class(kind)
    if cls is None:
        known = " and ".join(f"{name} ({', '.join(types)})" for name, types in families().items())
        raise TeacherError(f"{model!r} is a {kind or 'unknown'} model; captioners supported: {known}")
    return cls(model, device=device, dtype=dtype, trust_remote_code=trust_remote_code)
