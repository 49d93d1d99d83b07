"""`lead_gen` as LangGraph Server runs it (`langgraph.json`: `langgraph dev`, Studio, the SDK).

    START -> start_run -> execute --completed/cancelled--> summarize -> END
                            ^  |
                            |  +--paused_for_upgrade--> billing_pause (interrupt)
                            +---------- Command(resume=...) --------------+

Input `{agency_id, num_leads, target_vertical?, target_geography?}`; output the run's summary
(`run_id`, `agency_id`, `status`, `counts`, `leads`: ids, names and scores, ranked as `leadgen
leads` ranks them). Each node builds what it needs from the environment, with the CLI's settings
(`RunService.open()`: DATABASE_URL, LEADGEN_SANDBOX_URL, provider keys, `.env` when present).

**Two checkpointers, one run.** LangGraph Server compiles every graph it serves with a
checkpointer of its own (in memory, pickled under `.langgraph_api/`, for `langgraph dev`; its
Postgres in a deployment), keyed by its thread ids. The CLI, the chat, Slack and `leadgen worker`
run the six-phase pipeline (graphs/pipeline.py) on *our* checkpointer, beside our database,
keyed by the run id. Running the pipeline's nodes under the server's checkpointer would split one
run across two histories that nothing reconciles: a run paused under the server could not be
resumed by `leadgen resume` (its checkpoint would not be there), and a run the CLI finished would
still show the server's stale interrupt. So this graph does not re-host the pipeline's nodes;
it drives the same run through `RunService`, the way every other face does:

* the server's checkpointer holds only this small graph's state (the input, the run id, the
  last status and billing block, the summary) and its interrupt;
* our checkpointer holds the pipeline's state, wherever the run is started or resumed from, so
  `leadgen status/resume THREAD_ID`, the chat and Slack see and carry on the very same run;
* `execute` takes the flow lease like any other face (graphs/service.py), so one execution runs
  at a time across all of them: while someone else holds it, this run fails with "already
  running" and nothing is done (re-run the thread with `input=None` once they are finished).

The run id is the thread's id (a UUID, stored as 32 hex digits like every run id; the CLI reads
either spelling). A billing pause is this thread's interrupt, its value `{"billing_block",
"run_id", "message"}`; `Command(resume=<anything>)` sends `execute` back to `RunService.resume`,
which re-checks credits first: still short, it charges nothing and this graph interrupts again.
A resume never grants credits (add them with `leadgen credits grant`, the chat's upgrade or
Autumn); finished audits are never redone or recharged, whichever face resumes (their
idempotency keys and the audit rows, graphs/audit.py).

The pipeline runs inside `execute` as a graph of its own, not as a subgraph of this one:
invoked with its own checkpointer and thread id, LangGraph (1.2) addresses it at its own root
namespace instead of this node's (tests/platform/test_platform_graph.py checks where its
checkpoints land), while its progress events are forwarded to this run's "custom" stream.

`langgraph dev` fails any synchronous file or socket call made while an event loop runs in the
thread (blockbuster); opening the database therefore makes none (db/engine.py, db/migrate.py),
and plain `langgraph dev` needs no `--allow-blocking`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal, NotRequired

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from db.models import LeadGenFlow
from db.statuses import FlowStatus
from graphs.run_input import MAX_LEADS, MIN_LEADS, check_agency_id, run_id_for_thread
from graphs.service import BadRunInput, RunError, RunService
from leadgen.settings import MissingProviderKey, ProviderName, get_settings

# What a run's paid steps reach (as `leadgen run` checks): a missing key is bad input, not a
# failed run.
RUN_PROVIDERS: tuple[ProviderName, ...] = ("places", "firecrawl", "openai")

INPUT_HELP = (
    f"lead_gen takes {{agency_id, num_leads ({MIN_LEADS}-{MAX_LEADS}), target_vertical?, "
    "target_geography?}; a missing vertical or geography is taken from the agency profile"
)


# typing_extensions.TypedDict: pydantic (which builds the server's JSON schemas) refuses
# typing.TypedDict before Python 3.12.
class LeadGenInput(TypedDict):
    agency_id: str
    num_leads: int
    target_vertical: NotRequired[str]
    target_geography: NotRequired[str]


class RankedLead(TypedDict):
    id: str
    name: str
    status: str
    qualification_score: float
    opportunity_score: float | None


class LeadGenOutput(TypedDict, total=False):
    run_id: str
    agency_id: str
    status: str
    counts: dict[str, int]
    leads: list[RankedLead]
    billing_block: dict[str, Any] | None


class LeadGenState(TypedDict, total=False):
    agency_id: str
    num_leads: int
    target_vertical: str
    target_geography: str
    run_id: str
    status: str
    billing_block: dict[str, Any] | None
    counts: dict[str, int]
    leads: list[RankedLead]


class RunFailed(RunError, RuntimeError):
    """The run ended in `error`, or could not execute (already running elsewhere); the message
    says why. A RuntimeError because LangGraph Server shows clients the message of builtin error
    types only ("An internal error occurred" otherwise). Re-run the thread to carry on."""


@asynccontextmanager
async def _run_service() -> AsyncIterator[RunService]:
    """The CLI's run service, from the environment; its errors other than bad input come out
    as RunFailed, whose message LangGraph Server passes on to clients."""
    try:
        async with RunService.open(get_settings()) as runs:
            yield runs
    except (BadRunInput, RunFailed):
        raise
    except RunError as exc:  # AlreadyRunning, RunNotFound
        raise RunFailed(str(exc)) from exc


def _thread_run_id(config: RunnableConfig) -> str:
    thread_id = (config.get("configurable") or {}).get("thread_id")
    if not thread_id:
        raise BadRunInput(
            "lead_gen runs on a thread: invoke it with a thread id (the run takes it as its id)"
        )
    try:
        return run_id_for_thread(str(thread_id))
    except ValueError as exc:
        raise BadRunInput(str(exc)) from None


def _request(state: LeadGenState) -> tuple[str, Any, str | None, str | None]:
    """The input's fields, checked for presence and type; the rules on their values are the
    CLI's (the agency id here, the rest in `RunService.start`)."""
    if "agency_id" not in state:
        raise BadRunInput(f"agency_id is missing; {INPUT_HELP}")
    try:
        agency_id = check_agency_id(state["agency_id"])
    except ValueError as exc:
        raise BadRunInput(f"agency_id: {exc}") from None
    if "num_leads" not in state:
        raise BadRunInput(f"num_leads is missing; {INPUT_HELP}")
    texts: list[str | None] = []
    for key in ("target_vertical", "target_geography"):
        value = state.get(key)
        if value is not None and not isinstance(value, str):
            raise BadRunInput(f"{key} must be text, got {type(value).__name__}; {INPUT_HELP}")
        texts.append(value)
    return agency_id, state["num_leads"], texts[0], texts[1]


