"""The fake vault's throttling model: Key Vault's per-vault budget, seen through the real SDK over HTTPS."""

from __future__ import annotations

import json
import math
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import WorkloadIdentityCredential
from azure.keyvault.secrets import SecretClient

from kvfs.cli import build_parser, main
from kvfs.fakevault import FakeVault
from kvfs.fakevault.throttle import Throttle
from tests.conftest import sdk_options
from tests.helpers import wait_for

from .conftest import imds_call, raw_call, statuses, workload_credential

pytestmark = pytest.mark.timeout(30)

MESSAGE = "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"


@pytest.fixture
def client(vault: FakeVault, credential: WorkloadIdentityCredential) -> Iterator[SecretClient]:
    """A SecretClient that never retries (``sdk_options``): every answer reaches the test."""
    vault.set_secret("s", "value")
    with SecretClient(vault.vault_url, credential, **sdk_options(vault)) as c:
        yield c


def throttled(client: SecretClient, name: str = "s") -> HttpResponseError:
    """Get ``name`` expecting a 429; the error."""
    with pytest.raises(HttpResponseError) as info:
        client.get_secret(name)
    assert info.value.status_code == 429, info.value
    return info.value


def succeeds(client: SecretClient, name: str = "s") -> bool:
    """True when the get is admitted, False when throttled (anything else fails the test)."""
    try:
        client.get_secret(name)
    except HttpResponseError as exc:
        if exc.status_code == 429:
            return False
        raise
    return True


# -- the budget and the answer ------------------------------------------------------------------------


def test_within_the_budget_all_succeed_then_429_with_the_services_answer(
    vault: FakeVault, client: SecretClient
) -> None:
    vault.set_throttle(3, window=10.0)
    started = time.monotonic()
    assert [client.get_secret("s").value for _ in range(3)] == ["value"] * 3
    error = throttled(client)
    elapsed = time.monotonic() - started
    assert error.error is not None and error.error.code == "Throttled"
    assert error.error.message == MESSAGE
    response = error.response
    assert response is not None
    assert json.loads(response.text()) == {"error": {"code": "Throttled", "message": MESSAGE}}
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    # Whole seconds until the first admission (between `started` and now) leaves the 10 s window.
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit()
    assert math.ceil(10.0 - elapsed) <= int(retry_after) <= 10
    assert statuses(vault, "/secrets/s") == [("GET", 401), ("GET", 200), ("GET", 200), ("GET", 200), ("GET", 429)]


def test_requests_succeed_again_once_the_window_has_passed(vault: FakeVault, client: SecretClient) -> None:
    vault.set_throttle(2, window=0.5)
    started = time.monotonic()
    assert succeeds(client) and succeeds(client)
    error = throttled(client)
    assert error.response is not None and error.response.headers["Retry-After"] == "1"  # 0.5 s, rounded up
    polled = 0

    def admitted() -> bool:
        nonlocal polled
        polled += 1
        return succeeds(client)

    wait_for(admitted, timeout=5, interval=0.05, what="a request admitted after the window")
    assert time.monotonic() - started >= 0.5  # not before the first admission left the window
    stats = vault.throttle_stats()
    assert stats["admitted"] == 3
    assert stats["throttled"] == polled  # the first 429, and every poll but the last


def test_throttled_answers_use_no_budget(vault: FakeVault, client: SecretClient) -> None:
    vault.set_throttle(2, window=60.0)
    assert succeeds(client) and succeeds(client)
    for _ in range(5):
        throttled(client)
    stats = vault.throttle_stats()
    assert (stats["admitted"], stats["throttled"], stats["in_window"], stats["peak"]) == (2, 5, 2, 2)


def test_the_window_slides_and_429s_never_delay_recovery() -> None:
    """The model itself, on a clock of our own: exact Retry-After values, no budget used by 429s."""
    now = 0.0
    throttle = Throttle(clock=lambda: now)
    throttle.set_limit(2, 10.0)
    assert throttle.admit() is None  # t=0
    now = 3.0
    assert throttle.admit() is None  # t=3
    now = 4.0
    assert throttle.admit() == 6  # until t=10, when the t=0 admission leaves
    now = 9.5
    assert [throttle.admit() for _ in range(3)] == [1, 1, 1]  # 0.5 s, rounded up; none recorded
    now = 10.0
    assert throttle.admit() is None  # the 429s at 9.5 did not take the freed slot
    assert throttle.admit() == 3  # now the t=3 admission is the oldest: free at 13
    now = 13.0
    assert throttle.admit() is None
    stats = throttle.stats(reset=True)
    assert stats == {"budget": 2, "window": 10.0, "admitted": 4, "throttled": 5, "in_window": 2, "peak": 2}
    assert throttle.stats() == {**stats, "admitted": 0, "throttled": 0, "peak": 0}  # counters only
    throttle.clear_limit()
    assert all(throttle.admit() is None for _ in range(10))
    assert throttle.stats()["admitted"] == 0  # nothing counted while off


