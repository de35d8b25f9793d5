"""Train the demo's shipped teacher: a small ``XCLIPModel`` learnt contrastively on generated
clips and their template captions. It stands in for a real video-language model (InternVideo2,
X-CLIP) so the demo runs offline; ``levil_edge.teachers.load_teacher`` loads it like any X-CLIP.

Run it (resumable; it checkpoints every ``--ckpt-every`` steps into ``--work``)::

    python tools/train_demo_teacher.py --work runs/teacher --minutes 15

Three traps this module avoids (found by a probe on this machine):
- ``XCLIPTextModel`` pools the text at ``input_ids.argmax()``: the tokenizer's end-of-text token
  gets the highest id, as in real CLIP (``build_tokenizer``).
- X-CLIP's video-conditioned prompt (``prompt_alpha=0.1``) made the embeddings collapse in a few
  steps: ``prompt_alpha=0.0`` and the alpha is frozen, so text embeddings do not depend on the video.
- captions that name colour and shape can be matched without looking at motion: the generator
  uses generic subjects ("something", "an object") most of the time.

Ours on top: captions are matched with a *multi-positive* contrastive loss (every caption of the
same motion class is a positive, as caption deduplication does for web data), clips are
augmented with flips and time reversal that map the class accordingly (left <-> right ...), and
a share of the texts are the short verb phrases the vocab step extracts ("slide", "turn
clockwise"), because the demo asks the teacher about exactly those pseudo-labels.

Two more traps found while training it here: with patches of 16 or 8 pixels on 32x32 frames the
vision tower stayed at chance even on blink-vs-grow (patch 4 learnt it in 150 steps), and with
the contrastive terms alone both towers sat at chance for 1000+ steps; an auxiliary linear head
on the video embedding (dropped at export) starts the video tower and the text side follows.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import levil_edge
from levil_edge.data import synthetic as syn
from levil_edge.data.sampling import uniform_indices
from levil_edge.utils.io import append_jsonl, atomic_path, atomic_write_text

TEACHER_DIR = Path(levil_edge.__file__).resolve().parent / "assets" / "demo_teacher"
RENDER_FRAMES, RENDER_SIZE = 16, 64  # what the demo writes to disk
BOS, EOS, PAD, UNK = "<|startoftext|>", "<|endoftext|>", "<|pad|>", "<|unk|>"


@dataclass
class Settings:
    num_frames: int = 8
    image_size: int = 32
    patch_size: int = 4  # patch 16 and 8 stayed at chance even on blink-vs-grow; 4 learnt it in 150 steps
    vision_width: int = 64
    vision_layers: int = 3
    text_width: int = 96
    text_layers: int = 2
    embed_dim: int = 96
    mit_layers: int = 2
    bank_per_class: int = 300
    val_per_class: int = 30
    difficulty: tuple[float, float] = (0.0, 0.6)
    val_difficulty: float = 0.3  # the demo's
    batch: int = 32
    steps: int = 2600
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 100
    tag_share: float = 0.3  # share of texts that are bare pseudo-label phrases
    seed: int = 1234
    minutes: float = 15.0  # wall-clock cap; the best checkpoint so far is exported
    ckpt_every: int = 100
    eval_every: int = 250
    threads: int = 1  # on busy shared cores 2 OpenMP threads ran 10x slower than 1
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- text side
def class_tags() -> dict[str, list[str]]:
    """Per class, the pseudo-label phrases ``levil_edge.vocab`` extracts from its captions
    (verbs, verb+particle, verb-object pairs, lemmatised), parsed from every caption phrase."""
    from levil_edge.vocab.parse import load_spacy, parse_doc

    nlp = load_spacy("auto")
    tags: dict[str, list[str]] = {}
    for mc in syn.MOTION_CLASSES:
        found: list[str] = []
        for present, gerund in mc.phrases:
            for text in (f"Something {present}.", f"A video of an object {gerund}."):
                parsed = parse_doc(nlp(text))
                for t in [*parsed.verbs, *(f"{v} {o}" for v, o in parsed.pairs), *parsed.objects]:
                    if t not in found and t not in ("video",):
                        found.append(t)
        # The label itself as levil-edge phrases class names ("move_left" -> "move left"):
        # finetune and the demo ask the teacher about these with the bare "{}" template.
        human = class_text(mc.name)
        tags[mc.name] = [human, *(t for t in found if t != human)]
    return tags


def class_text(name: str) -> str:
    """The text levil-edge sends the teacher for a target class (``humanize_label``)."""
    from levil_edge.teachers.prompts import humanize_label

    return humanize_label(name)


def vocabulary_words(tags: dict[str, list[str]]) -> list[str]:
    """Every word the captions, prompts and tags can contain (lower case, punctuation split off)."""
    import re

    texts = [
        *syn.GENERIC_SUBJECTS, *syn.COLOURS, *syn.SHAPES,
        "a video of something on background among other shapes . , the person",
        *(p for mc in syn.MOTION_CLASSES for pair in mc.phrases for p in pair),
        *(t for ts in tags.values() for t in ts),
        *(w for mc in syn.MOTION_CLASSES for w in mc.name.split("_")),
    ]  # fmt: skip
    words: list[str] = []
    for text in texts:
        for w in re.findall(r"[a-z]+|[^\sa-z]", text.lower()):
            if w not in words:
                words.append(w)
    return words


def build_tokenizer(words: list[str]):
    """A tiny CLIP BPE tokenizer whose words are whole tokens: characters, the merges that build
    each word left to right, the words, then the specials with the end-of-text token last (the
    highest id: ``XCLIPTextModel`` pools at ``input_ids.argmax()``). Unknown words fall back to
    characters; an unknown character maps to ``<|unk|>``, never to end-of-text."""
    from transformers import CLIPTokenizer

    symbols: list[str] = []
    seen: set[str] = set()
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}

    def add(sym: str) -> None:
        if sym not in seen:
            seen.add(sym)
            symbols.append(sym)

    for c in "abcdefghijklmnopqrstuvwxyz0123456789.,'-_!?":
        add(c)
        add(c + "</w>")
    for w in words:
        # Tokenize with the merges so far, then append merges joining the pieces left to right:
        # later merges rank lower, so earlier words keep their single-token form.
        pieces = _bpe(list(w[:-1]) + [w[-1] + "</w>"], ranks)
        while len(pieces) > 1:
            pair = (pieces[0], pieces[1])
            ranks[pair] = len(merges)
            merges.append(pair)
            add(pair[0] + pair[1])
            pieces = [pair[0] + pair[1], *pieces[2:]]
    for special in (UNK, PAD, BOS, EOS):  # EOS last = highest id
        add(special)
    vocab = {s: i for i, s in enumerate(symbols)}
    return CLIPTokenizer(
        vocab=vocab, merges=merges, unk_token=UNK, bos_token=BOS, eos_token=EOS, pad_token=PAD, model_max_length=32
    )


def _bpe(parts: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Plain BPE: repeatedly merge the lowest-ranked adjacent pair."""
    while len(parts) > 1:
        pairs = [(ranks.get((a, b), math.inf), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
        rank, i = min(pairs)
        if rank == math.inf:
            break
        parts = [*parts[:i], parts[i] + parts[i + 1], *parts[i + 2 :]]
    return parts


def sample_text(cls: str, rng: np.random.Generator, meta: dict, tags: dict[str, list[str]], tag_share: float) -> str:
    if rng.random() < tag_share and tags.get(cls):
        if rng.random() < 0.3:  # the class text itself, a third of the tag share
            return tags[cls][0]
        return tags[cls][rng.integers(len(tags[cls]))]
    return syn.make_caption(cls, rng, meta)


# ----------------------------------------------------------------------------- video side
def make_processor(size: int):
    from transformers import CLIPImageProcessorPil

    return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


def preprocess_uint8(processor, clips: np.ndarray) -> np.ndarray:
    """uint8 (N, T, H, W, 3) -> uint8 (N, T, S, S, 3) resized/cropped exactly as the processor
    does (its normalisation is undone and redone in torch, so a bank stays small)."""
    n, t = clips.shape[:2]
    px = processor(images=list(clips.reshape(-1, *clips.shape[2:])), return_tensors="np")["pixel_values"]
    mean = np.array(processor.image_mean, np.float32)[None, :, None, None]
    std = np.array(processor.image_std, np.float32)[None, :, None, None]
    u8 = np.clip(np.rint((px * std + mean) * 255.0), 0, 255).astype(np.uint8)  # (N*T, 3, S, S)
    return u8.transpose(0, 2, 3, 1).reshape(n, t, *u8.shape[2:], 3)


@dataclass
class Bank:
    frames: np.ndarray  # uint8 (N, T, S, S, 3), processor-resized
    classes: np.ndarray  # (N,) index into syn.CLASS_NAMES
    metas: list[dict]


def render_bank(per_class: int, seed: int, difficulty, processor, num_frames: int) -> Bank:
    """Clips rendered as the demo writes them (16 frames, 64 px), ``num_frames`` uniform frames
    taken as the teacher wrapper does, resized by the teacher's own image processor."""
    from levil_edge.utils.progress import track

    idx = uniform_indices(RENDER_FRAMES, num_frames)
    clips, classes, metas = [], [], []
    lo, hi = difficulty if isinstance(difficulty, (tuple, list)) else (difficulty, difficulty)
    jobs = [(ci, k) for k in range(per_class) for ci in range(len(syn.CLASS_NAMES))]
    for ci, k in track(jobs, description=f"rendering {len(jobs)} teacher clips"):
        rng = np.random.default_rng([seed, ci, k])
        d = float(rng.uniform(lo, hi))
        clip, meta = syn.render_clip_meta(syn.CLASS_NAMES[ci], rng, RENDER_FRAMES, RENDER_SIZE, d)
        clips.append(clip[idx])
        classes.append(ci)
        metas.append(meta)
    frames = np.concatenate([preprocess_uint8(processor, np.stack(clips[s : s + 256])) for s in range(0, len(clips), 256)])
    return Bank(frames, np.array(classes), metas)


def cached_bank(path: Path, per_class: int, seed: int, difficulty, processor, num_frames: int) -> Bank:
    """``render_bank`` once; a resumed run reads it back (rendering takes minutes on busy cores)."""
    key = json.dumps([per_class, seed, list(np.atleast_1d(difficulty).tolist()), num_frames, processor.crop_size["height"]])
    if path.is_file():
        z = np.load(path, allow_pickle=False)
        if str(z["key"]) == key:
            return Bank(z["frames"], z["classes"], json.loads(str(z["metas"])))
    bank = render_bank(per_class, seed, difficulty, processor, num_frames)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, frames=bank.frames, classes=bank.classes, metas=json.dumps(bank.metas), key=key)
    return bank


_HFLIP = {"move_left": "move_right", "move_right": "move_left",
          "rotate_clockwise": "rotate_counterclockwise", "rotate_counterclockwise": "rotate_clockwise"}
_VFLIP = {"move_up": "move_down", "move_down": "move_up",
          "rotate_clockwise": "rotate_counterclockwise", "rotate_counterclockwise": "rotate_clockwise"}
_REVERSE = {**_HFLIP, "move_up": "move_down", "move_down": "move_up", "grow": "shrink", "shrink": "grow"}


def augment(clip: np.ndarray, cls: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Flips and time reversal with the class they imply. clip: uint8 (T, S, S, 3)."""
    if rng.random() < 0.5:
        clip, cls = clip[:, :, ::-1], _HFLIP.get(cls, cls)
    if cls != "bounce" and rng.random() < 0.5:  # upside down, a bounce is no longer one
        clip, cls = clip[:, ::-1], _VFLIP.get(cls, cls)
    if rng.random() < 0.5:
        clip, cls = clip[::-1], _REVERSE.get(cls, cls)
    return np.ascontiguousarray(clip), cls


# ----------------------------------------------------------------------------- model
def teacher_config(s: Settings, tokenizer):
    from transformers import XCLIPConfig

    # mit_hidden_size must equal projection_dim (the MIT runs on projected frame embeddings).
    return XCLIPConfig(
        projection_dim=s.embed_dim,
        prompt_layers=1,
        prompt_alpha=0.0,
        prompt_num_attention_heads=2,
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=s.text_width, intermediate_size=2 * s.text_width,
            num_hidden_layers=s.text_layers, num_attention_heads=4, max_position_embeddings=32,
            pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        ),
        vision_config=dict(
            hidden_size=s.vision_width, intermediate_size=2 * s.vision_width, num_hidden_layers=s.vision_layers,
            num_attention_heads=4, image_size=s.image_size, patch_size=s.patch_size, num_frames=s.num_frames,
            mit_hidden_size=s.embed_dim, mit_intermediate_size=2 * s.embed_dim, mit_num_hidden_layers=s.mit_layers,
            mit_num_attention_heads=4,
        ),
    )  # fmt: skip


def video_embeddings(model, px):
    """px float (B, T, 3, S, S) -> unnormalised (B, D): frames -> ViT -> projection -> MIT."""
    b, t = px.shape[:2]
    out = model.vision_model(pixel_values=px.flatten(0, 1))
    cls = model.visual_projection(out.pooler_output).view(b, t, -1)  # (B, T, D)
    return model.mit(cls).pooler_output  # (B, D)


def text_embeddings(model, tokenizer, texts, device="cpu"):
    enc = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
    return model.get_text_features(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device)).pooler_output


def to_pixels(frames_u8: np.ndarray, processor):
    """uint8 (B, T, S, S, 3) -> normalised float (B, T, 3, S, S), as the processor does."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(frames_u8)).float().div_(255.0).permute(0, 1, 4, 2, 3)
    mean = torch.tensor(processor.image_mean).view(1, 1, 3, 1, 1)
    std = torch.tensor(processor.image_std).view(1, 1, 3, 1, 1)
    return (x - mean) / std


def multi_positive_loss(video, text, classes, logit_scale):
    """Symmetric InfoNCE where every pair of the same class is a positive.
    video, text: (B, D) unnormalised; classes: (B,) long."""
    import torch.nn.functional as F

    v, t = F.normalize(video, dim=-1), F.normalize(text, dim=-1)
    logits = logit_scale.exp().clamp(max=100) * v @ t.T  # (B, B)
    pos = (classes[:, None] == classes[None, :]).float()
    loss_v = -(pos / pos.sum(1, keepdim=True) * F.log_softmax(logits, 1)).sum(1).mean()
    loss_t = -(pos / pos.sum(0, keepdim=True) * F.log_softmax(logits, 0)).sum(0).mean()
    return (loss_v + loss_t) / 2


def training_loss(model, tokenizer, px, texts, classes, class_texts, head=None):
    """Multi-positive contrastive loss on the batch's captions, plus the class texts as ten more
    captions every clip is contrasted with, plus (``head``) a linear classifier on the video
    embedding that is thrown away after training. With the contrastive terms alone both towers sat
    at chance for 1000+ steps (the text side starts collapsed, so it gives the video side no
    signal); the auxiliary head gets the video tower going and the text side follows."""
    import torch.nn.functional as F

    video = video_embeddings(model, px)  # (B, D)
    aux = F.cross_entropy(head(video), classes) if head is not None else 0.0
    text = text_embeddings(model, tokenizer, [*texts, *class_texts])  # (B + C, D)
    captions, names = text[: len(texts)], text[len(texts) :]
    scale = model.logit_scale.exp().clamp(max=100)
    class_logits = scale * F.normalize(video, dim=-1) @ F.normalize(names, dim=-1).T  # (B, C)
    return multi_positive_loss(video, captions, classes, model.logit_scale) + F.cross_entropy(class_logits, classes) + aux


def zero_shot(model, tokenizer, processor, bank: Bank, batch: int = 64) -> dict:
    """Top-1 of the class texts (``class_text``, bare template) over a bank, overall and per class."""
    import torch
    import torch.nn.functional as F

    from levil_edge.metrics import summarize

    model.eval()
    with torch.inference_mode():
        text = F.normalize(text_embeddings(model, tokenizer, [class_text(n) for n in syn.CLASS_NAMES]), dim=-1)
        scores = []
        for s in range(0, len(bank.classes), batch):
            v = F.normalize(video_embeddings(model, to_pixels(bank.frames[s : s + batch], processor)), dim=-1)
            scores.append((v @ text.T).numpy())
    model.train()
    return summarize(np.concatenate(scores), bank.classes, list(syn.CLASS_NAMES))


# ----------------------------------------------------------------------------- training
def lr_factor(step: int, elapsed: float, s: Settings) -> float:
    """Warm-up, then cosine over whichever runs out first: steps or wall-clock minutes."""
    if step < s.warmup:
        return (step + 1) / s.warmup
    done = max((step - s.warmup) / max(1, s.steps - s.warmup), elapsed / (s.minutes * 60))
    return 0.5 * (1 + math.cos(math.pi * min(1.0, done))) * 0.98 + 0.02


def _batch(bank: Bank, rng: np.random.Generator, s: Settings, tags, processor):
    import torch

    pick = rng.integers(0, len(bank.classes), s.batch)
    clips, texts, classes = [], [], []
    for i in pick:
        clip, cls = augment(bank.frames[i], syn.CLASS_NAMES[bank.classes[i]], rng)
        clips.append(clip)
        classes.append(syn.CLASS_NAMES.index(cls))
        texts.append(sample_text(cls, rng, bank.metas[i], tags, s.tag_share))
    return to_pixels(np.stack(clips), processor), texts, torch.tensor(classes)


def train(work: str | Path, s: Settings, resume: bool = True, export_to: Path | None = TEACHER_DIR) -> dict:
    """Train (or resume) in ``work``; export the best-on-validation model to ``export_to``."""
    import torch
    from transformers import XCLIPModel

    torch.set_num_threads(s.threads)
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(s.seed)
    tags = class_tags()
    tokenizer = build_tokenizer(vocabulary_words(tags))
    processor = make_processor(s.image_size)
    model = XCLIPModel(teacher_config(s, tokenizer))
    model.prompts_generator.alpha.requires_grad_(False)  # keep the prompt off: text is video-independent
    head = torch.nn.Linear(s.embed_dim, len(syn.CLASS_NAMES))  # auxiliary, not exported
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=s.lr)
    state = {"step": 0, "best": -1.0, "elapsed": 0.0}
    ckpt = work / "checkpoint.pt"
    if resume and ckpt.is_file():
        blob = torch.load(ckpt, weights_only=True)
        model.load_state_dict(blob["model"])
        head.load_state_dict(blob["head"])
        opt.load_state_dict(blob["opt"])
        state = {k: blob[k] for k in ("step", "best", "elapsed")}
        print(f"resumed at step {state['step']} (best val {state['best']:.3f})", flush=True)
    atomic_write_text(work / "settings.json", json.dumps(asdict(s), indent=2))
    t0 = time.time()
    bank = cached_bank(work / "bank_train.npz", s.bank_per_class, s.seed, s.difficulty, processor, s.num_frames)
    val = cached_bank(work / "bank_val.npz", s.val_per_class, s.seed + 1, s.val_difficulty, processor, s.num_frames)
    print(f"banks ready in {time.time() - t0:.0f}s: {len(bank.classes)} train clips, {len(val.classes)} val", flush=True)
    rng = np.random.default_rng([s.seed, state["step"]])
    class_texts = [class_text(n) for n in syn.CLASS_NAMES]
    start, last = time.time() - state["elapsed"], time.time()
    model.train()
    while state["step"] < s.steps and (time.time() - start) < s.minutes * 60:
        step = state["step"]
        for g in opt.param_groups:
            g["lr"] = s.lr * lr_factor(step, time.time() - start, s)
        px, texts, classes = _batch(bank, rng, s, tags, processor)
        loss = training_loss(model, tokenizer, px, texts, classes, class_texts, head)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        state["step"] = step + 1
        state["elapsed"] = time.time() - start
        if state["step"] % 20 == 0:
            append_jsonl(work / "log.jsonl", {"step": state["step"], "loss": float(loss), "s_per_step": (time.time() - last) / 20,
                                              "elapsed": state["elapsed"]})
            print(f"step {state['step']} loss {float(loss):.3f} {(time.time() - last) / 20:.2f}s/step", flush=True)
            last = time.time()
        if state["step"] % s.eval_every == 0 or state["step"] == s.steps:
            _evaluate(model, tokenizer, processor, val, work, state, export_to, s)
        if state["step"] % s.ckpt_every == 0:
            _checkpoint(ckpt, model, head, opt, state)
    _checkpoint(ckpt, model, head, opt, state)
    if state["step"] % s.eval_every and state["step"] != s.steps:  # stopped by the clock
        _evaluate(model, tokenizer, processor, val, work, state, export_to, s)
    return state


def _checkpoint(path: Path, model, head, opt, state: dict) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "head": head.state_dict(), "opt": opt.state_dict(), **state}, tmp)


