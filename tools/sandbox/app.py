"""The sandbox ASGI app: every provider emulator on one Starlette app, behind the fault middleware."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute

from tools.sandbox import autumn, chat_model, control, firecrawl, places, slack, vapi
from tools.sandbox.control import RequestLog, SandboxConfig
from tools.sandbox.faults import SandboxMiddleware, error_response, service_for
from tools.sandbox.world import World


class SandboxState:
    """Everything one sandbox server remembers (in memory; a restart forgets all but the world)."""

    def __init__(self, config: SandboxConfig, world: Any = None) -> None:
        self.initial_config = SandboxConfig(**config.as_dict())
        self.config = config
        self.log = RequestLog()
        self.world = world if world is not None else World()  # World or recorded_world.RecordedWorld
        self.stores: dict[str, Any] = {}


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    service = service_for(request.url.path)
    message = f"No such route: {request.method} {request.url.path}"
    if service is None:
        return JSONResponse({"error": message}, status_code=404)
    response = error_response(service, 404, message)
    assert isinstance(response, JSONResponse)
    return response


def create_app(world: Any = None, **knobs: Any) -> Starlette:
    """A fresh sandbox app; `knobs` are SandboxConfig fields, `world` a loaded recorded world
    (recorded_world.load_world) or None for the synthetic one."""
    config = SandboxConfig()
    config.update(knobs)
    state = SandboxState(config, world)
    routes: list[BaseRoute] = [
        *control.routes,
        *places.routes,
        *firecrawl.routes,
        *chat_model.routes,
        *autumn.routes,
        *vapi.routes,
        *slack.routes,
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SandboxMiddleware, state=state)],
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.sandbox = state
    return app
