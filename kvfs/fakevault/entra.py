"""Entra ID (AADSTS) error bodies, shaped as the real service sends them, so clients parse fake errors
exactly as they parse real ones (the authority's and the ones IMDS passes through)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

FEDERATION_DOCS = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
ASSERTION_DOCS = "https://learn.microsoft.com/entra/identity-platform/certificate-credentials"
_LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z: times in a token are clamped to what a datetime holds


def error_response(
    status: int, error: str, code: int, description: str, authority_host: str
) -> tuple[int, dict[str, Any]]:
    """``(status, body)``: ``error_description`` = "AADSTSn: ... Trace ID: ... Correlation ID: ... Timestamp: ..."."""
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return status, {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
        f"Timestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"{authority_host}/error?code={code}",
    }


def iso_time(epoch: float) -> str:
    """Entra's time format in messages: seven fractional digits, e.g. ``2024-05-28T02:19:01.0000000Z``."""
    moment = datetime.fromtimestamp(min(max(epoch, 0), _LAST_SECOND), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"