# -- what counts ----------------------------------------------------------------------------------------


def test_tokens_challenges_imds_and_hooks_are_not_counted(vault: FakeVault, client: SecretClient) -> None:
    vault.set_throttle(1, window=60.0)
    assert client.get_secret("s").value == "value"
    # The SDK's token-less first request (401) and the token request cost nothing: the one GET fitted.
    assert [(r["method"], r["status"]) for r in vault.requests()] == [("GET", 401), ("POST", 200), ("GET", 200)]
    assert raw_call(vault, "GET", "/secrets/s/?api-version=7.5").status == 401  # no token: 401, not 429
    assert raw_call(vault, "GET", f"/{vault.tenant_id}/v2.0/.well-known/openid-configuration").status == 200
    assert (
        imds_call(vault, "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" + vault.resource).status
        == 200
    )
    assert raw_call(vault, "GET", "/_fake/info").status == 200
    stats = vault.throttle_stats()
    assert (stats["admitted"], stats["throttled"]) == (1, 0)
    throttled(client)  # and the budget really is spent
    assert vault.throttle_stats()["throttled"] == 1


def test_counts_match_what_the_client_saw(vault: FakeVault, client: SecretClient) -> None:
    vault.set_throttle(5, window=60.0)
    seen: dict[int, int] = {}
    for name in ["s", "missing", "s", "s", "missing", "s", "s", "missing"]:
        try:
            client.get_secret(name)
            status = 200
        except HttpResponseError as exc:
            status = exc.status_code or 0
        seen[status] = seen.get(status, 0) + 1
    assert seen == {200: 3, 404: 2, 429: 3}  # 404s are transactions too
    stats = vault.throttle_stats()
    assert (stats["admitted"], stats["throttled"]) == (seen[200] + seen[404], seen[429])
    logged = [status for _method, status in statuses(vault, "/secrets/")]
    assert logged.count(429) == stats["throttled"]
    assert len(logged) - logged.count(401) - logged.count(429) == stats["admitted"]


def test_one_budget_for_the_vault_across_clients_and_connections(
    vault: FakeVault, client: SecretClient, credential: WorkloadIdentityCredential
) -> None:
    vault.set_throttle(3, window=60.0)
    other_credential = workload_credential(vault)
    with SecretClient(vault.vault_url, other_credential, **sdk_options(vault)) as other:
        assert succeeds(client) and succeeds(client) and succeeds(other)
        throttled(other)
        throttled(client)
    other_credential.close()
    stats = vault.throttle_stats()
    assert (stats["admitted"], stats["throttled"]) == (3, 2)


