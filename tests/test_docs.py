"""The project documents stay true to the tree: named paths exist, links resolve.

``docs/architecture.md`` is the module map a newcomer reads first, so every
file or folder it names must exist, every dotted name it uses must import,
and every ``markit_core`` subpackage must appear in it. Every Markdown link
in the README and in ``docs/`` must reach a file inside the repository, and
the README must link every document in ``docs/``. The worked example of
``docs/reward-math.md`` is recomputed from the tables in the document itself.
"""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from markit_core.rewards.engine import compute_rewards
from markit_core.rewards.table import AnnotationTable

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
ARCHITECTURE = DOCS / "architecture.md"
REWARD_MATH = DOCS / "reward-math.md"
README = ROOT / "README.md"

# A repository path as the documents write it: a top-level folder, then path characters.
PATH_RE = re.compile(r"(?<![\w./-])(?:markit_core|pages|ui|benchmarks|tests)/[\w./*-]*")
LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE_RE = re.compile(r"`([^`\n]+)`")
FENCE_RE = re.compile(r"^```.*?^```", re.S | re.M)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _named_paths(text: str) -> set[str]:
    """Repository paths in a document (placeholders such as ``pages/<name>.py`` cut at ``<``)."""
    return {m.group(0).rstrip(".,;:") for m in PATH_RE.finditer(text)}


def _exists(path: str) -> bool:
    """A path exists; a glob (``tests/test_page_*.py``) matches at least one file."""
    if "*" in path:
        return any(ROOT.glob(path))
    return (ROOT / path).exists()


def _doc_files() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def test_architecture_and_reward_math_exist() -> None:
    assert ARCHITECTURE.is_file() and REWARD_MATH.is_file()


@pytest.mark.parametrize("doc", ["architecture.md", "reward-math.md"])
def test_every_path_named_exists(doc: str) -> None:
    text = _text(DOCS / doc)
    named = _named_paths(text)
    assert len(named) >= (60 if doc == "architecture.md" else 3), "the path pattern found too few"
    missing = sorted(p for p in named if not _exists(p))
    assert not missing, f"docs/{doc} names paths that do not exist: {missing}"


def test_every_core_module_path_is_a_file_or_package() -> None:
    """A ``.py`` the map names is a file; a folder it names ending in ``/`` is a directory."""
    for p in _named_paths(_text(ARCHITECTURE)):
        if "*" in p:
            continue
        target = ROOT / p
        if p.endswith(".py"):
            assert target.is_file(), p
        elif p.endswith("/"):
            assert target.is_dir(), p


def test_every_markit_core_subpackage_is_in_the_map() -> None:
    text = _text(ARCHITECTURE)
    packages = sorted(
        init.parent.relative_to(ROOT).as_posix() + "/"
        for init in (ROOT / "markit_core").rglob("__init__.py")
        if init.parent != ROOT / "markit_core"
    )
    assert "markit_core/rewards/" in packages  # the scan itself works
    absent = [p for p in packages if p not in text]
    assert not absent, f"docs/architecture.md does not mention the subpackages {absent}"


@cache
def _ledger_actions() -> frozenset[str]:
    """String literals like ``"rewards.run"`` in the core: ledger action names, not objects."""
    found = set()
    for path in (ROOT / "markit_core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"[a-z_]+\.[a-z_]+", node.value)
            ):
                found.add(node.value)
    return frozenset(found)


@cache
def _top_level_names() -> frozenset[str]:
    core = ROOT / "markit_core"
    names = {p.stem for p in core.glob("*.py") if p.stem != "__init__"}
    names |= {p.parent.name for p in core.glob("*/__init__.py")}
    return frozenset(names)


