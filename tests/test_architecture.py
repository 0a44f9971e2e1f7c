"""The package's shape, checked on its source: which packages may import which, and a training loop that knows no
objective by name."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "src" / "rsfm"
STAGES = ("pretrain", "finetune", "slimming")
BELOW_STAGES = ("data", "models")  # what stages build on
OBJECTIVE_WORDS = ("moco", "mae", "slimmable", "widths")


def _imported_packages(path: Path) -> set[str]:
    """The rsfm subpackages or modules (``rsfm.<name>``) that the module at ``path`` imports, anywhere in it."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, up level - 1
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {".".join(name.split(".")[:2]) for name in names if name.startswith("rsfm.")}


def _imports_by_package() -> dict[str, dict[str, set[str]]]:
    """{top-level subpackage: {module file: the rsfm packages it imports, less its own}}."""
    found: dict[str, dict[str, set[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if len(relative.parts) > 1:
            own = relative.parts[0]
            found.setdefault(own, {})[str(relative)] = _imported_packages(path) - {f"rsfm.{own}"}
    return found


def test_no_stage_package_imports_another():
    graph = _imports_by_package()
    assert set(STAGES) <= set(graph)
    sideways = {
        module: sorted(imported & {f"rsfm.{other}" for other in STAGES if other != stage})
        for stage in STAGES
        for module, imported in graph[stage].items()
    }
    assert not {module: hits for module, hits in sideways.items() if hits}


def test_data_and_models_import_no_stage_package():
    graph = _imports_by_package()
    upward = {
        module: sorted(imported & {f"rsfm.{stage}" for stage in STAGES})
        for below in BELOW_STAGES
        for module, imported in graph[below].items()
    }
    assert not {module: hits for module, hits in upward.items() if hits}


def _training_loop() -> ast.FunctionDef:
    """The function of the pretraining engine whose loop runs the backward passes."""
    tree = ast.parse((PACKAGE / "pretrain" / "engine.py").read_text())
    loops = [
        function
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        and any(
            isinstance(loop, ast.For)
            and any(isinstance(n, ast.Attribute) and n.attr == "backward" for n in ast.walk(loop))
            for loop in ast.walk(function)
        )
    ]
    assert len(loops) == 1, [function.name for function in loops]
    return loops[0]


def test_the_training_loop_names_no_objective():
    loop = _training_loop()
    body = loop.body[1:] if ast.get_docstring(loop) else loop.body
    code = "\n".join(ast.unparse(statement) for statement in body).lower()  # unparsed: no comments left
    assert "objective.loss(" in code
    assert [word for word in OBJECTIVE_WORDS if word in code] == []


def test_dataset_and_benchmark_names_live_in_their_tables():
    # a name as a string literal outside the registry, its kind module and the benchmark table is a fact kept twice
    homes = {"data/registry.py", "finetune/benchmarks.py"}
    names = {"loveda", "dota_v2", "dior_r", "potsdam"}
    sources = [*PACKAGE.rglob("*.py"), *(REPO / "rules").glob("*.smk"), REPO / "Snakefile"]
    strays = []
    for path in sources:
        relative = str(path.relative_to(PACKAGE)) if path.is_relative_to(PACKAGE) else path.name
        if relative in homes or relative.startswith("data/kinds/"):
            continue
        text = path.read_text()
        strays += [f"{relative}: {name}" for name in sorted(names) if f'"{name}"' in text or f"'{name}'" in text]
    assert strays == []
