"""Autumn billing (API version 1.2 contract) at `/autumn/v1/...`, plus a checkout page.

One balance feature, `atlas_credits`, and three metered features drawing on it:
`lead_discovery` (1 credit per unit), `dossier_research` (2) and `ai_call_minutes` (1). Checks and
tracks on a metered feature are answered in credits of `atlas_credits`, as Autumn answers for
features that belong to a credit system. Plans: `starter` 50 credits, `pro` 200, `agency` 1000.

`POST /v1/attach` returns a `checkout_url` on the sandbox (`/autumn/checkout/{session}`); visiting
it (GET or POST) completes the purchase once and grants the plan's credits. That is how the
paywall's upgrade is simulated. `POST /_sandbox/autumn/balance` sets a balance directly.

As Autumn does (its server source and OpenAPI 1.2.0 spec):

* a customer created with a starting balance of 0 has no grant of the feature: `check` answers
  `allowed: false` with no `balance` (nor any other counter) at all;
* `track` beyond the balance follows `overage_behavior`: `cap` (the default) deducts only what
  fits and answers 200, `reject` answers 400 `insufficient_balance`, `overflow` goes negative;
* idempotency keys are kept for 24 hours (`DEFAULT_IDEMPOTENCY_TTL_HOURS`), then the same key
  charges again; `POST /_sandbox/autumn/clock {"advance_seconds": N}` moves the sandbox's Autumn
  clock forward so tests can cross that line;
* `POST /v1/events/list` lists tracked events (with the properties sent along) by customer,
  feature and time range;
* a missing, malformed or unknown secret key answers 401 with Autumn's codes (`no_secret_key`,
  `invalid_request`, `invalid_secret_key`).
"""

from __future__ import annotations

import html
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

BALANCE_FEATURE = "atlas_credits"
FEATURE_CREDITS = {"lead_discovery": 1, "dossier_research": 2, "ai_call_minutes": 1, BALANCE_FEATURE: 1}
FEATURE_NAMES = {
    "lead_discovery": "Lead discovery",
    "dossier_research": "Dossier research",
    "ai_call_minutes": "AI call minutes",
    BALANCE_FEATURE: "Atlas credits",
}
PLANS = {"starter": ("Starter", 50), "pro": ("Pro", 200), "agency": ("Agency", 1000)}
IDEMPOTENCY_TTL_SECONDS = 24 * 3600.0  # Autumn's DEFAULT_IDEMPOTENCY_TTL_HOURS
OVERAGE_BEHAVIORS = ("cap", "reject", "overflow")
# When the sandbox's plans were "created" (epoch ms): a fixed moment, so listings are stable.
PRODUCTS_CREATED_AT = 1767225600000