def test_concurrent_clients_get_exactly_the_budget(vault: FakeVault, credential: WorkloadIdentityCredential) -> None:
    vault.set_secret("s", "value")
    results: list[bool] = []
    lock = threading.Lock()
    clients = [SecretClient(vault.vault_url, credential, **sdk_options(vault)) for _ in range(4)]
    for c in clients:  # the challenge round and the token first, so only counted requests race
        c.get_secret("s")
    vault.set_throttle(15, window=60.0)
    start = threading.Barrier(len(clients))

    def hammer(c: SecretClient) -> None:
        start.wait()
        outcomes = [succeeds(c) for _ in range(10)]
        with lock:
            results.extend(outcomes)

    threads = [threading.Thread(target=hammer, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    for c in clients:
        c.close()
    assert len(results) == 40
    assert results.count(True) == 15
    stats = vault.throttle_stats()
    assert (stats["admitted"], stats["throttled"], stats["peak"]) == (15, 25, 15)


def test_faults_come_first_and_their_answers_are_not_counted(vault: FakeVault, client: SecretClient) -> None:
    vault.set_throttle(1, window=60.0)
    vault.add_fault(status=503, count=1, path="/secrets/s")
    with pytest.raises(HttpResponseError) as info:
        client.get_secret("s")
    assert info.value.status_code == 503
    assert succeeds(client)  # the fault's answer left the budget whole
    vault.add_fault(status=500, count=1, path="/secrets/s")
    with pytest.raises(HttpResponseError) as info:
        client.get_secret("s")
    assert info.value.status_code == 500  # the fault, though the budget is spent
    throttled(client)
    stats = vault.throttle_stats()
    assert (stats["admitted"], stats["throttled"]) == (1, 1)


def test_the_sdk_retry_policy_waits_the_retry_after_and_then_succeeds(vault: FakeVault, client: SecretClient) -> None:
    vault.set_throttle(1, window=1.0)
    assert succeeds(client)
    answers: list[tuple[int, str | None]] = []

    def record(response: Any) -> None:
        http = response.http_response
        answers.append((http.status_code, http.headers.get("Retry-After")))

    started = time.monotonic()
    secret = client.get_secret("s", retry_total=3, raw_response_hook=record)
    elapsed = time.monotonic() - started
    assert secret.value == "value"
    assert [status for status, _ in answers] == [429, 200]
    retry_after = answers[0][1]
    assert retry_after is not None and int(retry_after) >= 1
    assert elapsed >= int(retry_after)  # azure-core slept the Retry-After before the retry
    assert vault.throttle_stats()["throttled"] == 1


# -- set-up and validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(("budget", "window"), [(0, 10.0), (-1, 10.0), (10, 0), (10, -0.5), (10, float("nan"))])
def test_bad_limits_are_value_errors(vault: FakeVault, budget: int, window: float) -> None:
    with pytest.raises(ValueError, match=r"throttle (budget|window)"):
        vault.set_throttle(budget, window)
    with pytest.raises(ValueError, match=r"throttle (budget|window)"):
        FakeVault(throttle=(budget, window))
    assert vault.throttle_stats()["budget"] is None  # nothing half-set


def test_the_constructor_the_hook_and_clearing(tmp_path: Path) -> None:
    with FakeVault(state_dir=tmp_path / "v", throttle=(4000, 10.0)) as fv:
        assert raw_call(fv, "GET", "/_fake/throttle").body == {
            "budget": 4000,
            "window": 10.0,
            "admitted": 0,
            "throttled": 0,
            "in_window": 0,
            "peak": 0,
        }
        bad = raw_call(fv, "PUT", "/_fake/throttle", {"budget": 0})
        assert bad.status == 400 and "budget" in bad.body["error"]["message"]
        assert raw_call(fv, "PUT", "/_fake/throttle", {"budget": 1, "extra": 1}).status == 400
        assert raw_call(fv, "PUT", "/_fake/throttle", {"budget": 1, "window": 60}).body["budget"] == 1
        token, _ = fv.mint_access_token()
        auth = {"Authorization": f"Bearer {token}"}
        assert raw_call(fv, "GET", "/secrets/x/?api-version=7.5", headers=auth).status == 404
        assert raw_call(fv, "GET", "/secrets/x/?api-version=7.5", headers=auth).status == 429
        assert raw_call(fv, "DELETE", "/_fake/throttle").status == 204
        assert fv.throttle_stats()["budget"] is None
        assert raw_call(fv, "GET", "/secrets/x/?api-version=7.5", headers=auth).status == 404


# -- the command line ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"), [("4000/10s", (4000, 10.0)), ("30/500ms", (30, 0.5)), ("1/1m", (1, 60.0))]
)
def test_cli_parses_the_throttle(text: str, expected: tuple[int, float]) -> None:
    args = build_parser().parse_args(["fake-vault", "--state-dir", "x", "--throttle", text])
    assert args.throttle == expected


@pytest.mark.parametrize("text", ["0/10s", "abc", "10/0s", "10/abc", "x/10s", "10/10"])
def test_cli_bad_throttle_is_a_usage_error(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["fake-vault", "--state-dir", str(tmp_path), "--throttle", text])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "--throttle" in err[0] and "Traceback" not in err[0]


def test_cli_bad_throttle_in_a_real_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kvfs", "fake-vault", "--state-dir", str(tmp_path), "--throttle", "0/10s"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "budget must be at least 1" in result.stderr
    assert not (tmp_path / "fake-vault.json").exists()


def test_cli_fake_vault_serves_with_the_throttle(tmp_path: Path) -> None:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "kvfs", "fake-vault", "--state-dir", str(state), "--throttle", "2/10s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info_file = state / "fake-vault.json"
        wait_for(info_file.is_file, timeout=20, what="fake-vault.json")
        info = json.loads(info_file.read_text())
        context = ssl.create_default_context(cafile=info["ca_file"])
        with urllib.request.urlopen(info["vault_url"] + "_fake/throttle", context=context, timeout=10) as answer:
            stats = json.load(answer)
        assert (stats["budget"], stats["window"]) == (2, 10.0)
    finally:
        process.terminate()
        process.communicate(timeout=20)
    assert process.returncode == 0
