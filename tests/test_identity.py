"""Which identity a class (or --identity) selects and why, the one-line explanations of Entra ID's
answers, and the token keeper's refresh rules (with a stand-in credential: no network here; the real
azure-identity credentials against the fakes are in tests/mount/test_identity_*.py)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from azure.core.credentials import AccessTokenInfo
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import (
    AzureCliCredential,
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from kvfs.config import ProviderClass
from kvfs.config.clouds import CLOUDS
from kvfs.errors import ConfigError
from kvfs.vault.auth_errors import IdentityContext
from kvfs.vault.identity import IdentityOptions, authority_host, build_credential, choose_identity, credential_factory
from kvfs.vault.tokens import TokenKeeper

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SCOPE = "https://vault.azure.net/.default"


def klass(**fields: object) -> ProviderClass:
    return ProviderClass(name="t", namespace="default", keyvault_name="kv", tenant_id=TENANT, **fields)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("header.payload.signature")
    return path


@pytest.fixture
def secret_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "sp"
    directory.mkdir()
    (directory / "ClientID").write_text("sp-client\n")  # names match case-insensitively, as in the provider
    (directory / "clientSecret").write_text("sp-secret")
    return directory


# -- the choice and its reason ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "kind", "reason"),
    [
        ({"use_vm_managed_identity": True}, "managed", "the class sets useVMManagedIdentity"),
        ({"use_pod_identity": True}, "managed", "the class sets usePodIdentity"),
        ({"client_id": "abc"}, "workload", "the class sets clientID"),
        ({}, "default", "the class names no identity"),
    ],
)
def test_auto_follows_the_providers_rules(fields: dict[str, object], kind: str, reason: str, token_file: Path) -> None:
    plan = choose_identity(klass(**fields), IdentityOptions(), {"AZURE_FEDERATED_TOKEN_FILE": str(token_file)})
    assert (plan.kind, plan.reason) == (kind, reason)


def test_a_client_secret_dir_means_a_service_principal_unless_the_class_names_another(secret_dir: Path) -> None:
    plan = choose_identity(klass(), IdentityOptions(client_secret_dir=secret_dir), {})
    assert (plan.kind, plan.reason, plan.context.client_id) == (
        "service-principal",
        "--client-secret-dir is given",
        "sp-client",
    )
    assert (
        choose_identity(klass(use_vm_managed_identity=True), IdentityOptions(client_secret_dir=secret_dir), {}).kind
        == "managed"
    )


@pytest.mark.parametrize("mode", ["cli", "default", "managed"])
def test_identity_overrides_the_class(mode: str, token_file: Path) -> None:
    """The cluster's unchanged class (clientID) runs on a laptop with --identity cli."""
    plan = choose_identity(klass(client_id="abc"), IdentityOptions(mode=mode), {})
    assert (plan.kind, plan.reason) == (mode, f"--identity {mode}")


def test_missing_inputs_are_configuration_errors_naming_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AZURE_FEDERATED_TOKEN_FILE is not set"):
        choose_identity(klass(client_id="abc"), IdentityOptions(), {})
    with pytest.raises(ConfigError, match="no such file"):
        choose_identity(klass(client_id="abc"), IdentityOptions(), {"AZURE_FEDERATED_TOKEN_FILE": "/nonexistent"})
    with pytest.raises(ConfigError, match="needs --client-secret-dir"):
        choose_identity(klass(), IdentityOptions(mode="service-principal"), {})
    (tmp_path / "clientid").write_text("x")
    with pytest.raises(ConfigError, match="could not find clientsecret"):
        choose_identity(klass(), IdentityOptions(client_secret_dir=tmp_path), {})
    with pytest.raises(ConfigError, match="workload identity needs a client id"):
        choose_identity(klass(), IdentityOptions(mode="workload"), {"AZURE_FEDERATED_TOKEN_FILE": "/x"})


