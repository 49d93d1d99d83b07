"""Vapi: the REST client for outbound calls (`client`) and the server messages Vapi posts back
to us (`wire`: end-of-call reports and status updates, parsed strictly, with Vapi's call
statuses and ended reasons). The client's names are importable from here."""

from __future__ import annotations

from tools.vapi.client import (
    VAPI_ERRORS,
    VapiAuthError,
    VapiBadRequestError,
    VapiBadResponseError,
    VapiCall,
    VapiClient,
    VapiDownError,
    VapiError,
    VapiNotFoundError,
    VapiRateLimitedError,
    validate_e164,
)

__all__ = [
    "VAPI_ERRORS",
    "VapiAuthError",
    "VapiBadRequestError",
    "VapiBadResponseError",
    "VapiCall",
    "VapiClient",
    "VapiDownError",
    "VapiError",
    "VapiNotFoundError",
    "VapiRateLimitedError",
    "validate_e164",
]
