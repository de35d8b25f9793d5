"""The deploy folder ``export`` writes: every file the device needs, DeepStream configs parsed the way
DeepStream parses them and checked against the model (the normalisation on a real decoded clip), the
folder built as a whole (a killed export changes nothing, leaks nothing), files that vouch for each
other (a mixed set is refused), and the one --model resolver."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from levil_edge import artifacts as A
from levil_edge.errors import CheckpointError, RuntimeModelError, UsageError
from levil_edge.export import modelopt_support
from tests import export_fixtures as F

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def deploy(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    return F.int8_export(tmp_path_factory)


def keyfile(path: Path) -> dict[str, dict[str, str]]:
    """Parse like GLib's GKeyFile (g_key_file_load_from_file, which DeepStream's plugins and the sample
    app use): '#' comment lines, [groups], key=value with the spaces around '=' dropped; any other
    line makes GKeyFile refuse the whole file, so here it fails the test."""
    groups: dict[str, dict[str, str]] = {}
    current = None
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            assert line.endswith("]"), f"{path.name}:{n}: broken group line {raw!r}"
            current = groups.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}:{n}: key outside a group"
        assert "=" in line, f"{path.name}:{n}: not key=value, GKeyFile refuses the file: {raw!r}"
        key, value = line.split("=", 1)
        assert "\\" not in value, f"{path.name}:{n}: GKeyFile reads backslashes as escapes"
        assert key.rstrip() not in current, f"{path.name}:{n}: duplicate key {key!r}"
        current[key.rstrip()] = value.strip()
    return groups


def ints(value: str) -> list[int]:  # g_key_file_get_integer_list with ';' as the list separator
    return [int(v) for v in value.rstrip(";").split(";")]


def floats32(value: str) -> np.ndarray:  # the sequence library parses with std::stof
    return np.array([np.float32(float(v)) for v in value.rstrip(";").split(";")], dtype=np.float32)


# ---------------------------------------------------------------- contents


# with NVIDIA Model Optimizer installed (CI installs the [modelopt] extra) export adds the FP16
# files TensorRT 11 builds from; without it they are left out (and build_engine.sh says so)
FP16_FILES = ("model.fp16.onnx", "model.int8.trt.fp16.onnx") if modelopt_support.available() else ()


def test_deploy_folder_holds_everything_the_device_needs(deploy) -> None:
    names = {p.name for p in deploy.iterdir()}
    assert names == {"model.onnx", "model.int8.trt.onnx", "model.int8.cpu.onnx", "model.json", "labels.txt",
                     "calibration.json", "build_engine.sh", "README.md", "deepstream", *FP16_FILES}
    assert (deploy / "labels.txt").read_text().splitlines() == F.CLASSES
    umask = os.umask(0)
    os.umask(umask)
    # readable by DeepStream or a container running as another user (not mkstemp's 0600)
    assert {(p.stat().st_mode & 0o777) for p in deploy.rglob("*") if p.is_file() and p.suffix != ".sh"} == {0o666 & ~umask}
    assert os.access(deploy / "build_engine.sh", os.X_OK)
    assert subprocess.run(["bash", "-n", str(deploy / "build_engine.sh")]).returncode == 0
    assert {p.name for p in (deploy / "deepstream").iterdir()} == {
        "config_preprocess_3d.txt", "config_infer_fp16.txt", "config_infer_int8.txt", "labels_nvinfer.txt",
        "deepstream_action_recognition_config.txt"}
    readme = (deploy / "README.md").read_text()
    for needle in ("scp -r deploy", "python3 -m venv --system-site-packages", "TensorRT 10.3", "PyAV",
                   "JetPack 6.0 ships TensorRT 8.6", "upgrade to JetPack 6.1 or later",
                   "bash build_engine.sh", "levil-edge predict clip.mp4 --model model.fp16.engine",
                   "levil-edge bench --model model.fp16.engine model.int8.engine model.int8.cpu.onnx",
                   "deepstream-3d-action-recognition", "-c deepstream_action_recognition_config.txt",
                   "`model.int8.trt.onnx` | int8-qdq", "max\\|diff\\|"):
        assert needle in readme, needle


def test_files_are_stamped_with_the_fp32_hash(deploy) -> None:
    import onnx

    from levil_edge.utils.io import file_sha256

    side = json.loads((deploy / "model.json").read_text())
    assert side["source_sha256"] == file_sha256(deploy / "model.onnx")
    onnx_files = ("model.onnx", "model.int8.trt.onnx", "model.int8.cpu.onnx", *FP16_FILES)
    assert side["sha256"] == {n: file_sha256(deploy / n) for n in onnx_files}
    for name in onnx_files[1:]:
        props = {p.key: p.value for p in onnx.load(str(deploy / name), load_external_data=False).metadata_props}
        assert props[A.SOURCE_KEY] == side["source_sha256"]
    assert side["deploy"]["deepstream/config_preprocess_3d.txt"] == "deepstream"


# ---------------------------------------------------------------- DeepStream


def test_deepstream_preprocess_config_matches_the_model(deploy) -> None:
    import onnx

    cfg = F.tiny_config()
    pre = keyfile(deploy / "deepstream" / "config_preprocess_3d.txt")
    prop, user = pre["property"], pre["user-configs"]
    # Every property the nvdspreprocess parser requires (else "Some preprocess config properties not set").
    for key in ("processing-width", "processing-height", "target-unique-ids", "network-input-order", "network-input-shape",
                "network-color-format", "tensor-data-type", "tensor-name", "custom-lib-path",
                "custom-tensor-preparation-function", "scaling-filter", "scaling-pool-memory-type"):
        assert key in prop, key
    graph = onnx.load(str(deploy / "model.onnx")).graph
    dims = [d.dim_value or d.dim_param for d in graph.input[0].type.tensor_type.shape.dim]
    assert prop["tensor-name"] == graph.input[0].name == "video"
    batch, c, t, h, w = ints(prop["network-input-shape"])
    assert [c, t, h, w] == dims[1:] == [3, cfg.frames, cfg.size, cfg.size] and 1 <= batch <= 4
    assert (prop["network-input-order"], prop["network-color-format"], prop["tensor-data-type"]) == ("2", "0", "0")
    assert int(prop["processing-width"]) == int(prop["processing-height"]) == cfg.size
    assert prop["custom-lib-path"] == "/opt/nvidia/deepstream/deepstream/lib/libnvds_custom_sequence_preprocess.so"
    assert prop["custom-tensor-preparation-function"] == "CustomSequenceTensorPreparation"
    # Frame stride 2: one frame skipped between sampled frames; the window slides by `frames` source frames.
    assert int(user["subsample"]) == cfg.stride - 1 == 1
    assert int(user["stride"]) * (int(user["subsample"]) + 1) == cfg.frames
    assert pre["group-0"] == {"src-ids": "-1", "process-on-roi": "0"}  # every source, full frame
    assert len(floats32(user["channel-scale-factors"])) == len(floats32(user["channel-mean-offsets"])) == 3


def test_deepstream_normalisation_equals_training_on_a_real_clip(deploy, tmp_path_factory) -> None:
    """scale * (x - offset), as the sequence library computes it in float32 (x * scale + (-scale * offset)),
    equals the runtime's (x / 255 - mean) / std on decoded frames, to 1e-5."""
    from levil_edge.runtime.preprocess import clips_to_input, load_video_clips

    cfg = F.tiny_config()
    user = keyfile(deploy / "deepstream" / "config_preprocess_3d.txt")["user-configs"]
    scale, offset = floats32(user["channel-scale-factors"]), floats32(user["channel-mean-offsets"])
    video = sorted(F.dataset(tmp_path_factory).rglob("*.mp4"))[3]
    clips = load_video_clips(video, cfg, 2, "pyav")  # uint8 (2, T, S, S, 3), RGB
    ours = clips_to_input(clips, cfg.mean, cfg.std)  # float32 (2, 3, T, S, S)
    plus = (-scale * offset).astype(np.float32)
    x = clips.astype(np.float32)
    theirs = (x * scale + plus).transpose(0, 4, 1, 2, 3)  # HWC -> NCDHW, as the kernel writes it
    assert theirs.dtype == np.float32 and clips.std() > 10  # real content, not a flat frame
    assert np.abs(theirs - ours).max() < 1e-5