def test_each_plan_makes_the_azure_identity_credential_it_names(token_file: Path, secret_dir: Path) -> None:
    env = {"AZURE_FEDERATED_TOKEN_FILE": str(token_file)}
    cases = [
        (klass(client_id="abc"), IdentityOptions(), WorkloadIdentityCredential),
        (klass(use_vm_managed_identity=True), IdentityOptions(), ManagedIdentityCredential),
        (klass(), IdentityOptions(client_secret_dir=secret_dir), ClientSecretCredential),
        (klass(), IdentityOptions(mode="cli"), AzureCliCredential),
        (klass(), IdentityOptions(), DefaultAzureCredential),
    ]
    for provider_class, options, expected in cases:
        factory, _ = credential_factory(choose_identity(provider_class, options, env), options)
        made = factory()
        assert isinstance(made, expected)
        assert factory() is not made  # a new credential each time: no stale cache survives a refresh
    assert isinstance(build_credential(klass(client_id="abc"), env), TokenKeeper)


def test_managed_identity_stays_on_imds_in_a_workload_identity_pod(
    token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """azure-identity turns ManagedIdentityCredential into workload identity when the webhook's variables are set."""
    for name, value in {
        "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.com",
        "AZURE_TENANT_ID": TENANT,
        "AZURE_CLIENT_ID": "webhook-client",
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
    }.items():
        monkeypatch.setenv(name, value)
    options = IdentityOptions()
    factory, _ = credential_factory(choose_identity(klass(use_vm_managed_identity=True), options, {}), options)
    inner = factory()._credential  # what it delegates to (kept an eye on: a private attribute of azure-identity)
    assert type(inner).__name__ == "ImdsCredential"
    assert type(ManagedIdentityCredential()._credential).__name__ == "WorkloadIdentityCredential"  # the trap


def test_the_service_principal_files_change_the_fingerprint(secret_dir: Path) -> None:
    options = IdentityOptions(client_secret_dir=secret_dir)
    _, fingerprint = credential_factory(choose_identity(klass(), options, {}), options)
    before = fingerprint()
    replacement = secret_dir / "clientSecret.new"
    replacement.write_text("rotated-secret")
    replacement.replace(secret_dir / "clientSecret")
    assert fingerprint() != before


@pytest.mark.parametrize(
    ("cloud", "authority"),
    [
        ("azurepubliccloud", "https://login.microsoftonline.com"),
        ("azureusgovernmentcloud", "https://login.microsoftonline.us"),
        ("azurechinacloud", "https://login.chinacloudapi.cn"),
    ],
)
def test_the_authority_follows_the_cloud_unless_the_environment_names_one(cloud: str, authority: str) -> None:
    assert authority_host(klass(cloud=CLOUDS[cloud]), {}) == authority
    env = {"AZURE_AUTHORITY_HOST": "https://127.0.0.1:8443/"}
    assert authority_host(klass(cloud=CLOUDS[cloud]), env) == "https://127.0.0.1:8443"


# -- what Entra ID says, in one line that says what to fix ----------------------------------------

ISSUER = "https://oidc.prod-aks.azure.com/00000000-1111/"
SUBJECT = "system:serviceaccount:app:kvfs"
TRACE = " Trace ID: 1 Correlation ID: 2 Timestamp: 2026-11-27 10:00:00Z"


def entra(code: int, error: str, text: str) -> ClientAuthenticationError:
    return ClientAuthenticationError(f"Microsoft Entra ID error '({error}) AADSTS{code}: {text}{TRACE}'")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            entra(
                700024,
                "invalid_client",
                "Client assertion is not within its valid time range. Current time: "
                "2026-11-27T10:00:00Z, assertion valid from 2026-11-27T08:00:00Z, expiry time of assertion "
                "2026-11-27T09:00:00Z. Review the documentation at https://learn.microsoft.com/ .",
            ),
            "the service-account token in /var/run/token is expired or not yet valid (AADSTS700024)",
        ),
        (
            entra(
                70021,
                "invalid_request",
                f"No matching federated identity record found for presented assertion. "
                f"Assertion Issuer: '{ISSUER}'. Assertion Subject: '{SUBJECT}'. Assertion Audience: "
                "'api://AzureADTokenExchange'. https://learn.microsoft.com/",
            ),
            f"its subject must be '{SUBJECT}' (system:serviceaccount:<namespace>:<service account>), its issuer "
            f"the cluster's OIDC issuer '{ISSUER}'",
        ),
        (
            entra(
                700211,
                "invalid_client",
                f"No matching federated identity record found for presented assertion "
                f"issuer '{ISSUER}'. Please check your federated identity credential Subject, Audience and Issuer.",
            ),
            f"no federated credential of client c-1 trusts the issuer '{ISSUER}' (AADSTS700211)",
        ),
        (
            entra(700016, "unauthorized_client", "Application with identifier 'c-1' was not found in the directory."),
            f"client c-1 is not an application of tenant {TENANT} (AADSTS700016): check clientID",
        ),
        (entra(90002, "invalid_tenant", "Tenant 'x' not found."), f"tenant {TENANT} was not found (AADSTS90002)"),
        (
            entra(50000, "temporarily_unavailable", "There was an error issuing a token. Try later."),
            "Entra ID refused the token request (AADSTS50000): There was an error issuing a token.",
        ),
    ],
)
def test_entra_answers_become_one_line_that_says_what_to_fix(error: Exception, expected: str) -> None:
    context = IdentityContext("workload", TENANT, client_id="c-1", token_file="/var/run/token")
    message = context.explain(error)
    assert expected in message
    assert "\n" not in message and "Trace ID" not in message


