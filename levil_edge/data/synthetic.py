"""Synthetic action videos: classed motions that need temporal modelling, with captions.

Torch-free (numpy + PyAV). Each clip shows one main object doing one motion (moving in a
direction, rotating one way, growing, shrinking, blinking, bouncing) over a random background,
with random colours, shapes, sizes, speeds, distractor shapes and sensor noise. A single frame
never tells the class: direction, rotation sense and growth only show across frames.

``difficulty`` in [0, 1] scales the nuisances: more and moving distractors, textured
backgrounds, lower contrast, more noise, slower motions and a small drift of the main object
in the classes where motion is not the label.

Public API: ``MOTION_CLASSES``, ``CLASS_NAMES``, ``get_class``, ``render_clip`` (and
``render_clip_meta`` + ``make_caption``), ``write_video``, ``generate_dataset``. Tests and the demo make datasets with it in seconds; same seed, same videos.
"""

from __future__ import annotations

import json
import math
import os
from fractions import Fraction
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from levil_edge.errors import UsageError
from levil_edge.utils.io import atomic_path, atomic_write_text

CAPTION_MODEL = "synthetic-template"


@dataclass(frozen=True)
class MotionClass:
    """One motion class: ``name`` is the label (folder name, labels.txt line);
    ``phrases`` are (present tense, gerund) verb phrases used in captions."""

    name: str
    phrases: tuple[tuple[str, str], ...]

    @property
    def text(self) -> str:
        """Short human-readable form, e.g. ``moving to the left``."""
        return self.phrases[0][1]

    @property
    def prompt(self) -> str:
        """Zero-shot prompt in the style of the generator's captions."""
        return f"a video of something {self.text}"


def _dir(word: str, adverb: str, span: str, verbs: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    # Verbs vary per class so no single verb covers more than a quarter of the captions
    # (the vocab's max_df filter would drop it).
    return (
        (f"moves to the {word}", f"moving to the {word}"),
        *((f"{p} {adverb}", f"{g} {adverb}") for p, g in verbs),
        (f"travels from {span}", f"traveling from {span}"),
    )


MOTION_CLASSES: tuple[MotionClass, ...] = (
    MotionClass("move_left", _dir("left", "leftward", "right to left", [("slides", "sliding"), ("drifts", "drifting")])),
    MotionClass("move_right", _dir("right", "rightward", "left to right", [("slides", "sliding"), ("glides", "gliding")])),
    MotionClass("move_up", (("moves up", "moving up"), ("rises", "rising"), ("floats upward", "floating upward"),
                            ("climbs upward", "climbing upward"), ("travels from bottom to top", "traveling from bottom to top"))),
    MotionClass("move_down", (("moves down", "moving down"), ("falls", "falling"), ("sinks", "sinking"),
                              ("drops downward", "dropping downward"), ("travels from top to bottom", "traveling from top to bottom"))),
    MotionClass("rotate_clockwise", (("rotates clockwise", "rotating clockwise"), ("spins clockwise", "spinning clockwise"),
                                     ("turns clockwise", "turning clockwise"))),
    MotionClass("rotate_counterclockwise", (("rotates counterclockwise", "rotating counterclockwise"),
                                            ("spins anticlockwise", "spinning anticlockwise"),
                                            ("turns counterclockwise", "turning counterclockwise"))),
    MotionClass("grow", (("grows", "growing"), ("expands", "expanding"), ("gets bigger", "getting bigger"),
                         ("inflates", "inflating"))),
    MotionClass("shrink", (("shrinks", "shrinking"), ("contracts", "contracting"), ("gets smaller", "getting smaller"),
                           ("deflates", "deflating"))),
    MotionClass("blink", (("blinks", "blinking"), ("flashes on and off", "flashing on and off"),
                          ("flickers", "flickering"))),
    MotionClass("bounce", (("bounces", "bouncing"), ("bounces up and down", "bouncing up and down"),
                           ("hops", "hopping"))),
)
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in MOTION_CLASSES)
_BY_NAME = {c.name: c for c in MOTION_CLASSES}

# Named colours: the caption may name the colour, so colours are drawn from names.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 80, 220), "yellow": (235, 215, 40),
    "orange": (240, 140, 30), "purple": (140, 60, 190), "pink": (240, 120, 180), "cyan": (40, 200, 210),
    "white": (240, 240, 240), "black": (20, 20, 20), "brown": (130, 80, 40), "gray": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle", "rectangle", "diamond", "cross")
