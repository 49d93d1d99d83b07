"""Recorded worlds: the shipped example served over HTTP, and broken worlds refused whole (exit 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from firecrawl import AsyncFirecrawl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.sandbox.recorded_world import WorldError, load_world
from tools.sandbox.server import SandboxHandle, start_sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "tools" / "sandbox" / "worlds" / "example"
LEADGEN = Path(sys.executable).with_name("leadgen")
HTTP = httpx.Client(timeout=10)
FC = {"Authorization": "Bearer fc-x"}
KEY = {"X-Goog-Api-Key": "AIzaTest"}


@pytest.fixture(scope="module")
def example() -> Iterator[SandboxHandle]:
    handle = start_sandbox(world=load_world(EXAMPLE), latency_scale=0)
    try:
        yield handle
    finally:
        handle.stop()


def _places(url: str, query: str, mask: str = "places.id,places.websiteUri,nextPageToken") -> dict[str, Any]:
    answer = HTTP.post(
        f"{url}/places/v1/places:searchText",
        json={"textQuery": query},
        headers={**KEY, "X-Goog-FieldMask": mask},
    )
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def test_example_world_answers_its_queries_and_nothing_else(example: SandboxHandle) -> None:
    listed = json.loads((EXAMPLE / "places.json").read_text())
    found = _places(example.url, "Dentists in  Springfield, IL")["places"]
    assert [p["id"] for p in found] == listed["queries"]["dentists in springfield, il"]
    full = _places(example.url, "plumbers in springfield, il", mask="*")["places"]
    assert full[0]["displayName"]["text"] == "Capitol City Plumbing" and "nextPageToken" not in full
    assert _places(example.url, "dentists in austin, tx") == {}


async def test_example_sites_are_served_as_firecrawl_serves_pages(example: SandboxHandle) -> None:
    firecrawl = AsyncFirecrawl(api_key="fc-x", api_url=example.url)
    home = await firecrawl.scrape("https://maplestreetdental.com/", formats=["markdown", "rawHtml", "links"])
    assert (
        home.metadata is not None
        and home.metadata.title == "Maple Street Dental | Family & Cosmetic Dentist in Springfield, IL"
    )
    assert home.markdown and "Gentle dentistry for the whole family" in home.markdown
    assert "© 2026" not in home.markdown and home.raw_html and "© 2026" in home.raw_html
    mapped = await firecrawl.map("https://maplestreetdental.com")
    assert {link.url for link in mapped.links} == {
        f"https://maplestreetdental.com{p}" for p in ("/", "/about", "/contact", "/new-patients", "/services")
    }
    wordpress = await firecrawl.scrape("https://capitolcityplumbing.com/pricing", formats=["markdown"])
    assert (
        wordpress.metadata is not None
        and wordpress.metadata.url == "https://www.capitolcityplumbing.com/pricing/"
    )
    broken = await firecrawl.scrape("https://www.capitolcityplumbing.com/financing/", formats=["markdown"])
    assert broken.metadata is not None and broken.metadata.status_code == 500
    missing = await firecrawl.scrape("https://www.capitolcityplumbing.com/gone", formats=["markdown"])
    assert missing.metadata is not None and missing.metadata.status_code == 404
    assert missing.markdown and "can't be found" in missing.markdown  # the site's own 404.html
    plain = await firecrawl.scrape("http://www.prairiesmiles.com/about.html", formats=["markdown"])
    assert plain.metadata is not None and plain.metadata.status_code == 200
    for url in (
        "https://www.prairiesmiles.com/",
        "https://oldtownplumbing.net/",
        "https://unknown-host.example/",
    ):
        answer = HTTP.post(f"{example.url}/v2/scrape", json={"url": url}, headers=FC)
        assert answer.status_code == 500 and answer.json()["success"] is False, url


def test_truth_of_the_example_matches_its_truth_json_and_the_served_html(
    example: SandboxHandle, sandbox_web: Any
) -> None:
    expected = json.loads((EXAMPLE / "truth.json").read_text())
    reader = type(sandbox_web)(example.url)
    for host, entry in expected["sites"].items():
        truth = example.truth(host)
        assert set(truth["codes"]) == set(entry["codes"]), host
        assert truth["current_year"] == expected["current_year"]
        assert reader.codes(host, expected["current_year"]) == set(entry["codes"]), host


# --- malformed worlds ---------------------------------------------------------------------------


def _copy_example(into: Path) -> Path:
    target = into / "world"
    shutil.copytree(EXAMPLE, target)
    return target


def _edit_places(world: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = world / "places.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _drop_id(data: dict[str, Any]) -> None:
    del next(iter(data["places"].values()))["id"]


def _unknown_place(data: dict[str, Any]) -> None:
    next(iter(data["queries"].values())).append("ChIJnobodyHere")


def _bad_rating(data: dict[str, Any]) -> None:
    next(iter(data["places"].values()))["rating"] = "five"


def _site_without_folder(data: dict[str, Any]) -> None:
    next(iter(data["places"].values()))["websiteUri"] = "https://no-folder-for-this.example/"


CORRUPTIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing places.json": (lambda w: (w / "places.json").unlink(), "places.json: is missing"),
    "bad JSON": (lambda w: (w / "places.json").write_text('{"queries": {'), "places.json: is not valid JSON"),
    "place without id": (lambda w: _edit_places(w, _drop_id), 'has no "id"'),
    "query naming an unknown place": (
        lambda w: _edit_places(w, _unknown_place),
        "unknown place 'ChIJnobodyHere'",
    ),
    "rating not a number": (lambda w: _edit_places(w, _bad_rating), '"rating" must be a number'),
    "website without a site": (lambda w: _edit_places(w, _site_without_folder), "no folder sites/"),
    "site without homepage": (
        lambda w: (w / "sites" / "maplestreetdental.com" / "index.html").unlink(),
        "maplestreetdental.com: has no index.html",
    ),
    "bad status file": (
        lambda w: (w / "sites" / "maplestreetdental.com" / "about.status").write_text("gone"),
        "about.status: must hold an HTTP status",
    ),
    "unknown code in truth.json": (
        lambda w: (w / "truth.json").write_text(
            '{"current_year": 2026, "sites": {"maplestreetdental.com": {"codes": ["NO_FUN"]}}}'
        ),
        "truth.json: site 'maplestreetdental.com': unknown finding codes",
    ),
    "two spellings of one site": (
        lambda w: shutil.copytree(
            w / "sites" / "maplestreetdental.com", w / "sites" / "www.maplestreetdental.com"
        ),
        "the same site as sites/maplestreetdental.com/",
    ),
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.sampled_from(sorted(CORRUPTIONS)), min_size=1, max_size=3))
def test_broken_worlds_are_refused_naming_file_and_problem(corruptions: set[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = _copy_example(Path(tmp))
        assert load_world(world).sites  # the untouched copy loads
        applied = []
        for name in sorted(corruptions):
            if name != "missing places.json" and not (world / "places.json").exists():
                continue
            corrupt, _ = CORRUPTIONS[name]
            try:
                corrupt(world)
            except (FileNotFoundError, json.JSONDecodeError):
                continue  # an earlier corruption already removed or broke what this one edits
            applied.append(name)
        with pytest.raises(WorldError) as refused:
            load_world(world)
        message = str(refused.value)
        assert any(CORRUPTIONS[name][1] in message for name in applied), (applied, message)
        assert all(p.startswith(("world/", str(world))) for p in refused.value.problems), (
            refused.value.problems
        )


@given(st.text(min_size=1, max_size=40), st.text(max_size=30))
@settings(max_examples=30, deadline=None)
def test_arbitrary_query_keys_and_ids_never_crash_the_loader(key: str, place_id: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = _copy_example(Path(tmp))
        _edit_places(world, lambda data: data["queries"].__setitem__(key, [place_id]))
        try:
            load_world(world)
        except WorldError as exc:
            assert all("places.json" in p for p in exc.problems)


@pytest.mark.parametrize(
    "name", ["missing places.json", "place without id", "query naming an unknown place", "bad JSON"]
)
def test_leadgen_sandbox_refuses_a_broken_world_with_exit_2(name: str, tmp_path: Path) -> None:
    world = _copy_example(tmp_path)
    corrupt, expected = CORRUPTIONS[name]
    corrupt(world)
    done = subprocess.run(
        [str(LEADGEN), "sandbox", "--port", "0", "--world", str(world)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""  # nothing was served: no URL was printed


def test_leadgen_sandbox_serves_the_example_world(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [str(LEADGEN), "sandbox", "--port", "0", "--latency", "0", "--world", str(EXAMPLE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the server listens
        assert line.startswith("export LEADGEN_SANDBOX_URL=http://")
        url = line.strip().split("=", 1)[1]
        found = _places(url, "plumbers in springfield, il")["places"]
        assert len(found) == 3
    finally:
        process.terminate()
        process.wait(timeout=30)