def test_deepstream_infer_and_app_configs(deploy) -> None:
    ds = deploy / "deepstream"
    pre = keyfile(ds / "config_preprocess_3d.txt")["property"]
    for precision, onnx_file, mode in (("fp16", "model.onnx", "2"), ("int8", "model.int8.trt.onnx", "1")):
        p = keyfile(ds / f"config_infer_{precision}.txt")["property"]
        # nvinfer resolves relative paths against the config file's folder
        assert (ds / p["onnx-file"]).resolve() == (deploy / onnx_file).resolve()
        assert (ds / p["model-engine-file"]).resolve() == (deploy / f"model.{precision}.engine").resolve()  # build_engine.sh's name
        assert (ds / p["labelfile-path"]).is_file()
        assert p["input-tensor-from-meta"] == "1" and p["network-type"] == "1" and p["network-mode"] == mode
        assert p["output-tensor-meta"] == "1" and p["process-mode"] == "1"
        assert int(p["batch-size"]) == ints(pre["network-input-shape"])[0]
        assert p["gie-unique-id"] == pre["target-unique-ids"]
        # nvinfer cannot build a Q/DQ model as INT8 itself (no calibration file: FP16 mode): the INT8 config says so
        assert ("build_engine.sh again" in (ds / f"config_infer_{precision}.txt").read_text()) == (precision == "int8")
    # nvinfer's classifier labels: one attribute = one line, labels ';'-separated
    assert (ds / "labels_nvinfer.txt").read_text() == ";".join(F.CLASSES) + "\n"
    app = keyfile(ds / "deepstream_action_recognition_config.txt")
    assert set(app) == {"action-recognition"}
    a = app["action-recognition"]
    # every key parse_action_config reads (a missing one fails the app)
    for key in ("uri-list", "display-sync", "fakesink", "preprocess-config", "infer-config", "muxer-height", "muxer-width",
                "muxer-batch-timeout", "tiler-height", "tiler-width", "debug", "enable-fps"):
        assert key in a, key
    assert (ds / a["preprocess-config"]).is_file() and (ds / a["infer-config"]).is_file()
    assert len(a["uri-list"].split(";")) == ints(pre["network-input-shape"])[0]
    assert all(u.startswith(("file://", "rtsp://")) for u in a["uri-list"].split(";"))


