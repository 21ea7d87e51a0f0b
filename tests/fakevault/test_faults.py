"""Fault injection, observed through the real SDK's retry policy and the request log."""

from __future__ import annotations

import threading
import time

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import WorkloadIdentityCredential
from azure.keyvault.secrets import SecretClient

from kvfs.fakevault import FakeVault

from .conftest import client_options, raw_call, statuses, workload_credential

pytestmark = pytest.mark.timeout(30)


def test_throttle_with_retry_after_then_success(fv: FakeVault, wi_credential: WorkloadIdentityCredential) -> None:
    fv.set_secret("busy", "value")
    fv.add_fault(status=429, retry_after=1, count=2, path=r"/secrets/busy/")
    with SecretClient(fv.vault_url, wi_credential, **client_options(fv, retry_total=5)) as client:
        started = time.monotonic()
        assert client.get_secret("busy").value == "value"
        assert time.monotonic() - started >= 2.0  # two Retry-After: 1 honoured
    assert statuses(fv, "/secrets/busy/") == [("GET", 429), ("GET", 429), ("GET", 401), ("GET", 200)]
    assert fv.faults() == []  # count used up


def test_throttle_error_body(fv: FakeVault) -> None:
    fv.add_fault(status=429, retry_after=3, count=1)
    response = raw_call(fv, "GET", "/secrets/x/?api-version=7.5")
    assert response.status == 429
    assert response.headers["retry-after"] == "3"
    assert response.body["error"]["code"] == "Throttled"
    assert raw_call(fv, "GET", "/secrets/x/?api-version=7.5").status == 401  # the fault expired


def test_throttle_exhausts_retries(fv: FakeVault, secrets_client: SecretClient) -> None:
    fv.add_fault(status=429, path="/secrets/hot")
    with pytest.raises(HttpResponseError) as excinfo:
        secrets_client.get_secret("hot")
    assert excinfo.value.status_code == 429
    assert excinfo.value.error.code == "Throttled"


def test_outage_window(fv: FakeVault, wi_credential: WorkloadIdentityCredential) -> None:
    fv.set_secret("steady", "value")
    fv.add_fault(status=503, seconds=0.8)
    options = client_options(fv, retry_total=8, retry_status=8, retry_backoff_factor=0.2)
    with SecretClient(fv.vault_url, wi_credential, **options) as client:
        assert client.get_secret("steady").value == "value"
    seen = statuses(fv, "/secrets/steady/")
    assert seen[0] == ("GET", 503) and seen[-1] == ("GET", 200)
    assert fv.faults() == []


def test_outage_window_expires(fv: FakeVault) -> None:
    fv.add_fault(status=500, seconds=0.3)
    assert raw_call(fv, "GET", "/secrets/x/?api-version=7.5").status == 500
    time.sleep(0.4)  # time is the thing under test
    assert raw_call(fv, "GET", "/secrets/x/?api-version=7.5").status == 401


def test_latency(fv: FakeVault, secrets_client: SecretClient) -> None:
    fv.set_secret("slow", "s")
    fv.set_secret("fast", "f")
    secrets_client.get_secret("fast")  # authenticate first
    fv.add_fault(latency_ms=300, path="/secrets/slow/")
    started = time.monotonic()
    assert secrets_client.get_secret("slow").value == "s"
    assert time.monotonic() - started >= 0.3
    assert statuses(fv, "/secrets/slow/") == [("GET", 200)]


def test_latency_does_not_block_other_connections(
    fv: FakeVault, secrets_client: SecretClient, wi_credential: WorkloadIdentityCredential
) -> None:
    fv.set_secret("slow", "s")
    fv.set_secret("fast", "f")
    secrets_client.get_secret("fast")
    fv.add_fault(latency_ms=1500, path="/secrets/slow/", count=1)
    done = threading.Event()

    def slow() -> None:
        with SecretClient(fv.vault_url, wi_credential, **client_options(fv)) as other:
            other.get_secret("slow")
        done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        while not any(r["path"].startswith("/secrets/slow/") and r["status"] is None for r in fv.requests()):
            time.sleep(0.01)
        assert secrets_client.get_secret("fast").value == "f"
        assert not done.is_set()  # the fast request finished while the slow one was still delayed
    finally:
        thread.join(timeout=10)
    assert done.is_set()


def test_path_regex_scoping(fv: FakeVault, secrets_client: SecretClient) -> None:
    fv.set_secret("broken", "x")
    fv.set_secret("healthy", "y")
    fv.add_fault(status=500, path=r"/secrets/broken\b")
    assert secrets_client.get_secret("healthy").value == "y"
    with pytest.raises(HttpResponseError) as excinfo:
        secrets_client.get_secret("broken")
    assert excinfo.value.status_code == 500
    assert excinfo.value.error.code == "InternalServerError"
    assert secrets_client.get_secret("healthy").value == "y"


def test_fault_on_authority(fv: FakeVault) -> None:
    fv.set_secret("x", "y")
    fv.add_fault(status=503, path="/oauth2/v2.0/token")
    credential = workload_credential(fv, retry_total=0)
    with SecretClient(fv.vault_url, credential, **client_options(fv, retry_total=0)) as client:
        with pytest.raises(ClientAuthenticationError):
            client.get_secret("x")
        assert statuses(fv, "/oauth2/") == [("POST", 503)]
        fv.clear_faults()
        assert client.get_secret("x").value == "y"


def test_fault_hooks_over_http(fv: FakeVault) -> None:
    created = raw_call(fv, "POST", "/_fake/faults", {"status": 503, "count": 2, "path": "secrets"})
    assert created.status == 201 and created.body["id"] >= 1
    listed = raw_call(fv, "GET", "/_fake/faults").body
    assert listed[0]["status"] == 503 and listed[0]["remaining"] == 2
    assert raw_call(fv, "DELETE", "/_fake/faults").status == 204
    assert raw_call(fv, "GET", "/_fake/faults").body == []
    for bad in (
        {"status": "soon"},
        {"colour": "red"},
        {"count": 0, "status": 500},
        {"path": "(", "status": 500},
        {},
        {"status": 404, "retry_after": 1},
        [1],
    ):
        response = raw_call(fv, "POST", "/_fake/faults", bad)
        assert response.status == 400, bad
        assert response.body["error"]["message"]
    assert raw_call(fv, "POST", "/_fake/faults", b"{not json").status == 400
    with pytest.raises(ValueError, match="status"):
        fv.add_fault(status=1000)


def test_request_log_hooks(fv: FakeVault) -> None:
    raw_call(fv, "GET", "/secrets?api-version=7.5&maxresults=3")
    raw_call(fv, "GET", "/_fake/faults")  # hooks are not logged
    log = raw_call(fv, "GET", "/_fake/requests").body
    assert log == [{"method": "GET", "path": "/secrets?api-version=7.5&maxresults=3", "status": 401}]
    assert raw_call(fv, "DELETE", "/_fake/requests").status == 204
    assert fv.requests() == []
