"""The architecture rules (../shared/docs/architecture.md) that code review would otherwise miss."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[2] / "src" / "lastmile"
INFRA = {"core", "api", "cli", "workers", "migrations", "registry"}
COMMIT_ALLOWED = {
    "core/uow.py",
    "core/idempotency.py",
    "api/routing.py",
    "api/deps.py",
    "cli/common.py",
    "workers/runner.py",
    "workers/imports.py",
    "workers/plans.py",
    "workers/templates.py",
    "workers/tracking.py",
    "workers/outbox.py",
    "migrations/env.py",
}


def modules() -> list[tuple[str, ast.Module]]:
    return [(str(p.relative_to(SRC)), ast.parse(p.read_text())) for p in sorted(SRC.rglob("*.py"))]


def imported(tree: ast.Module) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
    return names


def package(rel: str) -> str:
    return rel.split("/")[0].removesuffix(".py")


def test_domains_do_not_import_other_domains_models() -> None:
    """Rule 1: a domain's tables are imported only by that domain."""
    bad = []
    for rel, tree in modules():
        if package(rel) in {"registry", "migrations"}:
            continue
        for name in imported(tree):
            parts = name.split(".")
            if (
                len(parts) >= 3
                and parts[0] == "lastmile"
                and parts[2] == "models"
                and parts[1] not in ("core",)
                and parts[1] != package(rel)
            ):
                bad.append(f"{rel} imports {name}")
    assert not bad, bad


def test_core_imports_no_domain() -> None:
    """The shared kernel depends on nothing above it."""
    bad = [
        f"{rel} imports {n}"
        for rel, tree in modules()
        if package(rel) == "core"
        for n in imported(tree)
        if n.startswith("lastmile.") and not n.startswith("lastmile.core")
    ]
    assert not bad, bad


def test_services_never_commit() -> None:
    """Rule 2: only the unit of work (and its few infrastructure callers) commit."""
    bad = []
    for rel, tree in modules():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "commit"
                and rel not in COMMIT_ALLOWED
            ):
                bad.append(f"{rel}:{node.lineno}")
    assert not bad, bad


def test_nobody_filters_by_tenant_by_hand() -> None:
    """Rule 3: tenant filters come from core.tenancy.scoped(); no `.tenant_id ==`, no session.get()."""
    bad = []
    for rel, tree in modules():
        if rel == "core/tenancy.py":
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Compare)
                and isinstance(node.left, ast.Attribute)
                and node.left.attr == "tenant_id"
                and isinstance(node.left.value, ast.Name)
                and node.left.value.id[:1].isupper()
            ):
                bad.append(f"{rel}:{node.lineno} compares tenant_id")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "session"
            ):
                bad.append(f"{rel}:{node.lineno} session.get() bypasses scoped()")
    assert not bad, bad


def test_service_functions_are_keyword_only() -> None:
    """Rule 3: public service functions take keyword-only arguments."""
    bad = []
    for rel, tree in modules():
        if package(rel) in INFRA or not rel.endswith(("service.py", "keys.py", "auth.py")):
            continue
        for node in tree.body:
            if (
                isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef)
                and not node.name.startswith("_")
                and node.args.args
            ):
                bad.append(f"{rel}:{node.name}")
    assert not bad, bad


def test_routes_contain_no_sql() -> None:
    """Rule 4: routes are thin; SQL lives in services."""
    bad = [
        f"{rel} imports {n}"
        for rel, tree in modules()
        if rel.endswith("routes.py")
        for n in imported(tree)
        if n.startswith("sqlalchemy") and "AsyncSession" not in n and n != "sqlalchemy.ext.asyncio"
    ]
    assert not bad, bad