@dataclass
class Customer:
    id: str
    name: str | None
    email: str | None
    balance: int
    created_at: int = field(default_factory=lambda: int(time.time() * 1000))
    usage: int = 0
    granted: int = 0
    products: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    # Whether any plan, purchase or admin grant gave this customer the feature. Without one,
    # Autumn knows no balance for it at all (not a balance of 0).
    has_grant: bool = False

    def as_json(self) -> dict[str, Any]:
        features: dict[str, Any] = {}
        if self.has_grant:
            features[BALANCE_FEATURE] = _feature_json(BALANCE_FEATURE, self.balance, self.usage, self.granted)
            for feature, credits in FEATURE_CREDITS.items():
                if feature != BALANCE_FEATURE:
                    features[feature] = _feature_json(feature, max(self.balance, 0) // credits, 0, 0)
        return {
            "id": self.id,
            "created_at": self.created_at,
            "name": self.name,
            "email": self.email,
            "fingerprint": None,
            "stripe_id": None,
            "env": "sandbox",
            "metadata": {},
            "products": self.products,
            "features": features,
        }


def _feature_json(feature: str, balance: int, usage: int, included: int) -> dict[str, Any]:
    return {
        "id": feature,
        "type": "single_use",
        "name": FEATURE_NAMES[feature],
        "interval": "lifetime",
        "interval_count": 1,
        "unlimited": False,
        "balance": balance,
        "usage": usage,
        "included_usage": included,
        "next_reset_at": None,
        "overage_allowed": False,
    }


@dataclass
class Checkout:
    customer_id: str
    product_id: str
    success_url: str | None
    completed: bool = False


class AutumnStore:
    def __init__(self) -> None:
        self.customers: dict[str, Customer] = {}
        self.idempotency_keys: dict[str, float] = {}  # key -> when it was claimed (sandbox clock)
        self.checkouts: dict[str, Checkout] = {}
        self.clock_offset = 0.0  # seconds added to the wall clock (POST /_sandbox/autumn/clock)

    def now(self) -> float:
        return time.time() + self.clock_offset

    def key_claimed(self, key: str) -> bool:
        """Whether `key` was claimed less than Autumn's TTL ago (expired keys are forgotten)."""
        claimed = self.idempotency_keys.get(key)
        if claimed is None:
            return False
        if self.now() - claimed >= IDEMPOTENCY_TTL_SECONDS:
            del self.idempotency_keys[key]
            return False
        return True


def _store(request: Request) -> AutumnStore:
    store: AutumnStore = request.app.state.sandbox.stores.setdefault("autumn", AutumnStore())
    return store


def autumn_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"message": message, "code": code, "env": "sandbox"}, status_code=status)


