"""README's "The pipeline on your data", run as a user runs it.

The commands are read from README.md itself, so README and code cannot drift apart: each one runs
in order in one working folder, and each reads what the one before it wrote (captions.jsonl ->
vocab.txt -> runs/zsd -> runs/zsd-ft -> deploy/zsd). Only three things are swapped: the teacher and
the captioner become tiny local Hugging Face models (no downloads here), the student becomes
r3d_tiny, and speed flags are appended (one epoch, 4 frames of 32 px, one clip). The videos are in
UCF101's layout (a folder per class) and in the formats users have: XviD AVI with packed B-frames
and MP3 audio (UCF101's own format) and H.264 MP4 with B-frames, plus one corrupt file that every
step must skip and count.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from levil_edge.cli.app import run  # noqa: E402
from levil_edge.data.synthetic import render_clip  # noqa: E402
from tests.container_fixtures import write_h264, write_xvid_avi_with_mp3  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
CLASSES = ["move_left", "move_right", "grow"]
SPLITS = {"videos": 3, "train": 4, "val": 2, "test": 2}  # videos per class
# what a test run adds to each command so that it takes seconds, not hours
SPEED = {
    "caption": ["--max-new-tokens", "24"],
    "vocab": ["--min-df", "1", "--max-df", "1.0"],  # the tiny VLM says the same sentence for every video
    "zeroshot": ["--clips", "1"],
    "distill": ["--epochs", "1", "--batch-size", "4", "--frames", "4", "--size", "32", "--workers", "0",
                "--device", "cpu"],
    "finetune": ["--epochs", "1", "--batch-size", "4", "--frames", "4", "--size", "32", "--workers", "0",
                 "--device", "cpu", "--val-clips", "1"],
    "evaluate": ["--clips", "1", "--device", "cpu", "--json"],
    "export": ["--calib-clips", "8"],
    "bench": ["--iters", "2", "--clips", "1", "--json"],
    "predict": ["--clips", "1", "--json"],
}


def readme_pipeline() -> list[list[str]]:
    """The commands of README's "The pipeline on your data" block, as argv lists without the
    program name (continuation lines joined, comments dropped)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## The pipeline on your data", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        if argv:
            assert argv[0] == "levil-edge", line
            commands.append(argv[1:])
    return commands


def readme_replay() -> list[str]:
    """The run-replay example in the prose under the block (``levil-edge ... --config run/config.json ...``)."""
    section = README.read_text(encoding="utf-8").split("## The pipeline on your data", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"`levil-edge ([^`]*--config [^`]*config\.json[^`]*)`", section)
    assert len(found) == 1, found
    return shlex.split(found[0])


def _swap(argv: list[str], swaps: dict[str, str]) -> list[str]:
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg in swaps:
            out[i + 1] = swaps[arg]
    return out


def _write_ucf_layout(root: Path) -> None:
    """Each split a folder per class; XviD+MP3 AVI and H.264 MP4 alternate; one corrupt file."""
    rng = np.random.default_rng(0)
    for split, per_class in SPLITS.items():
        for c, cls in enumerate(CLASSES):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(per_class):
                frames, _ = render_clip(cls, rng, frames=20, size=48)
                name = f"v_{cls}_g{i + 1:02d}_c01"
                if (c + i) % 2 == 0:
                    write_xvid_avi_with_mp3(folder / f"{name}.avi", frames)
                else:
                    write_h264(folder / f"{name}.mp4", frames, b_frames=3, gop=12)
    (root / "videos" / "grow" / "v_grow_g99_c01.avi").write_bytes(b"RIFF" + bytes(range(256)) * 8)
    (root / "labels.txt").write_text("".join(c + "\n" for c in CLASSES), encoding="utf-8")
    write_h264(root / "clip.mp4", render_clip("move_right", rng, frames=20, size=48)[0])


def script_captioner(folder: Path, sentence: str = " A person is playing guitar.") -> Path:
    """Make the tiny random SmolVLM2 in ``folder`` say ``sentence`` for every video, so that the
    vocab step gets English to parse. Attention and MLP outputs are zeroed, so the last hidden
    state is the current token's embedding; embeddings are one-hot and the LM head maps each
    sentence token to the next one (any other token to the first, the last to end-of-utterance).
    generate(), the processor and decoding stay the real ones."""
    import torch
    import transformers

    model = transformers.SmolVLMForConditionalGeneration.from_pretrained(folder)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    ids = tok(sentence, add_special_tokens=False).input_ids
    text = model.model.text_model
    other = text.config.hidden_size - 1
    assert len(set(ids)) == len(ids) < other
    with torch.no_grad():
        emb, head = text.embed_tokens.weight, model.lm_head.weight
        emb.zero_()
        emb[:, other] = 1.0
        head.zero_()
        head[ids[0], other] = 50.0
        for i, token in enumerate(ids):
            emb[token].zero_()
            emb[token, i] = 1.0
            head[ids[i + 1] if i + 1 < len(ids) else tok.eos_token_id, i] = 50.0
        for layer in text.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    model.save_pretrained(folder)
    return folder


