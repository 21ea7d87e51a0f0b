"""Every identity through a real mount, against the fake vault, its Entra ID authority and its IMDS,
with the real azure-identity credentials: workload identity for many token lifetimes, Entra's refusals
as one line each, managed identity reaching IMDS in a workload-identity pod, a service principal whose
files change, the Azure CLI (a stand-in ``az`` printing what the real one prints), recovery from a vault
that stops accepting its tokens, refresh failures made visible, clouds and a wrong tenant."""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvfs.fakevault import FakeVault
from tests.helpers import KvfsProcess, wait_for

SECRET = {"objectName": "db", "objectType": "secret"}


def error_line(kvfs: KvfsProcess) -> str:
    assert "Traceback" not in kvfs.stderr, kvfs.stderr
    lines = [line for line in kvfs.stderr.splitlines() if line.startswith("kvfs: error:")]
    assert len(lines) == 1, kvfs.stderr
    return lines[0]


def without_workload_identity(vault: FakeVault) -> dict[str, str]:
    """The environment of a machine with none of the AKS webhook's variables (values as os.environ lacks them)."""
    return {name: "" for name in vault.workload_identity_env() if name != "REQUESTS_CA_BUNDLE"}


# -- workload identity for days -------------------------------------------------------------------


class Kubelet:
    """Rewrites the projected service-account token at 80 % of its life, as the kubelet does."""

    def __init__(self, vault: FakeVault, lifetime: float) -> None:
        self.vault, self.lifetime = vault, lifetime
        self.stop = threading.Event()
        self.rewrites = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.lifetime * 0.8):
            self.vault.write_federated_token(lifetime=self.lifetime)
            self.rewrites += 1

    def __enter__(self) -> Kubelet:
        self.vault.write_federated_token(lifetime=self.lifetime)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture
def short_lived_vault(tmp_path: Path) -> Iterator[FakeVault]:
    """Access tokens of 4 s: an hour of token lifetimes passes in a few minutes... of seconds."""
    with FakeVault(state_dir=tmp_path / "short-vault", token_lifetime=4) as fv:
        yield fv


def test_workload_identity_keeps_working_across_many_token_lifetimes(
    short_lived_vault: FakeVault, tmp_path: Path, mountpoint: Path
) -> None:
    vault = short_lived_vault
    vault.set_secret("db", "v0")
    with Kubelet(vault, lifetime=6.0) as kubelet:
        kvfs = start(
            vault, tmp_path, mountpoint, [SECRET], "--rotation-poll-interval", "1s", "--metrics-addr", "127.0.0.1:0"
        )
        deadline = time.monotonic() + 30  # 7 access-token lifetimes, 5 service-account token rewrites
        version, reads = 0, 0
        while time.monotonic() < deadline:
            assert (mountpoint / "db").read_text() == f"v{version}"  # zero failed reads
            reads += 1
            if reads % 200 == 0:
                version += 1
                vault.set_secret("db", f"v{version}")
                wait_for(lambda v=version: (mountpoint / "db").read_text() == f"v{v}", timeout=10, what="rotation")
            time.sleep(0.01)  # a reader's pace, not a wait for a condition
        assert kubelet.rewrites >= 4
        metrics = scrape(kvfs)
        assert metrics["kvfs_polls_failed_total"] == 0  # zero failed polls
        assert metrics["kvfs_polls_total"] >= 20
        assert metrics["kvfs_token_refreshes_total"] >= 7  # refreshed at half-life, every lifetime
        assert metrics["kvfs_token_refresh_failures_total"] == 0
        assert version >= 3
        assert kvfs.stop() == 0


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ({"lifetime": -10}, "is expired or not yet valid (AADSTS700024)"),
        ({"subject": "system:serviceaccount:other:app"}, "its subject must be 'system:serviceaccount:other:app'"),
        (
            {"issuer": "https://oidc.elsewhere.example/"},
            "trusts the issuer 'https://oidc.elsewhere.example/' (AADSTS700211)",
        ),
    ],
)
def test_entra_refusals_of_the_assertion_are_one_line_that_says_what_to_fix(
    vault: FakeVault, tmp_path: Path, mountpoint: Path, token: dict[str, object], expected: str
) -> None:
    vault.set_secret("db", "v")
    vault.write_federated_token(**token)  # type: ignore[arg-type]
    kvfs = start(vault, tmp_path, mountpoint, [SECRET], wait=False)
    assert kvfs.wait_exit() == 1
    line = error_line(kvfs)
    assert expected in line, line
    assert "cannot get a token to read secret 'db'" in line


# -- managed identity, as the provider means it ------------------------------------------------------