def test_deepstream_settings_follow_the_model_geometry() -> None:
    from levil_edge.config import KINETICS_MEAN, KINETICS_STD, ModelConfig
    from levil_edge.export.deepstream import sequence_settings

    st = sequence_settings(ModelConfig("r3d_18", 5, frames=8, stride=1, size=112), sources=4, max_batch=16)
    assert (st.batch, st.frames, st.size, st.subsample, st.stride) == (4, 8, 112, 0, 8)
    assert st.scales[0] == pytest.approx(1 / (255 * KINETICS_STD[0])) and st.offsets[2] == pytest.approx(255 * KINETICS_MEAN[2])
    st = sequence_settings(ModelConfig("r3d_18", 5, frames=16, stride=4), sources=4, max_batch=None)  # static batch of 1
    assert (st.batch, st.subsample, st.stride) == (1, 3, 4)


# ---------------------------------------------------------------- a mixed set is refused


def test_a_file_from_another_export_is_refused(deploy, tmp_path) -> None:
    import onnx

    from levil_edge.runtime.model import load_model

    d = tmp_path / "deploy"
    shutil.copytree(deploy, d)
    assert load_model(d / "model.int8.cpu.onnx", providers=["cpu"]).source_sha256 == json.loads((d / "model.json").read_text())["source_sha256"]
    # What a re-export killed halfway used to leave: a new model.onnx beside the old model.json.
    proto = onnx.load(str(d / "model.onnx"))
    proto.metadata_props.add(key="run", value="another training run")
    onnx.save(proto, str(d / "model.onnx"))
    with pytest.raises(RuntimeModelError, match="model.onnx is not the file model.json beside it describes"):
        load_model(d / "model.onnx", providers=["cpu"])
    # A derived file copied in under another name, made from another model.onnx.
    proto = onnx.load(str(d / "model.int8.cpu.onnx"))
    A.set_onnx_metadata(proto, None, {A.SOURCE_KEY: "f" * 64})
    onnx.save(proto, str(d / "model.int8.cpu.other.onnx"))
    with pytest.raises(RuntimeModelError, match="made from another model.onnx"):
        load_model(d / "model.int8.cpu.other.onnx", providers=["cpu"])


