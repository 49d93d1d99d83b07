"""The layering, checked from the source: `assistant -> graphs -> tools, db` one way.

Every import counts, wherever it is written: at the top, inside a function (the lazy imports that
keep the CLI fast), or under `TYPE_CHECKING`. A name imported from a package is followed to the
module its `__init__` takes it from, so `from tools.billing import LocalLedger` is an import of
`tools.billing.local`. Imports made by string (`importlib.import_module`) are not seen.

The rules (issue 15):
- `db`, `tools`, `graphs` and `leadgen` never import `assistant` (the faces);
- `db` and `tools` never import `graphs`;
- no face (`assistant/`) imports the local ledger (`tools.billing.local`): faces ask the billing
  port (`tools.billing.credit_admin`), not the adapter's class;
- no face imports `graphs.events` (the pipeline's raw event dicts): faces read the typed events
  of `graphs.run_events` and the snapshots of `graphs.run_snapshot`;
- the modules of `graphs/` import each other without a cycle;
- no face decides a resume (`resume_decisions`): faces ask `RunService.resume_if_funded`, never
  `RunService.resume` / `run_here`, an executor launch with `resume=True`, or a credits rule of
  their own (`required_credits`, `credit_gap`);
- no face opens the database (`database_uses`; one listed exception);
- faces draw the chat tools' typed artifacts (`tool_output_reads`): no JSON parsed in the chat
  faces, no `tool_results`, no branching on a tool's name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("assistant", "db", "graphs", "leadgen", "tools")


@dataclass(frozen=True)
class Rule:
    importers: tuple[str, ...]
    forbidden: str
    why: str


RULES = (
    Rule(
        ("db", "tools", "graphs", "leadgen"), "assistant", "the faces sit on top; nothing below imports them"
    ),
    Rule(("db", "tools"), "graphs", "the services and graphs use tools and db, not the other way"),
    Rule(("assistant",), "tools.billing.local", "faces use the billing port, not the local ledger's class"),
    Rule(
        ("assistant",),
        "graphs.events",
        "faces read typed events and snapshots (graphs.run_events, graphs.run_snapshot), not the pipeline's raw dicts",
    ),
)


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # a module, or module.name for `from module import name`
    line: int


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(module: str, source: str, *, is_package: bool = False) -> list[Import]:
    """Every import statement of `module`, at any depth of its syntax tree."""
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(Import(module, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the importer's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                source_module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source_module = node.module or ""
            found.append(Import(module, source_module, node.lineno))
            found.extend(Import(module, f"{source_module}.{alias.name}", node.lineno) for alias in node.names)
    return found


def reexports(package: str, source: str) -> dict[str, str]:
    """Names a package's `__init__` takes from elsewhere at its top level: name -> origin."""
    names: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def resolve(target: str, exports: Mapping[str, Mapping[str, str]]) -> str:
    """Follow `package.name` through the packages' re-exports to where the name is defined."""
    seen: set[str] = set()
    while target not in seen:
        seen.add(target)
        package, _, name = target.rpartition(".")
        origin = exports.get(package, {}).get(name)
        if origin is None:
            return target
        target = origin
    return target


def violations(imports: Iterable[Import], exports: Mapping[str, Mapping[str, str]]) -> list[str]:
    """One line per offending statement and rule (`from m import a, b` names m, m.a and m.b:
    the line names the shortest of them that breaks the rule)."""
    worst: dict[tuple[str, int, Rule], str] = {}
    for imp in imports:
        target = resolve(imp.target, exports)
        for rule in RULES:
            if any(_within(imp.importer, p) for p in rule.importers) and _within(target, rule.forbidden):
                key = (imp.importer, imp.line, rule)
                worst[key] = min(worst.get(key, target), target, key=len)
    return sorted(
        f"{importer}:{line} imports {target} ({rule.why})" for (importer, line, rule), target in worst.items()
    )


def cycles(imports: Iterable[Import], modules: set[str], package: str) -> list[list[str]]:
    """Import cycles among the modules of `package` (strongly connected components, Tarjan)."""
    inside = {m for m in modules if _within(m, package) and m != package}
    edges: dict[str, set[str]] = {m: set() for m in inside}
    for imp in imports:
        if imp.importer not in inside:
            continue
        # The longest known module the target names (`graphs.queue.RunQueue` -> `graphs.queue`).
        parts = imp.target.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in inside:
                edges[imp.importer].add(candidate)
                break
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges[node]:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def scan(root: Path = ROOT) -> tuple[list[Import], dict[str, dict[str, str]], set[str]]:
    imports: list[Import] = []
    exports: dict[str, dict[str, str]] = {}
    modules: set[str] = set()
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name = module_name(path, root)
            source = path.read_text(encoding="utf-8")
            is_package = path.name == "__init__.py"
            modules.add(name)
            imports.extend(imports_in(name, source, is_package=is_package))
            if is_package:
                exports[name] = reexports(name, source)
    return imports, exports, modules