def _resolves(dotted: str) -> bool:
    """Whether ``markit_core.<dotted>`` (or ``ui.<dotted>``) is a module or a name in one."""
    parts = dotted.split(".")
    prefix = [] if parts[0] in ("markit_core", "ui") else ["markit_core"]
    parts = prefix + parts
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_dotted_core_name_resolves() -> None:
    """``rewards.runs.run_rewards``, ``access.require`` and the like name real objects."""
    text = FENCE_RE.sub("", _text(ARCHITECTURE))
    names = set()
    for m in CODE_RE.finditer(text):
        token = m.group(1).split("(")[0].strip()
        head = token.split(".")[0]
        if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", token) and (
            head in _top_level_names() or head in ("markit_core", "ui")
        ):
            names.add(token)
    assert len(names) >= 10, f"too few dotted names found: {sorted(names)}"
    broken = sorted(n for n in names if not _resolves(n) and n not in _ledger_actions())
    assert not broken, f"docs/architecture.md names objects that do not exist: {broken}"


@cache
def _test_functions() -> frozenset[str]:
    names = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names.add(node.name)
    return frozenset(names)


@pytest.mark.parametrize("doc", ["architecture.md", "reward-math.md"])
def test_cited_tests_exist(doc: str) -> None:
    cited = {m.group(1) for m in CODE_RE.finditer(_text(DOCS / doc))}
    cited = {c for c in cited if re.fullmatch(r"test_\w+", c)}
    assert not sorted(cited - _test_functions()), "cited tests that do not exist"


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(text: str) -> set[str]:
    body = FENCE_RE.sub("", text)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.+)$", body, re.M)}


@pytest.mark.parametrize(
    "doc", [README, *_doc_files()], ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_links_reach_files_in_the_repository(doc: Path) -> None:
    text = _text(doc)
    for target in LINK_RE.findall(FENCE_RE.sub("", text)):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        assert dest.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert dest.exists(), f"{doc.name} links to a missing file: {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(_text(dest)), f"{doc.name}: no heading for {target}"


def test_readme_links_every_document_and_nothing_outside() -> None:
    text = _text(README)
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in LINK_RE.findall(text)}
    unlinked = [d.relative_to(ROOT).as_posix() for d in _doc_files() if d.resolve() not in linked]
    assert not unlinked, f"README.md does not link {unlinked}"
    for outside in ("shared/", "../", "DESIGN.md", "REWARD_MATH.md"):
        assert outside not in text, f"README.md points outside the repository ({outside!r})"


def _worked_example() -> tuple[AnnotationTable, np.ndarray, float, dict[str, float]]:
    """The answers, label times, budget and stated rewards of reward-math.md's example."""
    text = _text(REWARD_MATH)
    section = text[text.index("## Worked example") :]
    rows = []
    labels = []
    for m in re.finditer(r"^\| (\w+) \(A, B, C\) \|(.+)\|$", section, re.M):
        label, cells = m.group(1), [c.split() for c in m.group(2).split("|")]
        labels.append(label)
        for j, votes in enumerate(cells, start=1):
            rows += [(f"img{j}", label, a, v == "T") for a, v in zip("ABC", votes, strict=True)]
    times = {lab: float(s) for s, lab in re.findall(r"(\d+(?:\.\d+)?) s\s+\((\w+)\)", section)}
    budget_match = re.search(r"budget (\d+(?:\.\d+)?)", section)
    assert budget_match is not None, "the worked example states no budget"
    budget = float(budget_match.group(1))
    stated = {a: float(x) for a, x in re.findall(r"reward\((\w)\) = (\d+(?:\.\d+)?)", section)}
    cases, labs, anns, values = zip(*rows, strict=True)
    table = AnnotationTable.from_columns(cases, labs, anns, values)
    seconds = np.array([times[lab] for lab in table.labels])
    return table, seconds, budget, stated


def test_worked_example_in_the_document_is_what_the_code_computes() -> None:
    table, seconds, budget, stated = _worked_example()
    assert table.n_annotations == 24 and set(stated) == {"A", "B", "C"}
    result = compute_rewards(table, budget=budget, label_seconds=seconds)
    assert {a: result.reward_of(a) for a in stated} == pytest.approx(stated)
