"""`levil-edge data check|split` end to end on generated videos, including broken files."""

from __future__ import annotations

import json

import pytest

from levil_edge.cli.app import run
from tests.data_fixtures import gradient_frames, make_broken, write_mp4

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "videos"
    frames = gradient_frames(12, 32, 48)
    for c in ("left", "right"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            write_mp4(root / c / f"{c}{i}.mp4", frames[:: (1 if i % 2 == 0 else -1)])
    broken = make_broken(root / "left", root / "left" / "left0.mp4")
    return root, broken


def test_data_check_json_lists_bad_files_and_exits_0(dataset, capsys):
    root, broken = dataset
    assert run(["data", "check", str(root), "--json", "--decoder", "pyav", "--full"]) == 0
    report = json.loads(capsys.readouterr().out)
    t = report["totals"]
    assert (t["videos"], t["readable"], t["unreadable"], t["classes"]) == (10, 6, 4, 2)
    assert sorted(u["path"] for u in report["unreadable"]) == sorted(str(p) for p in broken.values())
    good = [v for v in report["videos"] if v["ok"]]
    assert all(v["num_frames"] == 12 and v["decoded_frames"] == 12 and v["width"] == 48 for v in good)


def test_data_check_table(dataset, capsys):
    root, _ = dataset
    assert run(["data", "check", str(root), "--workers", "2"]) == 0
    out = capsys.readouterr()
    flat = "".join(ch for ch in out.out if ch not in " \n│┃")  # the table wraps at the terminal width
    assert "unreadable4" in flat and "zero" in flat and "empty" in flat
    assert "4 unreadable videos" in out.err


def test_data_check_bad_spec_is_one_line_error(tmp_path, capsys):
    assert run(["data", "check", str(tmp_path / "nothing")]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_data_split_writes_reproducible_lists(dataset, tmp_path, capsys):
    root, broken = dataset
    out = tmp_path / "split"
    assert run(["data", "split", str(root), "--labels-per-class", "1", "--seed", "1", "--out", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["labeled"] == 2 and info["unlabeled"] == 8
    labeled = (out / "labeled.txt").read_text().splitlines()
    assert len(labeled) == 2 and all(len(line.rsplit(" ", 1)) == 2 for line in labeled)
    assert all(" " not in line for line in (out / "unlabeled.txt").read_text().splitlines())
    assert (out / "labels.txt").read_text().split() == ["left", "right"]
    assert run(["data", "check", str(out / "labeled.txt"), "--json", "--decoder", "pyav", "--full"]) == 0
    report = json.loads(capsys.readouterr().out)
    # split does not decode, so broken files may be picked: check finds exactly those
    picked = [line.rsplit(" ", 1)[0] for line in labeled]
    broken_picked = sorted(p for p in picked if p in {str(b) for b in broken.values()})
    assert report["totals"]["videos"] == 2
    assert (report["totals"]["readable"], report["totals"]["unreadable"]) == (2 - len(broken_picked), len(broken_picked))
    assert sorted(u["path"] for u in report["unreadable"]) == broken_picked
