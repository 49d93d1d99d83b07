"""Autumn billing (API version 1.2 contract) at `/autumn/v1/...`, plus a checkout page.

One balance feature, `atlas_credits`, and three metered features drawing on it:
`lead_discovery` (1 credit per unit), `dossier_research` (2) and `ai_call_minutes` (1). Checks and
tracks on a metered feature are answered in credits of `atlas_credits`, as Autumn answers for
features that belong to a credit system. Plans: `starter` 50 credits, `pro` 200, `agency` 1000.

`POST /v1/attach` returns a `checkout_url` on the sandbox (`/autumn/checkout/{session}`); visiting
it (GET or POST) completes the purchase once and grants the plan's credits. That is how the
paywall's upgrade is simulated. `POST /_sandbox/autumn/balance` sets a balance directly.
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

    def as_json(self) -> dict[str, Any]:
        features = {
            BALANCE_FEATURE: _feature_json(BALANCE_FEATURE, self.balance, self.usage, self.granted),
        }
        for feature, credits in FEATURE_CREDITS.items():
            if feature != BALANCE_FEATURE:
                features[feature] = _feature_json(feature, self.balance // credits, 0, 0)
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
        self.idempotency_keys: set[str] = set()
        self.checkouts: dict[str, Checkout] = {}


def _store(request: Request) -> AutumnStore:
    store: AutumnStore = request.app.state.sandbox.stores.setdefault("autumn", AutumnStore())
    return store


def autumn_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"message": message, "code": code, "env": "sandbox"}, status_code=status)


def _denied(request: Request) -> JSONResponse | None:
    if not request.headers.get("authorization", "").startswith("Bearer am_sk_"):
        return autumn_error(401, "invalid_secret_key", "Invalid secret key")
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
        store.customers[customer_id] = Customer(customer_id, body.get("name"), body.get("email"), balance)
        store.customers[customer_id].granted = balance
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
    key = body.get("idempotency_key") or request.headers.get("idempotency-key")
    if key and key in store.idempotency_keys:
        return autumn_error(
            409,
            "duplicate_idempotency_key",
            f"Another request with idempotency key {key} has already been received",
        )
    credits = int(value * FEATURE_CREDITS[feature_id])
    if credits > customer.balance:
        return autumn_error(
            400,
            "insufficient_balance",
            f"Insufficient balance for {feature_id}: needs {credits} credits, has {customer.balance}",
        )
    if key:
        store.idempotency_keys.add(key)  # claimed only by a request that succeeds
    customer.balance -= credits
    customer.usage += credits
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    customer.events.append(
        {"id": event_id, "feature_id": feature_id, "value": value, "credits": credits, "idempotency_key": key}
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
    customer.balance = balance
    return JSONResponse(customer.as_json())


routes = [
    Route("/autumn/v1/customers", create_customer, methods=["POST"]),
    Route("/autumn/v1/customers/{customer_id}", get_customer, methods=["GET"]),
    Route("/autumn/v1/check", check, methods=["POST"]),
    Route("/autumn/v1/track", track, methods=["POST"]),
    Route("/autumn/v1/attach", attach, methods=["POST"]),
    Route("/autumn/v1/products", list_products, methods=["GET"]),
    Route("/autumn/checkout/{session}", checkout_page, methods=["GET", "POST"]),
    Route("/_sandbox/autumn/balance", set_balance, methods=["POST"]),
]
