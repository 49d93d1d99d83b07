"""`leadgen sandbox`: run the provider emulator (tools/sandbox) in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer

from assistant.cli.app import app, err


@app.command("sandbox")
def sandbox(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0 = any free port).")] = 8765,
    latency: Annotated[
        float, typer.Option("--latency", help="Latency scale: 1 = realistic, 0 = answer at once.")
    ] = 1.0,
    fail_rate: Annotated[
        float, typer.Option("--fail-rate", help="Share of requests given a transient fault (0-1).")
    ] = 0.0,
) -> None:
    """Serve Google Places, Firecrawl, an OpenAI-compatible model, Autumn, Vapi and Slack locally."""
    from tools.sandbox.server import start_sandbox

    if not 0 <= fail_rate <= 1 or latency < 0:
        err.print("[bold red]error:[/] --fail-rate must be within 0-1 and --latency >= 0")
        raise typer.Exit(2)
    handle = start_sandbox(host=host, port=port, latency_scale=latency, fail_rate=fail_rate)
    # The URL goes to stdout so `eval "$(leadgen sandbox | head -1)"`-style scripting works.
    print(f"export LEADGEN_SANDBOX_URL={handle.url}", flush=True)
    err.print(
        f"Sandbox listening on {handle.url} (latency x{latency}, fail rate {fail_rate}). Ctrl-C stops it."
    )
    try:
        handle.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
