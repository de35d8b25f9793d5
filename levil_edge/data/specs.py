"""Dataset specs: one argument that names a set of videos (and maybe their labels). Torch-free.

``load_spec(spec, labels=None, root=None)`` accepts:

==============================  ===============================================================
spec                            meaning
==============================  ===============================================================
``videos/``                     class-folder tree ``videos/<class>/<video>`` (every video exactly
                                one folder deep) -> labeled; class order = ``labels.txt`` if given
                                (or found in the folder), else sorted folder names
``videos/`` (anything else)     flat folder of unlabeled videos, searched recursively
``clip.mp4``                    one video, unlabeled
``list.txt``                    ``path label`` lines (label 0-based index or class name; a line
                                with only a path is unlabeled; ``path num_frames label`` as in
                                MMAction lists works too). Relative paths are relative to the
                                list's folder. A ``labels.txt`` beside the list names the classes
                                (unless ``labels`` is given).
``list.csv``                    CSV with a ``path,label`` header (label index, name or empty); a
                                ``.csv`` of ``path label`` lines (SeFAR's lists) or of ``path,label``
                                rows without a header is read too
``ucfTrainTestlist/trainlist01.txt``  UCF101 official split (1-based labels via ``classInd.txt``
                                next to it; ``testlist`` lines take the class from the folder)
``ucfTrainTestlist/:1:train``   the same, by split number and ``train``/``test``
``hmdb51_splits/:1:train``      HMDB51 ``<class>_test_split1.txt`` files: 1 = train, 2 = test
                                (``:N:all`` keeps both); videos at ``ROOT/<class>/<name>``
==============================  ===============================================================

``root``: ``"OLD=NEW"`` replaces the path prefix OLD by NEW (SeFAR split files carry absolute
paths from another machine); a bare ``"NEW"`` joins relative paths to NEW, and for absolute paths
finds the shortest path tail that exists under NEW (``/data/ucf/UCF-101/Run/v.avi`` ->
``NEW/Run/v.avi``). For UCF101/HMDB51 splits ``root`` is the video folder.

Files that do not exist are dropped and listed in ``spec.missing`` (a warning, not a late crash);
a spec whose files are all missing raises ``DatasetError`` with a hint about ``--root``.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from levil_edge.errors import DatasetError

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoItem",
    "DatasetSpec",
    "load_spec",
    "read_labels",
    "find_videos",
    "RootRewriter",
]

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")

_UCF_LIST = re.compile(r"^(train|test)list(\d+)\.txt$", re.IGNORECASE)
_HMDB_FILE = re.compile(r"^(.+)_test_split(\d+)\.txt$")


@dataclass(frozen=True)
class VideoItem:
    """One video; ``label`` is an index into ``DatasetSpec.classes`` or None (unlabeled)."""

    path: str
    label: int | None = None


@dataclass
class DatasetSpec:
    items: list[VideoItem]
    classes: list[str] = field(default_factory=list)
    kind: str = "flat"  # folders | flat | file | list | csv | ucf101 | hmdb51
    source: str = ""
    missing: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def labeled(self) -> bool:
        """True when every item has a label."""
        return bool(self.items) and all(it.label is not None for it in self.items)

    @property
    def paths(self) -> list[str]:
        return [it.path for it in self.items]

    @property
    def labels(self) -> list[int | None]:
        return [it.label for it in self.items]

    def class_counts(self) -> dict[str, int]:
        counts = {c: 0 for c in self.classes}
        for it in self.items:
            if it.label is not None:
                counts[self.classes[it.label]] += 1
        return counts

    def summary(self) -> str:
        text = f"{len(self.items)} videos ({self.kind}), {self.num_classes} classes"
        if self.missing:
            text += f", {len(self.missing)} missing files dropped"
        return text


# ----------------------------------------------------------------------------- helpers
def is_video(path: str | Path) -> bool:
    return str(path).lower().endswith(VIDEO_EXTENSIONS)


def find_videos(folder: str | Path) -> list[Path]:
    """Every video file under ``folder`` (recursive, common extensions), sorted; hidden skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in filenames if is_video(f) and not f.startswith(".")]
    return sorted(found)


