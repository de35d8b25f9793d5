"""The edge runtime stands alone: what a Jetson installs imports no torch, no onnx, and nothing of
export/ or train/ (read from the source with ast, so a lazy import inside a function counts too)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "levil_edge"
# What runtime/ and artifacts.py may import from levil_edge.
RUNTIME_MAY_USE = {"runtime", "data", "config", "utils", "errors", "metrics", "artifacts", "eval_report", "system"}
ARTIFACTS_MAY_USE = {"config", "errors", "utils"}


def _levil_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("levil_edge"):
            parts = node.module.split(".")
            found.add(parts[1] if len(parts) > 1 else node.names[0].name)
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("levil_edge.")}
    return found


def _third_party(path: Path) -> set[str]:
    mods = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module.split(".")[0])
    return mods


def test_runtime_imports_only_the_low_layers() -> None:
    for path in sorted((PKG / "runtime").glob("*.py")):
        bad = _levil_imports(path) - RUNTIME_MAY_USE
        assert not bad, f"{path.name} imports levil_edge.{bad}: the runtime must not depend on export/train"
        assert not _third_party(path) & {"torch", "onnx", "transformers"}, path.name
    assert _levil_imports(PKG / "artifacts.py") <= ARTIFACTS_MAY_USE
    assert not _third_party(PKG / "artifacts.py") & {"torch", "onnx", "numpy"}


# Prepended to the code a subprocess runs: importing torch, onnx or transformers fails there.
BLOCK_HEAVY = """
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "onnx", "onnxscript", "transformers"):
            raise ImportError(name + " is blocked")

sys.meta_path.insert(0, Block())
"""


def _run_without_heavy_imports(body: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_HEAVY + textwrap.dedent(body)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(PKG.parent), **env})


def test_artifacts_and_runtime_import_without_torch_or_onnx() -> None:
    proc = _run_without_heavy_imports(
        """
        import levil_edge.artifacts, levil_edge.runtime, levil_edge.runtime.tensorrt, levil_edge.runtime.cudart
        print(sorted(m for m in sys.modules if m.startswith("levil_edge.export") or m.startswith("levil_edge.train")))
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_the_cli_starts_without_torch() -> None:
    """A Jetson installs the CLI without torch: every command's --help (the CLI imports all command
    modules, and the training ones read their defaults from the options dataclasses) works there."""
    proc = _run_without_heavy_imports(
        """
        from levil_edge.cli.app import run
        for cmd in (["predict"], ["bench"], ["distill"], ["finetune"], ["adapt"], ["export"], ["cache", "fill"]):
            try:
                rc = run([*cmd, "--help"])
            except SystemExit as exc:
                rc = exc.code
            assert rc in (0, None), cmd
        print("torch" in sys.modules)
        """,
        COLUMNS="120",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "False"
