"""`pip install .` installs the whole core: the wheel holds every module, the migrations and
the command-line entry points, and depends on what requirements.txt lists.

The wheel is built offline with the installed setuptools (what ``pip wheel .
--no-build-isolation`` runs) from a copy of the sources, so the checkout stays clean.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "requirements.txt"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "markit_core", src / "markit_core", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = src / "dist"
    script = (
        "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    )
    build = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    name = build.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(out / name) as zf:
        yield zf


def test_wheel_holds_every_core_module_and_the_migrations(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    sources = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "markit_core").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in {".py", ".mako"}
    }
    missing = sorted(sources - names)
    assert not missing, f"not in the wheel (add the package to pyproject.toml): {missing}"
    for needed in (
        "markit_core/migrations/env.py",
        "markit_core/migrations/script.py.mako",
        "markit_core/migrations/versions/0001_foundation.py",
    ):
        assert needed in names
    # the core only: the Streamlit app, tests and runtime data stay in the checkout
    assert not [n for n in names if n.split("/")[0] in {"ui", "pages", "tests", "data"}]


def test_wheel_entry_points_and_dependencies(wheel: zipfile.ZipFile) -> None:
    info = next(n.split("/")[0] for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "markit = markit_core.cli:main" in entry_points
    assert "markit-rewards = markit_core.commands.rewards:main" in entry_points
    metadata = wheel.read(f"{info}/METADATA").decode().splitlines()
    prefix = "Requires-Dist: "
    requires = [ln.removeprefix(prefix) for ln in metadata if ln.startswith(prefix)]
    # setuptools normalises specifier order (">=1,<2" -> "<2,>=1"): compare as sets of parts

    def parts(req: str) -> tuple[str, frozenset[str]]:
        for i, ch in enumerate(req):
            if ch in "<>=!~;":
                return req[:i].strip().lower(), frozenset(req[i:].replace(" ", "").split(","))
        return req.strip().lower(), frozenset()

    assert sorted(map(parts, requires)) == sorted(map(parts, _requirements()))
