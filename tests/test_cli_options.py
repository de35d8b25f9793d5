"""The CLI's option plumbing: --config files (YAML/JSON, a run's config.json), flags over the file,
one name (--data) for the dataset with the old spellings kept, and --json on every command.
Fast: the training functions are replaced by a stub that records the options it was given."""

from __future__ import annotations

import dataclasses
import json

import pytest

from levil_edge.cli.app import app, run


class _Captured:
    def __init__(self):
        self.calls: list = []

    def __call__(self, opts):
        self.calls.append(opts)
        return {"rank": 1}  # _show prints nothing for rank != 0

    @property
    def opts(self):
        assert len(self.calls) == 1, self.calls
        return self.calls.pop()


@pytest.fixture
def train_stub(monkeypatch):
    import levil_edge.train as train

    stub = _Captured()
    monkeypatch.setattr(train, "distill", stub)
    monkeypatch.setattr(train, "finetune", stub)
    return stub


@pytest.fixture
def files(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("run\njump\n")
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    return {"vocab": str(vocab), "labels": str(labels), "videos": str(tmp_path / "videos")}


def _distill_argv(files, *extra):
    return ["distill", "--vocab", files["vocab"], "--teacher", "./clip", "--out", "runs/x", *extra]


def test_config_file_is_applied_and_flags_override_it(tmp_path, files, train_stub):
    cfg = tmp_path / "distill.yaml"
    cfg.write_text(f"data: {files['videos']}\nvocab: {files['vocab']}\nteacher: ./clip\nout: runs/a\n"
                   "epochs: 3\nbatch-size: 4\nlr: 0.001\namp: none\ndropout: 0.2\nfeature_weight: 0.5\n")
    assert run(["distill", "--config", str(cfg), "--epochs", "5", "--lr", "1e-4"]) == 0
    opts = train_stub.opts
    assert (opts.videos, opts.vocab, opts.teacher, opts.out) == (files["videos"], files["vocab"], "./clip", "runs/a")
    assert (opts.epochs, opts.batch_size, opts.lr, opts.amp) == (5, 4, 1e-4, "none")  # --epochs/--lr win
    assert opts.dropout == 0.2 and opts.feature_weight == 0.5  # dropout: a field with no flag
    # A flag equal to its default still overrides the file: "given" is where it came from, not its value.
    assert run(["distill", "--config", str(cfg), "--batch-size", "16"]) == 0
    assert train_stub.opts.batch_size == 16
    # JSON too, with the dataclass's field names ("videos") as well as the flags' ("data").
    cfg_json = tmp_path / "distill.json"
    cfg_json.write_text(json.dumps({"videos": files["videos"], "vocab": files["vocab"], "teacher": "t", "out": "o"}))
    assert run(["distill", "-c", str(cfg_json), "--data", "other/"]) == 0
    opts = train_stub.opts
    assert opts.videos == "other/" and opts.teacher == "t" and opts.epochs == 100


def test_run_config_json_replays_into_the_same_options(tmp_path, files, train_stub):
    from levil_edge.train import DistillOptions, FinetuneOptions

    ft = FinetuneOptions(labels=files["labels"], train="ucf/:1:train", out=str(tmp_path / "ft"), label_ratio=0.05,
                         init="runs/zsd", teacher="./clip", epochs=3, batch_size=6, lr=3e-4, frames=4, size=None,
                         pseudo_threshold=0.4, amp="none", decoder="pyav", dropout=0.1, workers=0, seed=7,
                         cache=str(tmp_path / "cache"), stop_after=5, min_crop=0.5)
    config = tmp_path / "ft" / "config.json"
    config.parent.mkdir()
    # what train/common.py writes: the options, plus what it resolved
    config.write_text(json.dumps({**ft.to_dict(), "world_size": 1, "device_resolved": "cpu"}))
    assert run(["finetune", "--config", str(config)]) == 0
    assert train_stub.opts == ft
    assert run(["finetune", "--config", str(config), "--out", str(tmp_path / "ft2")]) == 0
    assert train_stub.opts == dataclasses.replace(ft, out=str(tmp_path / "ft2"))

    zsd = DistillOptions(videos="clips/", vocab=files["vocab"], teacher="./clip", out="runs/zsd", epochs=2,
                         feature_weight=1.0, teacher_adapter=None, tau=0.05, template="a video of {}", ram_cache_mb=64)
    config = tmp_path / "zsd.json"
    config.write_text(json.dumps({**zsd.to_dict(), "world_size": 2, "device_resolved": "cuda:0"}))
    assert run(["distill", "--config", str(config)]) == 0
    assert train_stub.opts == zsd


def test_unknown_or_bad_config_key_is_one_line(tmp_path, files, train_stub, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: x\nvocab: {files['vocab']}\nteacher: t\nout: o\nbatch_sise: 4\n")
    assert run(["distill", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown option 'batch_sise'" in err[0] and "batch_size" in err[0]
    cfg.write_text("data: x\namp: fp12\n")
    assert run(["distill", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'amp'" in err[0]
    cfg.write_text("- a list\n")
    assert run(["finetune", "--config", str(cfg)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not train_stub.calls


def test_missing_dataset_is_one_line(files, train_stub, capsys):
    assert run(_distill_argv(files)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: missing option '--data'")
    assert run(["finetune", "--labels", files["labels"], "--out", "o"]) == 2
    assert "--data" in capsys.readouterr().err


def test_old_spellings_give_the_same_options(files, train_stub, capsys):
    assert run(_distill_argv(files, "--videos", "clips/")) == 0
    old = train_stub.opts
    assert run(_distill_argv(files, "--data", "clips/")) == 0
    assert train_stub.opts == old and old.videos == "clips/"

    ft = ["finetune", "--labels", files["labels"], "--out", "o", "--label-ratio", "0.1"]
    assert run([*ft, "--train", "ucf/:1:train"]) == 0
    old = train_stub.opts
    assert run([*ft, "--data", "ucf/:1:train"]) == 0
    assert train_stub.opts == old and old.train == "ucf/:1:train"

    assert run(_distill_argv(files, "--videos", "a/", "--data", "b/")) == 2  # two different datasets
    assert "given twice" in capsys.readouterr().err


class _Stop(Exception):
    pass


@pytest.fixture()
def adapt_calls(monkeypatch):
    """adapt's library call replaced by one that records its arguments and stops the command."""
    import levil_edge.adapt.train as adapt_train

    calls = []

    def fake(teacher, videos, out, cfg, val=None, device="auto", root=None):
        calls.append((teacher, videos, str(out), cfg, val, device, root))
        raise _Stop

    monkeypatch.setattr(adapt_train, "adapt", fake)
    return calls


def test_adapt_old_spelling_and_config(tmp_path, adapt_calls):
    calls = adapt_calls
    with pytest.raises(_Stop):
        run(["adapt", "--teacher", "t", "--videos", "v/", "--out", "a", "--epochs", "2"])
    with pytest.raises(_Stop):
        run(["adapt", "--teacher", "t", "--data", "v/", "--out", "a", "--epochs", "2"])
    assert calls[0] == calls[1] and calls[0][1] == "v/" and calls[0][3].epochs == 2
    cfg = tmp_path / "adapt.yaml"
    cfg.write_text("teacher: t\nvideos: v/\nout: a\nepochs: 4\nworkers: 1\ntemperature: 0.05\nbetas: [0.8, 0.9]\n")
    with pytest.raises(_Stop):
        run(["adapt", "--config", str(cfg), "--epochs", "2"])
    c = calls[-1][3]
    assert calls[-1][:3] == ("t", "v/", "a") and (c.epochs, c.num_workers, c.temperature, c.betas) == (2, 1, 0.05, (0.8, 0.9))


def test_adapt_config_json_replays_the_run(tmp_path, adapt_calls):
    """adapt writes config.json beside the adapter; --config replays it into the same AdaptConfig and run arguments."""
    import levil_edge.adapt.train as adapt_train

    seen = adapt_calls
    cfg = adapt_train.AdaptConfig(epochs=3, batch_size=8, lr=0.03, temperature=0.05, betas=(0.8, 0.9), num_workers=1,
                                  crop_scale=(0.4, 1.0), decoder="pyav", seed=7)
    run_dir = tmp_path / "a"
    run_dir.mkdir()
    adapt_train._write_run_config(run_dir, "t", "v/", "w/", "cpu", "root/", cfg)
    with pytest.raises(_Stop):
        run(["adapt", "--config", str(run_dir / "config.json")])
    assert seen[-1] == ("t", "v/", str(run_dir), cfg, "w/", "cpu", "root/")
    with pytest.raises(_Stop):
        run(["adapt", "--config", str(run_dir / "config.json"), "--out", str(tmp_path / "b"), "--seed", "1"])
    assert seen[-1][2] == str(tmp_path / "b") and seen[-1][3] == dataclasses.replace(cfg, seed=1)


def test_flag_defaults_are_the_options_dataclass_defaults():
    """The options dataclasses are the defaults' only home: each flag of distill, finetune and adapt
    that fills a field defaults to that field's default (or to None, which means the same)."""
    import typer.main

    from levil_edge.adapt.adapt_options import AdaptConfig
    from levil_edge.cli.params import field_defaults, plain
    from levil_edge.train import DistillOptions, FinetuneOptions

    root = typer.main.get_command(app)
    for name, cls, renames in (("distill", DistillOptions, {}), ("finetune", FinetuneOptions, {}),
                               ("adapt", AdaptConfig, {"workers": "num_workers"})):
        defaults, checked = field_defaults(cls), []
        for p in root.commands[name].params:
            field = renames.get(p.name, p.name)
            if field in defaults and p.default is not None:
                assert plain(p.default) == plain(defaults[field]), (name, p.name, p.default, defaults[field])
                checked.append(field)
        assert len(checked) >= 6 and "seed" in checked, (name, checked)


def test_zeroshot_refuses_tau_0_before_any_work(tmp_path, capsys):
    """--tau is one option checked by the library, the same in every command: zeroshot says so before it
    reads the data or loads the teacher (neither exists here)."""
    assert run(["zeroshot", "--teacher", str(tmp_path / "no-teacher"), "--data", str(tmp_path / "no-data"), "--tau", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "tau must be positive, got 0.0" in err and len(err.splitlines()) == 1


def test_positional_spec_or_data(tmp_path, capsys):
    from levil_edge.data.synthetic import generate_dataset

    videos = tmp_path / "videos"
    generate_dataset(videos, classes=("grow", "blink"), videos_per_class=3, frames=4, size=16, seed=0)
    outs = []
    for how in ([str(videos)], ["--data", str(videos)]):
        out = tmp_path / f"split{len(outs)}"
        assert run(["data", "split", *how, "--label-ratio", "0.4", "--out", str(out), "--json"]) == 0
        outs.append(json.loads(capsys.readouterr().out))
        assert (out / "labeled.txt").read_text() == (tmp_path / "split0" / "labeled.txt").read_text()
    assert outs[0]["per_class"] == outs[1]["per_class"] == {"blink": [1, 2], "grow": [1, 2]}
    assert run(["data", "split", "--out", str(tmp_path / "x")]) == 2
    assert "missing option '--data'" in capsys.readouterr().err


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if getattr(cmd, "hidden", False):
            continue
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), cmd


def test_every_command_has_one_json_flag():
    import typer.main

    root = typer.main.get_command(app)
    names = []
    for name, cmd in _commands(root):
        names.append(name)
        json_params = [p for p in cmd.params if "--json" in getattr(p, "opts", [])]
        assert [(p.name, p.opts) for p in json_params] == [("json_out", ["--json"])], name
    assert {"distill", "finetune", "adapt", "cache fill", "cache info", "data check", "data split", "zeroshot",
            "caption", "vocab", "evaluate", "export", "bench", "predict", "models", "doctor", "demo"} <= set(names)


def test_dataset_option_is_data_everywhere():
    import typer.main

    root = typer.main.get_command(app)
    for name, cmd in _commands(root):
        visible = {o for p in cmd.params if not getattr(p, "hidden", False) for o in getattr(p, "opts", [])}
        assert not visible & {"--videos", "--train"}, name
        if name in ("distill", "finetune", "adapt", "cache fill", "zeroshot", "caption", "data check", "data split",
                    "evaluate", "bench"):
            assert "--data" in visible, name


def test_real_distill_from_a_config_file_and_its_replay(tmp_path_factory, tmp_path, monkeypatch, capsys):
    """One short real run from a YAML file; its config.json then replays into the very options it ran."""
    from tests.train_fixtures import train_assets

    monkeypatch.setenv("LEVIL_NO_PROGRESS", "1")
    a = train_assets(tmp_path_factory)
    cfg = tmp_path / "distill.yaml"
    cfg.write_text(f"data: {a.videos}\nvocab: {a.vocab}\nteacher: {a.teacher}\ncache: {tmp_path / 'cache'}\n"
                   "student: x3d_xs\nepochs: 1\nbatch_size: 4\nframes: 4\nsize: 32\nworkers: 0\ndevice: cpu\n")
    out = tmp_path / "zsd"
    assert run(["distill", "--config", str(cfg), "--out", str(out), "--stop-after", "1", "--json"]) == 0
    capsys.readouterr()
    recorded = json.loads((out / "config.json").read_text())
    assert recorded["epochs"] == 1 and recorded["stop_after"] == 1 and recorded["out"] == str(out)

    import levil_edge.train as train

    stub = _Captured()
    monkeypatch.setattr(train, "distill", stub)
    assert run(["distill", "--config", str(out / "config.json")]) == 0
    replayed = stub.opts.to_dict()
    assert replayed == {k: v for k, v in recorded.items() if k not in ("world_size", "device_resolved")}
