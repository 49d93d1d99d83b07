"""Parallel audits over a Firecrawl plan whose per-window limit they exceed (issue 20): Firecrawl
answers 429 with the wait only in its body; the audits wait it out and complete."""

from __future__ import annotations

from typing import Any

import pytest

from graphs.service import RunService
from tools.billing.local import LocalLedger


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_audits_wait_out_firecrawls_body_only_429_and_complete(
    runs: RunService, agency: str, sandbox_config: Any
) -> None:
    # Two requests per endpoint group per 6 s: the third audit's map, batch start and status
    # read are refused for up to 6 s, longer than a few quick backoffs would wait.
    sandbox_config.configure(
        world_profile="all_auditable", firecrawl_rate_limit=2, firecrawl_rate_window_seconds=6.0
    )
    sandbox_config.clear_requests()
    customer = await runs.ensure_agency(agency)
    assert isinstance(runs.billing, LocalLedger)
    await runs.billing.set_balance(customer, 50)

    flow = await runs.start(agency, num_leads=3, vertical="dentists", geography="Austin, TX")
    outcome = await runs.execute(agency, flow.id)

    assert outcome.status == "completed", outcome.flow.error
    jobs = await runs.audit_jobs(agency, flow.id)
    assert len(jobs) == 3 and {j.status for j in jobs} == {"completed"}, [(j.status, j.error) for j in jobs]
    refused = [r for r in sandbox_config.requests("firecrawl") if r["status"] == 429]
    assert refused, "the plan limit was reached"