def test_managed_identity_reaches_imds_even_in_a_workload_identity_pod(
    vault: FakeVault, tmp_path: Path, mountpoint: Path
) -> None:
    vault.set_secret("db", "from-imds")
    vault.add_managed_identity("uai-client")
    # IMDS answers 404 (still starting), 500, then 429, then the token: the SDK retries as with the real IMDS.
    vault.add_fault(status=404, count=1, path=r"^/metadata")
    vault.add_fault(status=500, count=1, path=r"^/metadata")
    vault.add_fault(status=429, count=1, path=r"^/metadata")
    kvfs = start(
        vault, tmp_path, mountpoint, [SECRET],
        klass={"useVMManagedIdentity": "true", "userAssignedIdentityID": "uai-client"},
        client_id="",
        env={"AZURE_POD_IDENTITY_AUTHORITY_HOST": vault.imds_url},  # the webhook's variables stay set too
    )  # fmt: skip
    assert (mountpoint / "db").read_text() == "from-imds"
    imds = [r for r in vault.requests() if r["path"].startswith("/metadata/identity/oauth2/token")]
    assert [r["status"] for r in imds] == [404, 500, 429, 200]
    assert "client_id=uai-client" in imds[-1]["path"]
    assert [r["status"] for r in imds][-1] == 200
    assert not any(r["path"].endswith("/oauth2/v2.0/token") for r in vault.requests())  # never workload identity
    assert kvfs.stop() == 0
    assert (
        "identity: managed identity (user-assigned uai-client) via IMDS (the class sets useVMManagedIdentity)"
        in kvfs.stderr
    )


def test_an_unknown_managed_identity_is_one_line(vault: FakeVault, tmp_path: Path, mountpoint: Path) -> None:
    vault.set_secret("db", "v")
    kvfs = start(
        vault, tmp_path, mountpoint, [SECRET], wait=False,
        klass={"useVMManagedIdentity": "true", "userAssignedIdentityID": "not-assigned"}, client_id="",
        env={"AZURE_POD_IDENTITY_AUTHORITY_HOST": vault.imds_url},
    )  # fmt: skip
    assert kvfs.wait_exit() == 1
    assert "managed identity (user-assigned identity not-assigned) gave no token" in error_line(kvfs)


# -- a service principal (the provider's nodePublishSecretRef) ---------------------------------------


def write_secret_files(directory: Path, client_id: str, secret: str) -> None:
    """As a Secret volume updates: new files, swapped in by rename."""
    directory.mkdir(exist_ok=True)
    for name, value in (("clientid", client_id), ("clientsecret", secret)):
        staged = directory / f".{name}.new"
        staged.write_text(value)
        staged.replace(directory / name)


def test_a_service_principal_from_files_read_again_when_they_change(
    vault: FakeVault, tmp_path: Path, mountpoint: Path
) -> None:
    vault.set_secret("db", "v1")
    secrets_dir = tmp_path / "sp"
    write_secret_files(secrets_dir, vault.client_id, vault.client_secret)
    kvfs = start(
        vault, tmp_path, mountpoint, [SECRET], "--client-secret-dir", str(secrets_dir),
        "--rotation-poll-interval", "1s", client_id="",
        env=without_workload_identity(vault) | {"AZURE_AUTHORITY_HOST": vault.authority_host},
    )  # fmt: skip
    assert (mountpoint / "db").read_text() == "v1"
    write_secret_files(secrets_dir, vault.client_id, "a-wrong-secret")  # changed under the daemon: read again
    kvfs.wait_for_log("the client secret of", timeout=20)
    write_secret_files(secrets_dir, vault.client_id, vault.client_secret)
    vault.set_secret("db", "v2")
    wait_for(lambda: (mountpoint / "db").read_text() == "v2", timeout=20, what="polls with the secret fixed")
    assert kvfs.stop() == 0
    assert f"is wrong (AADSTS7000215): check the clientsecret file in {secrets_dir}" in kvfs.stderr
    assert vault.client_secret not in kvfs.stderr and "a-wrong-secret" not in kvfs.stderr
    assert "identity: service principal from" in kvfs.stderr and "(--client-secret-dir is given)" in kvfs.stderr


# -- the Azure CLI, for the cluster's class on a laptop ---------------------------------------------


def stand_in_az(directory: Path, vault: FakeVault, *, logged_in: bool = True) -> Path:
    """An ``az`` on PATH that prints what ``az account get-access-token`` prints (or the not-logged-in error)."""
    token, expires_on = vault.mint_access_token()
    directory.mkdir(exist_ok=True)
    az = directory / "az"
    answer = json.dumps({
        "accessToken": token, "expiresOn": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.localtime(expires_on)),
        "expires_on": expires_on, "subscription": "sub", "tenant": vault.tenant_id, "tokenType": "Bearer",
    })  # fmt: skip
    body = (
        f"echo '{answer}'" if logged_in else "echo \"ERROR: Please run 'az login' to set up an account.\" >&2; exit 1"
    )
    az.write_text(f'#!/bin/sh\necho "$@" >> {directory / "calls"}\n{body}\n')
    az.chmod(az.stat().st_mode | stat.S_IEXEC)
    return directory


