"""The run service: the seed's public API over the graph, for every face (CLI, chat, Slack).

    async with RunService.open() as runs:
        flow = await runs.start("acme", num_leads=10, vertical="dentists", geography="Austin, TX")
        outcome = await runs.execute("acme", flow.id, on_event=print)   # blocks until done/paused
        if outcome.status == "paused_for_upgrade":
            ...grant credits...
            decision = await runs.resume_if_funded("acme", flow.id, wait=True)  # ResumeDecision

Every method takes the agency id first; another agency's flow reads as not found.

One execution per flow: `execute`/`resume` take the flow's lease (compare-and-set in the table,
renewed while running). A lease whose holder died is taken over when it expires, or at once when
the holder was a process on this host that no longer exists. A second caller is told the flow is
already running.

Resuming: `resume_if_funded` is the one entry every face asks; it holds the one rule (the
balance against the cheapest pending step, graphs/run_results.py) and answers a typed decision.
It checks and starts under the flow's lease, so at most one face of any process resumes a run.

Executors (`LEADGEN_EXECUTOR`, graphs/executors.py, `self.executor`), the one owner of execution:
every execution here is a task of the executor's (`stream` launches one and follows it, `cancel`
asks the executor to stop it). `inprocess` (default) runs the graph in the calling process.
`queue` (PostgreSQL only) enqueues one job per flow for `leadgen worker` processes
(graphs/queue.py); `execute`/`resume` then wait for it by reading the flow row (`wait=True`,
the default, so every caller keeps "blocks until done or paused"), or return at once with an
Outcome of status `queued` (`wait=False`, for faces that only enqueue and read).

Errors: graphs/run_errors.py (re-exported here). The stale-lease rule: graphs/run_lease.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from db import Database, open_database
from db.models import AuditDossier, AuditJob, ClientOpportunity, LeadGenFlow, ScrapedPage
from db.progress import overall_progress
from db.repositories import LeadRecord, NotFound, new_lease_owner
from db.statuses import FINAL_FLOW_STATUSES, AuditStatus, FlowStatus, PhaseStatus
from graphs.executors import Executor, executor_for
from graphs.run_errors import (
    AlreadyRunning,
    BadRunInput,
    ProviderKeyRejected,
    QueueRequiresPostgres,
    RunError,
    RunIdTaken,
    RunNotFound,
)
from graphs.run_events import RunEnded, RunEvent
from graphs.run_input import BadCampaignInput, check_campaign_text, check_lead_count
from graphs.run_lease import RunKind, holder_is_dead_here, lease_is_stale
from graphs.run_results import QUEUED, CreditGap, Outcome, ResumeDecision, ResumeStatus, required_credits
from graphs.run_snapshot import RunSnapshot, snapshot_of
from graphs.views import scoring_note
from leadgen.settings import Settings, get_settings
from tools.billing import billing_for
from tools.billing.port import BillingAuthFailed, BillingProvider, UnknownHold
from tools.http import AuthError

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.types import Command, StreamMode

    from graphs.queue import RunQueue
    from tools.providers import Providers

__all__ = [  # the errors and the lease rule keep their old import path for every caller
    "QUEUED",
    "AlreadyRunning",
    "BadRunInput",
    "CreditGap",
    "Outcome",
    "ProviderKeyRejected",
    "QueueRequiresPostgres",
    "ResumeDecision",
    "ResumeStatus",
    "RunError",
    "RunIdTaken",
    "RunKind",
    "RunNotFound",
    "RunService",
    "holder_is_dead_here",
    "key_problem",
]

log = logging.getLogger(__name__)

STREAM_MODES: list[StreamMode] = ["custom", "updates"]
EventSink = Callable[[dict[str, Any]], Awaitable[None]]


def key_problem(exc: BaseException) -> str | None:
    """The one sentence naming the variable to fix when `exc` is a provider refusing our key."""
    if isinstance(exc, AuthError | BillingAuthFailed):
        return str(exc)
    from tools.llm import key_rejected_message

    return key_rejected_message(exc)


def _check_executor(settings: Settings, database_url: str) -> None:
    if settings.leadgen_executor != "queue":
        return
    from graphs.queue import QueueNotAvailable, require_postgres

    try:
        require_postgres(settings.model_copy(update={"database_url": database_url}))
    except QueueNotAvailable as exc:
        raise QueueRequiresPostgres(str(exc)) from exc


class RunService:
    def __init__(
        self,
        db: Database,
        billing: BillingProvider,
        providers: Providers,
        checkpointer: BaseCheckpointSaver[str],
        settings: Settings,
        queue: RunQueue | None = None,
    ) -> None:
        _check_executor(settings, db.url)
        self.db = db
        self.billing = billing
        self.providers = providers
        self.settings = settings
        # The graph (LangGraph, the model clients) loads only when a service is built, which
        # keeps `import graphs.service` cheap for the CLI.
        from graphs.pipeline import compile_graph

        self.graph = compile_graph(checkpointer)
        # Queue executor: the client that enqueues (open() passes one; else one per enqueue).
        self.queue = queue
        # Who executes this service's runs (LEADGEN_EXECUTOR), and its background executions.
        self.executor: Executor = executor_for(settings.leadgen_executor, self)

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings | None = None) -> AsyncIterator[RunService]:
        from graphs.checkpoints import open_checkpointer

        settings = settings or get_settings()
        _check_executor(settings, settings.resolved_database_url)  # before anything is opened
        db = await open_database(settings.resolved_database_url)
        try:
            from tools.providers import Providers

            async with (
                open_checkpointer(db.url) as saver,
                Providers.from_settings(settings) as providers,
                contextlib.AsyncExitStack() as stack,
            ):
                queue = None
                if settings.leadgen_executor == "queue":
                    from graphs.queue import RunQueue, libpq_dsn

                    queue = await stack.enter_async_context(RunQueue.connect(libpq_dsn(db.url)))
                yield cls(db, billing_for(settings, db.engine), providers, saver, settings, queue)
        finally:
            await db.close()

    # -- commands ---------------------------------------------------------------------------

    async def ensure_agency(self, agency_id: str) -> str:
        """Create the agency on first use, with its starting credits; returns its billing customer."""
        async with self.db.transaction() as repo:
            agency = await repo.ensure_agency(agency_id)
        ensure_account = getattr(self.billing, "ensure_account", None)
        if ensure_account is not None:
            await ensure_account(agency.billing_customer_id, self.settings.leadgen_starting_credits)
        return agency.billing_customer_id

    async def start(
        self,
        agency_id: str,
        *,
        num_leads: int,
        vertical: str | None = None,
        geography: str | None = None,
        user_id: str | None = None,
        flow_id: str | None = None,
        refresh: bool = False,
    ) -> LeadGenFlow:
        """Validate the campaign (arguments, else the agency profile) and create the flow (with
        the id `flow_id` when given: graphs/platform_graph.py passes its thread's).
        `refresh`: audit (and charge for) every lead with a website again, even those whose
        dossier is younger than LEADGEN_DOSSIER_MAX_AGE_DAYS, which are otherwise reused."""
        vertical, geography = await self.campaign(
            agency_id, num_leads=num_leads, vertical=vertical, geography=geography
        )
        await self._verify_billing_key(agency_id)
        customer = await self.ensure_agency(agency_id)
        try:
            async with self.db.transaction() as repo:
                return await repo.create_flow(
                    agency_id,
                    target_vertical=vertical,
                    target_geography=geography,
                    num_leads_requested=num_leads,
                    user_id=user_id,
                    billing_customer_id=customer,
                    flow_id=flow_id,
                    refresh_dossiers=bool(refresh),
                )
        except IntegrityError:
            if flow_id is None:
                raise
            raise RunIdTaken(flow_id) from None

    async def campaign(
        self, agency_id: str, *, num_leads: int, vertical: str | None, geography: str | None
    ) -> tuple[str, str]:
        """The campaign a run would have (vertical and geography, from the arguments, else the
        agency profile), validated; BadRunInput when it is not one. Writes nothing: a face asks
        this before it asks the person to confirm a run."""
        try:
            check_lead_count(num_leads)
        except BadCampaignInput as exc:
            raise BadRunInput(str(exc)) from None
        async with self.db.reader() as repo:
            profile = await repo.get_profile(agency_id)
        vertical = vertical if vertical is not None else (profile.target_vertical if profile else None)
        geography = geography if geography is not None else (profile.target_geography if profile else None)
        if vertical is None:
            raise BadRunInput(
                "no vertical: pass one (e.g. --vertical dentists) or set it with `leadgen agency set`"
            )
        if geography is None:
            raise BadRunInput(
                "no geography: pass one (e.g. --geography 'Austin, TX') or set it with `leadgen agency set`"
            )
        try:
            vertical = check_campaign_text(vertical, "vertical", single_spaces=True)
            geography = check_campaign_text(geography, "geography", single_spaces=True)
        except BadCampaignInput as exc:
            raise BadRunInput(str(exc)) from None
        return vertical, geography

    async def _verify_billing_key(self, agency_id: str) -> None:
        """A billing provider that refuses our key fails the start before anything is written
        (ProviderKeyRejected), instead of a run that fails at its first billing gate."""
        verify = getattr(self.billing, "verify_credentials", None)
        if verify is None:
            return
        async with self.db.reader() as repo:
            agency = await repo.get_agency(agency_id)
        # A new agency's billing customer is its own id (Repository.ensure_agency).
        customer = agency.billing_customer_id if agency is not None else agency_id
        try:
            await verify(customer)
        except BillingAuthFailed as exc:
            raise ProviderKeyRejected(str(exc)) from None

    async def execute(
        self, agency_id: str, flow_id: str, *, on_event: EventSink | None = None, wait: bool = True
    ) -> Outcome:
        """Run the flow from wherever its checkpoint stands (new, crashed or just resumed).
        Queue executor: enqueue it, then wait for a worker to finish or pause it (`wait=False`:
        return at once with status `queued`). In-process, `wait` is ignored."""
        return await self._dispatch(agency_id, flow_id, None, on_event, "execute", wait)

    async def resume(
        self, agency_id: str, flow_id: str, *, on_event: EventSink | None = None, wait: bool = True
    ) -> Outcome:
        """Continue a paused (or crashed) flow. Re-checks credits first: when they still do not
        cover the cheapest pending step, the flow stays paused, its billing block is refreshed,
        and nothing runs or is charged. AlreadyRunning when someone else executes it. Queue
        executor: as `execute` (the check is made here, and again by the worker). Faces call
        `resume_if_funded` instead, which answers a decision rather than raising."""
        decision = await self._resume(agency_id, flow_id, on_event=on_event, wait=wait, background=False)
        assert decision.outcome is not None  # a resume that was waited for always has one
        return decision.outcome

    async def resume_if_funded(
        self, agency_id: str, flow_id: str, *, on_event: EventSink | None = None, wait: bool = False
    ) -> ResumeDecision:
        """The one resume every face asks for: resume the run when the balance covers its
        cheapest pending step, and say what was decided (`ResumeStatus`).

        At most one resume, whoever asks and from wherever: within this process a second face
        asking while the first one's resume is under way is told RESUMING (and watches); across
        processes the credits are checked and the execution started under the flow's lease
        (compare-and-set on the row), so a face of another process that loses the race is told
        RESUMING (or RUNNING) instead of resuming it again. Queue executor: the job's queueing
        lock plays the lease's part.

        `wait=False` (the chat and Slack faces): the execution goes on in the background
        (`self.executor`, whose subscribers see its events). `wait=True` (the CLI): it runs to its
        end or pause here, and the decision carries its `outcome`; RUNNING means another holder
        executes it."""
        flow = await self.get(agency_id, flow_id)
        if flow.status in FINAL_FLOW_STATUSES:
            return _finished(flow)
        executor = self.executor
        if executor.resuming(flow_id):
            return ResumeDecision(ResumeStatus.RESUMING, flow)
        if executor.active(flow_id):
            return ResumeDecision(ResumeStatus.RUNNING, flow)
        executor.begin_resume(flow_id)
        try:
            return await self._resume(agency_id, flow_id, on_event=on_event, wait=wait, background=not wait)
        except AlreadyRunning:
            executor.note(flow_id, "already_running")
            flow = await self.get(agency_id, flow_id)
            if flow.status in FINAL_FLOW_STATUSES:
                return _finished(flow)
            # Held while still paused: another face is checking the credits and resuming it now.
            paused = flow.status == FlowStatus.PAUSED_FOR_UPGRADE
            return ResumeDecision(ResumeStatus.RESUMING if paused else ResumeStatus.RUNNING, flow)
        finally:
            if not executor.active(flow_id):
                executor.end_resume(flow_id)

    async def resume_gap(self, agency_id: str, flow_id: str) -> CreditGap:
        """Where a paused run stands against the balance, by the rule `resume_if_funded` applies
        (the cheapest pending step): what a paywall shows and polls."""
        flow = await self.get(agency_id, flow_id)
        return await self._gap(flow, await self._pending_interrupts(flow_id))

    async def _gap(self, flow: LeadGenFlow, interrupts: list[Any]) -> CreditGap:
        blocks = _pending_blocks(flow, interrupts)
        return CreditGap(await self.billing.balance(flow.billing_customer_id), required_credits(blocks))

    async def _check_credits(
        self, agency_id: str, flow: LeadGenFlow
    ) -> tuple[CreditGap | None, Command[Any] | None] | ResumeDecision:
        """Before a resume: the gap and the command answering every pending interrupt, or, when
        the balance does not cover the cheapest pending step, the STILL_SHORT decision (the
        flow's billing block refreshed, nothing run)."""
        interrupts = await self._pending_interrupts(flow.id)
        if not interrupts:
            return None, None
        gap = await self._gap(flow, interrupts)
        if not gap.enough:
            blocks = _pending_blocks(flow, interrupts)
            cheapest = min(blocks, key=lambda b: required_credits([b]), default={})
            block = dict(cheapest or {})
            check = await self.billing.check(
                flow.billing_customer_id, block.get("feature_id", "dossier_research")
            )
            block["credit_info"] = check.credit_info()
            async with self.db.transaction() as repo:
                flow = await repo.update_flow(
                    agency_id, flow.id, status=FlowStatus.PAUSED_FOR_UPGRADE, billing_block=block
                )
            outcome = Outcome(
                FlowStatus.PAUSED_FOR_UPGRADE, flow, pending_interrupts=len(interrupts), ran=False
            )
            return ResumeDecision(ResumeStatus.STILL_SHORT, flow, gap, outcome)
        # One answer for every pending interrupt: the gates re-try their holds and those still
        # short pause again (LangGraph re-runs all interrupted tasks of the superstep anyway).
        from langgraph.types import Command

        return gap, Command(resume={i.id: {"resumed": True} for i in interrupts})

    async def _resume(
        self, agency_id: str, flow_id: str, *, on_event: EventSink | None, wait: bool, background: bool
    ) -> ResumeDecision:
        """Check the credits and resume: under the flow's lease in process (so the check and the
        execution are one holder's), before enqueueing with the queue executor."""
        executor = self.executor
        if executor.name == "queue":
            flow = await self.get(agency_id, flow_id)
            if flow.status in FINAL_FLOW_STATUSES:
                return _finished(flow)
            checked = await self._check_credits(agency_id, flow)
            if isinstance(checked, ResumeDecision):
                return checked
            gap, command = checked
            if background:
                # Enqueued now, so a second holder is known at once; the executor follows it.
                await self._dispatch(agency_id, flow_id, command, None, "resume", False)

                async def follow(sink: EventSink) -> Outcome:
                    return await self.wait_for(agency_id, flow_id, on_event=sink)

                executor.launch(agency_id, flow_id, resume=True, start=follow)
                return ResumeDecision(ResumeStatus.RESUMING, flow, gap)
            outcome = await self._dispatch(agency_id, flow_id, command, on_event, "resume", wait)
            return ResumeDecision(ResumeStatus.RESUMING, outcome.flow, gap, outcome)

        owner = new_lease_owner()
        await self._acquire(agency_id, flow_id, owner)
        try:
            flow = await self.get(agency_id, flow_id)
            if flow.status in FINAL_FLOW_STATUSES:
                await self._release(agency_id, flow_id, owner)
                return _finished(flow)
            checked = await self._check_credits(agency_id, flow)
            if isinstance(checked, ResumeDecision):
                await self._release(agency_id, flow_id, owner)
                return checked
        except BaseException:
            await self._release(agency_id, flow_id, owner)
            raise
        gap, command = checked
        if background:

            async def held(sink: EventSink) -> Outcome:
                return await self.run_here(agency_id, flow_id, command, sink, owner=owner)

            if not executor.launch(agency_id, flow_id, resume=True, start=held):
                # This process's previous execution is still winding down: it has the run.
                await self._release(agency_id, flow_id, owner)
                return ResumeDecision(ResumeStatus.RUNNING, flow, gap)
            return ResumeDecision(ResumeStatus.RESUMING, flow, gap)
        outcome = await executor.own(
            agency_id, flow_id, lambda: self.run_here(agency_id, flow_id, command, on_event, owner=owner)
        )
        return ResumeDecision(ResumeStatus.RESUMING, outcome.flow, gap, outcome)

    async def stream(
        self, agency_id: str, flow_id: str, *, resume: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """Execute (or resume) the flow and yield its events as they happen; the last event is
        `{"type": "outcome", "status": ..., "flow_id": ..., "ran": ...}`. Errors of the run are
        raised (AlreadyRunning when it is executing already). The execution is the executor's
        (`launch`); this follows it as one more subscriber, and closing the stream before the
        outcome stops it (the flow stays `running` for recovery, as a run whose process ended)."""
        executor = self.executor
        events: asyncio.Queue[RunEvent] = asyncio.Queue()
        unsubscribe = executor.subscribe(flow_id, events.put)
        launched = ended = False
        try:
            launched = executor.launch(agency_id, flow_id, resume=resume)
            if not launched:
                raise AlreadyRunning(f"run {flow_id} is already running in this process")
            while not isinstance(event := await events.get(), RunEnded):
                yield dict(event.raw)
            ended = True
            if event.error is not None:
                raise event.error
            yield {"type": "outcome", "status": event.status, "flow_id": flow_id, "ran": event.ran}
        finally:
            unsubscribe()
            if launched and not ended:
                await executor.stop(flow_id)

    async def cancel(self, agency_id: str, flow_id: str) -> LeadGenFlow:
        """Stop a flow: marked cancelled, its execution in this process stopped by the executor
        (one in another process stops at its next lease renewal), and the credits held for its
        unfinished audits are released."""
        async with self.db.transaction() as repo:
            flow = await repo.get_flow(agency_id, flow_id)
            if flow is None:
                raise RunNotFound(f"run {flow_id!r} not found")
            if flow.status != FlowStatus.COMPLETED:
                flow = await repo.update_flow(
                    agency_id, flow_id, status=FlowStatus.CANCELLED, billing_block=None
                )
            jobs = await repo.list_audit_jobs(agency_id, flow_id)
        # Executing here: the executor stops it now (and it is over when this returns, so no hold
        # is taken after the releases below); executing elsewhere: at its next lease renewal.
        await self.executor.stop(flow_id)
        from graphs.audit import audit_key
        from graphs.pipeline import source_key

        # Unfinished work gives its credits back; keys never held (audits that had not reached
        # their gate) have nothing to release.
        keys = [
            source_key(flow_id),
            *(audit_key(job.id) for job in jobs if job.status != AuditStatus.COMPLETED),
        ]
        for key in keys:
            with contextlib.suppress(UnknownHold):
                await self.billing.release(key)
        return flow

    async def recover(self) -> list[str]:
        """Resume every flow left `running` by a holder that died (start-up sweep). Returns the
        ids it resumed; each runs to its end (or pause) before this returns."""
        async with self.db.reader() as repo:
            now = _now()
            stale = [
                f
                for f in await repo.sweep_running_flows()
                if lease_is_stale(f.lease_owner, f.lease_expires_at, now)
            ]
        resumed: list[str] = []
        for flow in stale:
            with contextlib.suppress(AlreadyRunning):
                await self.resume(flow.agency_id, flow.id)
                resumed.append(flow.id)
        return resumed

    # -- queries (the seed's public API) ----------------------------------------------------

    async def get(self, agency_id: str, flow_id: str) -> LeadGenFlow:
        async with self.db.reader() as repo:
            flow = await repo.get_flow(agency_id, flow_id)
        if flow is None:
            raise RunNotFound(f"run {flow_id!r} not found")
        return flow

    async def snapshot(self, agency_id: str, flow_id: str, *, leads: bool = False) -> RunSnapshot:
        """The run as every face shows it (status, phases, counts, progress, billing block, last
        event and, with `leads`, its ranked leads), read in one database session: what the live
        views redraw from (graphs/run_watch.py). RunNotFound when it is not the agency's."""
        async with self.db.reader() as repo:
            flow = await repo.get_flow(agency_id, flow_id)
            if flow is None:
                raise RunNotFound(f"run {flow_id!r} not found")
            counts = await repo.flow_counts(agency_id, flow_id)
            found = await repo.list_flow_leads(agency_id, flow_id) if leads else None
            return snapshot_of(
                flow, counts=counts, progress=overall_progress(flow.status, flow.phases), leads=found
            )

    async def list_runs(self, agency_id: str, limit: int = 50) -> list[LeadGenFlow]:
        async with self.db.reader() as repo:
            return await repo.list_flows(agency_id, limit=limit)

    async def progress(self, agency_id: str, flow_id: str) -> float:
        async with self.db.reader() as repo:
            try:
                return await repo.flow_progress(agency_id, flow_id)
            except NotFound as exc:
                raise RunNotFound(str(exc)) from exc

    async def counts(self, agency_id: str, flow_id: str) -> dict[str, int]:
        await self.get(agency_id, flow_id)
        async with self.db.reader() as repo:
            return await repo.flow_counts(agency_id, flow_id)

    async def opportunities(self, agency_id: str, flow_id: str) -> list[ClientOpportunity]:
        """The leads this run found (every one, even those later runs found again), ranked."""
        await self.get(agency_id, flow_id)
        async with self.db.reader() as repo:
            return await repo.list_opportunities(agency_id, flow_id)

    async def run_leads(self, agency_id: str, flow_id: str) -> list[LeadRecord]:
        """The run's leads ranked, each as this run saw it (status, score, audit, dossier,
        reuse) with every run that found it: what `graphs.views.leads_json` renders."""
        await self.get(agency_id, flow_id)
        async with self.db.reader() as repo:
            return await repo.list_flow_leads(agency_id, flow_id)

    async def lead(self, agency_id: str, opportunity_id: str) -> LeadRecord | None:
        """One lead with its runs and newest dossier (None when it is not the agency's)."""
        async with self.db.reader() as repo:
            return await repo.get_lead(agency_id, opportunity_id)

    async def audit_jobs(self, agency_id: str, flow_id: str) -> list[AuditJob]:
        await self.get(agency_id, flow_id)
        async with self.db.reader() as repo:
            return await repo.list_audit_jobs(agency_id, flow_id)

    async def scoring_note(self, agency_id: str) -> str | None:
        """What a face says under a ranked list when the agency has not told what it sells."""
        async with self.db.reader() as repo:
            profile = await repo.get_profile(agency_id)
        return scoring_note(profile.criteria if profile else [], profile.services_offered if profile else [])

    async def dossier(self, agency_id: str, dossier_id: str) -> AuditDossier | None:
        async with self.db.reader() as repo:
            return await repo.get_dossier(agency_id, dossier_id)

    async def dossier_for_opportunity(self, agency_id: str, opportunity_id: str) -> AuditDossier | None:
        async with self.db.reader() as repo:
            return await repo.get_dossier_for_opportunity(agency_id, opportunity_id)

    async def opportunity(self, agency_id: str, opportunity_id: str) -> ClientOpportunity | None:
        async with self.db.reader() as repo:
            return await repo.get_opportunity(agency_id, opportunity_id)

    async def scraped_pages(self, agency_id: str, audit_job_id: str) -> list[ScrapedPage]:
        async with self.db.reader() as repo:
            if await repo.get_audit_job(agency_id, audit_job_id) is None:
                raise RunNotFound(f"audit job {audit_job_id!r} not found")
            return await repo.list_scraped_pages(agency_id, audit_job_id)

    # -- execution ----------------------------------------------------------------------------

    async def _dispatch(
        self,
        agency_id: str,
        flow_id: str,
        command: Command[Any] | None,
        on_event: EventSink | None,
        kind: RunKind,
        wait: bool,
    ) -> Outcome:
        return await self.executor.run(agency_id, flow_id, command, on_event, kind, wait)

    async def wait_for(self, agency_id: str, flow_id: str, *, on_event: EventSink | None = None) -> Outcome:
        """Block until a queued (or running) flow completes, pauses or fails, reading its row;
        phase changes go to `on_event`. For callers that enqueued with `wait=False`."""
        from graphs.queue import wait_for

        flow = await wait_for(self, agency_id, flow_id, on_event=on_event)
        return Outcome(flow.status, flow)

    def _config(self, flow_id: str) -> RunnableConfig:
        return {
            "configurable": {"thread_id": flow_id},
            "max_concurrency": self.settings.leadgen_audit_concurrency,
            "recursion_limit": 64,
        }

    async def _pending_interrupts(self, flow_id: str) -> list[Any]:
        state = await self.graph.aget_state(self._config(flow_id))
        return list(state.interrupts)

    async def _acquire(self, agency_id: str, flow_id: str, owner: str) -> None:
        ttl = self.settings.leadgen_lease_seconds
        async with self.db.transaction() as repo:
            flow = await repo.get_flow(agency_id, flow_id)
            if flow is None:
                raise RunNotFound(f"run {flow_id!r} not found")
            dead = flow.lease_owner if holder_is_dead_here(flow.lease_owner) else None
            if not await repo.acquire_lease(agency_id, flow_id, owner, ttl, take_over_from=dead):
                raise AlreadyRunning(f"run {flow_id} is already running (held by {flow.lease_owner})")

    async def _keep_lease(self, agency_id: str, flow_id: str, owner: str, runner: asyncio.Task[Any]) -> None:
        """Renew the lease while the run goes on. A renewal that fails (the database stayed locked)
        stops the run and raises: past its expiry the lease is no guard, and another process
        could take the run over while this one still executes it."""
        ttl = self.settings.leadgen_lease_seconds
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                async with self.db.transaction() as repo:
                    kept = await repo.renew_lease(agency_id, flow_id, owner, ttl)
                    flow = await repo.get_flow(agency_id, flow_id)
            except Exception:
                runner.cancel()
                raise
            if not kept or (flow is not None and flow.status == FlowStatus.CANCELLED):
                runner.cancel()
                return

    async def run_here(
        self,
        agency_id: str,
        flow_id: str,
        command: Command[Any] | None,
        on_event: EventSink | None,
        *,
        owner: str | None = None,
    ) -> Outcome:
        """Execute the flow in this process under its lease (the in-process executor's work):
        taken here, or already taken by the caller as `owner` (a resume that checked the credits
        under it). The lease is released when this returns."""
        if owner is None:
            owner = new_lease_owner()
            await self._acquire(agency_id, flow_id, owner)
        try:
            flow = await self.get(agency_id, flow_id)
            if flow.status in FINAL_FLOW_STATUSES:
                return Outcome(flow.status, flow, ran=False)
            state = await self.graph.aget_state(self._config(flow_id))
            if command is None and state.interrupts:
                return Outcome(
                    FlowStatus.PAUSED_FOR_UPGRADE, flow, pending_interrupts=len(state.interrupts), ran=False
                )
            fresh = not state.values and not state.next
            if not fresh:
                _log_skipped_phases(flow)
            graph_input: Any = {"flow_id": flow_id, "agency_id": agency_id} if fresh else command
            async with self.db.transaction() as repo:
                await repo.update_flow(
                    agency_id, flow_id, status=FlowStatus.RUNNING, billing_block=None, error=None
                )
            # The graph in a task of its own, so the lease keeper can stop it and this execution
            # still settle the flow (the executor's `stop` reaches it through this one).
            task = asyncio.create_task(self._stream(flow_id, graph_input, on_event))
            keeper = asyncio.create_task(self._keep_lease(agency_id, flow_id, owner, task))
            try:
                await task
            except asyncio.CancelledError:
                lost = keeper.exception() if keeper.done() and not keeper.cancelled() else None
                if lost is not None:
                    raise lost from None  # the lease could not be kept: say why
                flow = await self.get(agency_id, flow_id)
                if flow.status == FlowStatus.CANCELLED:
                    return Outcome(FlowStatus.CANCELLED, flow)
                raise
            except Exception as exc:
                problem = key_problem(exc)
                if problem is not None:  # a setting to fix: the sentence says which; no traceback
                    log.error("run %s stopped: %s", flow_id, problem)
                else:
                    log.exception("run %s failed", flow_id)
                error = problem or f"{type(exc).__name__}: {exc}"
                async with self.db.transaction() as repo:
                    flow = await repo.update_flow(
                        agency_id, flow_id, status=FlowStatus.ERROR, error=error[:2000]
                    )
                return Outcome(FlowStatus.ERROR, flow)
            finally:
                keeper.cancel()
                if keeper.done() and not keeper.cancelled():
                    keeper.exception()  # retrieved: a renewal that failed as the run ended says nothing more
            return await self._settle_status(agency_id, flow_id)
        finally:
            await self._release(agency_id, flow_id, owner)

    async def _release(self, agency_id: str, flow_id: str, owner: str) -> None:
        async with self.db.transaction() as repo:
            await repo.release_lease(agency_id, flow_id, owner)

    async def _stream(self, flow_id: str, graph_input: Any, on_event: EventSink | None) -> None:
        from graphs.context import PipelineContext

        context = PipelineContext(
            db=self.db, billing=self.billing, providers=self.providers, settings=self.settings
        )
        async for _ns, mode, chunk in self.graph.astream(
            graph_input,
            self._config(flow_id),
            context=context,
            stream_mode=STREAM_MODES,
            subgraphs=True,
            durability="sync",
        ):
            if mode == "custom" and on_event is not None and isinstance(chunk, dict):
                await on_event(chunk)

    async def _settle_status(self, agency_id: str, flow_id: str) -> Outcome:
        """After the stream ends: paused (interrupts pending) or completed (nothing left)."""
        state = await self.graph.aget_state(self._config(flow_id))
        async with self.db.transaction() as repo:
            if state.interrupts:
                first = state.interrupts[0].value
                block = first.get("billing_block") if isinstance(first, dict) else None
                flow = await repo.update_flow(
                    agency_id, flow_id, status=FlowStatus.PAUSED_FOR_UPGRADE, billing_block=block
                )
                return Outcome(FlowStatus.PAUSED_FOR_UPGRADE, flow, pending_interrupts=len(state.interrupts))
            if state.next:
                flow = await repo.update_flow(
                    agency_id, flow_id, status=FlowStatus.ERROR, error=f"run stopped before {state.next}"
                )
                return Outcome(FlowStatus.ERROR, flow)
            flow = await repo.update_flow(
                agency_id, flow_id, status=FlowStatus.COMPLETED, completed_at=_now(), billing_block=None
            )
            return Outcome(FlowStatus.COMPLETED, flow)


def _finished(flow: LeadGenFlow) -> ResumeDecision:
    status = ResumeStatus.CANCELLED if flow.status == FlowStatus.CANCELLED else ResumeStatus.COMPLETED
    return ResumeDecision(status, flow, outcome=Outcome(flow.status, flow, ran=False))


def _pending_blocks(flow: LeadGenFlow, interrupts: list[Any]) -> list[dict[str, Any]]:
    """The billing blocks of the run's pending steps: its interrupts', else the flow row's."""
    blocks = [i.value.get("billing_block") or {} for i in interrupts if isinstance(i.value, dict)]
    return blocks or ([flow.billing_block] if flow.billing_block else [])


def _log_skipped_phases(flow: LeadGenFlow) -> None:
    """The seed's skip logs on phase gating: a resumed run carries on from its checkpoint, so the
    phases before the first unfinished one are not run again; say which, as the seed did."""
    entry = next((p["name"] for p in flow.phases if p.get("status") != PhaseStatus.COMPLETE), None)
    for phase in flow.phases:
        if phase["name"] == entry:
            break
        log.info(
            "Skipping %s (status=%s) due to resume at %s of run %s",
            phase["name"],
            phase.get("status"),
            entry,
            flow.id,
        )


def _now() -> Any:
    from db.base import utcnow

    return utcnow()
