"""shared/'s layering: infra at the bottom; sync, billing, accounts and ops each import only infra.

Nothing under shared/ imports Flask or the processes (or the dev tools) that load it.
Every module is parsed with ast, so an import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "shared"
PACKAGES = ("infra", "sync", "billing", "accounts", "ops")
BOTTOM = "infra"
FORBIDDEN = ("flask", "flask_login", "flask_wtf", "werkzeug", "portal_service", "worker")
FORBIDDEN += ("stripe_sandbox", "devrun", "bench", "tests")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(module: str, is_package: bool, tree: ast.AST):
    """(line, absolute name) of every import in ``tree``; ``from a import b`` names ``a.b``."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def broken_rule(module: str, name: str) -> str | None:
    """Why ``module`` may not import ``name``, or None if it may."""
    top = name.split(".")[0]
    if top in FORBIDDEN:
        return f"shared/ imports nothing from {top}"
    if top != "shared" or name == "shared":
        return None
    own, target = module.split(".")[1:2], name.split(".")[1]
    if not own:
        return f"shared/__init__ imports no subpackage (got shared.{target})"
    if target == own[0]:
        return None
    if target not in PACKAGES:
        return f"shared.{target} is not one of the packages {PACKAGES}"
    if own[0] == BOTTOM:
        return f"shared.{BOTTOM} is the bottom layer and imports no other shared package"
    if target != BOTTOM:
        return f"shared.{own[0]} may import only shared.{BOTTOM} among the shared packages"
    return None


def violations(path: Path, source: str) -> list[str]:
    module = module_name(path)
    tree = ast.parse(source, filename=str(path))
    found = []
    for line, name in imported(module, path.name == "__init__.py", tree):
        why = broken_rule(module, name)
        if why:
            found.append(f"{path.relative_to(ROOT)}:{line} imports {name}: {why}")
    return found


def shared_modules() -> list[Path]:
    return sorted(SHARED.rglob("*.py"))


def test_no_module_under_shared_imports_across_or_up_the_layers():
    found = [v for path in shared_modules() for v in violations(path, path.read_text())]
    assert not found, "\n".join(found)


def test_every_module_lives_in_one_of_the_packages_and_each_says_what_it_is_for():
    places = [path.relative_to(SHARED).parts for path in shared_modules()]
    loose = ["/".join(parts) for parts in places if parts != ("__init__.py",) and parts[0] not in PACKAGES]
    assert not loose, f"modules outside {PACKAGES}: {loose}"
    for package in PACKAGES:
        init = SHARED / package / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init.relative_to(ROOT)} has no one-line purpose"


@pytest.mark.parametrize(
    "path, source, named",
    [
        ("shared/ops/metrics.py", "from shared.sync import inbox", "shared.sync.inbox"),
        ("shared/ops/metrics.py", "def f():\n    import shared.billing.access", "shared.billing.access"),
        ("shared/infra/db.py", "from shared.accounts.users import User", "shared.accounts.users.User"),
        ("shared/billing/status.py", "from ..sync import reconcile", "shared.sync.reconcile"),
        ("shared/billing/status.py", "from shared import sync", "shared.sync"),
        ("shared/sync/apply.py", "from flask import current_app", "flask.current_app"),
        ("shared/infra/queue.py", "import worker.jobs", "worker.jobs"),
        ("shared/accounts/users.py", "from portal_service.extensions import settings", "portal_service.extensions"),
    ],
)
def test_a_forbidden_import_is_named(path, source, named):
    (found,) = violations(ROOT / path, source)
    assert f"{path}:" in found and f"imports {named}" in found


@pytest.mark.parametrize(
    "path, source",
    [
        ("shared/ops/metrics.py", "from shared.infra.redis_conn import connect_redis"),
        ("shared/billing/status.py", "from .access import grants_access"),
        ("shared/sync/apply.py", "from shared.sync import ledger\nimport redis, stripe"),
        ("shared/infra/db.py", "from shared.infra.settings import Settings"),
    ],
)
def test_imports_within_a_package_or_down_to_infra_pass(path, source):
    assert violations(ROOT / path, source) == []
