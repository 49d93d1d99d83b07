"""How well the audit finds what is true about a site: precision and recall per finding code.

Starts `leadgen sandbox` (the synthetic world, or `--world DIR` with a `truth.json` beside it),
runs campaigns with `leadgen agency set` / `leadgen run ... --json`, reads the results back with
`leadgen audits|dossier|pages ... --json` (the product only through its CLI, as a user would),
and compares each audited site's findings with the ground truth: the sandbox's
`/_sandbox/truth?domain=` for the synthetic world (codes read from the HTML it serves), the
world's `truth.json` for a recorded one. Prints, per finding code and overall (micro-averaged):
true positives, false positives, false negatives, precision and recall; the share of dossier
sources that were pages scraped in that same audit; and the input tokens sent to the model per
dossier, estimated from the sandbox's request log (characters / 4, as the sandbox counts usage).

Every site whose audit was queued counts; a failed audit (no dossier) found what its lead's
`findings[]` say (SITE_DOWN: the site could not be loaded, which is charged nothing and has no
dossier), nothing otherwise.

A dossier's findings are read from `findings[].code` when the dossier JSON carries them. Until it
does, its `gaps[]` sentences are mapped to codes with GAP_RULES (first rule whose pattern matches;
a sentence no rule matches counts for no code):

    SITE_DOWN                 could not be loaded | unreachable | site is down
    NO_HTTPS                  https | plain http | ssl
    NOT_MOBILE_FRIENDLY       mobile | viewport
    NO_META_DESCRIPTION       meta description
    NO_LOCAL_BUSINESS_SCHEMA  schema | structured data
    NO_ANALYTICS              analytics | tracking | pixel
    NO_ONLINE_BOOKING         book | schedul | reserv | appointment
    NO_PRICING                pric | rates
    NO_REVIEWS_SHOWN          review | testimonial
    STALE_COPYRIGHT           copyright
    NO_CLICK_TO_CALL          click-to-call | tap to call | tel:
    NO_SOCIAL_LINKS           social
    THIN_CONTENT              thin | little content
    BROKEN_LINKS              broken link | 404

    .venv/bin/python bench/research.py [--world DIR] [-n 20] [--campaign "dentists|Austin, TX" ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

CODES = (
    "SITE_DOWN", "NO_HTTPS", "NOT_MOBILE_FRIENDLY", "NO_META_DESCRIPTION", "NO_LOCAL_BUSINESS_SCHEMA",
    "NO_ANALYTICS", "NO_ONLINE_BOOKING", "NO_PRICING", "NO_REVIEWS_SHOWN", "STALE_COPYRIGHT",
    "NO_CLICK_TO_CALL", "NO_SOCIAL_LINKS", "THIN_CONTENT", "BROKEN_LINKS",
)  # fmt: skip
GAP_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (code, re.compile(pattern, re.I))
    for code, pattern in (
        ("SITE_DOWN", r"could not be loaded|unreachable|site is down"),
        ("NO_HTTPS", r"\bhttps\b|plain http|\bssl\b"),
        ("NOT_MOBILE_FRIENDLY", r"mobile|viewport"),
        ("NO_META_DESCRIPTION", r"meta description"),
        ("NO_LOCAL_BUSINESS_SCHEMA", r"schema|structured data"),
        ("NO_ANALYTICS", r"analytics|tracking|pixel"),
        ("NO_ONLINE_BOOKING", r"\bbook|schedul|reserv|appointment"),
        ("NO_PRICING", r"pric|\brates\b"),
        ("NO_REVIEWS_SHOWN", r"review|testimonial"),
        ("STALE_COPYRIGHT", r"copyright"),
        ("NO_CLICK_TO_CALL", r"click-to-call|tap to call|tel:"),
        ("NO_SOCIAL_LINKS", r"social"),
        ("THIN_CONTENT", r"\bthin\b|little content"),
        ("BROKEN_LINKS", r"broken link|\b404\b"),
    )
)
SYNTHETIC_CAMPAIGNS = (
    ("dentists", "Austin, TX"),
    ("plumbers", "Denver, CO"),
    ("lawyers", "Chicago, IL"),
    ("restaurants", "Portland, OR"),
)
LEADGEN = Path(sys.executable).with_name("leadgen")


def codes_of_gap(sentence: str) -> str | None:
    return next((code for code, pattern in GAP_RULES if pattern.search(sentence)), None)


def predicted_codes(dossier: dict[str, Any]) -> set[str]:
    findings = dossier.get("findings")
    if isinstance(findings, list) and findings:
        return {str(f.get("code")) for f in findings if isinstance(f, dict) and f.get("code") in CODES}
    return {code for gap in dossier.get("gaps") or [] if (code := codes_of_gap(str(gap)))}


def _key(url: str) -> str:
    parts = urlsplit(url)
    return (parts.hostname or "").removeprefix("www.") + (parts.path.rstrip("/") or "/")


class Sandbox:
    """`leadgen sandbox` in a child process on a free port."""

    def __init__(self, world: Path | None) -> None:
        command = [str(LEADGEN), "sandbox", "--port", "0", "--latency", "0"]
        if world is not None:
            command += ["--world", str(world)]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("export LEADGEN_SANDBOX_URL="):
            self.proc.wait(timeout=30)
            raise SystemExit(
                f"the sandbox did not start:\n{self.proc.stderr.read() if self.proc.stderr else ''}"
            )
        self.url = line.strip().split("=", 1)[1]

    def get(self, path: str, **params: str) -> Any:
        return httpx.get(f"{self.url}{path}", params=params, timeout=60).json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@dataclass
class Tally:
    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    sites: int = 0
    dossiers: int = 0
    sources: int = 0
    sources_scraped: int = 0

    def add(self, truth: set[str], found: set[str]) -> None:
        self.sites += 1
        for code in CODES:
            if code in truth and code in found:
                self.tp[code] += 1
            elif code in found:
                self.fp[code] += 1
            elif code in truth:
                self.fn[code] += 1


class Product:
    """The product, driven only through `leadgen ... --json` subprocesses."""

    def __init__(self, sandbox_url: str, workdir: Path) -> None:
        self.env = {
            **os.environ,
            "LEADGEN_SANDBOX_URL": sandbox_url,
            "DATABASE_URL": f"sqlite:///{workdir / 'research.db'}",
            "LEADGEN_DATA_DIR": str(workdir / "data"),
            "LEADGEN_AGENCY": "research",
        }
        for name in ("OPENAI_API_KEY", "FIRECRAWL_API_KEY", "GOOGLE_PLACES_API_KEY", "AUTUMN_SECRET_KEY"):
            self.env.pop(name, None)

    def run(self, *args: str, ok: tuple[int, ...] = (0,)) -> Any:
        done = subprocess.run(
            [str(LEADGEN), *args], capture_output=True, text=True, env=self.env, timeout=900
        )
        if done.returncode not in ok:
            raise SystemExit(f"leadgen {' '.join(args)} exited {done.returncode}:\n{done.stderr[-2000:]}")
        return json.loads(done.stdout) if "--json" in args and done.stdout.strip() else None


def _campaigns(world: Path | None, given: list[str]) -> list[tuple[str, str]]:
    if given:
        return [tuple(c.split("|", 1)) for c in given]  # type: ignore[misc]
    if world is None:
        return list(SYNTHETIC_CAMPAIGNS)
    queries = json.loads((world / "places.json").read_text())["queries"]
    return [tuple(q.split(" in ", 1)) for q in queries if " in " in q]  # type: ignore[misc]


def _truth_for(sandbox: Sandbox, world: Path | None, expected: dict[str, Any], host: str) -> set[str] | None:
    if world is None:
        answer = sandbox.get("/_sandbox/truth", domain=host)
        return set(answer["codes"]) if "codes" in answer else None
    for name, entry in expected.items():
        if name.removeprefix("www.") == host.removeprefix("www."):
            return set(entry["codes"])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--world", type=Path, help="a recorded world folder with truth.json beside places.json"
    )
    parser.add_argument("-n", type=int, default=20, help="leads per campaign (default 20)")
    parser.add_argument("--campaign", action="append", default=[], help='"VERTICAL|GEOGRAPHY" (repeatable)')
    args = parser.parse_args()
    expected: dict[str, Any] = {}
    if args.world is not None:
        truth_file = args.world / "truth.json"
        if not truth_file.exists():
            raise SystemExit(f"{truth_file}: missing (the benchmark grades against it)")
        expected = json.loads(truth_file.read_text())["sites"]
    sandbox = Sandbox(args.world)
    tally = Tally()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            product = Product(sandbox.url, Path(tmp))
            product.run("credits", "set", "100000")
            for vertical, geography in _campaigns(args.world, args.campaign):
                product.run(
                    "agency", "set", "--vertical", vertical, "--geography", geography,
                    "--criteria", "MISSING_WEBSITE,WEAK_WEB_PRESENCE,LOW_GOOGLE_RATING,FEW_GOOGLE_REVIEWS",
                )  # fmt: skip
                run = product.run(
                    "run", "--vertical", vertical, "--geography", geography, "-n", str(args.n), "--json"
                )
                audits = product.run("audits", run["id"], "--json")
                leads = {lead["id"]: lead for lead in product.run("leads", run["id"], "--json")}
                print(
                    f"{vertical} in {geography}: run {run['id']} {run['status']}, {len(audits)} audits",
                    file=sys.stderr,
                )
                for audit in audits:
                    host = (urlsplit(audit["target_url"]).hostname or "").lower()
                    truth = _truth_for(sandbox, args.world, expected, host)
                    if truth is None:
                        continue
                    lead = leads.get(audit["opportunity_id"]) or {}
                    found = {
                        str(f.get("code"))
                        for f in lead.get("findings") or []
                        if f.get("source") == "check" and f.get("code") in CODES
                    }
                    if audit["dossier_id"]:
                        dossier = product.run("dossier", audit["opportunity_id"], "--json")
                        pages = product.run("pages", audit["id"], "--json")
                        scraped = {_key(p["url"]) for p in pages}
                        found = predicted_codes(dossier)
                        tally.dossiers += 1
                        tally.sources += len(dossier["sources"])
                        tally.sources_scraped += sum(_key(s["url"]) in scraped for s in dossier["sources"])
                    tally.add(truth, found)
            requests = sandbox.get("/_sandbox/requests", service="openai")
    finally:
        sandbox.stop()
    report(tally, requests, args.world)


def _prompt_tokens(request: dict[str, Any]) -> tuple[str, int]:
    body = request.get("body") or {}
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name", "")
    text = json.dumps(body.get("messages") or []) + json.dumps(body.get("tools") or [])
    return str(schema), max(1, len(text) // 4)


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "  -"


def report(tally: Tally, requests: list[dict[str, Any]], world: Path | None) -> None:
    print(
        f"\nworld: {world or 'synthetic'}; sites audited and graded: {tally.sites}; dossiers: {tally.dossiers}"
    )
    print(f"{'code':<26}{'TP':>5}{'FP':>5}{'FN':>5}{'precision':>11}{'recall':>8}")
    for code in CODES:
        tp, fp, fn = tally.tp[code], tally.fp[code], tally.fn[code]
        print(f"{code:<26}{tp:>5}{fp:>5}{fn:>5}{_ratio(tp, tp + fp):>11}{_ratio(tp, tp + fn):>8}")
    tp, fp, fn = sum(tally.tp.values()), sum(tally.fp.values()), sum(tally.fn.values())
    print(f"{'overall (micro)':<26}{tp:>5}{fp:>5}{fn:>5}{_ratio(tp, tp + fp):>11}{_ratio(tp, tp + fn):>8}")
    print(
        f"\ndossier sources that were pages scraped in that audit: {tally.sources_scraped}/{tally.sources}"
        f" = {_ratio(tally.sources_scraped, tally.sources)}"
    )
    by_kind: Counter[str] = Counter()
    for request in requests:
        kind, tokens = _prompt_tokens(request)
        by_kind[kind] += tokens
    audit_tokens = by_kind["DossierDraft"] + by_kind["UrlSelection"]
    if tally.dossiers:
        print(
            f"model input tokens per dossier: {audit_tokens / tally.dossiers:,.0f} "
            f"(dossier prompts {by_kind['DossierDraft'] / tally.dossiers:,.0f}, "
            f"URL selection {by_kind['UrlSelection'] / tally.dossiers:,.0f})"
        )


if __name__ == "__main__":
    main()