def test_the_clusters_class_runs_on_a_laptop_with_identity_cli(
    vault: FakeVault, tmp_path: Path, mountpoint: Path
) -> None:
    vault.set_secret("db", "laptop")
    bin_dir = stand_in_az(tmp_path / "bin", vault)
    kvfs = start(
        vault, tmp_path, mountpoint, [SECRET], "--identity", "cli",
        env=without_workload_identity(vault) | {"PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )  # the class keeps its clientID: --identity overrides it  # fmt: skip
    assert (mountpoint / "db").read_text() == "laptop"
    calls = (bin_dir / "calls").read_text().splitlines()
    assert calls[0].startswith("account get-access-token --output json --resource https://vault.azure.net")
    assert f"--tenant {vault.tenant_id}" in calls[0]
    assert kvfs.stop() == 0
    assert (
        "identity: Azure CLI login (az account get-access-token)" in kvfs.stderr and "(--identity cli)" in kvfs.stderr
    )


def test_a_logged_out_cli_says_run_az_login(vault: FakeVault, tmp_path: Path, mountpoint: Path) -> None:
    vault.set_secret("db", "v")
    bin_dir = stand_in_az(tmp_path / "bin", vault, logged_in=False)
    kvfs = start(
        vault, tmp_path, mountpoint, [SECRET], "--identity", "cli", wait=False,
        env=without_workload_identity(vault) | {"PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )  # fmt: skip
    assert kvfs.wait_exit() == 1
    assert "the Azure CLI is not logged in: run 'az login'" in error_line(kvfs)


def test_a_claims_challenge_the_cli_cannot_answer_is_explained(vault: FakeVault, tmp_path: Path) -> None:
    """Through the real AzureCliCredential and the stand-in: the keeper explains the CLI's refusal."""
    from kvfs.config import ProviderClass
    from kvfs.vault.identity import IdentityOptions, build_credential

    bin_dir = stand_in_az(tmp_path / "bin", vault)
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{bin_dir}:{old_path}"
    try:
        keeper = build_credential(
            ProviderClass("t", "default", "kv", vault.tenant_id), {}, options=IdentityOptions(mode="cli")
        )
        assert keeper.get_token_info("https://vault.azure.net/.default").token
        from azure.core.exceptions import ClientAuthenticationError

        with pytest.raises(ClientAuthenticationError, match="claims challenge the Azure CLI cannot answer"):
            keeper.get_token_info("https://vault.azure.net/.default", options={"claims": '{"access_token":{}}'})
    finally:
        os.environ["PATH"] = old_path


# -- recovery and visibility -----------------------------------------------------------------------


def test_a_vault_that_stops_accepting_its_tokens_is_recovered_within_one_poll(
    vault: FakeVault, tmp_path: Path, mountpoint: Path
) -> None:
    vault.set_secret("db", "v1")
    kvfs = start(
        vault, tmp_path, mountpoint, [SECRET], "--rotation-poll-interval", "1h", "--metrics-addr", "127.0.0.1:0"
    )
    vault.rotate_signing_key()  # every token issued so far is refused from now on (a token life is 1 h here)
    vault.set_secret("db", "v2")
    kvfs.process.send_signal(signal.SIGHUP)  # one poll
    wait_for(lambda: (mountpoint / "db").read_text() == "v2", timeout=20, what="the poll after the key change")
    metrics = scrape(kvfs)
    assert metrics["kvfs_polls_failed_total"] == 0
    assert kvfs.stop() == 0
    assert "the vault refused a token that was still valid: fetching a new one" in kvfs.stderr


def test_a_refresh_failing_before_expiry_is_logged_once_counted_and_reported(
    short_lived_vault: FakeVault, tmp_path: Path, mountpoint: Path
) -> None:
    vault = short_lived_vault
    vault.set_secret("db", "v1")
    kvfs = start(
        vault, tmp_path, mountpoint, [SECRET], "--rotation-poll-interval", "1s", "--metrics-addr", "127.0.0.1:0"
    )
    vault.add_fault(status=503, path=r"/oauth2/v2.0/token")  # the authority goes down; the token has ~4 s left
    wait_for(lambda: scrape(kvfs)["kvfs_token_refresh_failures_total"] >= 1, timeout=15, what="a failed refresh")
    report = json.loads(get(kvfs, "/readyz"))
    assert report["token"]["refresh_failures"] >= 1 and report["token"]["last_refresh_error"]
    vault.clear_faults()
    wait_for(
        lambda: json.loads(get(kvfs, "/readyz"))["token"]["last_refresh_error"] is None, timeout=20, what="recovery"
    )
    assert (mountpoint / "db").read_text() == "v1"
    assert kvfs.stop() == 0
    assert kvfs.stderr.count("token refresh failed; the current token is valid for") == 1


# -- clouds and tenants ----------------------------------------------------------------------------


def test_azure_stack_takes_authority_and_resource_from_the_environment_file(tmp_path: Path, mountpoint: Path) -> None:
    resource = "https://vault.local.azurestack.external"
    with FakeVault(state_dir=tmp_path / "stack", resource=resource) as vault:
        vault.set_secret("db", "on-stack")
        env_file = tmp_path / "azurestack.json"
        env_file.write_text(json.dumps({
            "name": "AzureStackCloud", "activeDirectoryEndpoint": vault.authority_host + "/",
            "keyVaultEndpoint": resource, "keyVaultDNSSuffix": "vault.local.azurestack.external",
        }))  # fmt: skip
        kvfs = start(
            vault, tmp_path, mountpoint, [SECRET],
            klass={"cloudName": "AzureStackCloud", "cloudEnvFileName": str(env_file)},
            env={"AZURE_AUTHORITY_HOST": ""},  # the authority comes from the file, as on a hub
        )  # fmt: skip
        assert (mountpoint / "db").read_text() == "on-stack"
        assert kvfs.stop() == 0


@pytest.mark.parametrize(("cloud", "resource"), [("AzureUSGovernmentCloud", "https://vault.usgovcloudapi.net"),
                                                 ("AzureChinaCloud", "https://vault.azure.cn")])  # fmt: skip
def test_sovereign_clouds_get_tokens_for_their_vault_resource(
    tmp_path: Path, mountpoint: Path, cloud: str, resource: str
) -> None:
    with FakeVault(state_dir=tmp_path / "cloud", resource=resource) as vault:  # refuses other scopes
        vault.set_secret("db", cloud)
        kvfs = start(vault, tmp_path, mountpoint, [SECRET], klass={"cloudName": cloud})
        assert (mountpoint / "db").read_text() == cloud
        assert kvfs.stop() == 0


def test_a_vault_of_another_tenant_is_one_line_naming_both(tmp_path: Path, mountpoint: Path) -> None:
    other = "11111111-2222-3333-4444-555555555555"
    with FakeVault(state_dir=tmp_path / "other", challenge_tenant=other) as vault:
        vault.set_secret("db", "v")
        kvfs = start(vault, tmp_path, mountpoint, [SECRET], wait=False)
        assert kvfs.wait_exit() == 1
        assert f"the vault belongs to tenant {other}, but the class's tenantID is {vault.tenant_id}" in error_line(kvfs)


# -- plumbing --------------------------------------------------------------------------------------


def start(
    vault: FakeVault,
    tmp_path: Path,
    mountpoint: Path,
    objects: list[dict[str, object]],
    *args: str,
    wait: bool = True,
    klass: dict[str, str] | None = None,
    client_id: str | None = None,
    env: dict[str, str] | None = None,
) -> KvfsProcess:
    from tests.helpers import provider_class_yaml
    from tests.mount.conftest import kvfs_env

    spc = tmp_path / f"spc-{time.monotonic_ns()}.yaml"
    spc.write_text(
        provider_class_yaml(
            objects, tenant_id=vault.tenant_id, client_id=vault.client_id if client_id is None else client_id,
            extra_parameters=klass,
        )
    )  # fmt: skip
    environment = {k: v for k, v in kvfs_env(vault, env).items() if v != ""}
    args_ = ["mount", str(spc), str(mountpoint), "--vault-url", vault.vault_url, "--ca-file", str(vault.ca_file), *args]
    process = KvfsProcess(args_, environment, mountpoint)
    STARTED.append(process)
    if wait:
        process.wait_ready()
    return process


STARTED: list[KvfsProcess] = []


@pytest.fixture(autouse=True)
def _stop_every_kvfs() -> Iterator[None]:
    yield
    while STARTED:
        process = STARTED.pop()
        if process.process.poll() is None:
            process.stop()


def get(kvfs: KvfsProcess, path: str) -> str:
    import re

    kvfs.wait_for_log("metrics and health on")
    base = re.search(r"metrics and health on (http://[\d.]+:\d+)", kvfs.stderr).group(1)  # type: ignore[union-attr]
    try:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.read().decode()


def scrape(kvfs: KvfsProcess) -> dict[str, float]:
    """Unlabelled samples of /metrics by name."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(get(kvfs, "/metrics"))
        for sample in family.samples
        if not sample.labels
    }