_ROTATING_SHAPES = ("square", "triangle", "rectangle", "cross")  # a circle shows no rotation
GENERIC_SUBJECTS = ("an object", "a shape", "something", "a thing", "an item", "a figure", "a blob")


def get_class(name: str) -> MotionClass:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UsageError(f"unknown synthetic class {name!r}; choose from: {', '.join(CLASS_NAMES)}") from None


# ----------------------------------------------------------------------------- shapes
def _polygon_sdf(px: np.ndarray, py: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Signed distance-like field of a convex polygon (negative inside); verts (V, 2) clockwise
    or counter-clockwise. Max over the edges' outward half-plane distances."""
    c = verts.mean(0)
    d = np.full(px.shape, -np.inf, dtype=np.float32)
    for i in range(len(verts)):
        a, b = verts[i], verts[(i + 1) % len(verts)]
        n = np.array([b[1] - a[1], a[0] - b[0]], dtype=np.float32)
        n /= np.linalg.norm(n) + 1e-9
        if np.dot(n, c - a) > 0:  # make the normal point outwards
            n = -n
        d = np.maximum(d, (px - a[0]) * n[0] + (py - a[1]) * n[1])
    return d


def _rot(pts: np.ndarray, angle: float) -> np.ndarray:
    # Image coordinates (y down): a growing angle turns the shape clockwise on screen.
    c, s = math.cos(angle), math.sin(angle)
    return pts @ np.array([[c, s], [-s, c]], dtype=np.float32)


_UNIT = {
    "square": np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32) * 0.8,
    "triangle": np.array([[0, -1.1], [0.95, 0.65], [-0.95, 0.65]], np.float32),
    "rectangle": np.array([[-1.2, -0.5], [1.2, -0.5], [1.2, 0.5], [-1.2, 0.5]], np.float32),
    "diamond": np.array([[0, -1.1], [0.8, 0], [0, 1.1], [-0.8, 0]], np.float32),
}
_CROSS_ARMS = (np.array([[-1.1, -0.35], [1.1, -0.35], [1.1, 0.35], [-1.1, 0.35]], np.float32),
               np.array([[-0.35, -1.1], [0.35, -1.1], [0.35, 1.1], [-0.35, 1.1]], np.float32))


