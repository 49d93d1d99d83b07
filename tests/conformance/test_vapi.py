"""Vapi, judged by `vapi-server-sdk` (1.9.0: every later release pins pydantic-core<2.44, which
clashes with our pydantic): its client creates and reads calls on the sandbox, its `Call` and
server-message types parse what the sandbox answers and posts, its enums contain the statuses
and ended reasons the sandbox uses, and our client's `POST /call` equals the SDK's."""

from __future__ import annotations

import json
import typing
from typing import Any

import httpx
import pytest
from vapi import Vapi
from vapi.core.api_error import ApiError
from vapi.core.pydantic_utilities import parse_obj_as
from vapi.types import Call, ServerMessage
from vapi.types.call_ended_reason import CallEndedReason
from vapi.types.call_status import CallStatus
from vapi.types.server_message_end_of_call_report import ServerMessageEndOfCallReport

from tools.http import RetryPolicy
from tools.vapi import VapiClient, VapiRateLimitedError

KEY = "vapi-conformance"
NUMBER = "+14155550123"


def literals(union: Any) -> set[str]:
    """The documented values of a Fern enum (`Union[Literal[...], Any]`)."""
    for member in typing.get_args(union):
        if typing.get_origin(member) is typing.Literal:
            return set(typing.get_args(member))
    raise AssertionError(f"no Literal in {union}")


def sdk(url: str, key: str = KEY) -> Vapi:
    return Vapi(token=key, base_url=url + "/vapi")


def test_the_sdk_creates_and_reads_calls_and_parses_the_report(fresh: Any, receiver: Any) -> None:
    client = sdk(fresh.url)
    created = client.calls.create(
        assistant_id="asst-1",
        phone_number_id="pn-1",
        customer={"number": NUMBER, "name": "Acme Plumbing"},
        assistant_overrides={
            "variable_values": {"sandbox_call_seconds": 42},
            "server": {"url": receiver.url, "headers": {"X-Vapi-Secret": "s3cret"}},
        },
    )
    assert isinstance(created, Call) and created.id and created.org_id and created.created_at
    assert created.status in literals(CallStatus)

    headers, raw = receiver.wait()
    assert headers["x-vapi-secret"] == "s3cret"  # the call's own server.headers
    body = json.loads(raw)
    parse_obj_as(ServerMessage, body)  # the SDK's envelope type
    report = parse_obj_as(ServerMessageEndOfCallReport, body["message"])
    assert report.type == "end-of-call-report"
    assert report.ended_reason in literals(CallEndedReason)
    assert report.artifact.transcript and report.analysis.summary
    assert (
        report.started_at and report.ended_at and (report.ended_at - report.started_at).total_seconds() == 42
    )
    assert report.call is not None and report.call.id == created.id

    ended = client.calls.get(created.id)
    assert isinstance(ended, Call) and ended.status == "ended"
    assert ended.ended_reason in literals(CallEndedReason)
    parse_obj_as(Call, ended.dict(by_alias=True))  # strict round trip through the SDK's type


@pytest.mark.parametrize("reason", ["voicemail", "customer-did-not-answer", "customer-busy"])
def test_ended_reasons_the_sandbox_sends_are_vapis(fresh: Any, receiver: Any, reason: str) -> None:
    sdk(fresh.url).calls.create(
        assistant_id="asst-1",
        phone_number_id="pn-1",
        customer={"number": NUMBER},
        assistant_overrides={
            "variable_values": {"sandbox_ended_reason": reason, "sandbox_call_seconds": 30},
            "server": {"url": receiver.url},
        },
    )
    _, raw = receiver.wait()
    report = parse_obj_as(ServerMessageEndOfCallReport, json.loads(raw)["message"])
    assert report.ended_reason == reason and reason in literals(CallEndedReason)
    talk = json.loads(raw)["message"]["durationSeconds"]
    assert talk == (30 if reason == "voicemail" else 0)  # voicemail has talk time


async def test_our_create_call_sends_what_the_sdk_sends(fresh: Any, sent: Any) -> None:
    overrides = {
        "variableValues": {"business": "Acme"},
        "server": {"url": "https://h.example/webhooks/vapi", "headers": {"X-Vapi-Secret": "s"}},
    }
    sdk(fresh.url).calls.create(
        assistant_id="asst-1",
        phone_number_id="pn-1",
        customer={"number": NUMBER, "name": "Acme"},
        assistant_overrides={
            "variable_values": overrides["variableValues"],
            "server": {"url": overrides["server"]["url"], "headers": overrides["server"]["headers"]},
        },
    )
    async with httpx.AsyncClient(timeout=10) as http:
        await VapiClient(http, fresh.url + "/vapi", KEY).create_call(
            assistant_id="asst-1",
            phone_number_id="pn-1",
            customer_number=NUMBER,
            customer_name="Acme",
            server_url=overrides["server"]["url"],
            server_headers=overrides["server"]["headers"],
            variable_values=overrides["variableValues"],
        )
    theirs, ours = [r["body"] for r in sent("vapi", "/vapi/call")]
    assert ours == theirs


async def test_errors_and_rate_limits_in_vapis_shape(fresh: Any) -> None:
    client = sdk(fresh.url)
    with pytest.raises(ApiError) as missing:
        client.calls.get("c0ffee00-0000-4000-8000-000000000000")
    assert missing.value.status_code == 404 and missing.value.body["statusCode"] == 404
    with pytest.raises(ApiError) as bad:
        client.calls.create(assistant_id="a", phone_number_id="p", customer={"number": "555"})
    assert bad.value.status_code == 400 and isinstance(bad.value.body["message"], list)
    fresh.configure(revoked_keys=["vapi-revoked"])
    with pytest.raises(ApiError) as refused:
        sdk(fresh.url, "vapi-revoked").calls.get("c0ffee00-0000-4000-8000-000000000000")
    assert refused.value.status_code == 401 and refused.value.body["error"] == "Unauthorized"

    # 429: the SDK honours the Retry-After the sandbox sends, retrying as it would at Vapi.
    fresh.configure(fail_rate=1.0, fault_kinds=["429"], retry_after_seconds=0.2)
    fresh.clear_requests()
    with pytest.raises(ApiError) as limited:
        # (1.9.0 counts retries from 2: max_retries=3 is one retry.)
        client.calls.get("c0ffee00-0000-4000-8000-000000000000", request_options={"max_retries": 3})
    assert limited.value.status_code == 429 and int(limited.value.headers["retry-after"]) >= 1
    assert limited.value.body == {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"}
    assert len(fresh.requests("vapi")) == 2
    async with httpx.AsyncClient(timeout=10) as http:
        ours = VapiClient(http, fresh.url + "/vapi", KEY, policy=RetryPolicy(attempts=1))
        with pytest.raises(VapiRateLimitedError) as ours_limited:
            await ours.get_call("c0ffee00-0000-4000-8000-000000000000")
    assert ours_limited.value.retry_after == int(limited.value.headers["retry-after"])