def read_labels(path: str | Path) -> list[str]:
    """Class names in index order: one name per line, or ``index name`` lines (``classInd.txt``,
    1- or 0-based; sorted by index)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"labels file {path} does not exist")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    indexed = [ln.split(maxsplit=1) for ln in lines]
    if lines and all(len(p) == 2 and p[0].isdigit() for p in indexed):
        names = [name.strip() for _, name in sorted(indexed, key=lambda p: int(p[0]))]
    else:
        names = lines
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DatasetError(f"{path}: duplicate class names {dup[:5]}; each class once per line")
    if not names:
        raise DatasetError(f"{path}: no class names; write one class name per line")
    return names


class RootRewriter:
    """Rewrite list-file paths: ``OLD=NEW`` prefix swap, or a bare ``NEW`` folder (see module doc)."""

    def __init__(self, root: str | None, base: Path):
        self.base = base  # folder that relative paths are relative to when no root is given
        self.old = self.new = None
        self._tail: int | None = None  # number of trailing components kept for absolute paths
        if root:
            if "=" in root:
                self.old, self.new = root.split("=", 1)
            else:
                self.new = root

    def __call__(self, path: str) -> str:
        if self.old is not None:
            if path.startswith(self.old):
                return self.new + path[len(self.old) :]
            return path
        p = Path(path)
        if self.new is None:
            return str(p if p.is_absolute() else self.base / p)
        if not p.is_absolute():
            return str(Path(self.new) / p)
        return str(self._rebase(p))

    def _rebase(self, p: Path) -> Path:
        parts = p.parts[1:]
        if self._tail is None:
            for k in range(1, len(parts) + 1):
                if (Path(self.new).joinpath(*parts[-k:])).exists():
                    self._tail = k  # decided on the first file that exists, then used for all
                    break
            else:
                return Path(self.new).joinpath(*parts[-2:]) if len(parts) >= 2 else p
        return Path(self.new).joinpath(*parts[-self._tail :])


class _LabelResolver:
    """Map label tokens (index or name) to indices against known classes, collecting unknowns."""

    def __init__(self, classes: list[str] | None, base: int = 0):
        self.classes = classes
        self.base = base
        self.unknown: set[str] = set()
        self.names: list[str] = []  # names seen when no classes were given

    def __call__(self, token: str) -> int | None | str:
        token = token.strip()
        if token == "":
            return None
        if re.fullmatch(r"-?\d+", token):
            idx = int(token) - self.base
            if idx < 0 or (self.classes is not None and idx >= len(self.classes)):
                self.unknown.add(token)
                return None
            return idx
        if self.classes is None:
            return token  # resolved once all names are known
        if token not in self.classes:
            self.unknown.add(token)
            return None
        return self.classes.index(token)

    def check(self, source: str) -> None:
        if self.unknown:
            bad = sorted(self.unknown)
            hint = f"known: {self.classes[:5]}..." if self.classes else "pass --labels labels.txt"
            raise DatasetError(f"{source}: unknown labels {bad[:10]} ({len(bad)} in all); {hint}")


def _finish(items: list[tuple[str, object]], classes: list[str] | None, kind: str, source: str) -> DatasetSpec:
    """Resolve name labels when no class list was given, drop and record missing files."""
    if classes is None:
        names = sorted({lab for _, lab in items if isinstance(lab, str)})
        ints = [lab for _, lab in items if isinstance(lab, int)]
        if names and ints:
            raise DatasetError(f"{source}: labels mix indices and names; pass --labels labels.txt to map them")
        classes = names if names else [str(i) for i in range(max(ints) + 1)] if ints else []
        items = [(p, classes.index(lab) if isinstance(lab, str) else lab) for p, lab in items]
    present, missing = [], []
    for path, label in items:
        (present if os.path.isfile(path) else missing).append(VideoItem(path, label))  # type: ignore[arg-type]
    if not present and missing:
        raise DatasetError(
            f"{source}: none of the {len(missing)} listed videos exist (first: {missing[0].path}); "
            "fix the paths with --root OLD=NEW or --root VIDEO_FOLDER"
        )
    if missing:
        log.warning(
            "%s: %d listed videos are missing and were dropped, e.g. %s",
            source,
            len(missing),
            ", ".join(m.path for m in missing[:3]),
        )
    return DatasetSpec(present, list(classes), kind, source, [m.path for m in missing])


# ----------------------------------------------------------------------------- readers
def _from_folder(folder: Path, classes: list[str] | None) -> DatasetSpec:
    videos = find_videos(folder)
    if not videos:
        raise DatasetError(f"{folder}: no video files ({', '.join(VIDEO_EXTENSIONS)}) found")
    rel = [v.relative_to(folder) for v in videos]
    if all(len(r.parts) == 2 for r in rel):  # root/<class>/<video>: a labeled class-folder tree
        if classes is None and (folder / "labels.txt").is_file():
            classes = read_labels(folder / "labels.txt")
        folder_names = sorted({r.parts[0] for r in rel})
        if classes is None:
            classes = folder_names
        unknown = [c for c in folder_names if c not in classes]
        if unknown:
            raise DatasetError(f"{folder}: class folders {unknown[:10]} are not in the labels file; add them or remove the folders")
        items = [(str(v), classes.index(r.parts[0])) for v, r in zip(videos, rel)]
        return _finish(items, classes, "folders", str(folder))
    if classes is None and (folder / "labels.txt").is_file():
        classes = read_labels(folder / "labels.txt")
    return DatasetSpec([VideoItem(str(v)) for v in videos], classes or [], "flat", str(folder))


def _list_lines(path: Path) -> Iterable[tuple[int, list[str], str]]:
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield n, line.split(), line


def _from_list(path: Path, classes: list[str] | None, root: str | None) -> DatasetSpec:
    rewrite = RootRewriter(root, path.parent)
    resolve = _LabelResolver(classes)
    items = []
    for _, tokens, line in _list_lines(path):
        # A path with spaces and no label: the whole line names an existing video.
        if len(tokens) == 1 or (is_video(line) and os.path.isfile(rewrite(line))):
            items.append((rewrite(line), None))
            continue
        middle_ints = len(tokens) >= 3 and all(t.isdigit() for t in tokens[1:-1])
        video = tokens[0] if middle_ints else " ".join(tokens[:-1])
        items.append((rewrite(video), resolve(tokens[-1])))
    resolve.check(str(path))
    if not items:
        raise DatasetError(f"{path}: no video lines; expected 'path label' per line")
    return _finish(items, classes, "list", str(path))


def _from_csv(path: Path, classes: list[str] | None, root: str | None) -> DatasetSpec:
    first = next((line for _, _, line in _list_lines(path)), "")
    if first and "," not in first and is_video(first.split()[0]):
        # SeFAR (and other semi-supervised repos) ship "train.csv" as "path label" lines: a list file.
        return _from_list(path, classes, root)
    rewrite = RootRewriter(root, path.parent)
    resolve = _LabelResolver(classes)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = {(k or "").strip().lower(): k for k in reader.fieldnames or []}
        if "path" not in fields:
            if first and is_video(next(csv.reader([first]))[0].strip()):
                return _from_headerless_csv(path, classes, root)
            raise DatasetError(f"{path}: CSV needs a header with a 'path' column (and optionally 'label'), "
                               "or 'video label' lines without a header")
        items = []
        for row in reader:
            video = (row.get(fields["path"]) or "").strip()
            if not video:
                continue
            label = resolve(row.get(fields["label"]) or "") if "label" in fields else None
            items.append((rewrite(video), label))
    resolve.check(str(path))
    if not items:
        raise DatasetError(f"{path}: CSV has no rows")
    return _finish(items, classes, "csv", str(path))


def _from_headerless_csv(path: Path, classes: list[str] | None, root: str | None) -> DatasetSpec:
    """``video,label`` rows without a header (the label column may be missing or empty)."""
    rewrite = RootRewriter(root, path.parent)
    resolve = _LabelResolver(classes)
    items = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            label = resolve(row[-1]) if len(row) >= 2 else None
            items.append((rewrite(row[0].strip()), label))
    resolve.check(str(path))
    return _finish(items, classes, "csv", str(path))


def _from_ucf(list_file: Path, classes: list[str] | None, root: str | None) -> DatasetSpec:
    if classes is None:
        ind = list_file.parent / "classInd.txt"
        if not ind.is_file():
            raise DatasetError(f"{list_file}: no classInd.txt beside it; pass --labels classInd.txt")
        classes = read_labels(ind)
    video_root = Path(root) if root else list_file.parent
    resolve = _LabelResolver(classes, base=1)
    items = []
    for _, tokens, line in _list_lines(list_file):
        rel = tokens[0]
        if len(tokens) >= 2:
            label = resolve(tokens[-1])
        else:  # testlist: no label column; the class is the folder name
            label = resolve(Path(rel).parts[0]) if len(Path(rel).parts) > 1 else resolve(rel)
        items.append((str(video_root / rel), label))
    resolve.check(str(list_file))
    return _finish(items, classes, "ucf101", str(list_file))


def _from_hmdb(folder: Path, split: int, subset: str, classes: list[str] | None, root: str | None) -> DatasetSpec:
    files = sorted(p for p in folder.iterdir() if (m := _HMDB_FILE.match(p.name)) and int(m.group(2)) == split)
    if not files:
        raise DatasetError(f"{folder}: no '<class>_test_split{split}.txt' files; is this the HMDB51 split folder?")
    names = [_HMDB_FILE.match(p.name).group(1) for p in files]  # type: ignore[union-attr]
    classes = classes if classes is not None else sorted(names)
    unknown = [n for n in names if n not in classes]
    if unknown:
        raise DatasetError(f"{folder}: classes {unknown[:10]} are not in the labels file")
    keep = {"train": {"1"}, "test": {"2"}, "all": {"1", "2"}}[subset]
    video_root = Path(root) if root else folder.parent
    items = []
    for name, f in zip(names, files):
        for _, tokens, _line in _list_lines(f):
            if len(tokens) >= 2 and tokens[1] in keep:
                items.append((str(video_root / name / tokens[0]), classes.index(name)))
    return _finish(items, classes, "hmdb51", f"{folder}:{split}:{subset}")


def _parse_selector(spec: str) -> tuple[Path, int | None, str | None]:
    """``DIR:N:train`` -> (DIR, N, "train"); a plain existing path -> (path, None, None)."""
    if os.path.exists(spec):
        return Path(spec), None, None
    m = re.fullmatch(r"(.+?):(\d+)(?::(train|test|all))?", spec)
    if m and os.path.isdir(m.group(1)):
        return Path(m.group(1)), int(m.group(2)), m.group(3) or "train"
    raise DatasetError(f"{spec}: no such file or folder (split syntax: SPLIT_DIR:N:train|test)")


def _ucf_list_in(folder: Path, split: int, subset: str) -> Path | None:
    for p in folder.iterdir():
        m = _UCF_LIST.match(p.name)
        if m and m.group(1).lower() == subset and int(m.group(2)) == split:
            return p
    return None


def load_spec(
    spec: str | os.PathLike,
    labels: str | os.PathLike | Sequence[str] | None = None,
    root: str | None = None,
) -> DatasetSpec:
    """Read a dataset spec (see the module doc) -> DatasetSpec(items, classes, kind, source, missing).

    ``labels``: a labels.txt path (or a list of class names) fixing the class order."""
    classes = list(labels) if isinstance(labels, (list, tuple)) else read_labels(labels) if labels else None
    path, split, subset = _parse_selector(os.fspath(spec))
    if path.is_dir():
        if split is not None:
            if subset == "all" or not any(_UCF_LIST.match(p.name) for p in path.iterdir()):
                return _from_hmdb(path, split, subset or "train", classes, root)
            ucf = _ucf_list_in(path, split, subset or "train")
            if ucf is None:
                raise DatasetError(f"{path}: no {subset}list{split:02d}.txt; UCF101 has splits 1-3")
            return _from_ucf(ucf, classes, root)
        if (path / "classInd.txt").is_file() or any(_HMDB_FILE.match(p.name) for p in path.iterdir()):
            raise DatasetError(f"{path} holds official split files: pick one, e.g. '{path}:1:train'")
        return _from_folder(path, classes)
    if classes is None and path.is_file() and not is_video(path) and (path.parent / "labels.txt").is_file():
        classes = read_labels(path.parent / "labels.txt")  # a list file's class names live beside it
    if _UCF_LIST.match(path.name):
        return _from_ucf(path, classes, root)
    if path.suffix.lower() == ".csv":
        return _from_csv(path, classes, root)
    if is_video(path):
        return DatasetSpec([VideoItem(str(path))], classes or [], "file", str(path))
    return _from_list(path, classes, root)