def _last_json(text: str):
    start = text.index("{")
    return json.loads(text[start:])


@pytest.mark.integration
def test_readme_pipeline_runs_as_written(tmp_path, monkeypatch, capsys):
    from tests.teacher_fixtures import make_tiny_clip
    from tests.test_caption import build_tiny_smolvlm

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LEVIL_NO_PROGRESS", "1")
    models = tmp_path / "models"
    swaps = {"--teacher": str(make_tiny_clip(models)), "--captioner": str(script_captioner(build_tiny_smolvlm(models / "vlm"))),
             "--student": "r3d_tiny"}
    work = tmp_path / "work"
    _write_ucf_layout(work)
    monkeypatch.chdir(work)

    commands = readme_pipeline()
    names = [argv[0] for argv in commands]
    for step in ("caption", "vocab", "distill", "finetune", "evaluate", "export", "bench", "predict"):
        assert step in names, f"README's pipeline lost its {step} step"
    outputs = {}
    for argv in commands:
        full = _swap(argv, swaps) + SPEED.get(argv[0], [])
        capsys.readouterr()
        rc = run(full)
        captured = capsys.readouterr()
        assert rc == 0, f"levil-edge {shlex.join(argv)} -> exit {rc}\n{captured.err[-3000:]}\n{captured.out[-2000:]}"
        outputs[argv[0]] = captured.out

    # each step read what the one before wrote
    captions = [json.loads(line) for line in Path("captions.jsonl").read_text().splitlines()]
    assert len(captions) == 3 * len(CLASSES)  # the corrupt video is skipped...
    assert {c["caption"] for c in captions} == {"A person is playing guitar."}
    assert "v_grow_g99_c01.avi" in Path("captions.errors.jsonl").read_text()  # ...and recorded
    assert {"play", "guitar", "play guitar"} <= set(Path("vocab.txt").read_text().splitlines())
    distill_cfg = json.loads(Path("runs/zsd/config.json").read_text())
    assert Path(distill_cfg["vocab"]).resolve() == Path("vocab.txt").resolve()
    ft_cfg = json.loads(Path("runs/zsd-ft/config.json").read_text())
    assert Path(ft_cfg["init"]).resolve() == Path("runs/zsd").resolve()
    assert (Path("runs/zsd-ft/best/model.safetensors").is_file()
            or Path("runs/zsd-ft/last/model.safetensors").is_file())
    deploy = Path("deploy/zsd")
    for name in ("model.onnx", "model.int8.cpu.onnx", "model.int8.trt.onnx", "build_engine.sh", "labels.txt",
                 "model.json"):
        assert (deploy / name).is_file(), name
    assert (deploy / "labels.txt").read_text().split() == CLASSES

    report = _last_json(outputs["evaluate"])
    assert report["num_videos"] == 2 * len(CLASSES) and not report["skipped_videos"]
    assert sorted(row["class"] for row in report["per_class"]) == sorted(CLASSES)
    bench = _last_json(outputs["bench"])
    assert len(bench["models"]) == 2
    for row in bench["models"]:  # the ONNX files scored the same 6 test videos
        assert row["accuracy"]["num_videos"] == 2 * len(CLASSES)
    # the run-replay example under the block: the same options, another run folder
    replay = readme_replay()
    assert run(replay) == 0, capsys.readouterr().err[-3000:]
    capsys.readouterr()
    again = json.loads(Path(replay[replay.index("--out") + 1], "config.json").read_text())
    moved = {"out", "run", "created", "started", "resumed", "version", "world_size", "device_resolved"}
    assert {k: v for k, v in again.items() if k not in moved} == {k: v for k, v in ft_cfg.items() if k not in moved}
    pred = _last_json(outputs["predict"])
    assert [Path(v["path"]).name for v in pred["videos"]] == ["clip.mp4"] and pred["videos"][0]["top"][0]["label"] in CLASSES