async def start_run(state: LeadGenState, config: RunnableConfig) -> dict[str, Any]:
    """Validate the input and create the run with the thread's id; bad input writes nothing.
    A thread that already holds its run (a retry, or a second input) carries that run on."""
    run_id = _thread_run_id(config)
    agency_id, num_leads, vertical, geography = _request(state)
    settings = get_settings()
    try:
        for provider in RUN_PROVIDERS:
            settings.endpoint(provider)
    except MissingProviderKey as exc:  # names the variable and the sandbox alternative
        raise BadRunInput(str(exc)) from None

    async with _run_service() as runs:
        async with runs.db.reader() as repo:
            existing = await repo.get_flow(agency_id, run_id)
            # Run ids are global: a thread another agency's run already holds is refused before
            # anything (this agency included) is created. Says only that the id is taken.
            taken = existing is None and await repo.session.get(LeadGenFlow, run_id) is not None
        if taken:
            raise BadRunInput("this thread already holds another agency's run; start a new thread")
        if existing is not None:
            _same_campaign(existing, num_leads, vertical, geography)
        else:
            try:
                await runs.start(
                    agency_id, num_leads=num_leads, vertical=vertical, geography=geography, flow_id=run_id
                )
            except BadRunInput as exc:
                raise BadRunInput(f"{exc}; {INPUT_HELP}") from None
    return {"agency_id": agency_id, "run_id": run_id, "status": FlowStatus.IDLE.value, "billing_block": None}


