"""The code stays readable: every Python module of the package, the tasks, the benchmarks and the
tests is under 400 lines with every function under 80, and every package module says what it
holds in a docstring. (What a stage takes and gives is in its package docstring.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("tracr_bench", "tasks", "benchmarks", "tests")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_and_function_sizes(path: Path):
    text = path.read_text("utf-8")
    assert text.count("\n") < MAX_MODULE_LINES, f"{path.name}: {text.count(chr(10))} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_every_package_module_has_a_docstring():
    missing = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "tracr_bench").rglob("*.py")
        if not ast.get_docstring(ast.parse(p.read_text("utf-8")))
    ]
    assert not missing, f"modules without a docstring: {missing}"


def test_each_stage_is_a_package_registered_in_the_cli():
    from tracr_bench import cli

    stages = {m.__name__.split(".")[1] for m in cli.STAGES}
    packages = {p.parent.name for p in (ROOT / "tracr_bench").glob("*/__init__.py")}
    assert stages == packages - {"data"}, (stages, packages)
