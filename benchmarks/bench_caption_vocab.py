"""Captioning and vocabulary throughput on this machine.

vocab: ``build_vocab`` on N template captions (real spaCy en_core_web_sm 3.8 parse + lemminflect),
captions/s, with and without ``merge_similar`` (all-MiniLM-L6-v2).

caption: a SmolVLM2-256M-shaped model (the real architecture and sizes: SigLIP-B/16 at 512 px,
a 30-layer 576-d Llama, scale factor 4 -> 64 tokens per frame), randomly initialised from its
config (nothing is downloaded), run through ``SmolVLMCaptioner`` exactly as the real checkpoint
would be: 8 frames per video, greedy decoding forced to ``--new-tokens`` tokens.

    python benchmarks/bench_caption_vocab.py [--captions 2000] [--videos 2] [--new-tokens 32] [--skip-caption]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

SUBJECTS = ["A man", "A woman", "A child", "Two people", "A girl", "An athlete", "A chef", "A musician"]
ACTIONS = [
    "is playing the guitar", "is riding a horse", "is kicking a soccer ball", "is cutting vegetables",
    "rides a bicycle down the street", "is lifting weights in a gym", "is brushing a dog", "throws a frisbee",
    "is swimming in a pool", "is climbing a rock wall", "is typing on a laptop", "is painting a wall",
    "is juggling three balls", "is doing push-ups", "is stirring a pot of soup", "is skateboarding",
]
PLACES = ["in a park", "on a beach", "in a kitchen", "at home", "outdoors", "in a room", "on a stage", ""]


def make_captions(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} {rng.choice(PLACES)}".strip() + "." for _ in range(n)]


def bench_vocab(n: int) -> list[dict]:
    from levil_edge.vocab import build_vocab
    from levil_edge.vocab.parse import load_spacy

    captions = make_captions(n)
    load_spacy()  # model load is not throughput
    rows = []
    for merge in (None, 0.85):
        build_vocab(captions[:50], min_df=1, max_df=1.0, merge_similar=merge)  # warm-up (MiniLM load)
        t = time.perf_counter()
        vocab = build_vocab(captions, min_df=5, max_df=0.25, merge_similar=merge)
        dt = time.perf_counter() - t
        rows.append({"step": f"build_vocab (merge_similar={merge})", "captions": n, "seconds": round(dt, 2),
                     "captions_per_s": round(n / dt, 1), "labels": len(vocab)})
    return rows


def _tokenizer(folder: Path):
    """A byte-level BPE tokenizer with SmolVLM's special tokens (the real one is not downloaded;
    the model's 49280-way output layer is kept, so the compute is the real model's)."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    specials = ["<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>", "<global-img>",
                "<|endoftext|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(make_captions(200), trainers.BpeTrainer(
        vocab_size=1000, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>",
                                                eos_token="<end_of_utterance>", pad_token="<|endoftext|>")
    fast.add_special_tokens({"additional_special_tokens": specials[1:5]})
    fast.save_pretrained(folder)
    return fast


def build_smolvlm2_256m(folder: Path) -> int:
    import torch
    import transformers
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil
    from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE

    tok = _tokenizer(folder)
    cfg = transformers.SmolVLMConfig(
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=512, patch_size=16),
        text_config=dict(model_type="llama", vocab_size=49280, hidden_size=576, intermediate_size=1536,
                         num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                         max_position_embeddings=8192, rope_theta=100000.0, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id),
        scale_factor=4, image_token_id=tok.convert_tokens_to_ids("<image>"), pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = transformers.SmolVLMForConditionalGeneration(cfg)
    model.save_pretrained(folder)
    SmolVLMImageProcessorPil(size={"longest_edge": 512}, max_image_size={"longest_edge": 512},
                             do_image_splitting=False).save_pretrained(folder)
    (folder / "processor_config.json").write_text(json.dumps({"image_seq_len": 64}))
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": DEFAULT_CHAT_TEMPLATE}))
    return sum(p.numel() for p in model.parameters())


def bench_caption(videos: int, new_tokens: int) -> list[dict]:
    from levil_edge.captioning import load_captioner

    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (8, 360, 480, 3), dtype=np.uint8) for _ in range(videos)]
    with tempfile.TemporaryDirectory() as tmp:
        params = build_smolvlm2_256m(Path(tmp))
        cap = load_captioner(tmp, device="cpu", dtype="fp32")
    gen = cap.model.generation_config
    gen.min_new_tokens = new_tokens  # a random model may stop early: force the real caption length
    cap.caption(clips[:1], max_new_tokens=2)  # warm-up
    times, cpu = [], []
    for clip in clips:
        t, c = time.perf_counter(), time.process_time()
        cap.caption([clip], max_new_tokens=new_tokens)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)  # CPU seconds of all threads: less sensitive to other jobs
    return [{"step": f"SmolVLM2-256M-shaped, random init ({params / 1e6:.0f} M params), fp32 CPU",
             "videos": videos, "frames": 8, "new_tokens": new_tokens,
             "seconds_per_video": round(float(np.median(times)), 1),
             "cpu_seconds_per_video": round(float(np.median(cpu)), 1)}]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--captions", type=int, default=2000)
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--skip-caption", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LEVIL_NO_PROGRESS", "1")
    import torch

    print(f"# {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    rows = bench_vocab(args.captions)
    if not args.skip_caption:
        rows += bench_caption(args.videos, args.new_tokens)
    for row in rows:
        print(" | ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