def _evaluate(model, tokenizer, processor, val: Bank, work: Path, state: dict, export_to, s: Settings) -> None:
    res = zero_shot(model, tokenizer, processor, val)
    top1 = float(res["top1"])
    append_jsonl(work / "eval.jsonl", {"step": state["step"], "val_top1": top1, "per_class": res.get("per_class")})
    print(f"eval step {state['step']}: zero-shot val top-1 {top1:.3f}", flush=True)
    if top1 > state["best"]:
        state["best"] = top1
        save_teacher(model, tokenizer, processor, work / "best")
        atomic_write_text(work / "best" / "val.json", json.dumps({"step": state["step"], **_jsonable(res)}, indent=2))
        if export_to is not None:
            save_teacher(model, tokenizer, processor, export_to)


def _jsonable(res: dict) -> dict:
    return json.loads(json.dumps(res, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def save_teacher(model, tokenizer, processor, dest: Path) -> None:
    """A normal X-CLIP folder: config.json, model.safetensors, tokenizer files, preprocessor_config.json."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    # float16 on disk halves the package size; load_teacher upcasts to float32 on CPU.
    half = copy.deepcopy(model).half()
    half.save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    processor.save_pretrained(dest)
    for f in dest.iterdir():  # package data: readable by everyone (temp files are created 0600)
        f.chmod(0o644)


def evaluate_shipped(teacher_dir: Path = TEACHER_DIR, per_class: int = 30, seed: int = 2026, difficulty: float = 0.3) -> dict:
    """Zero-shot top-1 of a saved teacher through ``load_teacher`` (the path the demo uses) on
    fresh clips (a seed the training never used), class names as bare prompts."""
    from levil_edge.metrics import summarize
    from levil_edge.teachers import load_teacher

    teacher = load_teacher(str(teacher_dir), device="cpu")
    idx = uniform_indices(RENDER_FRAMES, teacher.num_frames)
    clips, labels = [], []
    for ci, name in enumerate(syn.CLASS_NAMES):
        for k in range(per_class):
            clips.append(syn.render_clip(name, np.random.default_rng([seed, ci, k]), RENDER_FRAMES, RENDER_SIZE, difficulty)[0][idx])
            labels.append(ci)
    scores = teacher.logits(np.stack(clips), [class_text(n) for n in syn.CLASS_NAMES], template="{}").numpy()
    return _jsonable(summarize(scores, np.array(labels), list(syn.CLASS_NAMES)))


def write_training_card(work: Path, teacher_dir: Path = TEACHER_DIR) -> Path:
    """TRAINING.md beside the shipped weights: how it was trained and its zero-shot figures."""
    work = Path(work)
    s = json.loads((work / "settings.json").read_text())
    best = json.loads((work / "best" / "val.json").read_text())
    test = evaluate_shipped(teacher_dir)
    n_params = _count_params(teacher_dir)
    rows = "\n".join(f"| {c['class']} | {100 * c['accuracy']:.1f} |" for c in test["per_class"])
    text = f"""# The demo teacher

A small `XCLIPModel` ({n_params / 1e6:.2f} M parameters, float16 on disk) trained from scratch by
`python tools/train_demo_teacher.py` (in the levil-edge repository) on clips from
`levil_edge.data.synthetic` and their template captions. It stands in for a real video-language
model so `levil-edge demo` runs offline; `levil_edge.teachers.load_teacher` loads it like any X-CLIP.

## Zero-shot top-1 (class names as prompts, template `{{}}`: "move left", "rotate clockwise", ...)

- Fresh clips through `load_teacher` (seed 2026, never seen in training, difficulty 0.3, 30 per class,
  {len(syn.CLASS_NAMES)} classes, chance {100 / len(syn.CLASS_NAMES):.0f}%): **{100 * test['top1']:.1f}%** top-1,
  {100 * test['top5']:.1f}% top-5.
- Validation during training (seed {s['seed'] + 1}, difficulty {s['val_difficulty']}): {100 * best['top1']:.1f}% at step {best['step']}
  (the exported checkpoint is the best one on validation).

| class | zero-shot top-1 (%) |
|---|---|
{rows}

## How it was trained

- Model: vision ViT {s['vision_layers']} layers x {s['vision_width']} wide, {s['image_size']}x{s['image_size']} frames,
  patch {s['patch_size']}, {s['num_frames']} frames (X-CLIP cross-frame messages + a {s['mit_layers']}-layer
  multi-frame integration transformer); text transformer {s['text_layers']} layers x {s['text_width']};
  projection {s['embed_dim']}. `prompt_alpha=0.0` with the alpha frozen, so text embeddings do not depend on the video.
- Tokenizer: a CLIP BPE tokenizer built offline over the captions' words, end-of-text at the highest id
  (`XCLIPTextModel` pools at `input_ids.argmax()`).
- Data: {s['bank_per_class']} clips per class rendered once (16 frames of 64 px, the demo's format; 8 uniform
  frames; difficulty uniform in {s['difficulty']}), augmented with horizontal/vertical flips and time reversal
  that map the class (left <-> right, clockwise <-> counter-clockwise, grow <-> shrink ...). Texts: a fresh template
  caption per sample (mostly generic subjects such as "something", so colour and shape words cannot
  solve the matching), or ({100 * s['tag_share']:.0f}%) the short verb phrases `levil_edge.vocab` extracts from
  such captions and the class texts.
- Loss: multi-positive symmetric InfoNCE (captions of the same motion class are positives), plus a
  cross-entropy of each clip against the {len(syn.CLASS_NAMES)} class texts, plus an auxiliary linear classifier on the
  video embedding that is not exported. Without the auxiliary head both towers sat at chance for 1000+ steps;
  with patches of 16 or 8 pixels the vision tower did not learn even blink-vs-grow (patch 4 did).
- AdamW lr {s['lr']} (warm-up {s['warmup']} steps, cosine), weight decay {s['weight_decay']}, batch {s['batch']},
  1 CPU thread, {best['step']} steps in {s['minutes']:.0f} minutes wall clock on 2 CPU cores shared with other jobs
  (2 OpenMP threads were 10x slower per step than 1 on those busy cores).

Retrain (resumable; writes the best checkpoint here): `python tools/train_demo_teacher.py --work runs/teacher`.
"""
    from levil_edge.utils.io import atomic_write_text

    path = Path(teacher_dir) / "TRAINING.md"
    atomic_write_text(path, text)
    path.chmod(0o644)
    atomic_write_text(Path(teacher_dir) / "zero_shot.json", json.dumps({"test": test, "val": best}, indent=2))
    (Path(teacher_dir) / "zero_shot.json").chmod(0o644)
    return path


def _count_params(folder: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(Path(folder) / "model.safetensors"), "np") as f:
        return int(sum(np.prod(f.get_slice(k).get_shape()) for k in f.keys()))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default="runs/teacher", help="checkpoints, logs, best model (resumable)")
    ap.add_argument("--minutes", type=float, default=Settings.minutes)
    ap.add_argument("--steps", type=int, default=Settings.steps)
    ap.add_argument("--batch", type=int, default=Settings.batch)
    ap.add_argument("--bank-per-class", type=int, default=Settings.bank_per_class)
    ap.add_argument("--val-per-class", type=int, default=Settings.val_per_class)
    ap.add_argument("--lr", type=float, default=Settings.lr)
    ap.add_argument("--threads", type=int, default=Settings.threads)
    ap.add_argument("--seed", type=int, default=Settings.seed)
    ap.add_argument("--export", default=str(TEACHER_DIR), help="where the best model goes ('' = nowhere)")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--card-only", action="store_true", help="only (re)write TRAINING.md for the exported teacher")
    a = ap.parse_args(argv)
    if a.card_only:
        print(write_training_card(Path(a.work), Path(a.export)))
        return
    s = Settings(minutes=a.minutes, steps=a.steps, batch=a.batch, bank_per_class=a.bank_per_class, val_per_class=a.val_per_class, lr=a.lr, threads=a.threads, seed=a.seed)
    state = train(a.work, s, resume=not a.fresh, export_to=Path(a.export) if a.export else None)
    print(json.dumps(state))
    if a.export:
        print(write_training_card(Path(a.work), Path(a.export)))


if __name__ == "__main__":
    main()
