"""The layers hold: no app imports an app above it, no two apps depend on each other, and imports inside
functions say which cycle they break.

The import graph of ``apps/`` is read statically (``ast``): imports at module level and inside functions
(``if TYPE_CHECKING`` ones too), and task names written as dotted strings ("apps.reporting.tasks.x"),
because a task queued by name is as much a dependency as an import. The layer order is the table in
docs/architecture.md ("Layers"), top first; an app may use only the layers below its own. An exception
to that is listed in ``ALLOWED`` with its reason.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "apps"
DOCS = ROOT / "docs" / "architecture.md"
DOTTED = re.compile(r"\bapps\.([a-z_]+)\.[a-z_][\w.]*")

# (importing app, imported app, importing module) -> why this one climbs. Keep it short.
ALLOWED: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True)
class Edge:
    source: str  # app
    target: str  # app
    module: str  # the importing module, dotted
    line: int
    what: str  # the imported module (or module.name), or the dotted string
    kind: str  # "import", "typing" (under ``if TYPE_CHECKING``), or "name" (a dotted string)
    in_function: str | None  # the enclosing function, if any
    text: str  # the import's source line and the line above it (for the cycle comment)


def layers() -> list[list[str]]:
    """The layer table of docs/architecture.md, top first: each line names one layer's apps before its description."""
    text = DOCS.read_text()
    section = text[text.index("## Layers"):]
    block = section[section.index("```") + 3:]
    block = block[block.index("\n") + 1:block.index("```")]
    found = []
    for line in block.splitlines():
        if not line.strip() or line[0].isspace():
            continue  # a description's continuation line
        names = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        found.append([name.strip() for name in names.split(",")])
    return found


def rank() -> dict[str, int]:
    table = layers()
    return {app: len(table) - position for position, apps in enumerate(table) for app in apps}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _enclosing_functions(tree: ast.AST) -> dict[int, str]:
    inside: dict[int, str] = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if node is not function:
                    inside.setdefault(id(node), function.name)  # ast.walk is breadth-first: the outermost wins
    return inside


def _typing_only(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found |= {id(inner) for statement in node.body for inner in ast.walk(statement)}
    return found


def edges() -> list[Edge]:
    found = []
    for path in sorted(APPS.rglob("*.py")):
        module = _module(path)
        source_app = module.split(".")[1] if module.count(".") else ""
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source)
        docstrings, functions, typing_only = _docstrings(tree), _enclosing_functions(tree), _typing_only(tree)
        for node in ast.walk(tree):
            kind = "typing" if id(node) in typing_only else "import"
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):  # "from apps.runs import engine": the module, or the name in it
                base = _resolve(module, path, node)
                targets = [f"{base}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                targets, kind = [match.group(0) for match in DOTTED.finditer(node.value)], "name"
            else:
                continue
            for target in targets:
                if target.startswith("apps.") and target.count("."):
                    text = "\n".join(lines[max(node.lineno - 2, 0):node.lineno])
                    found.append(Edge(source_app, target.split(".")[1], module, node.lineno, target, kind,
                                      functions.get(id(node)), text))
    return found


def _where(edge: Edge) -> str:
    return f"{edge.module}:{edge.line} imports {edge.what}"


def test_the_graph_is_read_at_all():
    """Guards the test itself: a parser that found nothing would pass everything below."""
    graph = {(e.source, e.target) for e in edges()}
    assert ("runs", "canonical") in graph and ("reporting", "runs") in graph and ("portal", "tenants") in graph
    assert any(e.what == "apps.reporting.tasks.reporting_refresh" for e in edges())  # a task named as a string


def test_every_app_has_a_place_in_the_layers():
    packages = {p.name for p in APPS.iterdir() if (p / "__init__.py").exists()}
    missing = packages - set(rank())
    assert not missing, f"apps missing from the layer table in docs/architecture.md: {missing}"


def test_no_app_uses_a_layer_above_its_own():
    order = rank()
    wrong = [_where(e) for e in edges()
             if e.source != e.target and order[e.target] >= order[e.source]
             and (e.source, e.target, e.module) not in ALLOWED]
    assert not wrong, "imports against the layer order (docs/architecture.md):\n" + "\n".join(wrong)


def _tangles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Groups of apps that reach each other (strongly connected components larger than one app)."""
    reach = {app: _reachable(graph, app) for app in graph}
    groups = {frozenset(a for a in reach if a in reach[app] and app in reach[a]) | {app} for app in graph}
    return [set(group) for group in groups if len(group) > 1]


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_no_cycles_between_apps():
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges():
        if edge.source != edge.target:
            graph[edge.source].add(edge.target)
    tangles, order = _tangles(graph), rank()
    # The climbing edges close the loops: name them (an allowed one counts too: allowed is not acyclic).
    detail = [f"{sorted(group)}, closed by: " + "; ".join(sorted({
        _where(e) for e in edges() if {e.source, e.target} <= group and e.source != e.target
        and order[e.target] >= order[e.source]})) for group in tangles]
    assert not tangles, "apps that depend on each other:\n" + "\n".join(detail)


def test_no_cycles_between_modules_inside_an_app():
    """Inside an app too, modules form layers (the engine over the run lease and the slices; exceptions' ingest over
    its services): no module imports one that imports it back. Imports for type hints only do not count."""
    modules = {_module(path) for path in APPS.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges():
        target = edge.what
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if edge.kind == "import" and target and target != edge.module and ".migrations." not in edge.module:
            graph[edge.module].add(target)
    tangles = _tangles(graph)
    assert not tangles, "modules that import each other:\n" + "\n".join(str(sorted(group)) for group in tangles)


def test_imports_inside_functions_name_the_cycle_they_break():
    """An import inside a function hides a dependency; it is there only to break a cycle, and says which.
    ``AppConfig.ready`` is the exception: Django loads models before it, so that is where apps wire themselves."""
    hidden = [_where(e) for e in edges()
              if e.kind == "import" and e.in_function not in (None, "ready") and "cycle" not in e.text.lower()]
    assert not hidden, "imports inside functions without a comment naming the cycle they break:\n" + "\n".join(hidden)


def test_the_allow_list_is_short_and_still_needed():
    used = {(e.source, e.target, e.module) for e in edges()}
    assert len(ALLOWED) <= 5
    assert set(ALLOWED) <= used, f"allowed imports that no longer exist: {set(ALLOWED) - used}"
    assert all(reason.strip() for reason in ALLOWED.values())