def test_bench_refuses_agreement_across_exports(deploy, tmp_path, tmp_path_factory) -> None:
    import onnx

    from levil_edge.runtime import bench_models

    lone = tmp_path / "lone"  # files without model.json: their own stamps decide
    lone.mkdir()
    shutil.copy(deploy / "model.onnx", lone / "model.onnx")
    proto = onnx.load(str(deploy / "model.int8.cpu.onnx"))
    A.set_onnx_metadata(proto, None, {A.SOURCE_KEY: "e" * 64})
    onnx.save(proto, str(lone / "model.int8.cpu.onnx"))
    with pytest.raises(UsageError, match="was not made from .*model.onnx"):
        bench_models([lone / "model.onnx", lone / "model.int8.cpu.onnx"], iters=1, providers=["cpu"],
                     data=str(F.dataset(tmp_path_factory)), max_videos=2, num_clips=1, decoder="pyav")


# ---------------------------------------------------------------- built as a whole


def test_staging_swap_keeps_user_files_and_restores_after_a_crash(tmp_path) -> None:
    from levil_edge.export.staging import DeployStage, clean_stale
    from levil_edge.utils.io import current_umask

    out = tmp_path / "deploy"
    with DeployStage(out) as stage:
        (stage.path / "model.json").write_text("{}")
        (stage.path / "model.onnx").write_text("v1")
        assert Path(__import__("tempfile").gettempdir()) == stage.work  # temp work stays inside
        stage.commit()
    (out / "notes.txt").write_text("mine")
    (out / "notes.txt").chmod(0o600)  # the user's private file
    with DeployStage(out) as stage:
        (stage.path / "model.json").write_text("{}")
        (stage.path / "model.onnx").write_text("v2")
        (stage.path / "model.onnx").chmod(0o600)  # as mkstemp makes the files export writes
        assert stage.commit() == ["notes.txt"]
    assert (out / "model.onnx").read_text() == "v2" and (out / "notes.txt").read_text() == "mine"
    umask = current_umask()
    assert (out / "model.onnx").stat().st_mode & 0o777 == 0o666 & ~umask  # export's files: the umask's mode
    assert (out / "notes.txt").stat().st_mode & 0o777 == 0o600  # a carried-over file keeps its own
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deploy"]
    with pytest.raises(RuntimeError), DeployStage(out) as stage:  # an error mid-export: nothing changes
        (stage.path / "model.onnx").write_text("v3")
        raise RuntimeError("boom")
    assert (out / "model.onnx").read_text() == "v2" and sorted(p.name for p in tmp_path.iterdir()) == ["deploy"]
    # A crash between the two renames of the swap: the previous folder is put back.
    dead = 2**22 + 12345  # above pid_max's default: no such process
    os.replace(out, tmp_path / f".deploy.old-{dead}")
    (tmp_path / f".deploy.staging-{dead}").mkdir()
    assert sorted(clean_stale(out)) == [f"removed .deploy.staging-{dead}", f"restored {out} from .deploy.old-{dead}"]
    assert (out / "model.onnx").read_text() == "v2"


