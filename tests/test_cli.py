"""The command line: usage errors, the bad-config corpus through `kvfs check`, and `check` itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kvfs.cli import main
from kvfs.fakevault import FakeVault
from tests.helpers import provider_class_yaml

CORPUS = sorted((Path(__file__).parent / "config_corpus" / "bad").glob("*.yaml"))


def kvfs(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvfs", *args],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        input=stdin,
        timeout=60,
        check=False,
    )


def expectations(path: Path) -> list[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} lacks its '# expect:' line"
    return first.removeprefix("# expect: ").split(" && ")


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_every_bad_class_is_exit_2_with_one_line_naming_the_fault(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("kvfs: error:")]
    assert len(errors) == 1, err
    for expected in expectations(path):
        assert expected in errors[0]
    assert not any("Traceback" in line for line in err)


def test_a_bad_class_in_a_real_process_exits_2_without_traceback() -> None:
    result = kvfs("check", str(CORPUS[0]))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("kvfs: error:")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["mount"],
        ["mount", "only-config"],
        ["mount", "a.yaml", "/mnt", "--concurrency", "0"],
        ["mount", "a.yaml", "/mnt", "--uid", "-1"],
        ["bogus"],
        ["check", "/nonexistent/spc.yaml"],
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:  # argparse exits; our own checks return
        code = main(args)
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    if args:
        assert len(err.splitlines()) == 1, err


@pytest.mark.parametrize("command", ["mount", "check", "fake-vault", "demo"])
def test_help_everywhere(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: kvfs " + command in capsys.readouterr().out


def _check_env(vault: FakeVault) -> dict[str, str]:
    return {**os.environ, **vault.workload_identity_env(), "KVFS_VAULT_URL": vault.vault_url}


def test_check_prints_versions_and_sizes_but_never_values(vault: FakeVault, tmp_path: Path) -> None:
    version = vault.set_secret("db-password", "hunter2-very-secret")
    spc = tmp_path / "spc.yaml"
    spc.write_text(
        provider_class_yaml(
            [{"objectName": "db-password", "objectType": "secret", "objectAlias": "password"}],
            tenant_id=vault.tenant_id,
            client_id=vault.client_id,
        )
    )
    result = kvfs("check", str(spc), env=_check_env(vault))
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("password"))
    assert version in row and str(len("hunter2-very-secret")) in row and row.endswith("ok")
    assert "hunter2" not in result.stdout + result.stderr


def test_check_exits_1_and_names_unreadable_objects(vault: FakeVault, tmp_path: Path) -> None:
    vault.set_secret("present", "v")
    text = provider_class_yaml(
        [{"objectName": "present", "objectType": "secret"}, {"objectName": "absent", "objectType": "secret"}],
        tenant_id=vault.tenant_id,
        client_id=vault.client_id,
    )
    result = kvfs("check", "-", env=_check_env(vault), stdin=text)
    assert result.returncode == 1
    assert "secret 'absent' was not found" in result.stdout


def test_check_lists_each_match_of_a_pattern(vault: FakeVault) -> None:
    for name in ("db-a", "db-b", "web"):
        vault.set_secret(name, f"value of {name}")
    text = provider_class_yaml(
        [{"objectNamePattern": "db-*", "objectType": "secret"}, {"objectNamePattern": "none-*", "objectType": "key"}],
        tenant_id=vault.tenant_id,
        client_id=vault.client_id,
    )
    result = kvfs("check", "-", env=_check_env(vault), stdin=text)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert sorted(rows) == ["db-a", "db-b", "none-*"]
    assert rows["db-a"].endswith("ok") and str(len("value of db-a")) in rows["db-a"]
    assert rows["none-*"].endswith("pattern matches nothing")


def test_check_reads_the_class_from_an_environment_variable(vault: FakeVault) -> None:
    vault.set_secret("present", "v")
    env = _check_env(vault)
    env["SPC_YAML"] = provider_class_yaml(
        [{"objectName": "present", "objectType": "secret"}], tenant_id=vault.tenant_id, client_id=vault.client_id
    )
    result = kvfs("check", "env:SPC_YAML", env=env)
    assert result.returncode == 0, result.stderr
    assert "present" in result.stdout


def test_fake_vault_command_writes_its_state_and_serves_the_sdk(tmp_path: Path) -> None:
    import json
    import signal

    from azure.identity import ClientSecretCredential, WorkloadIdentityCredential
    from azure.keyvault.secrets import SecretClient

    from tests.helpers import wait_for

    state = tmp_path / "state"
    seed = tmp_path / "seed.yaml"
    seed.write_text("secrets:\n  - name: seeded\n    value: from-the-seed\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "kvfs", "fake-vault", "--state-dir", str(state), "--seed", str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info_file = wait_for(lambda: (state / "fake-vault.json").is_file() and state / "fake-vault.json", timeout=30)
        info = json.loads(info_file.read_text())
        assert set(info) >= {
            "vault_url", "authority_host", "tenant_id", "client_id", "client_secret", "token_file", "ca_file"
        }  # fmt: skip
        assert (state / "fake-vault.json").stat().st_mode & 0o777 == 0o600  # it holds a (fake) client secret
        credential = WorkloadIdentityCredential(
            tenant_id=info["tenant_id"],
            client_id=info["client_id"],
            token_file_path=info["token_file"],
            authority=info["authority_host"],
            connection_verify=info["ca_file"],
        )
        client = SecretClient(
            info["vault_url"], credential, verify_challenge_resource=False, connection_verify=info["ca_file"]
        )
        assert client.get_secret("seeded").value == "from-the-seed"
        # An MSAL-based credential works offline once told not to look the authority up (instance discovery).
        secret_credential = ClientSecretCredential(
            info["tenant_id"], info["client_id"], info["client_secret"], authority=info["authority_host"],
            connection_verify=info["ca_file"], disable_instance_discovery=True,
        )  # fmt: skip
        other = SecretClient(
            info["vault_url"], secret_credential, verify_challenge_resource=False, connection_verify=info["ca_file"]
        )
        assert other.get_secret("seeded").value == "from-the-seed"
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
