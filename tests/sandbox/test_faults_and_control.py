"""Fault knobs, outages, latency and the request log."""

from __future__ import annotations

from typing import Any

import httpx

PLACES = {"X-Goog-Api-Key": "AIzaX", "X-Goog-FieldMask": "places.id"}

# One client per module: building a client (and its TLS context) per request is slow.
HTTP = httpx.Client(timeout=10)


def _places(url: str, query: str, **headers: str) -> httpx.Response:
    return HTTP.post(
        f"{url}/places/v1/places:searchText",
        json={"textQuery": query},
        headers={**PLACES, **headers},
        timeout=5,
    )


def test_fail_rate_one_gives_transient_errors_in_googles_shape(sandbox_config: Any) -> None:
    sandbox_config.configure(fail_rate=1.0, timeout_seconds=0.05)
    statuses = set()
    for i in range(20):
        response = _places(sandbox_config.url, f"plumbers in Town{i}")
        statuses.add(response.status_code)
        if response.status_code == 429:
            assert "Retry-After" not in response.headers  # Google states no wait: clients back off
            assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert statuses <= {429, 500, 503, 504} and 429 in statuses and statuses & {500, 503}


def test_fault_draws_are_per_attempt_so_retries_can_succeed(sandbox_config: Any) -> None:
    sandbox_config.configure(fail_rate=0.5, fault_kinds=["503"])
    outcomes = [_places(sandbox_config.url, "dentists in Omaha").status_code for _ in range(12)]
    assert 200 in outcomes and 503 in outcomes


def test_per_request_header_overrides(sandbox: Any) -> None:
    import json

    from tools.sandbox.faults import latency_seconds

    response = _places(sandbox.url, "roofers in Tampa", **{"X-Sandbox-Fail-Rate": "1"})
    assert response.status_code in (429, 500, 503, 504)
    slow = _places(sandbox.url, "roofers in Tampa", **{"X-Sandbox-Latency": "0.5"})
    assert slow.status_code == 200
    # The session sandbox has no latency: the header alone made the sandbox wait its drawn latency
    # (a lower bound it enforces by sleeping, whatever the machine's load).
    body = json.dumps({"textQuery": "roofers in Tampa"}).encode()
    drawn = latency_seconds("places", "/places/v1/places:searchText", slow.request.content or body, 0.5)
    assert drawn > 0
    assert sandbox.requests("places")[-1]["duration_ms"] >= drawn * 1000 - 0.1  # logged to 0.1 ms


def test_outage_answers_503_in_the_provider_shape(sandbox_config: Any) -> None:
    sandbox_config.configure(outages=["firecrawl", "openai"])
    scrape = HTTP.post(
        f"{sandbox_config.url}/v2/scrape",
        json={"url": "https://a.com"},
        headers={"Authorization": "Bearer fc-x"},
    )
    assert scrape.status_code == 503 and scrape.json()["success"] is False
    chat = HTTP.post(f"{sandbox_config.url}/openai/v1/chat/completions", json={})
    assert chat.status_code == 503 and "error" in chat.json()
    assert _places(sandbox_config.url, "gyms in Miami").status_code == 200


def test_config_validation_and_reset(sandbox_config: Any) -> None:
    response = HTTP.post(f"{sandbox_config.url}/_sandbox/config", json={"no_such_knob": 1})
    assert response.status_code == 400
    sandbox_config.configure(latency_scale=2.5)
    assert sandbox_config.config()["latency_scale"] == 2.5
    assert sandbox_config.reset_config()["latency_scale"] == 0


def test_request_log_filters_and_redacts(sandbox: Any) -> None:
    sandbox.clear_requests()
    _places(sandbox.url, "lawyers in Boston")
    HTTP.post(
        f"{sandbox.url}/v2/map", json={"url": "https://a.com"}, headers={"Authorization": "Bearer fc-x"}
    )
    everything = sandbox.requests()
    assert [r["service"] for r in everything] == ["places", "firecrawl"]
    places = sandbox.requests("places")
    assert len(places) == 1 and places[0]["body"] == {"textQuery": "lawyers in Boston"}
    assert places[0]["headers"]["x-goog-api-key"].endswith("(redacted)") and places[0]["status"] == 200
    assert HTTP.get(f"{sandbox.url}/_sandbox/requests", params={"service": "nope"}).status_code == 400


