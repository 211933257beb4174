"""Which way the dependencies point: `domain` is pure, SQL lives in `db/`, and nothing shipped
imports the test suite. Read from the source (no imports, no database): part of the fast tier."""

import ast
import fnmatch
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = frozenset(
    path.parent.name for path in ROOT.glob("*/__init__.py") if path.parent.name != ".venv"
)

# Upper-case SQL statements as the project writes them; prose rarely reads like this.
SQL = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+[\w.]+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(CREATE|DROP|ALTER)\s+(TABLE|INDEX|DATABASE|SCHEMA)\b|\bTRUNCATE\s+\w|\bON\s+CONFLICT\b"
    r"|\bpg_advisory\w*|\bpg_notify\b"
)


def modules(package: str) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, top-level name) of every absolute import, wherever it sits in the module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.partition(".")[0]


def shipped_packages() -> frozenset[str]:
    """The project's top-level packages the built distribution includes (pyproject.toml)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return frozenset(
        name for name in PROJECT_PACKAGES if any(fnmatch.fnmatch(name, p) for p in patterns)
    )


def docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_domain_imports_only_the_standard_library_and_itself() -> None:
    allowed = sys.stdlib_module_names | {"domain"}
    outside = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path, tree in modules("domain")
        for line, name in imported(tree)
        if name not in allowed
    ]
    assert outside == []


def test_sql_lives_in_db() -> None:
    found = []
    for package in ("webapp", "actors", "ops"):
        for path, tree in modules(package):
            where = path.relative_to(ROOT).as_posix()
            skip = docstrings(tree)
            found.extend(
                f"{where}:{node.lineno} {node.value[:60]!r}"
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
                and SQL.search(node.value)
            )
    assert found == []


def test_shipped_packages_need_only_shipped_packages_never_the_tests() -> None:
    shipped = shipped_packages()
    assert {"domain", "db", "actors", "webapp", "ops", "bench"} <= shipped
    assert "tests" not in shipped
    missing = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for package in sorted(shipped)
        for path, tree in modules(package)
        for line, name in imported(tree)
        if name in PROJECT_PACKAGES and name not in shipped
    ]
    assert missing == []
