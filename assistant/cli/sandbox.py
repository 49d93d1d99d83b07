"""`leadgen sandbox`: run the provider emulator (tools/sandbox) in the foreground."""

from __future__ import annotations

from pathlib import Path
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
    world_dir: Annotated[
        Path | None,
        typer.Option(
            "--world",
            help="Serve a recorded world from this folder (places.json, sites/HOST/...) instead of the "
            "synthetic one.",
        ),
    ] = None,
) -> None:
    """Serve Google Places, Firecrawl, an OpenAI-compatible model, Autumn, Vapi and Slack locally."""
    from tools.sandbox.recorded_world import WorldError, load_world
    from tools.sandbox.server import start_sandbox

    if not 0 <= fail_rate <= 1 or latency < 0:
        err.print("[bold red]error:[/] --fail-rate must be within 0-1 and --latency >= 0")
        raise typer.Exit(2)
    world = None
    if world_dir is not None:
        try:
            world = load_world(world_dir)
        except WorldError as exc:
            err.print(f"[bold red]error:[/] the world in {world_dir} cannot be served:", highlight=False)
            for problem in exc.problems:
                err.print(f"  - {problem}", markup=False, highlight=False)
            raise typer.Exit(2) from None
    handle = start_sandbox(host=host, port=port, world=world, latency_scale=latency, fail_rate=fail_rate)
    # The URL goes to stdout so `eval "$(leadgen sandbox | head -1)"`-style scripting works.
    print(f"export LEADGEN_SANDBOX_URL={handle.url}", flush=True)
    shown = f"recorded world {world_dir}" if world_dir is not None else "synthetic world"
    err.print(
        f"Sandbox listening on {handle.url} ({shown}, latency x{latency}, fail rate {fail_rate}). "
        "Ctrl-C stops it."
    )
    try:
        handle.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
