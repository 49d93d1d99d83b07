"""`db.revisions.HEAD_REVISION` is the head of the migrations folder: add a migration without
updating it and this fails (the one-query schema check would otherwise skip the migration)."""

from __future__ import annotations

import ast
from pathlib import Path

from db.revisions import HEAD_REVISION

VERSIONS = Path(__file__).resolve().parents[2] / "db" / "migrations" / "versions"


def _declared(path: Path) -> dict[str, object]:
    """The module-level `revision` and `down_revision` a migration file assigns."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision") and value is not None:
            found[target.id] = ast.literal_eval(value)
    return found


def test_head_revision_is_the_head_of_the_migration_files() -> None:
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(VERSIONS.glob("*.py")):
        declared = _declared(path)
        if "revision" not in declared:
            continue  # __init__.py
        revisions.add(str(declared["revision"]))
        down = declared.get("down_revision")
        parents.update([down] if isinstance(down, str) else list(down or ()))  # type: ignore[call-overload]
    heads = revisions - parents
    assert len(revisions) >= 5 and len(heads) == 1, heads
    assert heads == {HEAD_REVISION}, f"update db/revisions.py: HEAD_REVISION = {heads.pop()!r}"


def test_head_revision_is_alembics_head() -> None:
    from db.migrate import head_revision

    assert head_revision() == HEAD_REVISION