def _denied(request: Request) -> JSONResponse | None:
    """Autumn's secret-key middleware: no bearer token, a token that is not a secret key, or a
    key it does not know (the sandbox knows every `am_sk_` key but those marked revoked)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return autumn_error(401, "no_secret_key", "Secret key not found in Authorization header")
    if not token.startswith(("am_sk_test_", "am_sk_live_", "am_sk_")):
        return autumn_error(401, "invalid_request", "Invalid authorization token prefix")
    if token in request.app.state.sandbox.config.revoked_keys:
        masked = token[:11] + "*" * max(len(token) - 15, 4) + token[-4:]
        return autumn_error(401, "invalid_secret_key", f"Invalid secret key: {masked}")
    return None


async def _body(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return autumn_error(400, "invalid_inputs", "Request body must be JSON")
    return body if isinstance(body, dict) else autumn_error(400, "invalid_inputs", "Body must be an object")


def _customer_not_found(customer_id: str) -> JSONResponse:
    return autumn_error(404, "customer_not_found", f"Customer {customer_id} not found")


async def create_customer(request: Request) -> Response:
    if denied := _denied(request):
        return denied
    body = await _body(request)
    if isinstance(body, JSONResponse):
        return body
    customer_id = body.get("id")
    if not isinstance(customer_id, str) or not customer_id:
        return autumn_error(400, "invalid_inputs", "id is required")
    store = _store(request)
    if customer_id not in store.customers:
        balance = request.app.state.sandbox.config.autumn_starting_balance
        customer = Customer(customer_id, body.get("name"), body.get("email"), balance)
        customer.granted, customer.has_grant = balance, balance > 0
        store.customers[customer_id] = customer
    return JSONResponse(store.customers[customer_id].as_json())


async def get_customer(request: Request) -> Response:
    if denied := _denied(request):
        return denied
    customer = _store(request).customers.get(request.path_params["customer_id"])
    if customer is None:
        return _customer_not_found(request.path_params["customer_id"])
    return JSONResponse(customer.as_json())


def _next_plan(customer: Customer) -> str:
    owned = {p["id"] for p in customer.products}
    return next((plan for plan in ("pro", "agency", "starter") if plan not in owned), "agency")


def _preview(customer: Customer, feature_id: str) -> dict[str, Any]:
    plan = _next_plan(customer)
    name = PLANS[plan][0]
    return {
        "scenario": "usage_limit",
        "title": f"Upgrade to {name}",
        "message": (
            f"You have reached the usage limit for {FEATURE_NAMES[feature_id].lower()}. "
            f"Please upgrade to {name} to continue using this feature."
        ),
        "feature_id": feature_id,
        "feature_name": FEATURE_NAMES[feature_id],
        "upgrade_product_id": plan,
        "products": [_product_json(p) for p in PLANS],
    }


def _product_json(plan: str) -> dict[str, Any]:
    name, credits = PLANS[plan]
    return {
        "id": plan,
        "name": name,
        "group": None,
        "env": "sandbox",
        "is_add_on": False,
        "is_default": False,
        "archived": False,
        "version": 1,
        "created_at": PRODUCTS_CREATED_AT,
        "free_trial": None,
        "base_variant_id": None,
        "items": [
            {"type": "feature", "feature_id": BALANCE_FEATURE, "included_usage": credits, "interval": None}
        ],
    }


async def check(request: Request) -> Response:
    if denied := _denied(request):
        return denied
    body = await _body(request)
    if isinstance(body, JSONResponse):
        return body
    customer = _store(request).customers.get(str(body.get("customer_id")))
    if customer is None:
        return _customer_not_found(str(body.get("customer_id")))
    feature_id = body.get("feature_id")
    if feature_id not in FEATURE_CREDITS:
        return autumn_error(404, "feature_not_found", f"Feature {feature_id} not found")
    units = body.get("required_balance", body.get("required_quantity", 1))
    if not isinstance(units, int | float):
        return autumn_error(400, "invalid_inputs", "required_balance must be a number")
    required = int(units * FEATURE_CREDITS[feature_id])
    if not customer.has_grant:
        # Autumn's 1.2 answer for a customer with no grant of the feature: no balance, no
        # counters, no preview (V1.2_CheckChange returns early when the balance is missing).
        return JSONResponse(
            {
                "allowed": False,
                "code": "feature_found",
                "customer_id": customer.id,
                "feature_id": BALANCE_FEATURE,
                "entity_id": body.get("entity_id"),
                "required_balance": required,
            }
        )
    allowed = customer.balance >= required
    if allowed and body.get("send_event"):
        customer.balance -= required
        customer.usage += required
    response: dict[str, Any] = {
        "allowed": allowed,
        "code": "feature_found",
        "customer_id": customer.id,
        "feature_id": BALANCE_FEATURE,
        "required_balance": required,
        "interval": "lifetime",
        "interval_count": 1,
        "unlimited": False,
        "balance": customer.balance,
        "usage": customer.usage,
        "included_usage": customer.granted,
        "next_reset_at": None,
        "overage_allowed": False,
    }
    if not allowed and body.get("with_preview"):
        response["preview"] = _preview(customer, feature_id)
    return JSONResponse(response)


async def track(request: Request) -> Response:
    if denied := _denied(request):
        return denied
    body = await _body(request)
    if isinstance(body, JSONResponse):
        return body
    store = _store(request)
    customer = store.customers.get(str(body.get("customer_id")))
    if customer is None:
        return _customer_not_found(str(body.get("customer_id")))
    feature_id = body.get("feature_id")
    if bool(feature_id) == bool(body.get("event_name")):
        return autumn_error(400, "invalid_inputs", "Pass exactly one of feature_id and event_name")
    if feature_id not in FEATURE_CREDITS:
        return autumn_error(404, "feature_not_found", f"Feature {feature_id} not found")
    value = body.get("value", 1)
    if not isinstance(value, int | float):
        return autumn_error(400, "invalid_inputs", "value must be a number")
    overage = body.get("overage_behavior", "cap")
    if overage not in OVERAGE_BEHAVIORS:
        return autumn_error(
            400, "invalid_inputs", f"overage_behavior must be one of {', '.join(OVERAGE_BEHAVIORS)}"
        )
    properties = body.get("properties") or {}
    if not isinstance(properties, dict):
        return autumn_error(400, "invalid_inputs", "properties must be an object")
    key = body.get("idempotency_key") or request.headers.get("idempotency-key")
    if key and store.key_claimed(key):
        return autumn_error(
            409,
            "duplicate_idempotency_key",
            f"Another request with idempotency key {key} has already been received",
        )
    credits = int(value * FEATURE_CREDITS[feature_id])
    available = max(customer.balance, 0)
    if credits > available and overage == "reject":
        return autumn_error(
            400,
            "insufficient_balance",
            f"Insufficient balance for feature {feature_id}: {available} available, tried to deduct {credits}",
        )
    if credits > available and overage == "cap":
        credits = available  # Autumn's default: deduct only what fits, still 200
    if key:
        store.idempotency_keys[key] = store.now()  # claimed only by a request that succeeds
    customer.balance -= credits
    customer.usage += credits
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    customer.events.append(
        {
            "id": event_id,
            "timestamp": int(store.now() * 1000),
            "feature_id": feature_id,
            "value": value,
            "credits": credits,
            "idempotency_key": key,
            "properties": properties,
        }
    )
    return JSONResponse(
        {"id": event_id, "code": "event_received", "customer_id": customer.id, "feature_id": feature_id}
    )


async def attach(request: Request) -> Response:
    if denied := _denied(request):
        return denied
    body = await _body(request)
    if isinstance(body, JSONResponse):
        return body
    store = _store(request)
    customer = store.customers.get(str(body.get("customer_id")))
    if customer is None:
        return _customer_not_found(str(body.get("customer_id")))
    product_ids = body.get("product_ids") or ([body["product_id"]] if body.get("product_id") else [])
    if len(product_ids) != 1:
        return autumn_error(400, "invalid_inputs", "Pass one product_id")
    product_id = product_ids[0]
    if product_id not in PLANS:
        return autumn_error(404, "product_not_found", f"Product {product_id} not found")
    session = f"cs_test_{uuid.uuid4().hex}"
    store.checkouts[session] = Checkout(customer.id, product_id, body.get("success_url"))
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "success": True,
            "customer_id": customer.id,
            "product_ids": [product_id],
            "code": "checkout_created",
            "message": f"Checkout created for {PLANS[product_id][0]}: open checkout_url to pay (sandbox).",
            "checkout_url": f"{base}/autumn/checkout/{session}",
        }
    )


async def list_events(request: Request) -> Response:
    """`POST /v1/events/list`: a customer's events of one or more features, newest first."""
    if denied := _denied(request):
        return denied
    body = await _body(request)
    if isinstance(body, JSONResponse):
        return body
    customer = _store(request).customers.get(str(body.get("customer_id")))
    if customer is None:
        return _customer_not_found(str(body.get("customer_id")))
    wanted = body.get("feature_id")
    if isinstance(wanted, str):
        wanted = [wanted]
    if not isinstance(wanted, list) or not wanted or not all(isinstance(f, str) for f in wanted):
        return autumn_error(400, "invalid_inputs", "feature_id (a string or a list of strings) is required")
    window = body.get("custom_range") or {}
    start, end = window.get("start"), window.get("end")
    offset, limit = body.get("offset", 0), body.get("limit", 100)
    if not isinstance(offset, int) or not isinstance(limit, int) or offset < 0 or not 1 <= limit <= 1000:
        return autumn_error(400, "invalid_inputs", "offset must be >= 0 and limit 1-1000")
    found = [
        e
        for e in reversed(customer.events)
        if e["feature_id"] in wanted
        and (start is None or e["timestamp"] >= start)
        and (end is None or e["timestamp"] <= end)
    ]
    page = found[offset : offset + limit]
    return JSONResponse(
        {
            "list": [
                {
                    "id": e["id"],
                    "timestamp": e["timestamp"],
                    "feature_id": e["feature_id"],
                    "customer_id": customer.id,
                    "value": e["value"],
                    "properties": e["properties"],
                }
                for e in page
            ],
            "has_more": offset + limit < len(found),
            "offset": offset,
            "limit": limit,
            "total": len(page),
        }
    )


