"""Pseudo-label vocabulary from captions (LEViL stage A): ``build_vocab(captions) -> Vocab``."""

from levil_edge.vocab.build import (
    STOPLIST_PATH,
    LabelInfo,
    Vocab,
    build_vocab,
    load_stoplist,
    read_captions,
    vocab_from_file,
)

__all__ = [
    "STOPLIST_PATH",
    "LabelInfo",
    "Vocab",
    "build_vocab",
    "load_stoplist",
    "read_captions",
    "vocab_from_file",
]
