"""Tiny Hugging Face teachers built offline from a config, for tests (shared with other areas).

Each builder writes a real ``save_pretrained`` folder (model weights, config, tokenizer, image
processor) and returns its path; load it with ``levil_edge.teachers.load_teacher(path)`` under
``HF_HUB_OFFLINE=1``: the same code path a user with real weights runs. Random weights, so
the outputs mean nothing, but shapes, dtypes and the whole pipeline are real.

    from tests.teacher_fixtures import make_tiny_clip, make_tiny_siglip, make_tiny_xclip
    path = make_tiny_clip(tmp_path)          # CLIPModel, embed_dim 16, 32x32 images
    path = make_tiny_xclip(tmp_path)         # XCLIPModel, 8 frames, embed_dim 16
"""

from __future__ import annotations

from pathlib import Path

IMAGE_SIZE = 32
PATCH_SIZE = 16
NUM_FRAMES = 8
EMBED_DIM = 16
TEXT_LEN = 16

_TINY_TOWER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)


def _byte_level_vocab() -> dict[str, int]:
    """A BPE vocab with no merges: every byte-level character, alone and as a word end.

    The end-of-text token gets the highest id, as in real CLIP, because CLIP/X-CLIP text
    models pool at ``input_ids.argmax()`` (see FINDINGS.md)."""
    from tokenizers.pre_tokenizers import ByteLevel

    chars = sorted(ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def make_tiny_tokenizer():
    """A real ``CLIPTokenizer`` over the byte-level vocab above (~514 tokens)."""
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer(vocab=_byte_level_vocab(), merges=[])
    tok.model_max_length = TEXT_LEN
    return tok


def _text_config(tok, **extra) -> dict:
    return dict(
        _TINY_TOWER,
        vocab_size=len(tok),
        max_position_embeddings=TEXT_LEN,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **extra,
    )


def _image_processor(mean=None, std=None):
    return _image_processor_for(IMAGE_SIZE, mean, std)


def _image_processor_for(size: int, mean=None, std=None):
    """The pillow CLIP image processor: resize the short side to ``size``, centre crop."""
    from transformers import CLIPImageProcessorPil

    kw = {}
    if mean is not None:
        kw.update(image_mean=list(mean), image_std=list(std))
    return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size}, **kw)


def _save(model, tok, processor, folder: Path) -> Path:
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    model.eval()
    with torch.no_grad():
        model.save_pretrained(folder)
    tok.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def make_tiny_clip(tmp_path: str | Path, name: str = "tiny-clip", seed: int = 0) -> Path:
    """A ``CLIPModel`` (1 layer, width 32, projection 16, 32x32 images, patch 16)."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(seed)
    tok = make_tiny_tokenizer()
    cfg = CLIPConfig(
        text_config=_text_config(tok),
        vision_config=dict(_TINY_TOWER, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE),
        projection_dim=EMBED_DIM,
    )
    return _save(CLIPModel(cfg), tok, _image_processor(), Path(tmp_path) / name)


def make_tiny_siglip(tmp_path: str | Path, name: str = "tiny-siglip", seed: int = 0) -> Path:
    """A ``SiglipModel`` (embed dim = width 32). Uses the tiny CLIP tokenizer (real SigLIP has a
    SentencePiece one; the teacher only calls the tokenizer, so the class does not matter)."""
    import torch
    from transformers import SiglipConfig, SiglipModel

    torch.manual_seed(seed)
    tok = make_tiny_tokenizer()
    cfg = SiglipConfig(
        text_config=_text_config(tok),
        vision_config=dict(_TINY_TOWER, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE),
    )
    proc = _image_processor(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    return _save(SiglipModel(cfg), tok, proc, Path(tmp_path) / name)


def make_tiny_xclip(tmp_path: str | Path, name: str = "tiny-xclip", seed: int = 0) -> Path:
    """An ``XCLIPModel`` (8 frames, 32x32, projection 16; ``mit_hidden_size`` must equal
    ``projection_dim``)."""
    import torch
    from transformers import XCLIPConfig, XCLIPModel

    torch.manual_seed(seed)
    tok = make_tiny_tokenizer()
    vision = dict(
        _TINY_TOWER,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        num_frames=NUM_FRAMES,
        mit_hidden_size=EMBED_DIM,
        mit_intermediate_size=32,
        mit_num_hidden_layers=1,
        mit_num_attention_heads=2,
    )
    cfg = XCLIPConfig(
        text_config=_text_config(tok),
        vision_config=vision,
        projection_dim=EMBED_DIM,
        prompt_layers=1,
        prompt_num_attention_heads=2,
    )
    return _save(XCLIPModel(cfg), tok, _image_processor(), Path(tmp_path) / name)


def make_tiny_siglip2(tmp_path: str | Path, name: str = "tiny-siglip2", seed: int = 0) -> Path:
    """A ``Siglip2Model`` (NaFlex: a budget of 4 patches of 16 px, i.e. 32x32 for square frames)
    with the pillow ``Siglip2ImageProcessorPil``."""
    import torch
    from transformers import Siglip2Config, Siglip2ImageProcessorPil, Siglip2Model

    torch.manual_seed(seed)
    tok = make_tiny_tokenizer()
    cfg = Siglip2Config(
        text_config=_text_config(tok),
        vision_config=dict(_TINY_TOWER, patch_size=PATCH_SIZE, num_patches=4),
    )
    proc = Siglip2ImageProcessorPil(patch_size=PATCH_SIZE, max_num_patches=4)
    return _save(Siglip2Model(cfg), tok, proc, Path(tmp_path) / name)
