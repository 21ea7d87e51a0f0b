"""Serving as a real vault name (https://NAME.vault.azure.net): clients keep challenge-resource verification on,
and kvfs runs with no --vault-url at all, building the URL from keyvaultName as in production. The name is
mapped to 127.0.0.1 by a private /etc/hosts, bind-mounted in a mount namespace of the client's own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kvfs.fakevault import FakeVault
from tests.helpers import provider_class_yaml

NAME = "kvfs-e2e"

SDK_CLIENT = textwrap.dedent("""
    import os, sys
    from azure.identity import WorkloadIdentityCredential
    from azure.keyvault.secrets import SecretClient
    client = SecretClient(sys.argv[1], WorkloadIdentityCredential(), connection_verify=os.environ["REQUESTS_CA_BUNDLE"])
    print(client.get_secret("db").value)  # verify_challenge_resource is on: the SDK's default
""")


def with_hosts(hosts: Path, *command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``command`` in a mount namespace where /etc/hosts is ``hosts``; the machine's file is untouched."""
    script = f'mount --bind "{hosts}" /etc/hosts && exec "$@"'
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *command],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_real_vault_name_on_port_443_serves_the_sdk_and_kvfs_unchanged(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {NAME}.vault.azure.net\n")
    with FakeVault(state_dir=tmp_path / "fv", port=443, vault_name=NAME) as fv:
        assert fv.vault_url == f"https://{NAME}.vault.azure.net/"
        fv.set_secret("db", "served-under-a-real-name")
        env = {**os.environ, **fv.workload_identity_env()}
        env.pop("KVFS_VAULT_URL", None)
        sdk = with_hosts(hosts, sys.executable, "-c", SDK_CLIENT, fv.vault_url, env=env)
        assert sdk.returncode == 0, sdk.stderr
        assert sdk.stdout.strip() == "served-under-a-real-name"

        spc = tmp_path / "spc.yaml"
        objects: list[dict[str, object]] = [{"objectName": "db", "objectType": "secret"}]
        spc.write_text(provider_class_yaml(objects, tenant_id=fv.tenant_id, client_id=fv.client_id, keyvault_name=NAME))
        check = with_hosts(
            hosts, sys.executable, "-m", "kvfs", "check", str(spc), "--ca-file", str(fv.ca_file), env=env
        )
        assert check.returncode == 0, check.stderr
        assert f"vault https://{NAME}.vault.azure.net/" in check.stderr and "db" in check.stdout
        assert "served-under-a-real-name" not in check.stdout + check.stderr
        assert [r["path"] for r in fv.requests() if r["path"].startswith("/secrets/db")]  # it reached the fake


def test_a_bad_vault_name_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Key Vault name"):
        FakeVault(vault_name="no")
