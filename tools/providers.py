"""Every provider client built from Settings, each on its own pooled `httpx.AsyncClient`.

    async with Providers.from_settings(settings) as p:
        places = await p.places.search_text("dentists in Austin, TX")

Clients are built on first use, so a missing key raises MissingProviderKey (naming the variable
and the sandbox alternative) only when that provider is actually needed: a user without a Vapi
key can still source and audit leads.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from leadgen.settings import ProviderName, Settings
from tools.http import Observer, RetryPolicy, shared_ssl_context

if TYPE_CHECKING:  # the SDKs behind these take seconds to import: only when a client is built
    from langchain_openai import ChatOpenAI
    from slack_sdk.web.async_client import AsyncWebClient

    from tools.autumn import AutumnClient
    from tools.firecrawl import FirecrawlClient
    from tools.places import PlacesClient
    from tools.vapi import VapiClient

# Connect fast, read as long as the provider legitimately takes: a Firecrawl scrape may spend its
# whole 30 s server-side budget before answering.
TIMEOUTS: dict[str, httpx.Timeout] = {
    "places": httpx.Timeout(15.0, connect=5.0),
    "firecrawl": httpx.Timeout(60.0, connect=5.0),
    "autumn": httpx.Timeout(10.0, connect=5.0),
    "vapi": httpx.Timeout(20.0, connect=5.0),
    "openai": httpx.Timeout(60.0, connect=5.0),
}


class Providers:
    def __init__(
        self,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        observer: Observer | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        concurrency: dict[str, int] | None = None,
        timeouts: dict[str, httpx.Timeout] | None = None,
    ) -> None:
        self.settings = settings
        self._policy = policy
        self._observer = observer
        self._transport = transport
        audits = settings.leadgen_audit_concurrency
        defaults = {
            "places": 4,
            "firecrawl": max(4, audits),
            "autumn": 16,
            "vapi": 4,
            "openai": max(8, 2 * audits),
        }
        self._concurrency = defaults | (concurrency or {})
        self._timeouts = TIMEOUTS | (timeouts or {})
        self._http: dict[str, httpx.AsyncClient] = {}
        self._clients: dict[str, Any] = {}
        self._slack: AsyncWebClient | None = None
        self._llms: dict[str, ChatOpenAI] = {}

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> Providers:
        return cls(settings, **options)

    async def __aenter__(self) -> Providers:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        clients, self._http, self._clients = self._http, {}, {}
        for client in clients.values():
            await client.aclose()

    def _client_for(self, provider: str) -> httpx.AsyncClient:
        if provider not in self._http:
            limit = self._concurrency[provider]
            self._http[provider] = httpx.AsyncClient(
                timeout=self._timeouts[provider],
                limits=httpx.Limits(max_connections=limit * 2, max_keepalive_connections=limit),
                transport=self._transport,
                verify=shared_ssl_context(),
            )
        return self._http[provider]

    def _common(self, provider: str) -> dict[str, Any]:
        return {
            "policy": self._policy,
            "observer": self._observer,
            "concurrency": self._concurrency[provider],
        }

    def _build(self, provider: ProviderName) -> Any:
        if provider in self._clients:
            return self._clients[provider]
        endpoint = self.settings.endpoint(provider)  # MissingProviderKey surfaces here, on first use
        http = self._client_for(provider)
        client: Any
        # Each client's module alone: Places must not wait for Firecrawl's SDK to import (a run
        # sources its leads while another thread may be importing it; assistant/cli/preload.py).
        if provider == "places":
            from tools.places import PlacesClient

            client = PlacesClient(http, endpoint.base_url, endpoint.api_key, **self._common(provider))
        elif provider == "firecrawl":
            from tools.firecrawl import FirecrawlClient

            client = FirecrawlClient(http, endpoint.base_url, endpoint.api_key, **self._common(provider))
        elif provider == "autumn":
            from tools.autumn import AutumnClient

            client = AutumnClient(http, endpoint.base_url, endpoint.api_key, **self._common(provider))
        elif provider == "vapi":
            from tools.vapi import VapiClient

            client = VapiClient(http, endpoint.base_url, endpoint.api_key, **self._common(provider))
        else:
            raise ValueError(f"no httpx client for {provider}")
        self._clients[provider] = client
        return client

    @property
    def places(self) -> PlacesClient:
        client: PlacesClient = self._build("places")
        return client

    @property
    def firecrawl(self) -> FirecrawlClient:
        client: FirecrawlClient = self._build("firecrawl")
        return client

    @property
    def autumn(self) -> AutumnClient:
        client: AutumnClient = self._build("autumn")
        return client

    @property
    def vapi(self) -> VapiClient:
        client: VapiClient = self._build("vapi")
        return client

    def llm(self, **options: Any) -> ChatOpenAI:
        """A ChatOpenAI with these options (as `tools.llm.chat_model`), built once and reused so
        parallel audits share one connection pool instead of opening one per call."""
        key = repr(sorted(options.items()))
        if key not in self._llms:
            # Our own pooled client: langchain-openai would otherwise cache one bound to the
            # first event loop, which breaks a second `asyncio.run` in the same process.
            options.setdefault("http_async_client", self._client_for("openai"))
            # The openai SDK applies its own per-request timeout over the client's: pass ours
            # (as seconds: the SDK's HTTP library does not take httpx's Timeout objects).
            options.setdefault("timeout", self._timeouts["openai"].read)
            from tools.llm import chat_model

            self._llms[key] = chat_model(self.settings, **options)
        return self._llms[key]

    def slack(self) -> AsyncWebClient:
        if self._slack is None:
            from tools.slack import slack_web_client

            self._slack = slack_web_client(self.settings)
        return self._slack