async def list_products(request: Request) -> Response:
    if denied := _denied(request):
        return denied
    return JSONResponse({"list": [_product_json(p) for p in PLANS]})


async def checkout_page(request: Request) -> Response:
    """The sandbox's stand-in for Stripe Checkout: visiting completes the purchase once."""
    checkout = _store(request).checkouts.get(request.path_params["session"])
    if checkout is None:
        return HTMLResponse("<h1>Checkout session not found</h1>", status_code=404)
    customer = _store(request).customers[checkout.customer_id]
    name, credits = PLANS[checkout.product_id]
    if not checkout.completed:
        checkout.completed = True
        customer.balance += credits
        customer.granted += credits
        customer.has_grant = True
        now = int(time.time() * 1000)
        customer.products.append(
            {
                "id": checkout.product_id,
                "name": name,
                "group": None,
                "status": "active",
                "started_at": now,
                "canceled_at": None,
                "current_period_start": now,
                "current_period_end": None,
                "quantity": 1,
            }
        )
        headline = f"Payment complete: {name} plan, {credits} credits added"
    else:
        headline = f"This checkout was already completed ({name} plan)"
    back = (
        f'<p><a href="{html.escape(checkout.success_url)}">Return to the app</a></p>'
        if checkout.success_url
        else ""
    )
    return HTMLResponse(
        f"<html><body><h1>{html.escape(headline)}</h1><p>Balance: {customer.balance} credits "
        f"(Atlas sandbox checkout, no card charged).</p>{back}</body></html>"
    )