def _same_campaign(flow: LeadGenFlow, num_leads: Any, vertical: str | None, geography: str | None) -> None:
    asked = (
        num_leads,
        " ".join(vertical.split()) if vertical is not None else flow.target_vertical,
        " ".join(geography.split()) if geography is not None else flow.target_geography,
    )
    held = (flow.num_leads_requested, flow.target_vertical, flow.target_geography)
    if asked != held:
        raise BadRunInput(
            f"this thread already holds run {flow.id} ({held[0]} {held[1]} in {held[2]}); "
            "start a new thread for another campaign"
        )


async def execute(state: LeadGenState) -> dict[str, Any]:
    """Start or carry on the run through `RunService.resume` (credits re-checked first, the
    lease taken), forwarding its events to this run's "custom" stream."""
    agency_id, run_id = state["agency_id"], state["run_id"]
    write = get_stream_writer()

    async def forward(event: dict[str, Any]) -> None:
        write(event)

    async with _run_service() as runs:
        outcome = await runs.resume(agency_id, run_id, on_event=forward)
    flow = outcome.flow
    if outcome.status == FlowStatus.ERROR:
        raise RunFailed(f"run {run_id} failed: {flow.error or 'no reason recorded'}")
    return {"status": outcome.status, "billing_block": flow.billing_block}


def _after_execute(state: LeadGenState) -> Literal["billing_pause", "summarize"]:
    return "billing_pause" if state.get("status") == FlowStatus.PAUSED_FOR_UPGRADE else "summarize"


def billing_pause(state: LeadGenState) -> dict[str, Any]:
    """Interrupt with the billing block. Nothing here before `interrupt()` has a side effect:
    this node runs again from its first line on every resume."""
    block = state.get("billing_block") or {}
    info = block.get("credit_info") or {}
    interrupt(
        {
            "billing_block": block,
            "run_id": state["run_id"],
            "message": (
                f"Paused for credits in {block.get('phase', 'a paid step')}: "
                f"{info.get('required_balance', '?')} needed, {info.get('balance', '?')} available. "
                "Add credits, then resume this thread with Command(resume=...)."
            ),
        }
    )
    return {}


async def summarize(state: LeadGenState) -> dict[str, Any]:
    """The run's summary, from the views `leadgen status/leads --json` print: status, counts,
    and the leads ranked as `leadgen leads` ranks them."""
    from graphs.views import flow_json, leads_json

    agency_id, run_id = state["agency_id"], state["run_id"]
    async with _run_service() as runs:
        run = flow_json(
            await runs.get(agency_id, run_id),
            counts=await runs.counts(agency_id, run_id),
            progress=await runs.progress(agency_id, run_id),
        )
        ranked = leads_json(await runs.run_leads(agency_id, run_id))
    leads: list[RankedLead] = [
        {
            "id": lead["id"],
            "name": lead["name"],
            "status": lead["status"],
            "qualification_score": lead["qualification_score"],
            "opportunity_score": lead.get("opportunity_score"),
        }
        for lead in ranked
    ]
    return {
        "status": run["status"],
        "billing_block": run["billing_block"],
        "counts": run["counts"],
        "leads": leads,
    }


def build_platform_graph() -> StateGraph[Any, Any, Any, Any]:
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        LeadGenState, input_schema=LeadGenInput, output_schema=LeadGenOutput
    )
    builder.add_node("start_run", start_run)
    builder.add_node("execute", execute)
    builder.add_node("billing_pause", billing_pause)
    builder.add_node("summarize", summarize)
    builder.add_edge(START, "start_run")
    builder.add_edge("start_run", "execute")
    builder.add_conditional_edges("execute", _after_execute, ["billing_pause", "summarize"])
    builder.add_edge("billing_pause", "execute")
    builder.add_edge("summarize", END)
    return builder


def compile_platform_graph(checkpointer: Any = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compiled without a checkpointer for LangGraph Server, which supplies its own."""
    return build_platform_graph().compile(checkpointer=checkpointer, name="lead_gen")


graph = compile_platform_graph()
