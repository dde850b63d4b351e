"""How big the library's parts are: each module's lines, and the largest classes and functions.

    .venv/bin/python bench/code_size.py              # streamer/ (the library)
    .venv/bin/python bench/code_size.py --top 15 streamer/server/response.py
    streamer/engine/producer.py

Lines are physical lines (docstrings and comments included: a reader reads them too). A
class's size is its whole body, methods included; a function's (or method's) its own body.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sizes(path: Path) -> list[tuple[int, str, str]]:
    """(lines, kind, qualified name) for every class and function in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                kind = "class" if isinstance(child, ast.ClassDef) else "def"
                assert child.end_lineno is not None
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                out.append((child.end_lineno - start + 1, kind, name))
                visit(child, name + ".")

    visit(tree, "")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*", type=Path, default=[ROOT / "streamer"])
    ap.add_argument("--top", type=int, default=10, help="how many classes and functions")
    args = ap.parse_args()
    files = sorted(f for p in args.paths for f in ([p] if p.is_file() else p.rglob("*.py")))
    print("| module | lines |\n| --- | ---: |")
    total = 0
    found: list[tuple[int, str, str]] = []
    for f in files:
        n = len(f.read_text().splitlines())
        total += n
        rel = f.resolve().relative_to(ROOT)
        print(f"| {rel} | {n} |")
        found += [(size, kind, f"{rel}:{name}") for size, kind, name in sizes(f)]
    print(f"| total ({len(files)} modules) | {total} |\n")
    for kind, label in (("class", "classes"), ("def", "functions and methods")):
        print(f"| largest {label} | lines |\n| --- | ---: |")
        for size, _, name in sorted((x for x in found if x[1] == kind), reverse=True)[: args.top]:
            print(f"| {name} | {size} |")
        print()


if __name__ == "__main__":
    main()
