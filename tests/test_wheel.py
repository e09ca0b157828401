"""The package works installed from a wheel, not only editable.

The wheel is built from a copy of what the build reads (``pyproject.toml``, the readme, the
package folders), installed with ``pip --no-deps`` into a fresh virtual environment whose only
other packages are the project environment's (a ``.pth`` file names its site-packages, so
nothing is downloaded), and the command line is run from a folder outside the checkout, so the
source tree cannot be imported by accident.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from setuptools.config.pyprojecttoml import read_configuration

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = read_configuration(ROOT / "pyproject.toml", expand=False)  # tomllib is 3.11+
PACKAGE_DIRS: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]  # name -> folder
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def _run(cmd: list[str | Path], cwd: Path, timeout: float = 120) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the virtual environment it is installed in)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", src)
    readme = PYPROJECT["project"]["readme"]
    shutil.copy2(ROOT / (readme if isinstance(readme, str) else readme["file"]), src)
    for folder in PACKAGE_DIRS.values():
        shutil.copytree(ROOT / folder, src / folder, ignore=SKIP)
    pip = [sys.executable, "-m", "pip"]
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", "dist", src],
        tmp,
    )
    (wheel,) = (tmp / "dist").glob("tracr_bench-*.whl")

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp)
    python = venv / "bin" / "python"
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp)
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(site.strip()) / "project_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    _run([*pip, "--python", python, "install", "--no-deps", "--no-index", "-q", wheel], tmp)
    return wheel, venv


def _source_files(folder: Path) -> list[Path]:
    return sorted(
        p.relative_to(folder)
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def test_wheel_holds_every_package_and_data_file(built: tuple[Path, Path]) -> None:
    wheel, _ = built
    with zipfile.ZipFile(wheel) as z:
        sizes = {info.filename: info.file_size for info in z.infolist()}
    # every package of the source tree (a folder with __init__.py), under its installed name
    for name, folder in PACKAGE_DIRS.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            package = Path(name, init.parent.relative_to(ROOT / folder))
            assert (package / "__init__.py").as_posix() in sizes, f"{package} is not in the wheel"
    # every module, the lm_eval task configs (YAML + their Python shim) and the shipped data
    wanted = [("tracr_bench", p) for p in _source_files(ROOT / "tracr_bench") if p.suffix == ".py"]
    wanted += [("tracr_bench", Path("data") / p) for p in _source_files(ROOT / "tracr_bench/data")]
    tasks = _source_files(ROOT / PACKAGE_DIRS["tracr_bench_tasks"])
    wanted += [("tracr_bench_tasks", p) for p in tasks if p.suffix in (".py", ".yaml")]
    assert any(p.suffix == ".yaml" for _, p in wanted)
    assert ("tracr_bench", Path("data/default_lm/model.safetensors")) in wanted
    for package, rel in wanted:
        arcname = f"{package}/{rel.as_posix()}"
        assert arcname in sizes, f"{arcname} is missing from the wheel"
        folder = ROOT / PACKAGE_DIRS[package]
        assert sizes[arcname] == (folder / rel).stat().st_size, arcname


def test_installed_command_line_runs_outside_the_checkout(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    _, venv = built
    bin_dir = venv / "bin"
    where = _run(
        [
            bin_dir / "python",
            "-c",
            "import tracr_bench, tracr_bench_tasks as t; "
            "print(tracr_bench.__file__); print(t.__file__)",
        ],
        tmp_path,
    )
    for path in where.split():
        assert Path(path).resolve().is_relative_to(venv.resolve()), path
    assert "usage: tracr-bench" in _run([bin_dir / "tracr-bench", "--help"], tmp_path)
    shown = _run([bin_dir / "tracr-bench", "inject", "--help"], tmp_path)
    assert "--task" in shown and "--kl-weight" in shown
    assert "usage: tracr-bench" in _run(
        [bin_dir / "python", "-m", "tracr_bench", "--help"], tmp_path
    )
    # the shipped LM is found in the installed package and its weights match their record
    code = (
        "from tracr_bench import models as m; m.check_default_model(); print(m.DEFAULT_MODEL_DIR)"
    )
    lm_dir = _run([bin_dir / "python", "-c", code], tmp_path).strip()
    assert Path(lm_dir).resolve().is_relative_to(venv.resolve()), lm_dir
    # the installed task configs are found and agree with the installed task registry
    checked = _run([bin_dir / "tracr-bench", "lm-eval-configs", "--check"], tmp_path)
    assert str(venv.resolve()) in checked and "up to date" in checked
