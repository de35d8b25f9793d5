"""The model config that travels with the weights (timm's PretrainedCfg idea).

It is written next to every checkpoint (``config.json``), into the ONNX ``metadata_props``
and into the sidecar ``model.json``/``engine.json``, so nothing downstream guesses the input
contract. Torch-free: the edge runtime reads it too."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from levil_edge.errors import ConfigError

# ImageNet / Kinetics statistics used by torchvision's video models, in 0..1 pixel units.
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

# LEViL's teacher temperature: soft targets q = softmax(cos / tau), tau = 1/50 (the one definition;
# teachers, the teacher cache, training options and zero-shot all read it from here).
DEFAULT_TAU = 1.0 / 50.0
# The clip geometry every built-in student has (its registry entry may say otherwise; the registry's
# default cfg is what training uses). ModelConfig and ClipSettings default to it too.
DEFAULT_FRAMES, DEFAULT_STRIDE, DEFAULT_SIZE = 8, 1, 112  # LEViL: 8 consecutive frames


@dataclass
class ModelConfig:
    """Everything needed to feed a student and to read its output.

    Input contract: float32 (B, 3, T, H, W) = (uint8 frames / 255 - mean) / std, channels RGB,
    frames sampled ``frames`` consecutive with ``stride``, resized short side then cropped to ``size``.
    Output: logits (B, num_classes) over ``labels``.
    """

    student: str
    num_classes: int
    labels: list[str] = field(default_factory=list)
    label_kind: str = "classes"  # "classes" (target label set) or "pseudo" (caption vocabulary)
    frames: int = DEFAULT_FRAMES
    stride: int = DEFAULT_STRIDE
    size: int = DEFAULT_SIZE
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD
    embed_dim: int | None = None  # size of the feature-distillation head, if any
    run: str | None = None  # training run folder it came from
    version: str | None = None  # levil-edge version that wrote it
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mean = tuple(float(v) for v in self.mean)  # type: ignore[assignment]
        self.std = tuple(float(v) for v in self.std)  # type: ignore[assignment]
        if self.labels and len(self.labels) != self.num_classes:
            raise ConfigError(
                f"config has {len(self.labels)} labels but num_classes={self.num_classes}: "
                "fix the labels file or the checkpoint config"
            )
        if self.version is None:
            from levil_edge import __version__

            self.version = __version__

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """(3, T, H, W) without the batch axis."""
        return (3, self.frames, self.size, self.size)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        missing = [k for k in ("student", "num_classes") if k not in d]
        if missing:
            raise ConfigError(f"model config lacks {missing}: it was not written by levil-edge")
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"model config is not valid JSON ({exc})") from exc

    def save(self, path: str | Path) -> None:
        from levil_edge.utils.io import atomic_write_text

        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no model config at {path}: pass a checkpoint folder written by levil-edge")
        return cls.from_json(path.read_text(encoding="utf-8"))
