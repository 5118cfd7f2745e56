"""The house's rules, checked from the source (no Spark): the import graph has no circle and
every floor imports only downwards; every published table is declared once, in the catalog,
with a builder in a module named after it."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from distillwatch import tables
from distillwatch.config import repo_conf_dir

REPO = Path(__file__).resolve().parent.parent
# installed name -> folder in the checkout (pyproject's package-dir)
ROOTS = {
    "distillwatch": REPO / "distillwatch",
    "distillwatch.jobs": REPO / "jobs",
    "distillwatch.pipelines": REPO / "pipelines",
    "distillwatch.models": REPO / "models",
}
UPPER = ("distillwatch.jobs", "distillwatch.pipelines", "distillwatch.models", "distillwatch.simulate")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pkg, folder in ROOTS.items():
        for file in folder.rglob("*.py"):
            rel = file.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([pkg, *parts])
            if pkg == "distillwatch" and any(name.startswith(u) for u in UPPER[:3]):
                continue
            found[name] = file
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[tuple[str, list[str]]]:
    """(module, names) of every import, function-level ones included, except those only
    for type checking."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for other in node.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]))
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [a.name for a in node.names]
        yield from _imports(node)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, file in MODULES.items():
        edges: set[str] = set()
        for module, names in _imports(ast.parse(file.read_text(encoding="utf-8"))):
            if not module.startswith("distillwatch"):
                continue
            subs = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
            edges.update(subs or [module])
        graph[name] = {e for e in edges if e != name and e in MODULES}
    return graph


GRAPH = _graph()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _floor(module: str) -> str:
    for upper in UPPER:
        if module == upper or module.startswith(upper + "."):
            return upper.split(".")[1]
    return "cli" if module in ("distillwatch.cli", "distillwatch.__main__") else "ground"


def test_the_import_graph_has_no_circle() -> None:
    assert len(GRAPH) > 40  # the walk found the house
    assert _cycles(GRAPH) == []


# floor -> the floors it may import
ALLOWED = {
    "ground": {"ground"},
    "simulate": {"ground", "simulate"},
    "pipelines": {"ground", "pipelines"},
    "models": {"ground", "models"},
    "jobs": {"ground", "pipelines", "models", "simulate", "jobs"},
    "cli": {"ground", "jobs", "cli"},
}


def test_every_floor_imports_only_downwards() -> None:
    wrong = sorted(
        f"{m} ({_floor(m)}) imports {t} ({_floor(t)})"
        for m, targets in GRAPH.items()
        for t in targets
        if _floor(t) not in ALLOWED[_floor(m)]
    )
    assert wrong == []


def test_builders_do_no_io_of_their_own() -> None:
    """Pipelines and models read and write nothing themselves: no lakehouse, no job context."""
    io = {"distillwatch.lakehouse", "distillwatch.context", "distillwatch.files"}
    wrong = sorted(
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        if _floor(m) in ("pipelines", "models")
        for t in targets & io
    )
    assert wrong == []


@pytest.mark.parametrize("name", sorted(tables.CATALOG))
def test_each_table_names_a_builder_in_a_module_named_after_it(name: str) -> None:
    t = tables.table(name)
    module, _, function = t.builder.partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    # a module (or, for the runtime's own records, a package) named after the table or family
    named = module.split(".")[-1] if t.layer != "ops" else module.split(".")[1:]
    assert t.name in named or t.family in named, t.builder
    assert t.layer in tables.LAYERS and t.write in tables.WRITES
    assert t.partition is None or t.partition in t.schema.fieldNames()
    assert set(t.key) <= set(t.schema.fieldNames())
    assert (t.write in ("merge", "insert")) == bool(t.key)
    assert (t.write == "day") <= (t.partition is not None)
    if t.suite:
        assert (repo_conf_dir() / "expectations" / f"{t.suite}.yaml").is_file()


def test_every_expectation_suite_guards_a_catalog_table() -> None:
    suites = {p.stem for p in (repo_conf_dir() / "expectations").glob("*.yaml")}
    assert suites == {t.suite for t in tables.CATALOG.values() if t.suite}


def _module_level_schemas(tree: ast.Module) -> Iterator[tuple[str, set[str]]]:
    """(variable, field names) of module-level ``StructType([...StructField("x", ...)])``."""
    for node in tree.body:
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Call):
            continue
        func = node.value.func
        if not (isinstance(func, ast.Name) and func.id == "StructType") and not (
            isinstance(func, ast.Attribute) and func.attr in ("StructType", "fromJson")
        ):
            continue
        names = {
            c.args[0].value
            for c in ast.walk(node.value)
            if isinstance(c, ast.Call)
            and getattr(c.func, "id", getattr(c.func, "attr", "")) in ("StructField", "_s")
            and c.args
            and isinstance(c.args[0], ast.Constant)
        }
        target = node.targets[0]
        yield (target.id if isinstance(target, ast.Name) else "?"), names


def test_no_published_schema_is_declared_outside_the_catalog() -> None:
    published = {name: set(t.schema.fieldNames()) for name, t in tables.CATALOG.items()}
    files = {**MODULES, **{f"tests.{p.stem}": p for p in (REPO / "tests").glob("test_*.py")}}
    landing = {"distillwatch.contract"}  # the landing contract: what others write, not a table
    copies = sorted(
        f"{module}.{var} repeats {table}"
        for module, file in files.items()
        if module not in landing | {"distillwatch.tables"}
        for var, names in _module_level_schemas(ast.parse(file.read_text(encoding="utf-8")))
        for table, cols in published.items()
        if names and names == cols
    )
    assert copies == []


def test_a_drifting_builder_is_named_column_by_column() -> None:
    actual = tables.subset(tables.CAMPAIGN_EXCHANGES, "event_date", "campaign_id", "request_id")
    drift = tables.schema_drift(tables.CAMPAIGN_EXCHANGES, actual)
    assert drift == ["missing account_id string"]
    assert tables.schema_drift(tables.CAMPAIGN_EXCHANGES, tables.schema(tables.CAMPAIGN_EXCHANGES)) == []
    with pytest.raises(KeyError, match="not a table of the catalog"):
        tables.table("campaign_exchange")


def test_the_circle_finder_finds_circles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_raw_text_columns_are_spelled_once() -> None:
    from distillwatch.config import QualityConf
    from distillwatch.pipelines.views import FORBIDDEN_COLUMNS

    raw = {c for t in tables.raw_text_tables() for c in t.raw_text}
    assert set(FORBIDDEN_COLUMNS) == raw == {"prompt", "system_prompt", "raw"}
    # the suites never echo a prompt value (quality.redacted_columns): the prompt columns
    assert set(QualityConf().redacted_columns) <= raw
