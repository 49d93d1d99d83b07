"""The `leadgen worker` process: takes run jobs from the queue (graphs/queue.py) and executes them
with a run service of its own (graphs/service.py).

It is the one module that knows both: the service enqueues on the queue, the queue's job calls back
into whatever run service the worker hands it, and neither imports the other's way back.
See graphs/queue.py for how runs of a dead worker come back and how SIGTERM drains a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from typing import Any

import psycopg
from procrastinate import exceptions as pq_errors
from procrastinate.worker import Worker

from graphs.checkpoints import bootstrap_lock
from graphs.queue import (
    QUEUE_NAME,
    QueueSettings,
    RunQueue,
    ensure_queue_schema,
    make_app,
    recover_stalled_jobs,
    requeue_orphans,
    require_postgres,
)
from graphs.service import RunService
from leadgen.settings import Settings

log = logging.getLogger(__name__)


class WorkerStopped(RuntimeError):
    """The worker stopped without being asked to (procrastinate gave up on a side task)."""


class Heartbeat(threading.Thread):
    """The worker's heartbeat, from a thread of its own with its own connection.

    Liveness must mean "the process is alive", not "its event loop had a moment": a run's
    CPU-heavy steps can keep the loop busy for seconds on a loaded machine, and a heartbeat
    that waits for the loop then goes stale, other workers declare this one dead, retry its
    jobs and delete its row, and its next job fetch fails on the missing row (the worker
    crashed, twice seen in the scale tests under load). A thread gets the CPU every few
    milliseconds (Python switches threads) whatever the loop is doing.
    """

    def __init__(self, dsn: str, worker: Worker, interval: float) -> None:
        super().__init__(name="worker-heartbeat", daemon=True)
        self.dsn, self.worker, self.interval = dsn, worker, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        from procrastinate.sql import queries

        conn: psycopg.Connection[Any] | None = None
        while not self.stopped.wait(self.interval):
            worker_id = self.worker.worker_id  # None until registered, and after it stops
            if worker_id is None:
                continue
            try:
                conn = conn or psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
                conn.execute(queries["update_heartbeat"], {"worker_id": worker_id})
            except psycopg.Error as exc:  # the next beat reconnects
                log.warning("worker heartbeat failed: %s", exc)
                with contextlib.suppress(psycopg.Error):
                    if conn is not None:
                        conn.close()
                conn = None
        if conn is not None:
            conn.close()


async def _maintain(runs: RunService, queue: RunQueue, settings: QueueSettings) -> None:
    """Side loop of every worker: every `recovery_seconds`, the recovery of dead workers' jobs and
    orphaned runs. (The heartbeat has a thread of its own, `Heartbeat`, kept up while draining,
    when procrastinate has stopped its own, so a draining worker is not mistaken for a dead one.)"""
    app = queue.app
    while True:
        await asyncio.sleep(settings.recovery_seconds)
        try:
            await recover_stalled_jobs(app, settings.stalled_seconds)
            await requeue_orphans(runs.db, queue)
        except (pq_errors.ConnectorException, psycopg.Error, OSError) as exc:
            # A database hiccup: the next round tries again; the worker itself keeps running.
            log.warning("worker maintenance failed: %s", exc)


async def run_worker(settings: Settings, queue: QueueSettings, *, name: str | None = None) -> None:
    """Run a worker until SIGTERM/SIGINT: `queue.concurrency` flows at a time, one checkpoint
    saver (a small pool, `setup()` once) and one run service for all of them."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    from db import open_database
    from tools.billing import billing_for
    from tools.providers import Providers

    dsn = require_postgres(settings)
    # The worker *is* the in-process executor for the jobs it takes.
    here = settings.model_copy(update={"leadgen_executor": "inprocess"})
    name = name or f"{socket.gethostname()}:{os.getpid()}"
    db = await open_database(settings.resolved_database_url)
    try:
        async with AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=queue.checkpoint_pool_size,
            open=False,
            # What AsyncPostgresSaver.from_conn_string sets on its own connection.
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        ) as pool:
            saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
            async with bootstrap_lock(dsn) as conn:
                await ensure_queue_schema(conn)
                await saver.setup()
            async with Providers.from_settings(here) as providers:
                runs = RunService(db, billing_for(here, db.engine), providers, saver, here)
                app = make_app(dsn, queue, pool_size=queue.queue_pool_size)
                async with app.open_async():
                    worker = Worker(
                        app=app,
                        queues=[QUEUE_NAME],
                        name=name,
                        concurrency=queue.concurrency,
                        fetch_job_polling_interval=queue.poll_seconds,
                        shutdown_graceful_timeout=queue.drain_seconds,
                        update_heartbeat_interval=queue.heartbeat_seconds,
                        stalled_worker_timeout=queue.stalled_seconds,
                        additional_context={"runs": runs},
                        # Ours, below: to tell a requested stop from a failure (exit 0 vs 1).
                        install_signal_handlers=False,
                    )
                    signalled: list[int] = []

                    def stop(signum: int) -> None:
                        signalled.append(signum)
                        log.info("worker %s: signal %d, draining", name, signum)
                        worker.stop()

                    loop = asyncio.get_running_loop()
                    for signum in (signal.SIGTERM, signal.SIGINT):
                        loop.add_signal_handler(signum, stop, signum)
                    maintenance = asyncio.create_task(_maintain(runs, RunQueue(app), queue))
                    heartbeat = Heartbeat(dsn, worker, queue.heartbeat_seconds)
                    heartbeat.start()
                    log.info(
                        "worker %s: %d flow(s) at a time on queue %s", name, queue.concurrency, QUEUE_NAME
                    )
                    try:
                        await worker.run()
                    finally:
                        for signum in (signal.SIGTERM, signal.SIGINT):
                            loop.remove_signal_handler(signum)
                        maintenance.cancel()
                        heartbeat.stopped.set()
                        with contextlib.suppress(asyncio.CancelledError):
                            await maintenance
                        await asyncio.to_thread(heartbeat.join, 30)
    finally:
        await db.close()
    if not signalled:
        # procrastinate stops a worker whose side task (its LISTEN connection ...) failed.
        raise WorkerStopped(f"worker {name} stopped on its own; see the log above")
    log.info("worker %s stopped", name)