def test_cli_and_managed_identity_failures_say_what_to_do() -> None:
    cli = IdentityContext("cli", TENANT)
    assert "run 'az login'" in cli.explain(Exception("ERROR: Please run 'az login' to set up an account."))
    assert "not installed or not on PATH" in cli.explain(Exception("Azure CLI not found on path"))
    managed = IdentityContext("managed", TENANT, client_id="uai-1")
    message = managed.explain(
        Exception("ManagedIdentityCredential authentication unavailable, no response from the IMDS endpoint.")
    )
    assert "user-assigned identity uai-1" in message and "assigned to this VM" in message


# -- the token keeper ------------------------------------------------------------------------


class StandIn:
    """A credential that hands out numbered tokens of a given lifetime, or fails when told to."""

    made = 0
    calls = 0
    lifetime = 100.0
    fail: Exception | None = None
    delay = 0.0
    tenants: list[str | None] = []  # the tenant each request asked for

    def __init__(self) -> None:
        type(self).made += 1

    def get_token_info(self, *scopes: str, options: dict | None = None) -> AccessTokenInfo:
        type(self).calls += 1
        type(self).tenants.append((options or {}).get("tenant_id"))
        time.sleep(type(self).delay)  # a slow authority, so that concurrent callers overlap
        if type(self).fail is not None:
            raise type(self).fail
        return AccessTokenInfo(f"token-{type(self).calls}", int(time.time() + type(self).lifetime))

    def close(self) -> None:
        pass


@pytest.fixture
def stand_in() -> type[StandIn]:
    StandIn.made = StandIn.calls = 0
    StandIn.lifetime, StandIn.fail, StandIn.delay, StandIn.tenants = 100.0, None, 0.0, []
    return StandIn


def keeper(stand_in: type[StandIn], **kwargs: object) -> TokenKeeper:
    context = IdentityContext("workload", TENANT, client_id="c-1", token_file="/t")
    return TokenKeeper(stand_in, tenant_id=TENANT, explain=context.explain, **kwargs)  # type: ignore[arg-type]


def test_a_token_is_reused_until_half_its_life_then_refreshed(
    stand_in: type[StandIn], monkeypatch: pytest.MonkeyPatch
) -> None:
    keep = keeper(stand_in)
    first = keep.get_token_info(SCOPE)
    assert keep.get_token_info(SCOPE).token == first.token and stand_in.calls == 1
    assert first.refresh_on is not None and first.refresh_on <= first.expires_on - 49
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 51)
    assert keep.get_token_info(SCOPE).token == "token-2"
    assert (keep.stats.refreshes, stand_in.made) == (2, 2)  # each refresh through a new credential


