"""The package's architecture, read from the source with ``ast`` (imports inside functions count
too, so a lazy import cannot hide a dependency):

1. Packages are layered; a module may import its own layer and the layers below, never above::

     0  utils, errors, config, metrics, system, artifacts    shared foundations (torch-free)
     1  data, vocab                                           videos, specs, clips; vocabularies
     2  students, teachers, captioning, runtime, eval_report  models and the edge runtime
        adapt                                                 Co-Settle adapters on a teacher's frozen encoder
     3  train, calibration                                    training; INT8 calibration data
     4  export                                                ONNX/TensorRT export
     5  demo                                                  the built-in end-to-end demo
     6  cli, __main__                                         the Typer commands (and ``python -m levil_edge``)

   Top-level modules sit in the layer of what they are: ``config.py`` (ModelConfig, DEFAULT_TAU),
   ``metrics.py``, ``errors.py``, ``system.py`` (environment facts) and ``artifacts.py`` (file
   names of a deploy folder) are foundations (layer 0); ``eval_report.py`` (the evaluation report
   built from per-video scores) is shared by runtime/ and train/, so it is in layer 2.
2. No import cycle between the modules of one package (``if TYPE_CHECKING:`` imports ignored).
3. ``python -m levil_edge`` runs the CLI (the torchrun entry point).
4. No function outside a Typer command takes more than 12 parameters: a longer list is an options
   dataclass (``TrainOptions``, ``ExportOptions``, ``BenchOptions``, ``FillOptions``)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "levil_edge"

LAYERS: list[set[str]] = [
    {"utils", "errors", "config", "metrics", "system", "artifacts"},
    {"data", "vocab"},
    {"students", "teachers", "captioning", "runtime", "eval_report", "adapt"},
    {"train", "calibration"},
    {"export"},
    {"demo"},
    {"cli", "__main__"},
]
LAYER_OF = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def imports_of(module: str) -> list[tuple[str, int]]:
    """(imported levil_edge module, line) for every import in ``module``, at any depth. ``from P
    import n`` counts as importing ``P.n`` when that is a module, else ``P``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in MODULES else target, node.lineno))
    return [(name, line) for name, line in found if name == "levil_edge" or name.startswith("levil_edge.")]


def _part(module: str) -> str:
    """The layer unit of a module: its first name under levil_edge (a package or top-level module)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_package_has_a_layer() -> None:
    parts = {_part(m) for m in MODULES} - {""}
    assert parts <= set(LAYER_OF), f"put {sorted(parts - set(LAYER_OF))} into a layer of tests/test_layers.py"


def test_no_package_imports_a_layer_above_it() -> None:
    bad = []
    for module in MODULES:
        src = _part(module)
        if not src:
            continue
        for target, line in imports_of(module):
            dst = _part(target)
            if dst and dst in LAYER_OF and LAYER_OF[dst] > LAYER_OF[src]:
                bad.append(f"{MODULES[module].relative_to(ROOT)}:{line} ({src}, layer {LAYER_OF[src]}) imports "
                           f"{target} ({dst}, layer {LAYER_OF[dst]})")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def _resolve(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_inside_a_package() -> None:
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        src = _part(module)
        for target, _ in imports_of(module):
            dst = _resolve(target)
            # Edges between modules of one package (its __init__ included); the package's own
            # ``from pkg import submodule`` is an edge to the submodule only.
            if dst and dst != module and src and _part(dst) == src and module.count(".") >= 1:
                graph.setdefault(module, set()).add(dst)
    cycles = _cycles(graph)
    detail = []
    for comp in cycles:
        detail += [f"  {a} -> {b}" for a in comp for b in sorted(graph.get(a, ())) if b in comp]
    assert not cycles, f"import cycles inside packages: {cycles}\n" + "\n".join(detail)


def test_python_dash_m_levil_edge_runs_the_cli() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "levil_edge", "--help"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "distill" in proc.stdout


MAX_PARAMS = 12


def _typer_commands() -> set[tuple[str, str]]:
    """(module, function name) of every command the CLI registers, groups included."""
    from levil_edge.cli.app import app

    found, todo = set(), [app]
    while todo:
        t = todo.pop()
        found |= {(c.callback.__module__, c.callback.__name__) for c in t.registered_commands if c.callback}
        todo += [g.typer_instance for g in t.registered_groups]
    return found


def test_no_helper_takes_more_than_12_parameters() -> None:
    commands = _typer_commands()
    assert ("levil_edge.cli.export", "export_cmd") in commands  # the lookup sees the registered commands
    long = []
    for path in sorted(PKG.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (module, node.name) not in commands:
                a = node.args
                names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
                n = len([x for x in names if x not in ("self", "cls")])
                if n > MAX_PARAMS:
                    long.append(f"{module}.{node.name} ({n})")
    assert not long, f"take an options dataclass instead of more than {MAX_PARAMS} parameters: {long}"


def test_clip_geometry_has_one_source_the_students_default_cfg() -> None:
    """distill, finetune (scratch) and ModelConfig take frames / stride / size from the registry."""
    import dataclasses

    from levil_edge.students import get_default_cfg
    from levil_edge.train import DistillOptions, FinetuneOptions
    from levil_edge.train.common import with_student_geometry

    for cls in (DistillOptions, FinetuneOptions):
        fields = {f.name: f.default for f in dataclasses.fields(cls)}
        assert fields["frames"] is None and fields["stride"] is None and fields["size"] is None, cls
    opts = DistillOptions(out="x", videos="v", vocab="w", teacher="t", student="x3d_xs")
    cfg = get_default_cfg("x3d_xs")
    filled = with_student_geometry(opts)
    assert (filled.frames, filled.stride, filled.size) == (cfg["frames"], cfg["stride"], cfg["size"])
    assert with_student_geometry(dataclasses.replace(opts, stride=3)).stride == 3  # a value set wins
