"""Dependencies point one way (docs/architecture.md): a module that imports against the
direction documented there fails this test, with the file, the line and the rule it breaks."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# (importing package, imported package, why it may not): prefixes of dotted module names.
FORBIDDEN = [
    ("lines", "inspection", "lines are the base: stations and lines know nothing of inspections"),
    ("lines", "results", "lines are the base: stations and lines know nothing of results"),
    ("inspection", "results", "features build on inspection, never the reverse: subscribe to inspection.events"),
    ("inspection", "config", "config is wiring; apps read settings through django.conf"),
    ("lines", "config", "config is wiring; apps read settings through django.conf"),
    ("results", "config", "config is wiring; apps read settings through django.conf"),
    ("inspection.ingest", "inspection.demo", "the product never depends on the demo"),
    ("inspection.inference", "inspection.demo", "the product never depends on the demo"),
    ("inspection.lifecycle", "inspection.demo", "the product never depends on the demo"),
    ("inspection.lifecycle", "inspection.inference", "the lifecycle is the inference's base, not its user"),
    ("inspection.inference", "inspection.ingest.door", "workers never load the upload server"),
]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module the file imports, at any depth (lazy imports in functions count too)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(root: Path = ROOT) -> list[str]:
    broken = []
    for top in ("config", "inspection", "lines", "results"):
        for path in sorted((root / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            module = _module_name(path, root)
            reported: set[tuple[int, str]] = set()  # `from a.b import c` names a.b and a.b.c: one report
            for line, imported in _imports(path):
                for importer, importee, why in FORBIDDEN:
                    if _within(module, importer) and _within(imported, importee) and (line, why) not in reported:
                        reported.add((line, why))
                        broken.append(f"{path.relative_to(root)}:{line} imports {imported}: {why}")
    return sorted(broken)


def test_every_import_points_the_documented_way():
    assert violations() == []


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("lines/example.py", "from inspection.models import Inspection\n"),
        ("inspection/example.py", "def f():\n    from results.live import publish_json\n"),
        ("inspection/ingest/example.py", "import inspection.demo.synthetic\n"),
        ("results/example.py", "from config.urls import urlpatterns\n"),
    ],
)
def test_an_import_against_the_direction_is_caught(tmp_path, path, source):
    for top in ("config", "inspection", "lines", "results"):
        (tmp_path / top).mkdir()
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    [found] = violations(tmp_path)
    assert found.startswith(f"{path}:")
