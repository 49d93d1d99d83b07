"""The real clients over real HTTP against the sandbox (tests/conftest.py `sandbox`): success,
pagination, auth failures, no retry of 4xx (counted by the sandbox's request log), 429 backed
off, 5xx storms, timeouts and outages. Official SDKs run unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError

from leadgen.settings import Settings
from tools.autumn import AutumnClient, AutumnNotFoundError, DuplicateIdempotencyKey
from tools.firecrawl import FirecrawlAuthError, FirecrawlClient, FirecrawlDownError, include_url
from tools.http import CallLog, ProviderDownError, RateLimitedError, RetryPolicy
from tools.llm import chat_model
from tools.places import PlacesAuthError, PlacesBadRequestError, PlacesClient, PlacesDownError
from tools.slack import slack_web_client
from tools.vapi import VapiClient, VapiNotFoundError

POLICY = RetryPolicy(attempts=4, base_delay=0.005, max_delay=0.02, jitter=0.0, max_total_wait=10.0)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


@pytest.fixture
def fresh(sandbox_config: Any) -> Any:
    """The sandbox with its knobs reset afterwards and an empty request log now."""
    sandbox_config.clear_requests()
    return sandbox_config


@pytest.fixture
def served(sandbox_url: str) -> Callable[[str, str], None]:
    """Fail clearly, before the client test itself, when the sandbox no longer serves a route."""

    def check(service: str, path: str) -> None:
        response = httpx.request("OPTIONS", sandbox_url + path, timeout=5)
        assert not (response.status_code == 404 and "json" not in response.headers.get("content-type", "")), (
            f"the sandbox does not serve {service} ({path})"
        )

    return check


def places(
    http: httpx.AsyncClient, url: str, log: CallLog | None = None, key: str = "AIzaSandboxKey"
) -> PlacesClient:
    return PlacesClient(http, url + "/places", key, policy=POLICY, observer=log)


# --- Places ------------------------------------------------------------------------------------


async def test_places_search_and_wire(http, fresh, sandbox_url) -> None:
    found = await places(http, sandbox_url).search_text("dentists in Austin, TX")
    assert 0 < len(found) <= 20
    assert len({p.id for p in found}) == len(found)
    assert any(p.website for p in found) and any(p.website is None for p in found)
    [request] = fresh.requests("places")
    assert request["path"] == "/places/v1/places:searchText" and request["status"] == 200
    assert "nextPageToken" in request["headers"]["x-goog-fieldmask"]


async def test_places_pages_are_read_one_request_at_a_time(http, fresh, sandbox_url) -> None:
    fresh.configure(places_max_results=60)
    pages = places(http, sandbox_url).search_text_pages("plumbers in Denver, CO")
    first = await anext(pages)
    assert len(first) == 20 and len(fresh.requests("places")) == 1  # the next page only when asked
    second = await anext(pages)
    assert {p.id for p in first}.isdisjoint(p.id for p in second)
    bodies = [r["body"] for r in fresh.requests("places")]
    assert "pageToken" not in bodies[0] and bodies[1]["pageToken"]
    rest = [page async for page in pages]
    assert [len(p) for p in (first, second, *rest)] == [20, 20, 20]  # Places stops at 60
    await pages.aclose()


async def test_places_pagination_up_to_the_cap(http, fresh, sandbox_url) -> None:
    fresh.configure(places_max_results=60)
    found = await places(http, sandbox_url).search_text("plumbers in Denver, CO", max_results=45)
    assert len(found) == 45 and len({p.id for p in found}) == 45
    bodies = [r["body"] for r in fresh.requests("places")]
    assert len(bodies) == 3
    assert [{k: v for k, v in b.items() if k != "pageToken"} for b in bodies] == [bodies[0]] * 3


async def test_places_bad_key_is_auth_error_with_one_attempt(http, fresh, sandbox_url) -> None:
    log = CallLog()
    with pytest.raises(PlacesAuthError):
        await places(http, sandbox_url, log, key="not-a-google-key").search_text("dentists in Austin, TX")
    assert log.last.attempts == 1
    assert len(fresh.requests("places")) == 1


async def test_places_4xx_is_not_retried(http, fresh, sandbox_url) -> None:
    """A page token that does not belong to the query: Google (and the sandbox) answer 400."""
    log = CallLog()
    client = places(http, sandbox_url, log)
    body = {"textQuery": "dentists in Austin, TX", "pageSize": 20, "pageToken": "bogus-token"}
    response = await client.caller.request(
        http,
        "POST",
        sandbox_url + "/places/v1/places:searchText",
        operation="searchText",
        json=body,
        headers=client._headers,
    )
    assert response.status_code == 400 and log.last.attempts == 1
    assert isinstance(client._error(response), PlacesBadRequestError)
    assert [r["status"] for r in fresh.requests("places")] == [400]


async def test_places_429_is_backed_off(http, fresh, sandbox_url) -> None:
    fresh.configure(fail_rate=1.0, fault_kinds=["429"], retry_after_seconds=0.4, latency_scale=1.0)
    log = CallLog()
    with pytest.raises(RateLimitedError):
        await places(http, sandbox_url, log).search_text("dentists in Austin, TX")
    assert log.last.attempts == POLICY.attempts and set(log.last.statuses) == {429}
    # The waits are the sandbox's Retry-After values (our backoff would be milliseconds).
    assert len(log.last.waits) == POLICY.attempts - 1 and sum(log.last.waits) > 0
    assert [r["status"] for r in fresh.requests("places")] == [429] * POLICY.attempts


async def test_places_5xx_storm_recovers(http, fresh, sandbox_url) -> None:
    fresh.configure(fail_rate=0.5, fault_kinds=["500", "503"], fault_seed=7)
    log = CallLog()
    client = PlacesClient(
        http,
        sandbox_url + "/places",
        "AIzaSandboxKey",
        observer=log,
        policy=RetryPolicy(attempts=8, base_delay=0.001, max_delay=0.005, jitter=0.0),
    )
    for city in ("Austin, TX", "Boise, ID", "Tampa, FL", "Reno, NV", "Omaha, NE", "Provo, UT"):
        assert await client.search_text(f"roofers in {city}")
    assert all(r.outcome == "ok" for r in log.records)
    assert any(r.attempts > 1 for r in log.records)  # the storm was real


async def test_places_timeouts_then_down(fresh, sandbox_url) -> None:
    fresh.configure(fail_rate=1.0, fault_kinds=["timeout"], timeout_seconds=2.0)
    log = CallLog()
    policy = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002, jitter=0.0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=0.2)) as short:
        with pytest.raises(PlacesDownError):
            await PlacesClient(
                short, sandbox_url + "/places", "AIzaSandboxKey", policy=policy, observer=log
            ).search_text("dentists in Austin, TX")
    # Our timeout ended each attempt: the sandbox's own answer (a 504 after 2 s) never came.
    assert log.last.statuses == ("ReadTimeout",) * 3


async def test_outage_is_provider_down_after_bounded_attempts(http, fresh, sandbox_url) -> None:
    fresh.configure(outages=["places"])
    log = CallLog()
    with pytest.raises(ProviderDownError):
        await places(http, sandbox_url, log).search_text("dentists in Austin, TX")
    assert [r["status"] for r in fresh.requests("places")] == [503] * POLICY.attempts


# --- Firecrawl (official SDK on our client) ----------------------------------------------------


async def _a_site(http: httpx.AsyncClient, sandbox_url: str) -> str:
    found = await places(http, sandbox_url).search_text("dentists in Austin, TX")
    return next(
        p.website for p in found if p.website and "facebook" not in p.website and "yelp" not in p.website
    )


async def test_firecrawl_map_scrape_discover_batch(http, fresh, sandbox_url) -> None:
    site = await _a_site(http, sandbox_url)
    async with httpx.AsyncClient(timeout=10.0) as fc_http:
        fc = FirecrawlClient(fc_http, sandbox_url, "fc-sandbox", policy=POLICY, poll_interval=0.01)
        links = await fc.map_site(site)
        assert links
        doc = await fc.scrape(site)
        assert doc.ok and doc.markdown
        pages = await fc.discover(site, limit=6)
        assert pages[0].url.rstrip("/") == site.rstrip("/")
        assert all(include_url(p.url) for p in pages)
        docs = await fc.batch_scrape([p.url for p in pages])
        assert len(docs) == len(pages) and all(d.ok for d in docs)
    paths = [r["path"] for r in fresh.requests("firecrawl")]
    assert "/v2/map" in paths and "/v2/scrape" in paths and "/v2/batch/scrape" in paths
    scrape_body = next(r["body"] for r in fresh.requests("firecrawl") if r["path"] == "/v2/scrape")
    assert scrape_body["origin"].startswith("python-sdk@") and scrape_body["formats"] == ["markdown", "links"]


async def test_firecrawl_429_is_retried_by_us(http, fresh, sandbox_url) -> None:
    site = await _a_site(http, sandbox_url)
    fresh.clear_requests()
    fresh.configure(fail_rate=0.6, fault_kinds=["429", "500"], fault_seed=3)
    log = CallLog()
    async with httpx.AsyncClient(timeout=10.0) as fc_http:
        fc = FirecrawlClient(
            fc_http,
            sandbox_url,
            "fc-sandbox",
            observer=log,
            policy=RetryPolicy(attempts=8, base_delay=0.001, max_delay=0.005, jitter=0.0),
        )
        for _ in range(4):
            await fc.map_site(site)
    assert all(r.outcome == "ok" for r in log.records)
    statuses = [r["status"] for r in fresh.requests("firecrawl")]
    assert 429 in statuses or 500 in statuses


async def test_firecrawl_bad_key_and_outage(fresh, sandbox_url) -> None:
    async with httpx.AsyncClient(timeout=10.0) as fc_http:
        with pytest.raises(FirecrawlAuthError):
            await FirecrawlClient(fc_http, sandbox_url, "wrong", policy=POLICY).scrape("https://x.example/")
    assert len(fresh.requests("firecrawl")) == 1
    fresh.configure(outages=["firecrawl"])
    async with httpx.AsyncClient(timeout=10.0) as fc_http:
        with pytest.raises(FirecrawlDownError):
            await FirecrawlClient(fc_http, sandbox_url, "fc-sandbox", policy=POLICY).map_site(
                "https://x.example/"
            )
    assert len(fresh.requests("firecrawl")) == 1 + POLICY.attempts


# --- OpenAI-compatible chat through ChatOpenAI, unchanged ---------------------------------------


def sandbox_settings(sandbox_url: str) -> Settings:
    return Settings(_env_file=None, leadgen_sandbox_url=sandbox_url, openai_api_key="", slack_bot_token="")  # type: ignore[call-arg]


async def test_chat_model_against_the_sandbox(fresh, sandbox_url) -> None:
    llm = chat_model(sandbox_settings(sandbox_url), max_retries=0)
    answer = await llm.ainvoke("Say hello.")
    assert isinstance(answer.content, str) and answer.content
    [request] = fresh.requests("openai")
    assert request["path"] == "/openai/v1/chat/completions" and request["status"] == 200


# --- Autumn, Vapi, Slack (served once the sandbox has them) -------------------------------------


async def test_autumn_against_the_sandbox(http, fresh, sandbox_url, served) -> None:
    served("autumn", "/autumn/v1/check")
    log = CallLog()
    autumn = AutumnClient(http, sandbox_url + "/autumn", "am_sk_test_sandbox", policy=POLICY, observer=log)
    with pytest.raises(AutumnNotFoundError):
        await autumn.check("nobody-here", "lead_discovery")
    assert log.last.attempts == 1
    customer = await autumn.create_customer("cus_tools_test", name="Tools test")
    assert customer.id == "cus_tools_test"
    check = await autumn.check("cus_tools_test", "lead_discovery", with_preview=True)
    assert check.allowed and check.balance is not None
    await autumn.track("cus_tools_test", "lead_discovery", idempotency_key="tools-test-1")
    with pytest.raises(DuplicateIdempotencyKey):
        await autumn.track("cus_tools_test", "lead_discovery", idempotency_key="tools-test-1")
    after = await autumn.check("cus_tools_test", "lead_discovery")
    assert after.balance is not None and check.balance is not None and after.balance < check.balance
    attach = await autumn.attach("cus_tools_test", "pro", success_url="http://localhost/done")
    assert attach.code


async def test_vapi_against_the_sandbox(http, fresh, sandbox_url, served) -> None:
    served("vapi", "/vapi/call")
    vapi = VapiClient(http, sandbox_url + "/vapi", "vapi-sandbox", policy=POLICY)
    call = await vapi.create_call(
        assistant_id="asst-1", phone_number_id="pn-1", customer_number="+14155550123"
    )
    assert call.id and call.status
    again = await vapi.get_call(call.id)
    assert again.id == call.id
    with pytest.raises(VapiNotFoundError):
        await vapi.get_call("no-such-call")


async def test_slack_sdk_against_the_sandbox(fresh, sandbox_url, served) -> None:
    served("slack", "/slack/api/auth.test")
    client = slack_web_client(sandbox_settings(sandbox_url))
    auth = await client.auth_test()
    assert auth["ok"]
    try:
        posted = await client.chat_postMessage(channel="C123", text="hello")
    except SlackApiError as exc:  # a sandbox that knows no channels answers ok:false, as Slack does
        assert exc.response["ok"] is False
    else:
        assert posted["ok"]