def test_a_staging_folder_is_live_only_while_its_export_holds_the_lock(tmp_path) -> None:
    """A leftover whose pid now belongs to another live process (pid reuse) is removed; a staging folder
    that a live export holds (flock) makes the next export into the same folder stop with one line."""
    from levil_edge.export.staging import DeployStage, clean_stale

    out = tmp_path / "deploy"
    leftover = tmp_path / f".deploy.staging-{os.getppid()}"  # that pid is alive, but holds no lock
    (leftover / ".work").mkdir(parents=True)
    assert clean_stale(out) == [f"removed {leftover.name}"] and not leftover.exists()
    leftover.mkdir()
    hold = "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(120)"
    proc = subprocess.Popen([sys.executable, "-c", hold, str(leftover)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(UsageError, match=rf"another export \(pid {os.getppid()}\) is writing"), DeployStage(out):
            pass
        assert leftover.is_dir()
    finally:
        proc.kill()
        proc.wait()
    assert clean_stale(out) == [f"removed {leftover.name}"]  # the lock ended with its process


def test_out_must_be_a_folder_export_owns(tmp_path) -> None:
    from levil_edge.export.staging import DeployStage

    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"), DeployStage(tmp_path / "file"):
        pass
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"x")
    with pytest.raises(UsageError, match="not a levil-edge export \\(cat.jpg\\)"), DeployStage(tmp_path / "photos"):
        pass
    assert (tmp_path / "photos" / "cat.jpg").is_file()


KILLED_EXPORT = textwrap.dedent(
    """
    import sys
    from levil_edge.export import export_model
    export_model(sys.argv[1], sys.argv[2], int8=True, calib_data=sys.argv[3], calib_clips=40, max_batch=4,
                 heldout_clips=8, decoder="pyav")
    """
)


@pytest.mark.integration
def test_killed_reexport_leaves_the_previous_folder_and_no_temp_files(deploy, tmp_path, tmp_path_factory) -> None:
    from levil_edge.export import export_model

    out = tmp_path / "deploy"
    shutil.copytree(deploy, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    script = tmp_path / "export.py"
    script.write_text(KILLED_EXPORT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmpdir), "LEVIL_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(F.trained_checkpoint(tmp_path_factory)), str(out),
                             str(F.dataset(tmp_path_factory))], env=env)
    staging = tmp_path / f".deploy.staging-{proc.pid}"
    deadline = time.time() + 300
    while not (staging / "model.onnx").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the export finished before it could be killed"
    time.sleep(0.5)  # in the middle of the ONNX check / calibration
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # the old export, whole
    assert not [p for p in tmpdir.iterdir() if p.name.startswith(("levil-", "tmp"))]  # nothing leaked
    assert staging.is_dir()  # its leftovers are in one place ...
    res = export_model(F.trained_checkpoint(tmp_path_factory), out, max_batch=2, heldout_clips=4, decoder="pyav")
    assert f"removed {staging.name}" in res["cleaned"] and not staging.exists()  # ... which the next export removes
    assert {p.name for p in out.iterdir() if p.suffix == ".onnx"} == {"model.onnx", *FP16_FILES[:1]}  # a new whole folder, no old INT8


# ---------------------------------------------------------------- errors that name the cause


def test_disk_errors_are_not_blamed_on_the_exporter(tmp_path) -> None:
    """A write that fails in the OS (here: RLIMIT_FSIZE, EFBIG) comes out as OSError, not as
    ExportError's "try --legacy-exporter"; the CLI maps OSError to one line."""
    pytest.importorskip("torch")
    script = tmp_path / "limited.py"
    script.write_text(textwrap.dedent(
        """
        import resource, signal, sys
        from levil_edge.export.onnx_export import export_onnx
        from levil_edge.students import create_student
        from tests.export_fixtures import TINY_X3D, tiny_config
        model = create_student("x3d_xs", 3, **TINY_X3D).eval()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))  # the model is ~3.6 MB
        try:
            export_onnx(model, tiny_config(), sys.argv[1], max_batch=2)
        except Exception as exc:
            print(type(exc).__name__, isinstance(exc, OSError), str(exc)[:200])
        """
    ))
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "m.onnx")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300, cwd=REPO)
    last = proc.stdout.strip().splitlines()[-1]
    assert " True " in last and "legacy" not in last, proc.stdout + proc.stderr[-2000:]


