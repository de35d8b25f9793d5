"""Build the pseudo-label vocabulary from captions (LEViL stage A).

parse (parse.py) -> aggregate over captions -> document-frequency filters (min_df, max_df)
-> stop list -> optional merge of near-duplicates (merge.py) -> order (df desc, then name).

Definitions written into vocab.json:
- df: number of captions that contain the label at least once.
- tfidf: mean over captions of tf * idf, with tf = occurrences in the caption and the smoothed
  idf = ln((1 + N) / (1 + df)) + 1 (scikit-learn's default), N = number of captions.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from levil_edge.errors import UsageError, VocabError

STOPLIST_PATH = Path(__file__).with_name("stoplist.txt")
NUM_EXAMPLES = 3


@dataclass
class LabelInfo:
    kind: str  # "verb" | "object" | "pair"
    df: int
    tfidf: float
    examples: list[str]
    members: list[str] = field(default_factory=list)  # labels merged into this one (merge_similar)


@dataclass
class Vocab:
    """The pseudo-label vocabulary; ``labels`` is the order of the student head."""

    labels: list[str]
    info: dict[str, LabelInfo]
    stats: dict

    def __len__(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict:
        return {
            "labels": self.labels,
            "info": {k: asdict(self.info[k]) for k in self.labels},
            "stats": self.stats,
        }

    def save(self, out_txt: str | Path, chart: bool = True, top: int = 30) -> dict[str, Path]:
        """Write vocab.txt, vocab.json beside it and (optionally) a PNG chart of the top labels."""
        from levil_edge.utils.io import atomic_write_json, atomic_write_text

        out_txt = check_out_path(out_txt)
        paths = {"txt": out_txt, "json": out_txt.with_suffix(".json")}
        atomic_write_text(out_txt, "".join(f"{label}\n" for label in self.labels))
        atomic_write_json(paths["json"], self.to_dict())
        if chart and self.labels:
            from levil_edge.utils.plots import bar_chart

            paths["png"] = out_txt.with_suffix(".png")
            shown = self.labels[:top]
            bar_chart(paths["png"], {k: self.info[k].df for k in shown},
                      title=f"top {len(shown)} of {len(self)} pseudo-labels", xlabel="captions (df)")
        return paths

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        """Load vocab.json (or the vocab.json beside a vocab.txt)."""
        path = Path(path)
        if path.suffix != ".json":
            path = path.with_suffix(".json")
        data = json.loads(path.read_text(encoding="utf-8"))
        info = {k: LabelInfo(**v) for k, v in data["info"].items()}
        return cls(labels=list(data["labels"]), info=info, stats=dict(data.get("stats", {})))


def check_out_path(out_txt: str | Path) -> Path:
    """Refuse an --out that is not a labels file or cannot be written (before parsing captions)."""
    from levil_edge.utils.io import ensure_writable

    out_txt = Path(out_txt)
    if out_txt.suffix.lower() in (".json", ".png"):
        raise UsageError(f"--out is the labels file (e.g. vocab.txt), got {out_txt.name}; "
                         "vocab.json and vocab.png are written beside it")
    return ensure_writable(out_txt, "file")


def load_stoplist(path: str | Path | None = None) -> set[str]:
    """Read a stop list (one term per line, '#' comments). None: the shipped list."""
    path = Path(path) if path is not None else STOPLIST_PATH
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(
            f"cannot read the stop list {path}: {exc.strerror}; pass an existing file to --stoplist"
        ) from exc
    return {ln.split("#", 1)[0].strip().lower() for ln in lines} - {""}


@dataclass
class _Candidate:
    kind: str
    parts: tuple[str, ...]  # (verb, object) for pairs, (label,) otherwise
    docs: set[int] = field(default_factory=set)
    tf: int = 0


def aggregate(parsed: Iterable) -> tuple[dict[str, _Candidate], int]:
    """Count document and term frequencies over parsed captions; returns (candidates, N)."""
    cands: dict[str, _Candidate] = {}
    n = 0
    for i, pc in enumerate(parsed):
        n += 1
        kinds = pc.labels()
        pair_parts = {f"{v} {o}": (v, o) for v, o in pc.pairs}
        for label, tf in pc.counts().items():
            kind = kinds[label]
            cand = cands.get(label)
            if cand is None:
                cand = cands[label] = _Candidate(kind, pair_parts.get(label, (label,)))
            elif kind == "verb" and cand.kind == "object":
                cand.kind, cand.parts = "verb", (label,)  # same rule as ParsedCaption.labels
            cand.docs.add(i)
            cand.tf += tf
    return cands, n


def max_df_count(max_df: float, n: int) -> int:
    """The most captions a label may be in under ``max_df`` (inclusive). The tolerance absorbs float
    error: 0.29 * 100 is 28.999..., and --max-df 0.29 must keep a label in 29 of 100 captions."""
    return math.floor(max_df * n + 1e-6)


def max_df_keeps(df: int, max_df: float, n: int) -> bool:
    """Does --max-df ``max_df`` keep a label in ``df`` of ``n`` captions? (The filter and its advice.)"""
    return df <= max_df_count(max_df, n)


def smallest_max_df(df: int, n: int) -> float:
    """The smallest 2-decimal --max-df that keeps a label in ``df`` of ``n`` captions."""
    return -(-df * 100 // n) / 100  # ceil(100 * df / n) in integers: no float error


def _not_stopped(key: str, cand: _Candidate, stop: set[str]) -> bool:
    """The stop-list filter: a pair goes when its verb or its object is a stop term ("show person")."""
    return key not in stop and not any(p in stop for p in cand.parts)


def _apply_filters(cands: dict[str, _Candidate], n: int, min_df: int, max_df: float,
                   stop: set[str]) -> tuple[dict[str, _Candidate], dict[str, int], str | None]:
    """Run the filters in order; return (kept, removed per filter, first filter that emptied it)."""
    steps = (
        ("min_df", lambda k, c: len(c.docs) >= min_df),
        ("max_df", lambda k, c: max_df_keeps(len(c.docs), max_df, n)),
        ("stoplist", lambda k, c: _not_stopped(k, c, stop)),
    )
    removed, emptied_by = {}, None
    kept = cands
    for name, keep in steps:
        before = len(kept)
        kept = {k: c for k, c in kept.items() if keep(k, c)}
        removed[name] = before - len(kept)
        if before and not kept and emptied_by is None:
            emptied_by = name
    return kept, removed, emptied_by


def _empty_message(name: str | None, cands: dict[str, _Candidate], n: int, min_df: int, max_df: float,
                   stop: set[str]) -> str:
    if name is None:
        return (f"no action candidates (verbs) found in {n} captions; check that the captions file "
                "holds English sentences in a 'caption' field")
    top = max(len(c.docs) for c in cands.values())
    if name == "min_df":
        return (f"the vocabulary is empty: --min-df {min_df} removed all {len(cands)} candidates (the most "
                f"frequent is in {top} of {n} captions); lower --min-df or caption more videos")
    if name == "max_df":
        return _max_df_message(cands, n, min_df, max_df, stop)
    return "the vocabulary is empty: the stop list removed every candidate left; pass a shorter --stoplist"


def _max_df_message(cands: dict[str, _Candidate], n: int, min_df: int, max_df: float, stop: set[str]) -> str:
    """Empty after --max-df: say which document frequencies the candidates had and which
    --max-df keeps them (small caption sets: with 30 captions, 0.25 means "in at most 7")."""
    head = (f"the vocabulary is empty: --max-df {max_df} keeps labels in at most {max_df_count(max_df, n)} of {n} "
            "captions")
    left = [len(c.docs) for k, c in cands.items() if len(c.docs) >= min_df and _not_stopped(k, c, stop)]
    if not left:
        return head + ", and the stop list removes every label it would keep; pass a shorter --stoplist"
    lo, hi = min(left), max(left)
    keep = smallest_max_df(lo, n)
    kept = sum(max_df_keeps(df, keep, n) for df in left)
    spread = f"{lo} captions ({lo / n:.0%})" if lo == hi else f"{lo} to {hi} captions ({lo / n:.0%} to {hi / n:.0%})"
    advice = (f"--max-df {keep:g} keeps all {kept}" if kept == len(left)
              else f"--max-df {keep:g} keeps {kept}, --max-df {smallest_max_df(hi, n):g} keeps all")
    return f"{head}, but the {len(left)} candidates are each in {spread}: {advice} (or caption more videos)"


def _examples(docs: set[int], captions: Sequence[str]) -> list[str]:
    return [captions[i] for i in sorted(docs)[:NUM_EXAMPLES]]


def _tfidf(tf: int, df: int, n: int) -> float:
    return round(tf / n * (math.log((1 + n) / (1 + df)) + 1.0), 6)


def _options(min_df: int, max_df: float, merge_similar: float | None, stoplist) -> dict:
    if stoplist is None:
        stop_name = "shipped"
    elif isinstance(stoplist, (str, Path)):
        stop_name = str(stoplist)
    else:
        stop_name = "custom"
    return {"min_df": min_df, "max_df": max_df, "merge_similar": merge_similar, "stoplist": stop_name}


def check_options(min_df: int, max_df: float, merge_similar: float | None) -> None:
    if min_df < 1:
        raise UsageError(f"--min-df must be a count of captions >= 1, got {min_df}")
    if not 0.0 < max_df <= 1.0:
        raise UsageError(f"--max-df is a fraction of captions in (0, 1], got {max_df}")
    if merge_similar is not None and not 0.0 < merge_similar <= 1.0:
        raise UsageError(f"--merge-similar is a cosine similarity in (0, 1], got {merge_similar}")


def build_vocab(
    captions: Sequence[str],
    min_df: int = 5,
    max_df: float = 0.25,
    stoplist: str | Path | Iterable[str] | None = None,
    merge_similar: float | None = None,
    spacy_model: str = "auto",
    extra_stats: dict | None = None,
) -> Vocab:
    """Captions -> pseudo-label Vocab (LEViL). ``stoplist``: a path, a set of terms, or None for
    the shipped list. ``merge_similar``: cosine threshold for merging near-duplicates (e.g. 0.85).
    Raises VocabError naming the filter to relax when nothing is left."""
    from levil_edge.vocab.parse import load_spacy, parse_captions

    check_options(min_df, max_df, merge_similar)
    captions = [str(c).strip() for c in captions]
    if stoplist is None or isinstance(stoplist, (str, Path)):
        stop = load_stoplist(stoplist)
    else:
        stop = {term.strip().lower() for term in stoplist}
    nlp = load_spacy(spacy_model)
    cands, n = aggregate(parse_captions(captions, spacy_model, total=len(captions)))
    kept, removed, emptied_by = _apply_filters(cands, n, min_df, max_df, stop)
    if not kept:
        raise VocabError(_empty_message(emptied_by, cands, n, min_df, max_df, stop))
    merged = {k: [] for k in kept}
    if merge_similar is not None:
        from levil_edge.vocab.merge import merge_candidates

        kept, merged = merge_candidates(kept, merge_similar)
    labels = sorted(kept, key=lambda k: (-len(kept[k].docs), k))
    info = {
        k: LabelInfo(kept[k].kind, len(kept[k].docs), _tfidf(kept[k].tf, len(kept[k].docs), n),
                     _examples(kept[k].docs, captions), merged.get(k, []))
        for k in labels
    }
    stats = {
        **(extra_stats or {}),
        "captions": n,
        "spacy_model": f"{nlp.meta.get('lang', '')}_{nlp.meta.get('name', '')}-{nlp.meta.get('version', '')}",
        "candidates": len(cands),
        **{f"removed_{k}": v for k, v in removed.items()},
        "merged": sum(len(m) for m in merged.values()),
        "final": len(labels),
        "kinds": {kind: sum(info[k].kind == kind for k in labels) for kind in ("verb", "object", "pair")},
        "options": _options(min_df, max_df, merge_similar, stoplist),
    }
    return Vocab(labels=labels, info=info, stats=stats)


def read_captions(paths: str | Path | Sequence[str | Path]) -> tuple[list[str], dict]:
    """Read captions JSONL files ({"path", "caption", ...} per line, from `levil-edge caption`,
    another VLM service or people), e.g. one per shard. Broken lines and records without a caption
    are skipped and counted; a second caption for the same video path is dropped (so overlapping
    shards or a file concatenated twice do not count twice)."""
    from levil_edge.utils.io import read_jsonl

    files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    captions, seen = [], set()
    stats = {"files": len(files), "lines_broken": 0, "records_without_caption": 0, "duplicate_paths": 0}
    for path in files:
        if not path.is_file():
            raise UsageError(f"captions file not found: {path}; create it with `levil-edge caption`")
        records, broken = read_jsonl(path)
        stats["lines_broken"] += broken
        for rec in records:
            text, key = rec.get("caption"), rec.get("path")
            if not isinstance(text, str) or not text.strip():
                stats["records_without_caption"] += 1
            elif key is not None and key in seen:
                stats["duplicate_paths"] += 1
            else:
                seen.add(key)
                captions.append(text.strip())
    return captions, stats


def vocab_from_file(path: str | Path | Sequence[str | Path], **kwargs) -> Vocab:
    """read_captions (one file or several) + build_vocab, with the reading counts in ``Vocab.stats``."""
    captions, stats = read_captions(path)
    if not captions:
        where = path if isinstance(path, (str, Path)) else ", ".join(map(str, path))
        raise VocabError(f"no usable captions in {where} ({stats['lines_broken']} broken lines, "
                         f"{stats['records_without_caption']} records without a 'caption'); check the file")
    return build_vocab(captions, extra_stats=stats, **kwargs)
