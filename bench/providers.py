"""Benchmark: per-call overhead of our provider clients, and the sandbox's own throughput.

    .venv/bin/python bench/providers.py [--calls 300] [--concurrency 1,8,32] [--seconds 3]

Starts the sandbox in-process (a background thread, zero latency, no faults), then

1. per client: N sequential calls through our client vs the same request sent with a bare
   `httpx.AsyncClient` (same body, same headers) -> median and p95 latency, and their ratio:
   what the retry core, semaphore, parsing and (for Firecrawl) the SDK cost per call;
2. the sandbox: K concurrent raw httpx workers for a fixed time on two endpoints -> requests/s.

The server shares this process (and its GIL), so absolute figures are pessimistic; the ratios
are the point. Not a test: it prints a table and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

import tools.sandbox.server as sandbox_server
from tools.autumn import AutumnClient
from tools.firecrawl import FirecrawlClient
from tools.places import FIELD_MASK, PlacesClient
from tools.sandbox.server import start_sandbox
from tools.vapi import VapiClient

Call = Callable[[], Awaitable[Any]]


async def timed(call: Call, n: int) -> list[float]:
    for _ in range(min(20, n)):  # warm up connections and caches
        await call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def raw_post(http: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str]) -> Call:
    async def call() -> None:
        response = await http.post(url, json=body, headers=headers)
        response.raise_for_status()
        response.json()

    return call


def raw_get(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Call:
    async def call() -> None:
        response = await http.get(url, headers=headers)
        response.raise_for_status()
        response.json()

    return call


async def overhead(base: str, n: int) -> list[tuple[str, list[float], list[float]]]:
    rows = []
    async with httpx.AsyncClient(timeout=30) as raw, httpx.AsyncClient(timeout=30) as ours:
        places = PlacesClient(ours, base + "/places", "AIzaSandboxKey")
        query = "dentists in Austin, TX"
        body = {"textQuery": query, "pageSize": 20, "regionCode": "US", "languageCode": "en"}
        headers = {"X-Goog-Api-Key": "AIzaSandboxKey", "X-Goog-FieldMask": FIELD_MASK}
        rows.append(
            (
                "places.search_text (20 places)",
                await timed(lambda: places.search_text(query), n),
                await timed(raw_post(raw, base + "/places/v1/places:searchText", body, headers), n),
            )
        )
        site = next(
            p.website for p in await places.search_text(query) if p.website and "yelp" not in p.website
        )

        autumn = AutumnClient(ours, base + "/autumn", "am_sk_test_sandbox")
        await autumn.create_customer("bench-customer")
        a_headers = {"Authorization": "Bearer am_sk_test_sandbox", "X-Api-Version": "1.2.0"}
        a_body = {"customer_id": "bench-customer", "feature_id": "lead_discovery", "required_balance": 1,
                  "send_event": False, "with_preview": False}  # fmt: skip
        rows.append(
            (
                "autumn.check",
                await timed(lambda: autumn.check("bench-customer", "lead_discovery"), n),
                await timed(raw_post(raw, base + "/autumn/v1/check", a_body, a_headers), n),
            )
        )

        vapi = VapiClient(ours, base + "/vapi", "vapi-sandbox")
        call = await vapi.create_call(assistant_id="a", phone_number_id="p", customer_number="+14155550123")
        v_headers = {"Authorization": "Bearer vapi-sandbox"}
        rows.append(
            (
                "vapi.get_call",
                await timed(lambda: vapi.get_call(call.id), n),
                await timed(raw_get(raw, f"{base}/vapi/call/{call.id}", v_headers), n),
            )
        )

    async with httpx.AsyncClient(timeout=30) as raw, httpx.AsyncClient(timeout=30) as fc_http:
        firecrawl = FirecrawlClient(fc_http, base, "fc-sandbox")
        f_headers = {"Authorization": "Bearer fc-sandbox"}
        rows.append(
            (
                "firecrawl.map_site (SDK)",
                await timed(lambda: firecrawl.map_site(site, limit=100), n),
                await timed(raw_post(raw, base + "/v2/map", {"url": site, "limit": 100}, f_headers), n),
            )
        )
        s_body = {"url": site, "formats": ["markdown", "links"], "onlyMainContent": True, "timeout": 30000}
        rows.append(
            (
                "firecrawl.scrape (SDK)",
                await timed(lambda: firecrawl.scrape(site), n),
                await timed(raw_post(raw, base + "/v2/scrape", s_body, f_headers), n),
            )
        )
    return rows


async def throughput(
    base: str, workers: int, seconds: float, path: str, body: Any, headers: dict[str, str]
) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await http.post(base + path, json=body, headers=headers)
            response.raise_for_status()
            done += 1

    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(workers)))
        return done / (time.perf_counter() - started)


class _TcpSocket(socket.socket):
    """A listening socket created with proto=IPPROTO_TCP. asyncio sets TCP_NODELAY only on
    sockets whose proto says TCP; `start_sandbox` binds `socket.socket(AF_INET)` (proto 0), so
    every answer written in two parts waits ~40 ms for a delayed ACK (Nagle)."""

    def __init__(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM, proto: int = 0,
                 fileno: int | None = None) -> None:  # fmt: skip
        super().__init__(family, type, socket.IPPROTO_TCP if fileno is None else proto, fileno)


async def main(calls: int, concurrency: list[int], seconds: float, as_shipped: bool) -> None:
    if not as_shipped:
        sandbox_server.socket.socket = _TcpSocket  # type: ignore[misc]
    with start_sandbox(latency_scale=0, fail_rate=0) as sandbox:
        base = sandbox.url
        nodelay = "as shipped (no TCP_NODELAY)" if as_shipped else "TCP_NODELAY fix applied"
        print(f"sandbox at {base} ({nodelay}); {calls} sequential calls per client\n")
        print(
            f"{'client call':34} {'ours p50':>9} {'p95':>8} {'raw p50':>9} {'p95':>8} {'p50 ratio':>10} {'+ms':>7}"
        )
        for name, ours, raw in await overhead(base, calls):
            o50, r50 = statistics.median(ours), statistics.median(raw)
            print(
                f"{name:34} {o50:8.2f}ms {p95(ours):7.2f}ms {r50:8.2f}ms {p95(raw):7.2f}ms "
                f"{o50 / r50:9.2f}x {o50 - r50:6.2f}"
            )
        autumn_body = {"customer_id": "bench-customer", "feature_id": "lead_discovery", "required_balance": 1}
        autumn_headers = {"Authorization": "Bearer am_sk_test_sandbox", "X-Api-Version": "1.2.0"}
        places_body = {"textQuery": "dentists in Austin, TX", "pageSize": 20}
        places_headers = {"X-Goog-Api-Key": "AIzaSandboxKey", "X-Goog-FieldMask": FIELD_MASK}
        print(f"\nsandbox throughput (raw httpx workers, {seconds:.0f}s each)")
        print(f"{'workers':>8} {'autumn check req/s':>19} {'places search req/s':>20}")
        for workers in concurrency:
            a = await throughput(base, workers, seconds, "/autumn/v1/check", autumn_body, autumn_headers)
            p = await throughput(
                base, workers, seconds, "/places/v1/places:searchText", places_body, places_headers
            )
            print(f"{workers:>8} {a:>19.0f} {p:>20.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--as-shipped", action="store_true", help="do not fix the sandbox socket's TCP_NODELAY"
    )
    args = parser.parse_args()
    asyncio.run(
        main(args.calls, [int(k) for k in args.concurrency.split(",")], args.seconds, args.as_shipped)
    )
