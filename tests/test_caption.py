"""Captioning through the real SmolVLM2 classes: a tiny random SmolVLMForConditionalGeneration with a
tiny byte-level BPE tokenizer, saved with save_pretrained and loaded back by path (HF_HUB_OFFLINE=1)
through the same Idefics3 processor route a user with the real checkpoint runs. Captions are
gibberish; processor, chat template, generate, decode, JSONL, resume and sharding are real."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from levil_edge.captioning import caption_paths, load_captioner, parse_shard  # noqa: E402
from levil_edge.captioning.run import done_paths, errors_path, select_shard  # noqa: E402
from levil_edge.errors import MissingExtraError, TeacherError, UsageError  # noqa: E402

IMAGE_SIZE, PATCH, SCALE = 32, 8, 2
IMAGE_SEQ_LEN = (IMAGE_SIZE // PATCH) ** 2 // SCALE**2  # 4 tokens per frame
SPECIALS = [
    "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>", "<global-img>", "<|endoftext|>"
]
CORPUS = (
    "User: Assistant: Frame 1: 2: 3: 4: 5: 6: 7: 8: Describe the scene, the objects, and the activity taking "
    "place in the video briefly in one or two complete sentences. A person is playing guitar. A square moves left."
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LEVIL_NO_PROGRESS", "1")


def _tokenizer(folder: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([CORPUS], trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<end_of_utterance>",
        pad_token="<|endoftext|>", unk_token="<|endoftext|>",
    )
    fast.add_special_tokens({"additional_special_tokens": SPECIALS[1:5]})
    fast.save_pretrained(folder)
    return fast


def build_tiny_smolvlm(folder: Path) -> Path:
    """The files of a SmolVLM2 repo (config, safetensors, tokenizer, preprocessor, processor and
    chat template JSONs), at toy size: 1-layer vision tower and 1-layer Llama, 32x32 frames."""
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil
    from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE

    folder.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer(folder)
    ids = {"pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}
    cfg = transformers.SmolVLMConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=IMAGE_SIZE, patch_size=PATCH),
        text_config=dict(model_type="llama", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=1024, **ids),
        scale_factor=SCALE, image_token_id=tok.convert_tokens_to_ids("<image>"), pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = transformers.SmolVLMForConditionalGeneration(cfg).eval()
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(folder)
    SmolVLMImageProcessorPil(size={"longest_edge": IMAGE_SIZE}, max_image_size={"longest_edge": IMAGE_SIZE},
                             do_image_splitting=False).save_pretrained(folder)
    (folder / "processor_config.json").write_text(
        json.dumps({"image_seq_len": IMAGE_SEQ_LEN, "processor_class": "SmolVLMProcessor"}))
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": DEFAULT_CHAT_TEMPLATE}))
    return folder


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory) -> Path:
    return build_tiny_smolvlm(tmp_path_factory.mktemp("smolvlm2-tiny"))


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[str]:
    """Three generated clips (8 frames, 32 px) and one broken file."""
    from levil_edge.data.synthetic import write_video

    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        frames = rng.integers(0, 255, (8, 32, 48, 3), dtype=np.uint8)
        paths.append(str(write_video(root / f"clip{i}.mp4", frames)))
    (root / "broken.mp4").write_bytes(b"not a video at all")
    return [*paths, str(root / "broken.mp4")]


@pytest.fixture(scope="module")
def captioner(tiny_vlm):
    return load_captioner(str(tiny_vlm), device="cpu")


def test_processor_route_builds_multi_image_prompt(captioner):
    proc = captioner.processor
    assert type(proc).__name__ == "Idefics3Processor" and captioner.frame_size == IMAGE_SIZE
    from levil_edge.captioning.smolvlm import frame_messages

    text = proc.apply_chat_template(frame_messages(3, "Describe it."), add_generation_prompt=True)
    assert text.startswith("<|im_start|>User: Frame 1:<image>Frame 2:<image>Frame 3:<image>Describe it.")
    assert text.endswith("Assistant:")
    frames = list(np.zeros((3, 20, 30, 3), np.uint8))
    inputs = proc(text=[text], images=[frames], return_tensors="pt", do_image_splitting=False)
    image_id = proc.tokenizer.convert_tokens_to_ids("<image>")
    assert int((inputs["input_ids"] == image_id).sum()) == 3 * IMAGE_SEQ_LEN
    assert tuple(inputs["pixel_values"].shape) == (1, 3, 3, IMAGE_SIZE, IMAGE_SIZE)  # (B, N, 3, S, S)


def test_batched_greedy_equals_one_by_one(captioner):
    rng = np.random.default_rng(1)
    clips = [rng.integers(0, 255, (n, 24, 32, 3), dtype=np.uint8) for n in (8, 4)]  # different prompt lengths
    batched = captioner.caption(clips, max_new_tokens=6)
    single = [captioner.caption([c], max_new_tokens=6)[0] for c in clips]
    assert batched == single and all(isinstance(t, str) and t for t in batched)


def test_bf16_weights_on_cpu(tiny_vlm):
    cap = load_captioner(str(tiny_vlm), device="cpu", dtype="bf16")
    assert cap.model.dtype == torch.bfloat16
    (text,) = cap.caption([np.full((4, 24, 32, 3), 127, np.uint8)], max_new_tokens=3)
    assert isinstance(text, str)


def test_cuda_without_gpu_is_a_usage_error():
    from levil_edge.utils.device import resolve_device

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(UsageError, match="--device cpu"):
        resolve_device("cuda")


def test_parse_shard():
    assert parse_shard(None) == (0, 1) and parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "a/b", "1", "0/0"):
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_shards_partition_and_resume(captioner, videos, tmp_path):
    good = videos[:3]
    outs = [tmp_path / f"shard{i}.jsonl" for i in range(2)]
    reports = [caption_paths(good, captioner, outs[i], shard=(i, 2), max_new_tokens=4) for i in range(2)]
    parts = [done_paths(o) for o in outs]
    assert parts[0] | parts[1] == set(good) and not parts[0] & parts[1]  # a partition
    assert [r.captioned for r in reports] == [len(p) for p in parts] and [r.in_shard for r in reports] == [
        len(p) for p in parts]
    # membership depends on the path only, not on the list order
    assert select_shard(good[::-1], (0, 2)) == [p for p in good[::-1] if p in parts[0]]

    # a crash left a half-written line: that video is captioned again, the rest is kept
    out = tmp_path / "all.jsonl"
    caption_paths(good[:2], captioner, out, max_new_tokens=4)
    with open(out, "a") as f:
        f.write('{"path": "%s", "capt' % good[2])
    again = caption_paths(good, captioner, out, max_new_tokens=4)
    assert (again.already_done, again.captioned) == (2, 1)
    assert done_paths(out) == set(good)
    assert sum(1 for ln in out.read_text().splitlines() if ln.strip()) == 4  # 3 records + the broken line


def test_nothing_left_does_not_load_the_model(tmp_path):
    out = tmp_path / "c.jsonl"
    out.write_text(json.dumps({"path": "/v/a.mp4", "caption": "A cat sleeps."}) + "\n")

    def factory():
        raise AssertionError("the model must not be loaded when every video is captioned")

    report = caption_paths(["/v/a.mp4"], factory, out)
    assert (report.already_done, report.captioned) == (1, 0)


def test_unknown_model_is_one_clear_line(tmp_path):
    with pytest.raises(TeacherError, match="cannot load captioner") as err:
        load_captioner(str(tmp_path / "no-such-model"))
    assert "\n" not in str(err.value)


def test_unsupported_model_type(tmp_path):
    transformers.BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                            intermediate_size=8).save_pretrained(tmp_path)
    with pytest.raises(TeacherError, match="captioners supported"):
        load_captioner(str(tmp_path))


def test_qwen_without_torchvision_is_a_clear_error(tmp_path):
    from levil_edge.utils.extras import has_module

    if has_module("torchvision"):
        pytest.skip("torchvision imports here: the Qwen-VL processor route can run")
    transformers.Qwen2_5_VLConfig().save_pretrained(tmp_path)  # config only: the check comes first
    with pytest.raises(MissingExtraError, match="torchvision") as err:
        load_captioner(str(tmp_path))
    assert "\n" not in str(err.value)


@pytest.mark.integration
def test_caption_cli_end_to_end(tiny_vlm, videos, tmp_path, capsys):
    from levil_edge.cli.app import run

    listing = tmp_path / "videos.txt"  # a `path` list spec
    listing.write_text("".join(f"{p}\n" for p in videos))
    out = tmp_path / "captions.jsonl"
    args = ["caption", str(listing), "--captioner", str(tiny_vlm), "--out", str(out),
            "--max-new-tokens", "5", "--batch-size", "2", "--device", "cpu", "--json"]
    assert run(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["videos"], report["captioned"], report["failed"]) == (4, 3, 1)
    assert len(report["samples"]) == 3 and report["samples"][0]["path"] in videos
    records = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert sorted(r["path"] for r in records) == sorted(videos[:3])
    for r in records:
        assert set(r) == {"path", "caption", "model", "prompt", "frames"}
        assert r["model"] == str(tiny_vlm) and r["frames"] == 8 and r["prompt"].startswith("Describe the scene")
    bad = [json.loads(ln) for ln in errors_path(out).read_text().splitlines()]
    assert [b["path"] for b in bad] == [videos[3]]

    # second run: everything captioned is skipped, the bad video is retried and reported again
    assert run(args[:-1]) == 0
    captured = capsys.readouterr()
    assert "already captioned" in captured.out and "broken.mp4" in captured.err
    assert len(out.read_text().splitlines()) == 3

    missing = ["caption", str(listing), "--captioner", str(tmp_path / "missing"), "--out", str(tmp_path / "x.jsonl")]
    assert run(missing) == 1
    assert capsys.readouterr().err.startswith("error: cannot load captioner")
