"""Count bcrm's cross-app imports, the ones that run up the layers, and the ones hidden inside functions.

    python tools/xapp.py            # summary
    python tools/xapp.py -v         # every cross-app edge, and every upward import with file:line

The layer order is the one in README "Architecture" (and in the import-linter contract in pyproject.toml).
Apps on one line of LAYERS are siblings: an import between them is not counted as upward.
"""

from __future__ import annotations

import ast
import collections
import pathlib
import sys

# lowest first; one tuple per layer
LAYERS: list[tuple[str, ...]] = [
    ("stats", "audit"),
    ("core",),
    ("accounts",),
    ("ui",),
    ("parties",),
    ("financing",),
    ("engagement",),
    ("dataio", "surveys", "dedupe", "intel"),
    ("segmentation",),
    ("dataquality",),
    ("plans", "book", "closing"),
    ("playbooks",),
    ("resources",),
    ("progress",),
    ("monitoring",),
    ("web", "fileanalysis", "demo", "backup", "connect", "privacy"),
    ("api", "urls", "cli", "settings", "wsgi", "asgi", "formats", "locale"),
]
RANK = {app: i for i, layer in enumerate(LAYERS) for app in layer}


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    root = pathlib.Path(__file__).resolve().parent.parent / "bcrm"
    edges: collections.Counter[tuple[str, str, bool]] = collections.Counter()
    upward: list[str] = []
    total = inner = 0
    for f in sorted(root.rglob("*.py")):
        if "migrations" in f.parts:
            continue
        rel = f.relative_to(root).parts
        src = rel[0] if len(rel) > 1 else rel[0][:-3]
        tree = ast.parse(f.read_text())
        in_func: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(node):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        in_func.add(id(sub))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            for m in mods:
                p = m.split(".")
                if p[0] != "bcrm" or len(p) < 2:
                    continue
                dst = p[1]
                if dst == src:
                    continue
                total += 1
                hidden = id(node) in in_func
                inner += hidden
                edges[(src, dst, hidden)] += 1
                if RANK.get(dst, -1) > RANK.get(src, 99) or (src == "stats"):
                    upward.append(f"{f.relative_to(root.parent)}:{node.lineno}: {src} -> {m}"
                                  + (" (in func)" if hidden else ""))
    if verbose:
        for (s, d, i), n in sorted(edges.items()):
            print(f"{s:14} -> {d:14} {'(in func)' if i else '':10} {n}")
        print()
        print("\n".join(upward))
    pairs = {(u.split(": ")[1].split(" -> ")[0], u.split(" -> ")[1].split()[0].split(".")[1]) for u in upward}
    print(f"cross-app imports {total}, inside functions {inner} ({100 * inner / max(total, 1):.0f} %), "
          f"upward {len(upward)} (in {len(pairs)} app pairs)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