def test_a_refresh_failing_before_expiry_keeps_the_token_says_so_once_and_counts(
    stand_in: type[StandIn], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    keep = keeper(stand_in)
    first = keep.get_token_info(SCOPE)
    stand_in.fail = ClientAuthenticationError("Microsoft Entra ID error '(temporarily_unavailable) AADSTS50000: down.'")
    now = time.time()
    with caplog.at_level(logging.WARNING, logger="kvfs.vault.tokens"):
        for step in range(4):  # past half-life, each attempt after the last one's pause
            monkeypatch.setattr(time, "time", lambda s=step: now + 51 + s * 10)
            assert keep.get_token_info(SCOPE).token == first.token
    assert keep.stats.refresh_failures >= 2
    assert "AADSTS50000" in keep.stats.last_error
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "token refresh failed; the current token is valid for" in warnings[0]
    stand_in.fail = None
    monkeypatch.setattr(time, "time", lambda: now + 95)
    assert keep.get_token_info(SCOPE).token != first.token
    assert keep.stats.last_error == ""


def test_without_a_valid_token_a_failure_is_one_line_naming_the_fix(stand_in: type[StandIn]) -> None:
    stand_in.fail = entra(700211, "invalid_client", f"No matching federated identity record found for presented "
                          f"assertion issuer '{ISSUER}'.")  # fmt: skip
    with pytest.raises(ClientAuthenticationError) as info:
        keeper(stand_in).get_token_info(SCOPE)
    assert str(info.value.message).startswith("no federated credential of client c-1 trusts the issuer")


def test_invalidate_makes_the_next_request_fetch_a_new_token(stand_in: type[StandIn]) -> None:
    keep = keeper(stand_in)
    first = keep.get_token_info(SCOPE).token
    keep.invalidate()
    assert keep.get_token_info(SCOPE).token != first
    assert keep.get_token_info(SCOPE).token == keep.get_token_info(SCOPE).token


def test_concurrent_first_requests_fetch_one_token(stand_in: type[StandIn]) -> None:
    stand_in.delay = 0.2
    keep = keeper(stand_in)
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(keep.get_token_info(SCOPE).token)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stand_in.calls == 1 and set(tokens) == {"token-1"}


def test_claims_always_fetch_and_a_changed_input_replaces_the_token(stand_in: type[StandIn]) -> None:
    version = ["a"]
    keep = keeper(stand_in, fingerprint=lambda: version[0])
    first = keep.get_token_info(SCOPE).token
    assert keep.get_token_info(SCOPE, options={"claims": '{"access_token":{}}'}).token != first  # a CAE challenge
    second = keep.get_token_info(SCOPE).token
    version[0] = "b"  # a rotated client secret file
    assert keep.get_token_info(SCOPE).token != second


def test_a_vault_of_another_tenant_is_one_line_naming_both(stand_in: type[StandIn]) -> None:
    other = "11111111-2222-3333-4444-555555555555"
    with pytest.raises(
        ClientAuthenticationError, match=f"the vault belongs to tenant {other}, but the class's tenantID is {TENANT}"
    ):
        keeper(stand_in).get_token_info(SCOPE, options={"tenant_id": other})
    assert keeper(stand_in).get_token_info(SCOPE, options={"tenant_id": TENANT.upper()}).token  # case does not matter
    assert stand_in.tenants == [None]  # with a tenant configured, the credential keeps its own


def test_without_a_tenant_the_token_is_asked_for_in_the_tenant_the_vault_names(stand_in: type[StandIn]) -> None:
    """The whole-vault mount has no class, so no tenantID: the vault's challenge says which tenant to ask."""
    context = IdentityContext("cli", "")
    keep = TokenKeeper(stand_in, tenant_id="", explain=context.explain)  # type: ignore[arg-type]
    vault_tenant = "11111111-2222-3333-4444-555555555555"
    assert keep.get_token_info(SCOPE, options={"tenant_id": vault_tenant}).token == "token-1"
    assert stand_in.tenants == [vault_tenant]