def test_all_auditable_world_profile_gives_only_auditable_leads(sandbox_config: Any) -> None:
    from tools.sandbox.synthetic_sites import plan_site

    sandbox_config.configure(world_profile="all_auditable")
    response = httpx.post(
        f"{sandbox_config.url}/places/v1/places:searchText",
        headers={
            "X-Goog-Api-Key": "AIzaTest",
            "X-Goog-FieldMask": "places.id,places.websiteUri,places.nationalPhoneNumber",
        },
        json={"textQuery": "dentists in Austin, TX", "pageSize": 20},
    )
    places = response.json()["places"]
    assert len(places) == 20
    for place in places:
        assert place["nationalPhoneNumber"]
        host = place["websiteUri"].split("://", 1)[1].split("/", 1)[0].removeprefix("www.")
        assert not host.endswith(("facebook.com", "yelp.com", "instagram.com"))
        assert plan_site(host).health == "ok"


def _flaky_host(url: str) -> str:
    """A business site of the synthetic world that fails every other scrape."""
    from tools.sandbox.synthetic_sites import plan_site

    headers = {"X-Goog-Api-Key": "AIzaX", "X-Goog-FieldMask": "places.websiteUri"}
    for city in ("Austin, TX", "Boise, ID", "Tampa, FL", "Reno, NV", "Omaha, NE", "Provo, UT"):
        body = {"textQuery": f"dentists in {city}", "pageSize": 20}
        for place in HTTP.post(f"{url}/places/v1/places:searchText", json=body, headers=headers).json()[
            "places"
        ]:
            host = place.get("websiteUri", "").split("://", 1)[-1].split("/", 1)[0].removeprefix("www.")
            if host and plan_site(host).health == "flaky":
                return host
    raise AssertionError("no flaky site in the sample")


def test_reset_starts_fault_draws_and_flaky_pages_over(sandbox: Any) -> None:
    # Whatever earlier tests asked, a reset sandbox answers the same requests the same way.
    def draws() -> list[int]:
        return [_places(sandbox.url, "dentists in Omaha").status_code for _ in range(8)]

    sandbox.configure(fail_rate=0.5, fault_kinds=["503"])
    first = draws()
    assert 200 in first and 503 in first
    sandbox.reset_config()
    sandbox.configure(fail_rate=0.5, fault_kinds=["503"])
    assert draws() == first

    sandbox.reset_config()
    host = _flaky_host(sandbox.url)

    def scrape() -> int:
        response = HTTP.post(
            f"{sandbox.url}/v2/scrape",
            json={"url": f"https://{host}/"},
            headers={"Authorization": "Bearer fc-x"},
        )
        return response.status_code

    assert scrape() == 500  # a flaky page fails its first attempt
    sandbox.reset_config()
    assert scrape() == 500  # and again after a reset, not on whatever attempt came next
    assert scrape() == 200


def test_hold_keeps_a_providers_requests_waiting_until_released(sandbox: Any) -> None:
    import threading

    sandbox.configure(hold=["places"])
    answers: list[int] = []
    asking = threading.Thread(target=lambda: answers.append(_places(sandbox.url, "gyms in Reno").status_code))
    asking.start()
    # Another provider is not held; the held request is still waiting after it was answered.
    chat = HTTP.post(f"{sandbox.url}/openai/v1/chat/completions", json={})
    assert chat.status_code != 503 and answers == [] and asking.is_alive()
    sandbox.configure(hold=[])
    asking.join(timeout=30)
    assert answers == [200]
    assert HTTP.post(f"{sandbox.url}/_sandbox/config", json={"hold": ["nope"]}).status_code == 400