async def set_balance(request: Request) -> Response:
    """Sandbox admin: `{"customer_id": ..., "balance": N}` sets the balance (creating the customer)."""
    body = await _body(request)
    if isinstance(body, JSONResponse):
        return body
    customer_id, balance = body.get("customer_id"), body.get("balance")
    if not isinstance(customer_id, str) or not isinstance(balance, int) or balance < 0:
        return autumn_error(400, "invalid_inputs", "customer_id (string) and balance (int >= 0) are required")
    store = _store(request)
    customer = store.customers.setdefault(customer_id, Customer(customer_id, None, None, 0))
    customer.balance, customer.has_grant = balance, True
    return JSONResponse(customer.as_json())


async def advance_clock(request: Request) -> Response:
    """Sandbox admin: `{"advance_seconds": N}` moves the Autumn clock forward (idempotency keys
    older than 24 h on that clock are forgotten, as Autumn forgets them)."""
    body = await _body(request)
    if isinstance(body, JSONResponse):
        return body
    seconds = body.get("advance_seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        return autumn_error(400, "invalid_inputs", "advance_seconds (a number >= 0) is required")
    store = _store(request)
    store.clock_offset += float(seconds)
    return JSONResponse({"now": store.now(), "offset": store.clock_offset})


routes = [
    Route("/autumn/v1/customers", create_customer, methods=["POST"]),
    Route("/autumn/v1/customers/{customer_id}", get_customer, methods=["GET"]),
    Route("/autumn/v1/check", check, methods=["POST"]),
    Route("/autumn/v1/track", track, methods=["POST"]),
    Route("/autumn/v1/attach", attach, methods=["POST"]),
    Route("/autumn/v1/events/list", list_events, methods=["POST"]),
    Route("/autumn/v1/products", list_products, methods=["GET"]),
    Route("/autumn/checkout/{session}", checkout_page, methods=["GET", "POST"]),
    Route("/_sandbox/autumn/balance", set_balance, methods=["POST"]),
    Route("/_sandbox/autumn/clock", advance_clock, methods=["POST"]),
]
