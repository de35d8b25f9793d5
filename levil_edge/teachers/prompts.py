"""Prompt templates for turning label names into teacher text inputs (torch-free).

LEViL uses the bare label for pseudo-labels (``"{}"``) and ``"a video of a person {}."`` for the
target classes. Several templates can be given: their text embeddings are averaged (CLIP prompt
ensembling: mean of the L2-normalised embeddings, renormalised), see ``Teacher.embed_labels``."""

from __future__ import annotations

import hashlib
import re
from typing import Sequence, Union

from levil_edge.errors import UsageError

PSEUDO_LABEL_TEMPLATE = "{}"
TARGET_CLASS_TEMPLATE = "a video of a person {}."

Templates = Union[str, Sequence[str]]


def as_templates(template: Templates | None, default: str = PSEUDO_LABEL_TEMPLATE) -> list[str]:
    """One template or a list -> a non-empty list of templates that each contain ``{}`` once."""
    if template is None:
        template = default
    templates = [template] if isinstance(template, str) else list(template)
    if not templates:
        raise UsageError("no prompt template given: pass e.g. --template '{}' or 'a video of a person {}.'")
    for t in templates:
        if t.count("{}") != 1:
            raise UsageError(f"prompt template {t!r} must contain '{{}}' exactly once (where the label goes)")
    return templates


def format_prompts(labels: Sequence[str], template: str) -> list[str]:
    return [template.replace("{}", label) for label in labels]


def templates_key(templates: Templates) -> str:
    """A stable string naming a template list (part of cache keys)."""
    return "\x1f".join(as_templates(templates))


def label_set_hash(labels: Sequence[str], templates: Templates) -> str:
    """Hash of (label texts, templates): names an X-CLIP logits array in the cache."""
    h = hashlib.sha1(templates_key(templates).encode("utf-8"))
    for label in labels:
        h.update(b"\x1e" + label.encode("utf-8"))
    return h.hexdigest()[:16]


def humanize_label(name: str) -> str:
    """Dataset class names as words: ``ApplyEyeMakeup`` -> ``apply eye makeup``,
    ``playing_guitar`` -> ``playing guitar``. Names that already have spaces are kept as they are."""
    if " " in name.strip():
        return name.strip()
    words = re.sub(r"[_\-]+", " ", name)
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", words)
    return re.sub(r"\s+", " ", words).strip().lower()
