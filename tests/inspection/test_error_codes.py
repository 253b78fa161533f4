"""inspection.errors.API_ERRORS is the one list of error codes: every code the code base can
raise is in it, with a status a client can rely on and a sentence for people."""

import ast
from pathlib import Path

from django.conf import settings

from inspection.errors import API_ERRORS, ERROR_CODES

APPS = ("config", "inspection", "lines", "results")


def raised_codes() -> dict[str, str]:
    """Each code written as a literal where a KensaError or ApiError is built or an API exception declares
    its `default_code`, with where it is written."""
    found: dict[str, str] = {}
    for app in APPS:
        for path in sorted((Path(settings.BASE_DIR) / app).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                code = _code_of(node)
                if code is not None:
                    found.setdefault(code, f"{path.relative_to(settings.BASE_DIR)}:{getattr(node, 'lineno', 0)}")
    return found


def _code_of(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in {
        "KensaError",
        "ApiError",
    }:
        first = node.args[0] if node.args else None
        return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
    if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "default_code" for t in node.targets):
        value = node.value
        return value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None
    return None


def test_every_raised_code_is_documented():
    found = raised_codes()
    assert len(found) > 30, "the scan found too few codes to be looking in the right place"
    missing = {code: where for code, where in found.items() if code not in ERROR_CODES}
    assert not missing, f"add these codes to inspection.errors.API_ERRORS: {missing}"


def test_every_documented_code_has_an_error_status_and_a_meaning():
    for code, (status, meaning) in API_ERRORS.items():
        assert code.isascii() and code == code.lower() and " " not in code, code
        assert 400 <= status < 600, code
        assert meaning.strip(), code


def test_the_readme_documents_every_code():
    """The README's error code list is complete: a client reads it, not the source."""
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    undocumented = sorted(code for code in API_ERRORS if f"`{code}`" not in readme)
    assert not undocumented, f"document these codes in README.md: {undocumented}"
