"""Caption a dataset into captions.jsonl: resumable, shardable, bad videos never fatal.

Each captioned video appends one line ``{"path", "caption", "model", "prompt", "frames"}`` and
fsyncs it, so an interrupted run loses at most the batch in flight and a re-run skips every path
already in the file. Videos that cannot be decoded go to ``<out stem>.errors.jsonl`` (path and
error) and are retried on the next run. ``shard=(i, n)`` (0-based i) takes the videos whose path
hashes to i modulo n (a stable hash, so adding videos to the dataset never moves the others to
another shard), so n machines can caption one dataset; give each its own ``--out`` and
concatenate the files (``vocab`` drops a path seen twice).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from levil_edge.captioning.base import DEFAULT_FRAMES, DEFAULT_MAX_NEW_TOKENS, DEFAULT_PROMPT, Captioner
from levil_edge.errors import UsageError
from levil_edge.utils.io import append_jsonl, ensure_writable, read_jsonl
from levil_edge.utils.shards import parse_shard, shard_of  # noqa: F401 - parse_shard: part of this module's API


NUM_SAMPLES = 3


@dataclass
class CaptionReport:
    out: Path
    errors_file: Path
    model: str
    videos: int = 0  # in the dataset
    missing: int = 0  # listed by the spec but not on disk (dropped by load_spec)
    in_shard: int = 0
    already_done: int = 0  # skipped: already in the output file
    captioned: int = 0
    failed: int = 0
    empty: int = 0  # captions the model returned empty
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    samples: list[tuple[str, str]] = field(default_factory=list)  # the first few (path, caption) written

    @property
    def videos_per_s(self) -> float:
        return self.captioned / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "out": str(self.out), "errors_file": str(self.errors_file), "model": self.model,
            "videos": self.videos, "missing": self.missing, "in_shard": self.in_shard,
            "already_done": self.already_done,
            "captioned": self.captioned, "failed": self.failed, "empty": self.empty,
            "seconds": round(self.seconds, 3), "videos_per_s": round(self.videos_per_s, 4),
            "failures": [{"path": p, "error": e} for p, e in self.failures],
            "samples": [{"path": p, "caption": c} for p, c in self.samples],
        }


def select_shard(paths: Sequence[str], shard: tuple[int, int]) -> list[str]:
    i, n = shard
    return list(paths) if n == 1 else [p for p in paths if shard_of(p, n) == i]


def errors_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".errors.jsonl")


def done_paths(out: str | Path) -> set[str]:
    """Paths already captioned in ``out`` (broken lines, e.g. a line cut by a crash, are ignored)."""
    if not Path(out).is_file():
        return set()
    records, _ = read_jsonl(out)
    return {r["path"] for r in records if isinstance(r.get("path"), str) and isinstance(r.get("caption"), str)}


def end_with_newline(out: Path) -> None:
    """A crash can leave a half-written last line; start the next record on a fresh line so only
    that one record is lost (it is re-captioned, since its path is not in the file)."""
    if not out.is_file() or out.stat().st_size == 0:
        return
    with open(out, "rb+") as f:
        f.seek(-1, 2)
        if f.read(1) != b"\n":
            f.write(b"\n")


def _read_video(path: str, frames: int, size: int | None, decoder, timing: bool):
    """uint8 (N, H, W, 3) frames, and (if ``timing``) the metadata Qwen-VL wants."""
    from levil_edge.data.clips import load_uniform_frames

    clip = load_uniform_frames(path, frames, size=size, decoder=decoder)
    if not timing:
        return clip, None
    from levil_edge.data.sampling import uniform_indices

    info = decoder.probe(path)
    idx = uniform_indices(info.num_frames, frames)  # the same indices load_uniform_frames read
    return clip, {"total_num_frames": info.num_frames, "fps": info.fps or None, "frames_indices": idx.tolist()}


def caption_paths(
    paths: Sequence[str],
    captioner: Captioner | Callable[[], Captioner],
    out: str | Path,
    prompt: str = DEFAULT_PROMPT,
    frames: int = DEFAULT_FRAMES,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    batch_size: int = 1,
    shard: tuple[int, int] = (0, 1),
    decoder: str = "auto",
    frame_size: int | None = None,
    limit: int | None = None,
) -> CaptionReport:
    """Caption ``paths`` (this shard's, not yet in ``out``) into ``out``. ``captioner`` may be a
    zero-argument factory: it is then only called when something is left to caption."""
    from levil_edge.data.decoders import get_decoder

    if frames < 1 or batch_size < 1 or max_new_tokens < 1:
        raise UsageError("--frames, --batch-size and --max-new-tokens must be >= 1")
    out = ensure_writable(out, "file")  # before the captioner loads
    mine = select_shard(list(paths), shard)
    done = done_paths(out)
    pending = [p for p in mine if p not in done]
    todo = pending if limit is None else pending[:limit]
    report = CaptionReport(out=out, errors_file=errors_path(out), model=getattr(captioner, "id", ""),
                           videos=len(paths), in_shard=len(mine), already_done=len(mine) - len(pending))
    if not todo:
        return report
    if not isinstance(captioner, Captioner):
        captioner = captioner()
    report.model = captioner.id
    end_with_newline(out)
    dec = get_decoder(decoder)
    size = frame_size if frame_size is not None else captioner.frame_size
    start = time.perf_counter()
    _caption_loop(todo, captioner, dec, report, prompt, frames, max_new_tokens, batch_size, size)
    report.seconds = time.perf_counter() - start
    return report


def _caption_loop(todo, captioner, dec, report, prompt, frames, max_new_tokens, batch_size, size) -> None:
    from rich.progress import TextColumn

    from levil_edge.utils.progress import progress_bar

    with progress_bar(TextColumn("{task.fields[rate]}")) as bar:
        task = bar.add_task("captioning", total=len(todo), rate="")
        t0 = time.perf_counter()
        for b in range(0, len(todo), batch_size):
            batch = todo[b : b + batch_size]
            clips, metas, ok = _decode_batch(batch, captioner, dec, report, frames, size)
            if ok:
                kwargs = {"metas": metas} if captioner.wants_timing else {}
                texts = captioner.caption(clips, prompt=prompt, max_new_tokens=max_new_tokens, **kwargs)
                for path, text in zip(ok, texts, strict=True):
                    append_jsonl(report.out, {"path": path, "caption": text, "model": captioner.id,
                                              "prompt": prompt, "frames": frames})
                    report.captioned += 1
                    report.empty += not text
                    if len(report.samples) < NUM_SAMPLES:
                        report.samples.append((path, text))
            bar.advance(task, len(batch))
            done = report.captioned
            bar.update(task, rate=f"{done / (time.perf_counter() - t0):.2f} videos/s" if done else "")


def _decode_batch(batch, captioner, dec, report, frames, size):
    clips, metas, ok = [], [], []
    for path in batch:
        try:
            clip, meta = _read_video(path, frames, size, dec, captioner.wants_timing)
        except Exception as exc:  # noqa: BLE001 - a bad video is reported and counted, never fatal
            msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            report.failed += 1
            report.failures.append((path, msg))
            append_jsonl(report.errors_file, {"path": path, "error": msg})
            continue
        clips.append(clip)
        metas.append(meta)
        ok.append(path)
    return clips, metas, ok


def caption_dataset(
    spec: str | Path,
    model: str,
    out: str | Path,
    root: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
    **kwargs,
) -> CaptionReport:
    """Caption every video of a dataset spec (see ``levil_edge.data.specs``) with ``model``.
    The model is loaded only when some video of this shard is not captioned yet."""
    from levil_edge.captioning.factory import load_captioner
    from levil_edge.data.specs import load_spec

    spec = load_spec(spec, root=root)
    paths = [str(it.path) for it in spec.items]

    def factory() -> Captioner:
        return load_captioner(model, device=device, dtype=dtype, trust_remote_code=trust_remote_code)

    report = caption_paths(paths, factory, out, **kwargs)
    report.model = report.model or model
    report.missing = len(spec.missing)
    return report
