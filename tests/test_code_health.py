"""Size and complexity limits for the library (issue 21): what a reviewer can hold in their head.

- No module of the library (``constructs/hyperpod_cdk``, the Lambda handlers inside it included) is
  longer than 600 lines.
- No function or method has a cyclomatic complexity above 25, as radon computes it (radon's API,
  ``radon cc``; the numbers the issue quotes, e.g. 42 for ``_check_platform_props``, are radon's).

The duplicate-code limit of the issue ("at most 15 pairs in constructs/", as the session's
``duplicates`` command counts them) is not checked here: that command is not part of this
repository or of CI, and its pairing rules (same-shape runs, boilerplate, runs too common to list)
are not specified closely enough to count the same pairs. See docs/development.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from radon.visitors import Class, ComplexityVisitor, Function

REPO = Path(__file__).resolve().parent.parent
LIBRARY = REPO / "constructs" / "hyperpod_cdk"
MAX_MODULE_LINES = 600
MAX_COMPLEXITY = 25


def _modules() -> list[Path]:
    return sorted(p for p in LIBRARY.rglob("*.py") if "__pycache__" not in p.parts)


def _functions(source: str) -> Iterator[tuple[str, int, int]]:
    """(qualified name, line, complexity) of every function, method and closure of a module."""
    visitor = ComplexityVisitor.from_code(source)
    return _walk(list(visitor.functions) + list(visitor.classes))


def _walk(blocks: list[Function | Class], prefix: str = "") -> Iterator[tuple[str, int, int]]:
    for block in blocks:
        if isinstance(block, Class):
            yield from _walk(list(block.methods) + list(block.inner_classes), f"{prefix}{block.name}.")
        else:
            yield f"{prefix}{block.name}", block.lineno, block.complexity
            yield from _walk(list(block.closures), f"{prefix}{block.name}.")


def test_the_library_has_modules_to_check():
    names = {p.relative_to(LIBRARY).as_posix() for p in _modules()}
    assert {"platform.py", "cli/main.py", "kubernetes/handlers/helm_dependencies/index.py"} <= names


def test_the_function_walk_sees_methods_and_closures():
    source = (
        "class A:\n    def m(self, x):\n        def inner(y):\n            return 1 if y else 2\n        return inner\n"
    )
    assert {name: c for name, _, c in _functions(source)} == {"A.m": 1, "A.m.inner": 2}


def test_no_library_module_is_longer_than_600_lines():
    too_long = {
        p.relative_to(REPO).as_posix(): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines (split them by responsibility): {too_long}"


def test_no_library_function_is_more_complex_than_25():
    limit = MAX_COMPLEXITY
    too_complex = {
        f"{p.relative_to(REPO).as_posix()}:{line} {name}": complexity
        for p in _modules()
        for name, line, complexity in _functions(p.read_text(encoding="utf-8"))
        if complexity > limit
    }
    assert not too_complex, f"functions over cyclomatic complexity {limit} (radon): {too_complex}"