def shape_alpha(shape: str, cx: float, cy: float, radius: float, angle: float, grid: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Anti-aliased coverage (H, W) in [0, 1] of a shape centred at (cx, cy), pixels."""
    px, py = grid
    if radius <= 0.05:
        return np.zeros(px.shape, np.float32)
    if shape == "circle":
        d = np.sqrt((px - cx) ** 2 + (py - cy) ** 2) - radius
    elif shape == "cross":
        d = np.minimum(*(_polygon_sdf(px, py, _rot(a, angle) * radius + (cx, cy)) for a in _CROSS_ARMS))
    else:
        d = _polygon_sdf(px, py, _rot(_UNIT[shape], angle) * radius + (cx, cy))
    return np.clip(0.5 - d, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------- scene
def _pick_colour(rng: np.random.Generator, avoid: Iterable[str] = ()) -> tuple[str, np.ndarray]:
    names = [n for n in COLOURS if n not in set(avoid)]
    name = names[rng.integers(len(names))]
    rgb = np.array(COLOURS[name], np.float32) + rng.normal(0, 12, 3)  # jitter within the name
    return name, np.clip(rgb, 0, 255)


def _background(rng: np.random.Generator, size: int, difficulty: float, avoid: str,
                object_rgb: np.ndarray | None = None) -> tuple[str, np.ndarray]:
    """(H, W, 3) float32 background: flat, gradient or (harder) blotchy texture. Its base colour
    keeps a minimum distance from ``object_rgb`` (smaller when harder): the main object must stay
    visible, or the clip's label would be noise."""
    min_dist = 150.0 - 60.0 * difficulty
    for _ in range(50):
        name, base = _pick_colour(rng, avoid=[avoid])
        base = 0.55 * base + 0.45 * rng.uniform(60, 200, 3)  # muted so the object stands out
        if object_rgb is None or np.linalg.norm(base - object_rgb) >= min_dist:
            break
    img = np.broadcast_to(base, (size, size, 3)).astype(np.float32).copy()
    kind = rng.choice(["flat", "gradient", "texture"], p=[0.5 - 0.3 * difficulty, 0.3, 0.2 + 0.3 * difficulty])
    if kind == "gradient":
        ramp = np.linspace(-1, 1, size, dtype=np.float32)
        ramp = ramp[:, None] if rng.random() < 0.5 else ramp[None, :]
        img += (ramp * rng.uniform(15, 45))[..., None]
    elif kind == "texture":
        # Mostly luminance blotches with a little colour, bilinearly upsampled from 6x6.
        coarse = rng.normal(0, 1, (6, 6, 1)) + 0.3 * rng.normal(0, 1, (6, 6, 3))
        img += _upsample(coarse.astype(np.float32), size) * (6 + 14 * difficulty)
    return name, img


def _upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of a small (h, w, C) grid to (size, size, C)."""
    h, w = grid.shape[:2]
    ys, xs = np.linspace(0, h - 1, size), np.linspace(0, w - 1, size)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x1] * fx
    bottom = grid[y1][:, x0] * (1 - fx) + grid[y1][:, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


@dataclass
class _Track:
    """Per-frame state of one object: centre, radius, angle, visibility (arrays of length T)."""

    x: np.ndarray
    y: np.ndarray
    r: np.ndarray
    a: np.ndarray
    on: np.ndarray


def _main_track(cls: str, rng: np.random.Generator, t: int, size: int, difficulty: float) -> _Track:
    s = float(size)
    u = np.linspace(0.0, 1.0, t, dtype=np.float32)  # normalised time
    r0 = s * rng.uniform(0.09, 0.15)
    x = np.full(t, s * rng.uniform(0.35, 0.65), np.float32)
    y = np.full(t, s * rng.uniform(0.35, 0.65), np.float32)
    r = np.full(t, r0, np.float32)
    a = np.full(t, rng.uniform(0, 2 * math.pi), np.float32)
    on = np.ones(t, np.float32)
    # Harder clips move less, so the motion is subtler.
    travel = s * rng.uniform(0.35, 0.6) * (1.0 - 0.35 * difficulty)
    if cls.startswith("move_"):
        axis, sign = {"move_left": (0, -1), "move_right": (0, 1), "move_up": (1, -1), "move_down": (1, 1)}[cls]
        path = s / 2 + sign * (u - 0.5) * travel + rng.uniform(-0.1, 0.1) * s
        (x, y)[axis][:] = path
    elif cls.startswith("rotate_"):
        sign = 1.0 if cls == "rotate_clockwise" else -1.0
        # Under 40 degrees per frame: a square (90-degree symmetry) cannot alias into the other sense.
        step = math.radians(rng.uniform(10, 28) * (1.0 - 0.3 * difficulty))
        a = a + sign * step * np.arange(t, dtype=np.float32)
        r = r * 1.25
    elif cls in ("grow", "shrink"):
        k = rng.uniform(1.8, 2.6) * (1.0 - 0.2 * difficulty) + 0.2 * difficulty
        small, big = r0 * 0.7, r0 * 0.7 * k
        r = (small + (big - small) * u) if cls == "grow" else (big - (big - small) * u)
    elif cls == "blink":
        period = int(rng.integers(2, max(3, min(6, t // 2)) + 1))
        phase = int(rng.integers(0, period * 2))
        on = ((np.arange(t) + phase) // period % 2 == 0).astype(np.float32)
        if on.all() or not on.any():  # guarantee at least one on->off change
            on[: t // 2] = 0.0
    elif cls == "bounce":
        floor = s * rng.uniform(0.7, 0.8)
        height = s * rng.uniform(0.3, 0.5) * (1.0 - 0.3 * difficulty)
        bounces = rng.uniform(1.0, 2.0)  # full hops within the clip: both directions show
        y = (floor - height * np.abs(np.sin(math.pi * bounces * u + rng.uniform(0, math.pi)))).astype(np.float32)
        x = x + (u - 0.5) * s * rng.uniform(-0.15, 0.15)
    else:
        raise UsageError(f"unknown synthetic class {cls!r}; choose from: {', '.join(CLASS_NAMES)}")
    if not cls.startswith("move_") and cls != "bounce" and difficulty > 0:
        # A slow drift: "something moves" must not be the whole answer for the other classes.
        drift = s * 0.12 * difficulty * rng.uniform(-1, 1, 2)
        x, y = x + (u - 0.5) * drift[0], y + (u - 0.5) * drift[1]
    return _Track(x.astype(np.float32), y.astype(np.float32), r.astype(np.float32), a.astype(np.float32), on)


def _distractor_track(rng: np.random.Generator, t: int, size: int, difficulty: float) -> _Track:
    s = float(size)
    u = np.linspace(0.0, 1.0, t, dtype=np.float32)
    # Smaller than the main object; they wander at harder settings (any direction).
    v = s * 0.25 * difficulty * rng.uniform(-1, 1, 2)
    x = s * rng.uniform(0.1, 0.9) + (u - 0.5) * v[0]
    y = s * rng.uniform(0.1, 0.9) + (u - 0.5) * v[1]
    r = np.full(t, s * rng.uniform(0.04, 0.07), np.float32)
    a = rng.uniform(0, 2 * math.pi) + u * rng.uniform(-1, 1) * difficulty
    return _Track(x, y, r, a.astype(np.float32), np.ones(t, np.float32))


def make_caption(cls: str, rng: np.random.Generator, meta: dict | None = None) -> str:
    """A template caption for class ``cls``. ``meta`` (from ``render_clip_meta``) lets it name
    the clip's colour, shape and background; without it the subject is always generic."""
    mc = get_class(cls)
    meta = meta or {}
    present, gerund = mc.phrases[rng.integers(len(mc.phrases))]
    # Generic subjects most of the time: colour and shape words alone must not solve the
    # caption-matching task, the motion has to.
    r = rng.random()
    if r < 0.55 or "shape" not in meta:
        subject = GENERIC_SUBJECTS[rng.integers(len(GENERIC_SUBJECTS))]
    elif r < 0.8:
        subject = f"{meta['colour']} {meta['shape']}"
    else:
        subject = meta["shape"]
    if not subject.startswith(GENERIC_SUBJECTS):
        subject = ("an " if subject[0] in "aeiou" else "a ") + subject
    text = f"a video of {subject} {gerund}" if rng.random() < 0.35 else f"{subject} {present}"
    if "background" in meta and rng.random() < 0.3:
        text += f" on a {meta['background']} background"
    elif meta.get("distractors") and rng.random() < 0.3:
        text += " among other shapes"
    return text[0].upper() + text[1:] + "."


def render_clip_meta(
    cls: str,
    rng: np.random.Generator,
    frames: int = 16,
    size: int = 64,
    difficulty: float = 0.3,
) -> tuple[np.ndarray, dict]:
    """Like ``render_clip`` but returns (uint8 (T, H, W, 3), meta) with the clip's ``class``,
    ``colour``, ``shape``, ``background`` (colour name) and number of ``distractors``, so a
    caller can write its own captions (``make_caption``)."""
    if frames < 4 or size < 16:
        raise UsageError(f"synthetic clips need at least 4 frames of 16x16 (got {frames} of {size}x{size})")
    if not 0.0 <= difficulty <= 1.0:
        raise UsageError(f"difficulty must be in [0, 1] (got {difficulty})")
    get_class(cls)
    colour, rgb = _pick_colour(rng)
    shape_pool = _ROTATING_SHAPES if cls.startswith("rotate_") else SHAPES
    shape = shape_pool[rng.integers(len(shape_pool))]
    bg_name, bg = _background(rng, size, difficulty, avoid=colour, object_rgb=rgb)
    main = _main_track(cls, rng, frames, size, difficulty)
    n_distract = int(rng.integers(0, 1 + round(3 * difficulty) + (rng.random() < 0.3)))
    distractors = [
        (SHAPES[rng.integers(len(SHAPES))], _pick_colour(rng)[1], _distractor_track(rng, frames, size, difficulty))
        for _ in range(n_distract)
    ]
    noise = 2.0 + 14.0 * difficulty
    flicker = rng.uniform(-1, 1, frames) * 8.0 * difficulty  # global brightness jitter
    grid = np.meshgrid(np.arange(size, dtype=np.float32) + 0.5, np.arange(size, dtype=np.float32) + 0.5)

    out = np.empty((frames, size, size, 3), np.uint8)
    for i in range(frames):
        img = bg.copy()  # (H, W, 3)
        for dshape, drgb, tr in distractors:
            alpha = shape_alpha(dshape, tr.x[i], tr.y[i], tr.r[i], tr.a[i], grid)[..., None]
            img = img * (1 - alpha) + drgb * alpha
        if main.on[i] > 0:
            alpha = shape_alpha(shape, main.x[i], main.y[i], main.r[i], main.a[i], grid)[..., None]
            img = img * (1 - alpha) + rgb * alpha
        img = img + flicker[i] + rng.normal(0.0, noise, img.shape).astype(np.float32)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    meta = {"class": cls, "colour": colour, "shape": shape, "background": bg_name, "distractors": n_distract}
    return out, meta


def render_clip(
    cls: str,
    rng: np.random.Generator,
    frames: int = 16,
    size: int = 64,
    difficulty: float = 0.3,
) -> tuple[np.ndarray, str]:
    """Render one clip of motion class ``cls``.

    Returns (uint8 (T, H, W, 3) frames, caption). All randomness comes from ``rng``."""
    clip, meta = render_clip_meta(cls, rng, frames, size, difficulty)
    return clip, make_caption(cls, rng, meta)


# ----------------------------------------------------------------------------- files
def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 10, crf: int = 18) -> Path:
    """Write uint8 (T, H, W, 3) RGB frames as H.264 (yuv420p) MP4, atomically."""
    import av  # PyAV: a core dependency, imported lazily to keep module import cheap

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise UsageError(f"write_video needs uint8 frames of shape (T, H, W, 3), got {frames.dtype} {frames.shape}")
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise UsageError(f"H.264 yuv420p needs even width and height, got {w}x{h}: resize or crop by one pixel")
    path = Path(path)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            # The same frames must give the same bytes (deterministic datasets). One thread is not
            # enough: x264's lookahead (B-frame placement, scene cuts, MB-tree) gave different
            # bitstreams for the same 64 px frames on a busy machine; without it, 12 of 12 runs under
            # load matched.
            stream = container.add_stream("libx264", rate=fps, options={
                "crf": str(crf), "preset": "veryfast", "threads": "1",
                "x264-params": "bframes=0:scenecut=0:rc-lookahead=0:mbtree=0:sync-lookahead=0"})
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            for i, arr in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
                # Explicit timestamps (frame i at i / fps), so the muxer never has to guess them.
                frame.pts, frame.time_base = i, Fraction(1, fps)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
    return path