# What deciding a resume looks like in a face: calling the run service's resume itself, launching
# a resume on its executor, or applying a credits rule (the service's `required_credits`, or the
# faces' old `credit_gap`).
RESUME_METHODS = frozenset({"resume", "run_here"})
RESUME_RULES = frozenset({"required_credits", "credit_gap", "begin_resume"})


def _receiver_is_runs(node: ast.expr) -> bool:
    """`runs.x(...)`, `self.runs.x(...)`, `STATE.chat.runs.x(...)`: a call on a run service."""
    return (isinstance(node, ast.Name) and node.id == "runs") or (
        isinstance(node, ast.Attribute) and node.attr == "runs"
    )


def resume_decisions(module: str, source: str) -> list[str]:
    """One line per place where the face `module` decides a resume instead of asking the service."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            if attr in RESUME_METHODS and _receiver_is_runs(node.func.value):
                found.append(f"{module}:{node.lineno} calls runs.{attr} (ask runs.resume_if_funded)")
            if attr == "launch" and any(
                k.arg == "resume" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                for k in node.keywords
            ):
                found.append(f"{module}:{node.lineno} launches a resume (ask runs.resume_if_funded)")
        name = (
            node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        )
        if name in RESUME_RULES:
            found.append(f"{module}:{node.lineno} uses {name} (the run service holds the resume rule)")
        if isinstance(node, ast.ImportFrom | ast.Import):
            for alias in node.names:
                if alias.name.rpartition(".")[2] in RESUME_RULES:
                    found.append(
                        f"{module}:{node.lineno} imports {alias.name} (the run service holds the resume rule)"
                    )
    return sorted(set(found))


def test_no_face_decides_a_resume() -> None:
    found: list[str] = []
    for path in sorted((ROOT / "assistant").rglob("*.py")):
        found.extend(resume_decisions(module_name(path), path.read_text(encoding="utf-8")))
    assert found == []


def test_the_resume_checker_catches_a_face_deciding() -> None:
    bad = {
        "assistant.a": "async def f(runs):\n    await runs.resume('acme', 'f1')\n",
        "assistant.b": "async def f(self):\n    await self.runs.run_here('acme', 'f1', None, None)\n",
        "assistant.c": "def f(ctx):\n    ctx.background.launch('acme', 'f1', resume=True)\n",
        "assistant.d": "from graphs.run_results import required_credits\n",
        "assistant.e": "async def f(runs, flow):\n    return await credit_gap(runs, flow)\n",
    }
    for module, source in bad.items():
        assert resume_decisions(module, source), module
    good = (
        "async def f(self, runs, ws):\n"
        "    await runs.resume_if_funded('acme', 'f1')\n"
        "    await runs.resume_gap('acme', 'f1')\n"
        "    await self.resume(ws)\n"  # a face's own handler named resume
        "    runs.executor.launch('acme', 'f1')\n"
        "    runs.executor.launch('acme', 'f1', resume=False)\n"
    )
    assert resume_decisions("assistant.ok", good) == []


def test_the_layers_hold() -> None:
    imports, exports, _ = scan()
    assert violations(imports, exports) == []


def test_graphs_has_no_import_cycle() -> None:
    imports, _, modules = scan()
    assert "graphs.service" in modules and "graphs.queue" in modules  # the scan sees the package
    assert cycles(imports, modules, "graphs") == []


def test_the_checker_catches_a_bad_import() -> None:
    """Synthetic modules with one violation of each rule: the checks must name every one."""
    exports = {"tools.billing": reexports("tools.billing", "from tools.billing.local import LocalLedger\n")}
    bad = [
        *imports_in("db.models", "def f():\n    from assistant.agent import x\n"),
        *imports_in("tools.http", "import graphs.service\n"),
        *imports_in(
            "leadgen.settings",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import assistant\n",
        ),
        *imports_in("assistant.cli.credits", "from tools.billing import LocalLedger\n"),
        *imports_in(
            "assistant.cli",
            "from ..x import y\nfrom tools.billing.local import LocalLedger\n",
            is_package=True,
        ),
        *imports_in("graphs.views", "from ..assistant import chat\n"),
        *imports_in("assistant.slack_app", "from graphs.events import phase_event\n"),
    ]
    found = violations(bad, exports)
    assert [line.split(" ")[0] for line in found] == [
        "assistant.cli.credits:1",
        "assistant.cli:2",
        "assistant.slack_app:1",
        "db.models:2",
        "graphs.views:1",
        "leadgen.settings:3",
        "tools.http:1",
    ], found
    assert "imports tools.billing.local.LocalLedger" in found[0]
    # What is allowed stays allowed.
    good = imports_in(
        "assistant.cli.credits", "from tools.billing import credit_admin\nimport graphs.service\n"
    )
    assert violations(good, exports) == []

    modules = {"graphs", "graphs.a", "graphs.b", "graphs.c", "graphs.d"}
    looped = [
        *imports_in("graphs.a", "from graphs.b import thing\n"),
        *imports_in("graphs.b", "def later():\n    from graphs.c import other\n"),
        *imports_in("graphs.c", "import graphs.a\n"),
        *imports_in("graphs.d", "from graphs.a import thing\n"),
    ]
    assert cycles(looped, modules, "graphs") == [["graphs.a", "graphs.b", "graphs.c"]]
    assert cycles([i for i in looped if i.importer != "graphs.c"], modules, "graphs") == []


# --------------------------------------------------------------------------------------------
# No face opens the database (issue 15: the faces draw, the services decide). A face asks a
# service of `graphs/` (runs, accounts, calls, sign-in, the webhook inbox); it never opens a
# transaction, a reader or a session, and never imports SQLAlchemy or the repositories.

FACES = "assistant"
# Calls that open a unit of work on the database, whatever they are called on.
DATABASE_CALLS = frozenset({"transaction", "reader", "session", "write_session", "session_factory"})
DATABASE_MODULES = ("sqlalchemy", "db.repositories")
# Faces allowed to, each with its reason. The CLI's quick read path (assistant/cli/quick.py)
# needs no entry: it reads through db.sqlite_reads (stdlib sqlite3, read-only) and opens nothing here.
FACE_DATABASE_EXCEPTIONS: dict[str, str] = {
    "assistant.chat_data": "Chainlit's own data layer (its SQLAlchemyDataLayer) must run on our engine and "
    "our write rule, so history written beside a pipeline waits its turn on SQLite",
}


@dataclass(frozen=True)
class DatabaseUse:
    module: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} {self.what}"


def database_uses(module: str, source: str, *, is_package: bool = False) -> list[DatabaseUse]:
    """Where `module` opens the database itself: calls of `DATABASE_CALLS` (as a method or a bare
    name) and imports of `DATABASE_MODULES`, at any depth."""
    found: list[DatabaseUse] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else None
            )
            if name in DATABASE_CALLS:
                found.append(DatabaseUse(module, node.lineno, f"calls {name}()"))
    for imp in imports_in(module, source, is_package=is_package):
        if any(_within(imp.target, forbidden) for forbidden in DATABASE_MODULES):
            found.append(DatabaseUse(module, imp.line, f"imports {imp.target}"))
    # `from m import a, b` names m, m.a and m.b on one line: one entry per line and kind, the
    # shortest (as the import rules do).
    unique = {(u.module, u.line, u.what.split(" ")[0]): u for u in sorted(found, key=lambda u: -len(u.what))}
    return sorted(unique.values(), key=lambda u: (u.module, u.line, u.what))


def face_database_uses(root: Path = ROOT) -> dict[str, list[DatabaseUse]]:
    """Every face module that opens the database, with where."""
    uses: dict[str, list[DatabaseUse]] = {}
    for path in sorted((root / FACES).rglob("*.py")):
        name = module_name(path, root)
        found = database_uses(name, path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py")
        if found:
            uses[name] = found
    return uses


def test_no_face_opens_the_database() -> None:
    uses = face_database_uses()
    offending = [
        str(u) for module, found in uses.items() if module not in FACE_DATABASE_EXCEPTIONS for u in found
    ]
    assert offending == [], "ask a service in graphs/ instead:\n" + "\n".join(offending)
    # An exception nobody needs any more is removed from the list, not kept "just in case".
    assert sorted(m for m in FACE_DATABASE_EXCEPTIONS if m not in uses) == []


def test_the_checker_catches_a_face_opening_the_database() -> None:
    """Synthetic faces with one way each of opening the database: the check must name every one."""
    bad = {
        "assistant.slack_app": "async def f(db):\n    async with db.transaction() as repo:\n        pass\n",
        "assistant.cli.calls": "async def f(ctx):\n    async with ctx.database.reader() as repo:\n        pass\n",
        "assistant.agent": "def f(maker):\n    with maker.session() as s:\n        pass\n",
        "assistant.identity": "from sqlalchemy import select\n",
        "assistant.cli.slack": "def f():\n    import sqlalchemy.exc\n",
        "assistant.cli": "from db.repositories import Repository\n",
        "assistant.server": "from db.engine import write_session\nasync def f(e):\n    async with write_session(e):\n        pass\n",
    }
    found = [str(u) for module, source in bad.items() for u in database_uses(module, source)]
    assert found == [
        "assistant.slack_app:2 calls transaction()",
        "assistant.cli.calls:2 calls reader()",
        "assistant.agent:2 calls session()",
        "assistant.identity:1 imports sqlalchemy",
        "assistant.cli.slack:2 imports sqlalchemy.exc",
        "assistant.cli:1 imports db.repositories",
        "assistant.server:3 calls write_session()",
    ], found
    # What faces do instead stays allowed.
    good = (
        "from db.engine import DatabaseError\nfrom graphs.account_service import AccountService\n"
        "async def f(accounts, cl):\n    user = cl.context.session.user\n    return await accounts.balance('acme')\n"
    )
    assert database_uses("assistant.cli.credits", good) == []


# --------------------------------------------------------------------------------------------
# Faces draw the chat tools' typed artifacts (issue 15): the agent's tools answer `(content,
# artifact)`; the JSON content is the model's. A face never reads it back: it does not parse JSON
# in the chat faces, does not read a turn's `tool_results`, and does not branch on a tool's name.

TOOL_PRODUCERS = ("assistant.agent", "assistant.chat_tools")
# The faces that draw chat turns, where no JSON is parsed at all (the CLI reads files of its own,
# slack_blocks the values of our own Slack buttons).
JSON_FREE_FACES = frozenset(
    {
        "assistant.chainlit_app",
        "assistant.chainlit_ui",
        "assistant.chainlit_views",
        "assistant.slack_app",
        "assistant.slack",
    }
)
TOOL_OUTPUT_NAMES = frozenset({"tool_results", "results_of"})


def tool_names(root: Path = ROOT) -> set[str]:
    """The chat tools' names: the functions decorated with `@tool` in assistant/chat_tools/."""
    names: set[str] = set()
    for path in sorted((root / "assistant" / "chat_tools").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and any(
                isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id == "tool"
                for d in node.decorator_list
            ):
                names.add(node.name)
    return names


def tool_output_reads(module: str, source: str, tools: set[str]) -> list[str]:
    """One line per place where the face `module` reads tool output instead of its artifact."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if any(_within(module, face) for face in JSON_FREE_FACES) and isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("loads", "load"):
                found.append(f"{module}:{node.lineno} parses JSON ({ast.unparse(func)})")
        if isinstance(node, ast.Attribute) and node.attr in TOOL_OUTPUT_NAMES:
            found.append(f"{module}:{node.lineno} reads {node.attr} (draw turn.artifacts)")
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for operand in operands:
                for constant in ast.walk(operand):
                    if isinstance(constant, ast.Constant) and constant.value in tools:
                        found.append(
                            f"{module}:{node.lineno} compares with the tool name {constant.value!r} "
                            "(match on the artifact's type)"
                        )
        if (
            isinstance(node, ast.MatchValue)
            and isinstance(node.value, ast.Constant)
            and node.value.value in tools
        ):
            found.append(f"{module}:{node.lineno} matches the tool name {node.value.value!r}")
    return sorted(set(found))


def test_faces_draw_tool_artifacts_not_tool_output() -> None:
    tools = tool_names()
    assert {"start_lead_run", "resume_run", "get_dossier", "place_call"} <= tools  # the scan sees them
    found: list[str] = []
    for path in sorted((ROOT / FACES).rglob("*.py")):
        module = module_name(path)
        if any(_within(module, producer) for producer in TOOL_PRODUCERS):
            continue
        found.extend(tool_output_reads(module, path.read_text(encoding="utf-8"), tools))
    assert found == [], "\n".join(found)


def test_the_artifact_checker_catches_a_face_reading_tool_output() -> None:
    tools = {"start_lead_run", "resume_run", "get_dossier"}
    bad = {
        "assistant.chainlit_app": "import json\ndef f(m):\n    return json.loads(m.content)\n",
        "assistant.chainlit_ui.messages": "import json\ndef f(m):\n    return json.loads(m.content)\n",
        "assistant.slack_app": "def f(turn):\n    for name, result in turn.tool_results:\n        pass\n",
        "assistant.cli.chat": "def f(turn):\n    return turn.results_of('list_leads')\n",
        "assistant.server": "def f(name, status):\n    return name == 'resume_run' and status\n",
        "assistant.slack_blocks": "def f(name):\n    return name in ('get_dossier', 'x')\n",
        "assistant.report_page": "def f(name):\n    match name:\n        case 'start_lead_run':\n            pass\n",
    }
    found = [line for module, source in bad.items() for line in tool_output_reads(module, source, tools)]
    assert [line.split(" ")[0] for line in found] == [
        "assistant.chainlit_app:3",
        "assistant.chainlit_ui.messages:3",
        "assistant.slack_app:2",
        "assistant.cli.chat:2",
        "assistant.server:2",
        "assistant.slack_blocks:2",
        "assistant.report_page:3",
    ], found
    # What faces do instead stays allowed: match on the artifact's type; a button named like a
    # tool (an action id) is not a comparison; the CLI reads JSON files of its own.
    good = {
        "assistant.chainlit_app": (
            "async def f(turn):\n    for a in turn.artifacts:\n        match a:\n"
            "            case RunStarted(run_id=r):\n                pass\n"
            "@cl.action_callback('get_dossier')\nasync def g(action):\n    pass\n"
        ),
        "assistant.cli.chat": "import json\ndef f(text):\n    return json.loads(text)\n",
        "assistant.slack_blocks": "import json\ndef f(raw):\n    return json.loads(raw)\n",
    }
    assert [
        line for module, source in good.items() for line in tool_output_reads(module, source, tools)
    ] == []


# -- No face builds an idempotency key --------------------------------------------------------
# Every metered or granted event's key is built by the service that writes it: the pipeline's
# gates (`source_key`, `audit_key`), the calls (`call_key`), upgrades (`upgrade_key`, reached
# through `UpgradeOccasion`, which a face names). A face that built one could drift from the rule.

KEY_BUILDERS = frozenset({"upgrade_key", "source_key", "audit_key", "call_key"})


def key_builds(module: str, source: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        name = (
            node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        )
        if name in KEY_BUILDERS:
            found.append(
                f"{module}:{node.lineno} uses {name} (name the occasion; the service builds the key)"
            )
        if isinstance(node, ast.ImportFrom | ast.Import):
            found.extend(
                f"{module}:{node.lineno} imports {alias.name}"
                for alias in node.names
                if alias.name.rpartition(".")[2] in KEY_BUILDERS
            )
        if isinstance(node, ast.JoinedStr) and any(
            isinstance(part, ast.Constant)
            and str(part.value).startswith(("upgrade:", "source:", "audit:", "call:"))
            for part in node.values[:1]
        ):
            found.append(f"{module}:{node.lineno} formats a key by hand")
    return sorted(set(found))


def test_no_face_builds_an_idempotency_key() -> None:
    found: list[str] = []
    for path in sorted((ROOT / FACES).rglob("*.py")):
        found.extend(key_builds(module_name(path), path.read_text(encoding="utf-8")))
    assert found == [], "\n".join(found)


def test_the_key_checker_catches_a_face_building_a_key() -> None:
    bad = {
        "assistant.a": "from graphs import accounts\nk = accounts.upgrade_key('acme', 'pro', tool_call_id='t')\n",
        "assistant.b": "from graphs.pipeline import source_key\n",
        "assistant.c": "def f(agency, run):\n    return f'upgrade:{agency}:{run}:pro'\n",
        "assistant.d": "def f(call):\n    return call_key(call.id)\n",
    }
    for module, source in bad.items():
        assert key_builds(module, source), module
    good = "from graphs import accounts\no = accounts.UpgradeOccasion.run_pause('r1', 'p')\nx = f'run {o}'\n"
    assert key_builds("assistant.ok", good) == []
