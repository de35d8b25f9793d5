"""The core install resolves on a Jetson (JetPack 6: Ubuntu 22.04 aarch64, glibc 2.35, CPython 3.10).

pip resolves the core dependencies exactly as pyproject.toml lists them, for that platform, with
wheels only (a Jetson user must not compile numpy or PyAV). ``--dry-run --report`` installs nothing;
where the index serves PEP 658 metadata a recent pip fetches only the ``.metadata`` files, elsewhere
it downloads the wheels to a temporary folder (measured on an index without PEP 658 metadata:
~104 MB, 5-13 s). Skipped only when the package index cannot be reached at all; any other failure
fails. Deselect with ``-m 'not network'``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = "3.10"
# pip takes --platform tags literally (it does not widen manylinux_2_35 to older glibc tags), so list
# every manylinux tag a glibc-2.35 system runs: manylinux_2_17..2_35 plus the manylinux2014 alias.
PLATFORMS = [f"manylinux_2_{minor}_aarch64" for minor in range(35, 16, -1)] + ["manylinux2014_aarch64"]
TIMEOUT_S = 540


def core_requirements() -> list[str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def index_url() -> str:
    """The index pip will use: PIP_INDEX_URL, else pip's config, else PyPI."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].split()[0]
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60).stdout
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith(".index-url") and not key.strip().endswith("extra-index-url"):
            return value.strip().strip("'\"").split()[0]
    return "https://pypi.org/simple"


def unreachable(url: str) -> str | None:
    """Why ``url`` cannot be reached (DNS, refused, timeout), or None: any HTTP answer counts as reachable."""
    try:
        urllib.request.urlopen(urllib.request.Request(url.rstrip("/") + "/numpy/"), timeout=20).close()
    except urllib.error.HTTPError:
        return None  # the index answered
    except (urllib.error.URLError, OSError) as exc:
        return f"{url} unreachable ({getattr(exc, 'reason', exc)})"
    return None


def _name(req: str) -> str:
    return re.split(r"[<>=!~; \[]", req, maxsplit=1)[0].strip().lower().replace("_", "-")


@pytest.mark.network
@pytest.mark.timeout(TIMEOUT_S + 60)
def test_core_install_resolves_for_jetpack6_python310(tmp_path) -> None:
    reqs = core_requirements()
    assert reqs and all(_name(r) for r in reqs)
    url = index_url()
    if url.startswith(("http://", "https://")):
        reason = unreachable(url)
        if reason:
            pytest.skip(f"package index not reachable: {reason}")
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report),
           "--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp",
           "--target", str(tmp_path / "target"), "--disable-pip-version-check"]
    cmd += [arg for p in PLATFORMS for arg in ("--platform", p)]
    proc = subprocess.run(cmd + reqs, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, f"the core install does not resolve on a Jetson (aarch64, Python {PYTHON}):\n{proc.stderr[-3000:]}"
    installs = json.loads(report.read_text())["install"]
    resolved = {i["metadata"]["name"].lower().replace("_", "-"): i for i in installs}
    for req in reqs:
        assert _name(req) in resolved, f"{req} missing from the resolution"
    for name, item in resolved.items():
        wheel = item["download_info"]["url"].rsplit("/", 1)[-1]
        assert wheel.endswith(".whl") and ("aarch64" in wheel or "-none-any" in wheel), (name, wheel)
    print({n: resolved[n]["metadata"]["version"] for n in map(_name, reqs)})  # shown with -s: what a Jetson gets