def _clip_rng(seed: int, class_index: int, video_index: int) -> np.random.Generator:
    # One generator per video: adding videos or classes never changes the earlier ones.
    return np.random.default_rng([seed, class_index, video_index])


def generate_dataset(
    out_dir: str | os.PathLike,
    classes: Sequence[str] | None = None,
    videos_per_class: int = 8,
    frames: int = 16,
    size: int = 64,
    seed: int = 0,
    layout: str = "folders",
    difficulty: float = 0.3,
    fps: int = 10,
    progress: bool = False,
) -> list[dict]:
    """Render and write a dataset; return one record per video:
    ``{"path", "label", "class", "caption"}`` (label = index into ``classes``).

    ``layout="folders"``: ``out_dir/<class>/<class>_NNNN.mp4`` (a class-folder dataset spec).
    ``layout="flat"``: ``out_dir/video_NNNNN.mp4`` with neutral, shuffled names (an unlabeled pool);
    the ground truth goes to ``annotations.txt`` (``relative/path label_index`` lines).
    Both layouts write ``labels.txt`` (class names in index order) and ``captions.jsonl``
    (``{"path", "caption", "model": "synthetic-template", "frames"}``, absolute paths).
    Deterministic for a seed."""
    names = list(classes) if classes is not None else list(CLASS_NAMES)
    for n in names:
        get_class(n)
    if len(set(names)) != len(names) or not names:
        raise UsageError("classes must be a non-empty list of distinct synthetic class names")
    if layout not in ("folders", "flat"):
        raise UsageError(f"layout must be 'folders' or 'flat', got {layout!r}")
    if videos_per_class < 1:
        raise UsageError(f"videos_per_class must be >= 1, got {videos_per_class}")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)

    jobs = [(ci, vi) for ci in range(len(names)) for vi in range(videos_per_class)]
    if layout == "flat":  # shuffled so file order does not reveal the class
        order = np.random.default_rng([seed, 7919]).permutation(len(jobs))
        jobs = [jobs[k] for k in order]
    iterator: Iterable = jobs
    if progress:
        from levil_edge.utils.progress import track

        iterator = track(jobs, description=f"rendering {len(jobs)} clips")

    records = []
    for k, (ci, vi) in enumerate(iterator):
        name = names[ci]
        clip, caption = render_clip(name, _clip_rng(seed, CLASS_NAMES.index(name), vi), frames, size, difficulty)
        rel = f"{name}/{name}_{vi:04d}.mp4" if layout == "folders" else f"video_{k:05d}.mp4"
        path = write_video(root / rel, clip, fps=fps)
        records.append({"path": str(path.resolve()), "label": ci, "class": name, "caption": caption, "rel": rel})

    atomic_write_text(root / "labels.txt", "".join(f"{n}\n" for n in names))
    atomic_write_text(
        root / "captions.jsonl",
        "".join(json.dumps({"path": r["path"], "caption": r["caption"], "model": CAPTION_MODEL, "frames": frames}) + "\n"
                for r in records),
    )
    if layout == "flat":
        atomic_write_text(root / "annotations.txt", "".join(f"{r['rel']} {r['label']}\n" for r in records))
    return records