def test_resolve_model_accepts_what_each_command_runs(tmp_path) -> None:
    pytest.importorskip("torch")
    from levil_edge.train.run import find_run_checkpoint

    run = tmp_path / "runs" / "ft"
    for kind in ("last", "best"):
        (run / kind).mkdir(parents=True)
        (run / kind / "config.json").write_text("{}")
        (run / kind / "model.safetensors").write_bytes(b"")
    (run / "config.json").write_text("{}")  # the run's own options
    assert A.resolve_model(run) == run / "best" == find_run_checkpoint(run)
    shutil.rmtree(run / "best")
    assert A.resolve_model(run) == run / "last"
    assert A.resolve_model(run / "last") == run / "last"
    assert A.resolve_model(run / "last" / "model.safetensors") == run / "last" / "model.safetensors"
    with pytest.raises(CheckpointError, match=r"no model at .*runs/zsd.* \(.*runs holds: ft/\)"):
        A.resolve_model(tmp_path / "runs" / "zsd")
    (tmp_path / "empty_run").mkdir()
    (tmp_path / "empty_run" / "metrics.jsonl").write_text("")
    with pytest.raises(CheckpointError, match=r"no best/ or last/ checkpoint .*holds: metrics.jsonl"):
        find_run_checkpoint(tmp_path / "empty_run")
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / "model.onnx").write_bytes(b"")
    (deploy / "model.int8.cpu.onnx").write_bytes(b"")
    with pytest.raises(UsageError, match="is an exported model: export takes a run folder, a checkpoint folder"):
        A.resolve_model(deploy / "model.onnx", (A.CHECKPOINT,), what="export")
    with pytest.raises(UsageError, match=r"is an export folder \(.*\): export takes a run folder, .* or a "
                                         r"\.safetensors file$"):
        A.resolve_model(deploy, (A.CHECKPOINT,), what="export")
    assert A.resolve_model(deploy / "model.onnx", (A.RUNTIME,)) == deploy / "model.onnx"
    with pytest.raises(UsageError, match=r"export folder: pass one of its files \(model.int8.cpu.onnx, model.onnx\)"):
        A.resolve_model(deploy, (A.RUNTIME,))
    with pytest.raises(UsageError, match="PyTorch checkpoint: export it first"):
        A.resolve_model(run, (A.RUNTIME,))


def test_evaluate_says_it_takes_exported_files_too(tmp_path) -> None:
    pytest.importorskip("torch")
    from levil_edge.train.eval_checkpoint import evaluate

    deploy = tmp_path / "deploy" / "x"
    deploy.mkdir(parents=True)
    (deploy / "model.onnx").write_bytes(b"")
    with pytest.raises(UsageError, match=r"is an export folder: pass one of its files \(model.onnx\)"):
        evaluate(deploy, tmp_path / "no-data")  # refused before the data is read
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(UsageError, match=r"not a model file evaluate can use; pass a run folder, .*\.safetensors "
                                         r"file, or a \.onnx or \.engine file"):
        evaluate(tmp_path / "notes.txt", tmp_path / "no-data")


def test_export_cli_takes_a_run_folder_and_names_what_is_missing(tmp_path, capsys) -> None:
    from levil_edge.cli.app import run

    (tmp_path / "runs" / "zsd-ft").mkdir(parents=True)
    (tmp_path / "runs" / "zsd-ft" / "metrics.jsonl").write_text("")
    assert run(["export", "--model", str(tmp_path / "runs" / "zsd-ft"), "--out", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err.strip()
    assert "no best/ or last/ checkpoint" in err and "metrics.jsonl" in err and "\n" not in err
    assert not (tmp_path / "d").exists()
