"""Inputs as other projects ship them: SeFAR's space-separated ``train.csv`` lists; and a caption
set too small for the default document-frequency filters."""

from __future__ import annotations

import pytest

from levil_edge.data.specs import load_spec
from levil_edge.errors import DatasetError, VocabError
from tests.data_fixtures import gradient_frames, write_mp4


@pytest.fixture(scope="module")
def ucf_like(tmp_path_factory):
    """UCF-101/<Class>/v_<Class>_gXX_cYY.avi-style tree (MP4 content is enough for the spec)."""
    root = tmp_path_factory.mktemp("ucf") / "UCF-101"
    names = [f"{cls}/v_{cls}_g0{g}_c01.mp4" for cls in ("Archery", "Biking") for g in (1, 2)]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_mp4(root / name, gradient_frames(6, 32, 32))
    return root


def test_sefar_csv_is_read_as_a_list(ucf_like, tmp_path):
    # SeFAR's dataset/list_ucf_1/train.csv: "/root/UCF-101/Archery/v_Archery_g18_c07.avi 2" per line,
    # absolute paths of the authors' machine, 0-based class indices, no header.
    lines = ["/root/UCF-101/Archery/v_Archery_g01_c01.mp4 0", "/root/UCF-101/Biking/v_Biking_g02_c01.mp4 1",
             "/root/UCF-101/Archery/v_Archery_g02_c01.mp4 0"]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    spec = load_spec(tmp_path / "train.csv", root=f"/root/UCF-101={ucf_like}")
    assert spec.kind == "list" and spec.labels == [0, 1, 0] and spec.classes == ["0", "1"]
    assert spec.paths[1] == str(ucf_like / "Biking" / "v_Biking_g02_c01.mp4")
    (tmp_path / "labels.txt").write_text("Archery\nBiking\n")  # class names beside the list are used
    assert load_spec(tmp_path / "train.csv", root=f"/root/UCF-101={ucf_like}").classes == ["Archery", "Biking"]


def test_real_csvs_still_work(ucf_like, tmp_path):
    video = ucf_like / "Biking" / "v_Biking_g01_c01.mp4"
    (tmp_path / "with_header.csv").write_text(f"path,label\n{video},Biking\n")
    assert load_spec(tmp_path / "with_header.csv").labels == [0]
    (tmp_path / "no_header.csv").write_text(f"{video},3\n{video},\n")
    spec = load_spec(tmp_path / "no_header.csv")
    assert spec.kind == "csv" and spec.labels == [3, None]
    (tmp_path / "other.csv").write_text(f"video,label\n{video},Biking\n")
    with pytest.raises(DatasetError, match="needs a header with a 'path' column"):
        load_spec(tmp_path / "other.csv")


def test_empty_vocab_after_max_df_names_the_df_range_and_the_setting(tmp_path):
    from levil_edge.vocab.build import build_vocab

    captions = ["A person is playing guitar."] * 9 + ["A man riding a horse."] * 12 + ["Someone is cooking."] * 9
    with pytest.raises(VocabError) as err:
        build_vocab(captions, min_df=5, max_df=0.25)
    assert str(err.value) == ("the vocabulary is empty: --max-df 0.25 keeps labels in at most 7 of 30 captions, but the "
                              "7 candidates are each in 9 to 12 captions (30% to 40%): --max-df 0.3 keeps 4, "
                              "--max-df 0.4 keeps all (or caption more videos)")
    assert len(build_vocab(captions, min_df=5, max_df=0.3)) == 4  # the advice holds
    assert len(build_vocab(captions, min_df=5, max_df=0.4)) == 7
