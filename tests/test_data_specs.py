"""Dataset specs (every accepted form) and labeled subsets. Specs only list files, so the videos
here are empty placeholder files; decoding is tested elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from levil_edge.data.specs import load_spec, read_labels
from levil_edge.data.subsets import split_labeled, write_list
from levil_edge.errors import DatasetError, UsageError

CLASSES = ["Run", "Jump", "Swim"]


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture()
def tree(tmp_path):
    root = tmp_path / "videos"
    for c in CLASSES:
        for i in range(4):
            _touch(root / c / f"v_{c}_g{i:02d}.avi")
    return root


def test_class_folders_sorted_or_from_labels(tree, tmp_path):
    spec = load_spec(tree)
    assert spec.kind == "folders" and spec.classes == sorted(CLASSES) and spec.labeled and len(spec.items) == 12
    (tmp_path / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    spec = load_spec(tree, labels=tmp_path / "labels.txt")
    assert spec.classes == CLASSES
    assert all(Path(it.path).parent.name == CLASSES[it.label] for it in spec.items)
    (tmp_path / "few.txt").write_text("Run\nJump\n")
    with pytest.raises(DatasetError, match="Swim"):
        load_spec(tree, labels=tmp_path / "few.txt")


def test_flat_folder_is_recursive_and_unlabeled(tmp_path):
    for name in ["a.mp4", "sub/b.MKV", "sub/deeper/c.webm", "notes.txt", ".hidden.mp4"]:
        _touch(tmp_path / "pool" / name)
    spec = load_spec(tmp_path / "pool")
    assert spec.kind == "flat" and not spec.labeled
    assert sorted(Path(p).name for p in spec.paths) == ["a.mp4", "b.MKV", "c.webm"]
    assert load_spec(tmp_path / "pool" / "a.mp4").kind == "file"


def test_classind_labels_file(tmp_path):
    (tmp_path / "classInd.txt").write_text("2 Jump\n1 Run\n3 Swim\n")
    assert read_labels(tmp_path / "classInd.txt") == ["Run", "Jump", "Swim"]


def test_list_file_with_foreign_absolute_paths(tree, tmp_path):
    lines = [f"/mnt/other/data/UCF101/videos/{c}/v_{c}_g00.avi {i}" for i, c in enumerate(CLASSES)]
    lst = tmp_path / "lists" / "train.txt"
    lst.parent.mkdir()
    lst.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match="--root"):
        load_spec(lst)  # none exist here
    spec = load_spec(lst, labels=CLASSES, root=f"/mnt/other/data/UCF101/videos={tree}")
    assert [it.label for it in spec.items] == [0, 1, 2] and spec.paths[0] == f"{tree}/Run/v_Run_g00.avi"
    bare = load_spec(lst, labels=CLASSES, root=str(tree))  # finds the tail that exists under NEW
    assert bare.paths == spec.paths


def test_list_file_names_relative_paths_and_missing(tree, tmp_path):
    lst = tree / "list.txt"
    lst.write_text("Run/v_Run_g00.avi Run\nSwim/v_Swim_g01.avi Swim\nRun/gone.avi Run\nJump/v_Jump_g02.avi\n")
    spec = load_spec(lst)
    assert spec.classes == ["Run", "Swim"] and len(spec.items) == 3 and spec.items[2].label is None
    assert spec.missing == [str(tree / "Run/gone.avi")]
    bad = tree / "bad.txt"
    bad.write_text("Run/v_Run_g00.avi Dance\n")
    with pytest.raises(DatasetError, match="Dance"):
        load_spec(bad, labels=CLASSES)


def test_mmaction_style_list_with_frame_counts(tree):
    lst = tree / "mm.txt"
    lst.write_text("Jump/v_Jump_g00.avi 120 1\n")
    assert load_spec(lst, labels=CLASSES).items[0].label == 1


def test_csv_index_or_name(tree):
    csv = tree / "d.csv"
    csv.write_text("path,label\nRun/v_Run_g00.avi,0\nSwim/v_Swim_g00.avi,Swim\nJump/v_Jump_g00.avi,\n")
    spec = load_spec(csv, labels=CLASSES)
    assert spec.kind == "csv" and spec.labels == [0, 2, None]
    (tree / "nohead.csv").write_text("a,b\n")
    with pytest.raises(DatasetError, match="path"):
        load_spec(tree / "nohead.csv")


def test_ucf101_official_splits(tree, tmp_path):
    splits = tmp_path / "ucfTrainTestlist"
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 Run\n2 Jump\n3 Swim\n")
    (splits / "trainlist01.txt").write_text("Run/v_Run_g00.avi 1\nSwim/v_Swim_g01.avi 3\n")
    (splits / "testlist01.txt").write_text("Jump/v_Jump_g03.avi\n")
    train = load_spec(splits / "trainlist01.txt", root=str(tree))
    assert train.kind == "ucf101" and train.classes == CLASSES and train.labels == [0, 2]
    test = load_spec(f"{splits}:1:test", root=str(tree))
    assert test.labels == [1] and test.paths == [str(tree / "Jump/v_Jump_g03.avi")]
    with pytest.raises(DatasetError, match=":1:train"):
        load_spec(splits)  # ambiguous without a split
    with pytest.raises(DatasetError, match="testlist02"):
        load_spec(f"{splits}:2:test", root=str(tree))


def test_hmdb51_official_splits(tree, tmp_path):
    splits = tmp_path / "hmdb51_splits"
    splits.mkdir()
    for c in CLASSES:
        (splits / f"{c}_test_split1.txt").write_text(
            f"v_{c}_g00.avi 1 \nv_{c}_g01.avi 2 \nv_{c}_g02.avi 0 \nv_{c}_g03.avi 1 \n"
        )
    train = load_spec(f"{splits}:1:train", root=str(tree))
    test = load_spec(f"{splits}:1:test", root=str(tree))
    assert train.kind == "hmdb51" and train.classes == sorted(CLASSES)
    assert len(train.items) == 6 and len(test.items) == 3 and len(load_spec(f"{splits}:1:all", root=str(tree)).items) == 9
    assert all(Path(it.path).parent.name == train.classes[it.label] for it in train.items)


def test_split_labeled_ratio_and_per_class(tree, tmp_path):
    spec = load_spec(tree)
    lab, pool = split_labeled(spec, ratio=0.05, seed=0)
    assert len(lab.items) == 3 and sorted(lab.labels) == [0, 1, 2]  # >= 1 per class
    assert len(pool.items) == 9 and not set(lab.paths) & set(pool.paths)
    again, _ = split_labeled(spec, ratio=0.05, seed=0)
    assert again.paths == lab.paths
    assert any(split_labeled(spec, ratio=0.05, seed=s)[0].paths != lab.paths for s in range(1, 6))
    two, _ = split_labeled(spec, per_class=2, seed=3)
    assert sorted(two.labels) == [0, 0, 1, 1, 2, 2]
    with pytest.raises(UsageError):
        split_labeled(spec, ratio=0.1, per_class=2)
    out = tmp_path / "labeled.txt"
    write_list(out, lab)
    assert load_spec(out, labels=spec.classes).items == lab.items  # round trip
