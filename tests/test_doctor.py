"""``doctor`` on a Jetson, replayed from the files and command outputs of JetPack 6 devices (as
published by their users: /etc/nv_tegra_release, ``dpkg -l nvidia-jetpack``, trtexec's banner,
/usr/local/cuda/version.json, ``nvpmodel -q``). The probes read a root folder and run commands
through a runner, so the real parsing code runs on the recorded text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from levil_edge.system import INSTALL, CommandResult, Probe, jetson_info, parse_trt_banner

DPKG_HEADER = """Desired=Unknown/Install/Remove/Purge/Hold
| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend
|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)
||/ Name           Version      Architecture Description
+++-==============-============-============-=================================
"""

# JetPack 6.0 on an AGX Orin: L4T R36.3.0, CUDA 12.2, TensorRT 8.6.2, MAXN.
JP60 = {
    "files": {
        "etc/nv_tegra_release": "# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64, "
                                "DATE: Fri Jul 19 23:24:25 UTC 2024\n# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n"
                                "TARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia\n",
        "proc/device-tree/model": "NVIDIA Jetson AGX Orin Developer Kit\x00",
        "usr/local/cuda/version.json": '{\n   "cuda" : {\n      "name" : "CUDA SDK",\n      "version" : "12.2.140"\n   }\n}\n',
        "usr/src/tensorrt/bin/trtexec": "",
        "usr/lib/python3.10/dist-packages/tensorrt/__init__.py": "",
    },
    "commands": {
        ("dpkg", "-l", "nvidia-jetpack"): (0, DPKG_HEADER + "ii  nvidia-jetpack 6.0+b106     arm64        NVIDIA Jetpack Meta Package\n"),
        ("/usr/src/tensorrt/bin/trtexec", "--help"): (1, "&&&& RUNNING TensorRT.trtexec [TensorRT v8602] # /usr/src/tensorrt/bin/trtexec --help\n"
                                                        "=== Model Options ===\n  --onnx=<file>  ONNX model\n"),
        ("nvpmodel", "-q"): (0, "NV Power Mode: MAXN\n0\n"),
    },
    "tensorrt_python": (True, "8.6.2"),
}

# JetPack 6.2.1 on an Orin Nano Super: L4T R36.4.4, CUDA 12.6, TensorRT 10.3, MAXN_SUPER; a venv made
# without --system-site-packages (TensorRT is only in the system dist-packages).
JP621 = {
    "files": {
        "etc/nv_tegra_release": "# R36 (release), REVISION: 4.4, GCID: 41062509, BOARD: generic, EABI: aarch64, "
                                "DATE: Mon Jun 16 16:07:13 UTC 2025\n# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n"
                                "TARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia\n",
        "proc/device-tree/model": "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super\x00",
        "usr/local/cuda/version.json": '{\n   "cuda" : {\n      "name" : "CUDA SDK",\n      "version" : "12.6.68"\n   }\n}\n',
        "usr/src/tensorrt/bin/trtexec": "",
        "usr/lib/python3.10/dist-packages/tensorrt/__init__.py": "",
    },
    "commands": {
        ("dpkg", "-l", "nvidia-jetpack"): (0, DPKG_HEADER + "ii  nvidia-jetpack 6.2.1+b38    arm64        NVIDIA Jetpack Meta Package\n"),
        ("/usr/src/tensorrt/bin/trtexec", "--help"): (0, "&&&& RUNNING TensorRT.trtexec [TensorRT v100300] [b17] # /usr/src/tensorrt/bin/trtexec --help\n"),
        ("nvpmodel", "-q"): (0, "NVPM WARN: fan mode is not set!\nNV Power Mode: MAXN_SUPER\n2\n"),
    },
    "tensorrt_python": (False, "not importable (ModuleNotFoundError)"),
}

# L4T R36.4.0 flashed without the JetPack components: nothing but the BSP.
BARE = {
    "files": {
        "etc/nv_tegra_release": "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, "
                                "DATE: Fri Sep 13 04:36:44 UTC 2024\n# KERNEL_VARIANT: oot\n",
    },
    "commands": {
        ("dpkg", "-l", "nvidia-jetpack"): (1, "dpkg-query: no packages found matching nvidia-jetpack\n"),
    },
    "tensorrt_python": (False, "not importable (ModuleNotFoundError)"),
}


class Recorded:
    """A command runner that replays recorded outputs and refuses any other command."""

    def __init__(self, commands: dict):
        self.commands, self.calls = commands, []

    def __call__(self, argv: list[str]) -> CommandResult | None:
        self.calls.append(tuple(argv))
        if tuple(argv) not in self.commands:
            return None  # not installed on that device
        rc, out = self.commands[tuple(argv)]
        return CommandResult(rc, out)


def _probe(tmp_path: Path, device: dict) -> tuple[Probe, Recorded]:
    for rel, text in device["files"].items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    runner = Recorded(device["commands"])
    probe = Probe(root=tmp_path, run=runner, which=lambda name: None,
                  import_version=lambda module: device["tensorrt_python"] if module == "tensorrt" else (False, "absent"))
    return probe, runner


def test_jetpack_60_agx_orin_is_told_to_upgrade_jetpack(tmp_path) -> None:
    """JetPack 6.0 ships TensorRT 8.6.2; build_engine.sh needs 10 or 11 (JetPack 6.1 or later)."""
    probe, runner = _probe(tmp_path, JP60)
    info = jetson_info(probe)
    assert info == {
        "l4t": "R36.3.0",
        "model": "NVIDIA Jetson AGX Orin Developer Kit",
        "jetpack": "6.0+b106",
        "tensorrt_python": "8.6.2",
        "trtexec": "8.6.2 (/usr/src/tensorrt/bin/trtexec)",
        "cuda": "12.2.140 (/usr/local/cuda)",
        "power_mode": "MAXN (mode 0)",
        "missing": {"tensorrt_version": INSTALL["tensorrt_version"].format(version="8.6.2")},
    }
    advice = info["missing"]["tensorrt_version"]
    assert advice.startswith("TensorRT 8.6.2 is too old") and "upgrade to JetPack 6.1 or later" in advice
    assert "TensorRT 10.3" in advice and "\n" not in advice
    assert ("nvpmodel", "-q") in runner.calls and ("dpkg", "-l", "nvidia-jetpack") in runner.calls
    # In a venv that cannot import tensorrt, trtexec's banner alone tells the same.
    probe, _ = _probe(tmp_path / "venv", {**JP60, "tensorrt_python": (False, "not importable (ModuleNotFoundError)")})
    info = jetson_info(probe)
    assert info["missing"]["tensorrt_version"] == advice and "tensorrt_python" in info["missing"]


def test_jetpack_621_orin_nano_in_an_isolated_venv(tmp_path) -> None:
    probe, _ = _probe(tmp_path, JP621)
    info = jetson_info(probe)
    assert info["l4t"] == "R36.4.4" and info["jetpack"] == "6.2.1+b38"
    assert info["model"] == "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super"
    assert info["trtexec"] == "10.3.0 (/usr/src/tensorrt/bin/trtexec)" and info["cuda"] == "12.6.68 (/usr/local/cuda)"
    assert info["power_mode"] == "MAXN_SUPER (mode 2)"
    assert "tensorrt_version" not in info["missing"]  # 10.3: new enough
    # TensorRT is installed, but this venv cannot see it: the fix is the venv, not apt
    assert "JetPack's is in /usr/lib/python3.10/dist-packages/tensorrt" in info["tensorrt_python"]
    assert list(info["missing"]) == ["tensorrt_python"]
    assert "--system-site-packages" in info["missing"]["tensorrt_python"]


def test_bare_l4t_lists_one_install_line_per_missing_piece(tmp_path) -> None:
    probe, _ = _probe(tmp_path, BARE)
    info = jetson_info(probe)
    assert info["l4t"] == "R36.4.0" and "model" not in info
    assert info["jetpack"] == "JetPack 6 (from L4T R36.4.0); nvidia-jetpack not installed"
    assert info["trtexec"] == "absent" and info["cuda"] == "absent" and info["power_mode"] == "unknown (no nvpmodel)"
    assert info["missing"] == {k: INSTALL[k] for k in ("jetpack", "tensorrt_python", "trtexec", "cuda", "nvpmodel")}
    assert all("\n" not in line and line.startswith("sudo apt") for line in info["missing"].values())


def test_not_a_jetson(tmp_path) -> None:
    runner = Recorded({})
    assert jetson_info(Probe(root=tmp_path, run=runner)) is None and runner.calls == []


@pytest.mark.parametrize(("banner", "version"), [("[TensorRT v100300]", "10.3.0"), ("[TensorRT v101300]", "10.13.0"),
                                                 ("[TensorRT v110000]", "11.0.0"), ("[TensorRT v8602]", "8.6.2"),
                                                 ("[TensorRT v8502]", "8.5.2"), ("no banner", None)])
def test_trtexec_banner(banner, version) -> None:
    assert parse_trt_banner(f"&&&& RUNNING TensorRT.trtexec {banner} # trtexec --help") == version


def test_doctor_cli_prints_the_jetson_facts(tmp_path, monkeypatch, capsys) -> None:
    import levil_edge.system as system
    from levil_edge.cli.app import run

    probe, _ = _probe(tmp_path, JP621)
    real = system.jetson_info
    monkeypatch.setattr(system, "jetson_info", lambda p=None: real(probe))
    monkeypatch.setenv("COLUMNS", "200")
    assert run(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "R36.4.4" in out and "6.2.1+b38" in out and "MAXN_SUPER (mode 2)" in out
    assert "to install:" in out and "python3 -m venv --system-site-packages VENV" in out
    assert run(["doctor", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["jetson"]["trtexec"].startswith("10.3.0") and facts["jetson"]["missing"]
