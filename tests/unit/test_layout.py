"""The parts and the arrows between them (README, Layout): who may import whom.

Every import statement counts, at module level or inside a function, and so does a dotted
name in a string handed to the import machinery (``"connectors.cen.source:run"``), so a
lazy import cannot hide an arrow pointing the wrong way.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("liaison", "pipelines", "connectors", "stack", "bench")

# What each part may import of the others (itself always).
ALLOWED = {
    "liaison": set(),
    "pipelines": {"liaison"},
    "connectors": {"liaison"},
    "stack": {"liaison", "pipelines", "connectors"},
    "bench": {"liaison", "pipelines", "connectors", "stack"},
}


def _modules(part: str) -> list[Path]:
    return sorted(
        p for p in (ROOT / part).rglob("*.py") if not any(d.startswith(".") for d in p.parts)
    )


def _named_parts(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level package) for every import and import-like string in ``tree``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            module = _module_named(node.value)
            if module is not None:
                found.append((node.lineno, module.split(".")[0]))
    return found


_DOTTED = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)(?::[A-Za-z_][A-Za-z0-9_.]*)?$")


def _module_named(text: str) -> str | None:
    """The module a string such as ``"connectors.cen.source:run"`` names, if it is one of
    the repository's (``"connectors.yaml"``, a file name, is not)."""
    match = _DOTTED.match(text)
    if match is None or match[1].split(".")[0] not in PARTS:
        return None
    path = ROOT.joinpath(*match[1].split("."))
    return match[1] if path.with_suffix(".py").is_file() or path.is_dir() else None


def violations(part: str) -> list[str]:
    wrong = []
    for path in _modules(part):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, target in _named_parts(tree):
            if target in PARTS and target != part and target not in ALLOWED[part]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return wrong


@pytest.mark.parametrize("part", PARTS)
def test_each_part_imports_only_the_parts_below_it(part):
    assert violations(part) == []


def test_the_check_sees_lazy_imports_and_import_strings(tmp_path):
    # The detector itself, on code shaped like the arrows it must catch.
    tree = ast.parse(
        "def f():\n"
        "    from connectors.local import PartnerIntake\n"
        "    import pipelines.worker\n"
        "RUN = 'stack.demo:run_demo'\n"
        "TEXT = 'the pipelines part'\n"
        "FILE = 'connectors.yaml'\n"
    )
    assert [target for _, target in _named_parts(tree)] == ["connectors", "pipelines", "stack"]


def test_every_module_belongs_to_a_part():
    # A new top-level package must be given its place in the arrows first.
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert packages <= {*PARTS, "tests"}


def test_the_wheel_ships_the_core_the_parts_and_the_stack_but_not_the_benchmark():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()]
    shipped = {name for name in packages if any(fnmatch.fnmatch(name, i) for i in include)}
    assert shipped == {"liaison", "pipelines", "connectors", "stack"}


def test_the_core_finds_the_parts_commands_and_processes_through_entry_points():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    groups = config["project"]["entry-points"]
    for group in ("liaison.commands", "liaison.processes"):
        targets = {value.split(".")[0] for value in groups[group].values()}
        assert targets <= {"pipelines", "connectors", "stack"}, group


def test_the_image_holds_every_part_the_wheel_ships():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.M))
    allowed = {
        line.removeprefix("!")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    shipped = {"liaison", "pipelines", "connectors", "stack"}
    assert shipped <= copied
    assert shipped <= allowed
    assert "bench" not in copied
