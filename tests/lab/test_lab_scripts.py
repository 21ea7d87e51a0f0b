"""The lab scripts in containers/lab, run in order against stand-ins for `az` and `kubectl`.

The stand-ins come first on PATH: each appends its argv (and, for `kubectl apply`, what it read from
standard input) as one JSON line to a log, and answers the queries the scripts make with canned values.
Nothing here talks to Azure or to a cluster.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "containers" / "lab"
SIDECAR = ROOT / "containers" / "kubernetes" / "sidecar.yaml"
SCRIPTS = ["01-keyvault.sh", "02-identity.sh", "03-deploy.sh", "04-list-secrets.sh", "99-cleanup.sh"]

SUBSCRIPTION = "22222222-3333-4444-5555-666666666666"
TENANT = "77777777-8888-9999-aaaa-bbbbbbbbbbbb"
USER_OBJECT_ID = "cccccccc-0000-0000-0000-000000000001"
CLIENT_ID = "dddddddd-0000-0000-0000-000000000002"
PRINCIPAL_ID = "eeeeeeee-0000-0000-0000-000000000003"
ISSUER = (
    "https://eastus.oic.prod-aks.azure.com/77777777-8888-9999-aaaa-bbbbbbbbbbbb/ffffffff-0000-0000-0000-000000000004/"
)
LS_OUTPUT = """total 0
-r--r--r--    1 1000     1000            32 Jan  1 00:00 db-password
-r--r--r--    1 1000     1000          1704 Jan  1 00:00 tls cert.pem
dr-xr-xr-x    2 1000     1000             0 Jan  1 00:00 conf
"""

LAB_VARIABLES = {
    "RESOURCE_GROUP": "rg-lab-test",
    "LOCATION": "testregion",
    "AKS_CLUSTER": "aks-test",
    "AKS_RESOURCE_GROUP": "rg-aks-test",
    "KEYVAULT_NAME": "kv-lab-test-42",
    "IDENTITY_NAME": "id-lab-test",
    "NAMESPACE": "ns-lab-test",
    "SERVICE_ACCOUNT": "app",
    "FEDERATED_CREDENTIAL_NAME": "fc-lab-test",
    "IMAGE": "registry.example.io/team/kvfs@sha256:0123abcd",
    "RETRY_DELAY": "0",
    "YES": "1",
}
VAULT_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{LAB_VARIABLES['RESOURCE_GROUP']}"
    f"/providers/Microsoft.KeyVault/vaults/{LAB_VARIABLES['KEYVAULT_NAME']}"
)

# One program for both stand-ins; it tells them apart by the name it was started as. LAB_FAKE_FAIL, a
# string, makes every call whose argv (joined with spaces) contains it fail as az does (exit 1).
STAND_IN = r"""
import json, os, sys
from pathlib import Path

tool, args = os.path.basename(sys.argv[0]), sys.argv[1:]
state = Path(os.environ["LAB_FAKE_DIR"])
record = {"tool": tool, "argv": args}
if tool == "kubectl" and "apply" in args:
    record["stdin"] = sys.stdin.read()
with open(state / "calls.jsonl", "a") as log:
    log.write(json.dumps(record) + "\n")

def fail(message, code=1):
    sys.stderr.write(f"ERROR: {message}\n")
    sys.exit(code)

fault = os.environ.get("LAB_FAKE_FAIL")
if fault and fault in " ".join(args):
    fail(f"(stand-in) {fault} failed")

def option(name):
    return args[args.index(name) + 1] if name in args else None

words = []
skip = False
for arg in args:
    if arg == "--":
        break
    if skip:
        skip = False
    elif arg.startswith("-"):
        skip = "=" not in arg and arg not in ("--yes", "--overwrite-existing", "--no-wait", "--ignore-not-found")
    else:
        words.append(arg)
command, query = " ".join(words), option("--query")
answers = json.loads(os.environ["LAB_FAKE_ANSWERS"])

if tool == "az":
    if command == "account show":
        print({"id": answers["subscription"], "tenantId": answers["tenant"]}[query])
    elif command == "ad signed-in-user show" and query == "id":
        print(answers["user"])
    elif command == "keyvault create":
        (state / "vault-created").touch()
    elif command == "keyvault show":
        if not (state / "vault-created").exists():
            fail(f"(ResourceNotFound) The Resource '{option('--name')}' was not found.", 3)
        if query == "id":
            print(f"/subscriptions/{option('--subscription')}/resourceGroups/{option('--resource-group')}"
                  f"/providers/Microsoft.KeyVault/vaults/{option('--name')}")
    elif command == "keyvault secret set":
        if option("-o") != "none":
            print(json.dumps({"name": option("--name"), "value": option("--value")}))
    elif command == "identity show":
        if query:
            print({"clientId": answers["client"], "principalId": answers["principal"]}[query])
    elif command == "aks show":
        print({"oidcIssuerProfile.issuerUrl": answers["issuer"],
               "securityProfile.workloadIdentity.enabled": answers["workload_identity"]}[query])
    elif command == "group exists":
        print("true")
    elif command not in (
        "group create", "role assignment create", "identity create", "identity federated-credential create",
        "aks get-credentials", "identity federated-credential show", "identity federated-credential delete",
        "identity delete", "keyvault delete", "keyvault purge", "group delete",
    ):
        fail(f"(stand-in) unexpected call: az {' '.join(args)}", 2)
elif tool == "kubectl":
    if words[:2] == ["get", "namespace"]:
        if not (state / "namespace-created").exists():
            fail(f'namespaces "{words[2]}" not found')
        print(f"namespace/{words[2]}")
    elif words[:2] == ["create", "namespace"]:
        (state / "namespace-created").touch()
        print(f"namespace/{words[2]} created")
    elif words == ["apply"]:
        print("applied")
    elif words[:1] == ["wait"]:
        if os.environ.get("LAB_FAKE_NOT_READY"):
            fail("timed out waiting for the condition on pods/app")
        print("pod/app condition met")
    elif words[:1] == ["exec"] and args[args.index("--") + 1:] == ["ls", "-l", "/kv/secrets"]:
        sys.stdout.write(answers["ls"])
    elif words[:1] in (["describe"], ["logs"]) or words[:2] in (["config", "get-contexts"], ["delete", "namespace"]):
        print(f"(stand-in) {' '.join(words)}")
    else:
        fail(f"(stand-in) unexpected call: kubectl {' '.join(args)}", 2)
"""


@dataclass
class Lab:
    """A place to run the scripts: the stand-ins' directory (first on PATH) and its call log."""

    fakes: Path

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            "PATH": f"{self.fakes}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(self.fakes / "home"),
            "LANG": "C",
            "LAB_FAKE_DIR": str(self.fakes),
            "LAB_FAKE_ANSWERS": json.dumps(
                {
                    "subscription": SUBSCRIPTION,
                    "tenant": TENANT,
                    "user": USER_OBJECT_ID,
                    "client": CLIENT_ID,
                    "principal": PRINCIPAL_ID,
                    "issuer": ISSUER,
                    "workload_identity": "true",
                    "ls": LS_OUTPUT,
                }
            ),
            **LAB_VARIABLES,
        }
        env.update(overrides)
        return {name: value for name, value in env.items() if value != ""}

    def run(self, script: str, stdin: str = "", **overrides: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(LAB / script)],
            env=self.env(**overrides),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def calls(self) -> list[dict[str, Any]]:
        log = self.fakes / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def options(argv: list[str]) -> dict[str, str]:
    """`--name value` pairs of one call (`-` alone is a value: standard input)."""
    return {arg: value for arg, value in itertools.pairwise(argv) if arg.startswith("-") and not is_flag(value)}


def is_flag(arg: str) -> bool:
    return arg.startswith("--") or (len(arg) == 2 and arg[0] == "-" and arg[1].isalpha())


def assert_options(argv: list[str], expected: dict[str, str]) -> None:
    """The call has these `--name value` pairs (and maybe others)."""
    got = options(argv)
    assert {name: got.get(name) for name in expected} == expected, argv


def az_calls(calls: list[dict[str, Any]], *words: str) -> list[list[str]]:
    return [c["argv"] for c in calls if c["tool"] == "az" and c["argv"][: len(words)] == list(words)]


def kubectl_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in calls if c["tool"] == "kubectl"]


def make_lab(directory: Path) -> Lab:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "home").mkdir()
    for tool in ("az", "kubectl"):
        stand_in = directory / tool
        stand_in.write_text(f"#!{sys.executable} -S\n{STAND_IN}")
        stand_in.chmod(0o755)
    return Lab(directory)


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return make_lab(tmp_path / "fakes")


@dataclass
class Run:
    """The whole lab, run once in order: each script's result and every recorded call."""

    results: dict[str, subprocess.CompletedProcess[str]]
    calls: list[dict[str, Any]]


@pytest.fixture(scope="module")
def whole_lab(tmp_path_factory: pytest.TempPathFactory) -> Run:
    lab = make_lab(tmp_path_factory.mktemp("lab") / "fakes")
    results = {}
    for script in SCRIPTS:
        results[script] = result = lab.run(script)
        assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return Run(results, lab.calls())


def test_the_scripts_exist_and_are_executable_bash_with_strict_mode() -> None:
    for script in ["00-variables.sh", *SCRIPTS]:
        path = LAB / script
        text = path.read_text()
        assert text.startswith("#!/usr/bin/env bash\n"), script
        assert "set -euo pipefail" in text, script
        assert os.access(path, os.X_OK), script


def test_shellcheck_finds_nothing() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck must be installed"
    scripts = sorted(p.name for p in LAB.glob("*.sh"))
    assert len(scripts) >= 6
    result = subprocess.run(
        [shellcheck, "--external-sources", "--severity=style", *scripts],
        cwd=LAB,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_subscription_and_tenant_are_looked_up_only_when_not_given(lab: Lab, whole_lab: Run) -> None:
    assert az_calls(whole_lab.calls, "account", "show")  # looked up: the manifest test finds TENANT applied
    (lab.fakes / "vault-created").touch()  # as if 01-keyvault.sh had run
    result = lab.run("02-identity.sh", SUBSCRIPTION_ID="given-sub", TENANT_ID="given-tenant")
    assert result.returncode == 0, result.stderr
    calls = lab.calls()
    assert az_calls(calls, "account") == []
    assert {options(c["argv"])["--subscription"] for c in calls} == {"given-sub"}


def test_the_vault_uses_rbac_and_the_user_can_add_the_demo_secrets(whole_lab: Run) -> None:
    (group,) = az_calls(whole_lab.calls, "group", "create")
    assert_options(group, {"--name": "rg-lab-test", "--location": "testregion", "--subscription": SUBSCRIPTION})
    (create,) = az_calls(whole_lab.calls, "keyvault", "create")
    assert_options(
        create,
        {
            "--name": "kv-lab-test-42",
            "--resource-group": "rg-lab-test",
            "--enable-rbac-authorization": "true",
        },
    )
    officer, _ = az_calls(whole_lab.calls, "role", "assignment", "create")
    assert_options(
        officer,
        {
            "--assignee-object-id": USER_OBJECT_ID,
            "--assignee-principal-type": "User",
            "--role": "Key Vault Secrets Officer",
            "--scope": VAULT_ID,
        },
    )
    secrets = az_calls(whole_lab.calls, "keyvault", "secret", "set")
    assert [options(s)["--name"] for s in secrets] == ["db-password", "api-key"]
    assert all(options(s)["--vault-name"] == "kv-lab-test-42" for s in secrets)
    values = [options(s)["--value"] for s in secrets]
    assert len(set(values)) == 2
    assert all(len(v) == 32 for v in values)
    everything_printed = "".join(r.stdout + r.stderr for r in whole_lab.results.values())
    assert not any(v in everything_printed for v in values), "a secret value was printed"


def test_the_identity_may_read_secrets_of_that_vault_only(whole_lab: Run) -> None:
    (identity,) = az_calls(whole_lab.calls, "identity", "create")
    assert_options(identity, {"--name": "id-lab-test", "--resource-group": "rg-lab-test"})
    _, reader = az_calls(whole_lab.calls, "role", "assignment", "create")
    assert_options(
        reader,
        {
            "--assignee-object-id": PRINCIPAL_ID,
            "--assignee-principal-type": "ServicePrincipal",
            "--role": "Key Vault Secrets User",
            "--scope": VAULT_ID,
        },
    )


def test_the_federated_credential_trusts_the_clusters_issuer_for_the_service_account(whole_lab: Run) -> None:
    shows = az_calls(whole_lab.calls, "aks", "show")
    assert shows
    for show in shows:
        assert_options(show, {"--name": "aks-test", "--resource-group": "rg-aks-test"})
    (credential,) = az_calls(whole_lab.calls, "identity", "federated-credential", "create")
    assert_options(
        credential,
        {
            "--name": "fc-lab-test",
            "--identity-name": "id-lab-test",
            "--resource-group": "rg-lab-test",
            "--issuer": ISSUER,
            "--subject": "system:serviceaccount:ns-lab-test:app",
            "--audiences": "api://AzureADTokenExchange",
        },
    )


def test_the_applied_manifest_is_sidecar_yaml_with_every_placeholder_replaced(whole_lab: Run) -> None:
    (apply,) = [c for c in kubectl_calls(whole_lab.calls) if "apply" in c["argv"]]
    assert_options(apply["argv"], {"-n": "ns-lab-test", "-f": "-", "--context": "aks-test"})
    applied = apply["stdin"]
    expected = (
        SIDECAR.read_text()
        .replace("my-vault", "kv-lab-test-42")
        .replace("00000000-0000-0000-0000-000000000000", TENANT)
        .replace("11111111-1111-1111-1111-111111111111", CLIENT_ID)
        .replace("kvfs:latest", LAB_VARIABLES["IMAGE"])
    )
    assert applied == expected
    for placeholder in ("my-vault", "11111111-1111-1111-1111-111111111111", "00000000-0000-0000-0000-000000000000"):
        assert placeholder not in applied
    assert "kvfs:latest" not in applied
    documents = [d for d in yaml.safe_load_all(applied) if d]
    (account,) = [d for d in documents if d["kind"] == "ServiceAccount" and d["metadata"]["name"] == "app"]
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"] == CLIENT_ID
    (pod,) = [d for d in documents if d["kind"] == "Pod" and d["metadata"]["name"] == "app"]
    images = [c["image"] for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]]
    assert LAB_VARIABLES["IMAGE"] in images


def test_deploy_gets_credentials_creates_the_namespace_and_waits_for_the_pod(whole_lab: Run) -> None:
    (credentials,) = az_calls(whole_lab.calls, "aks", "get-credentials")
    assert_options(credentials, {"--name": "aks-test", "--resource-group": "rg-aks-test", "--context": "aks-test"})
    kubectl = [c["argv"] for c in kubectl_calls(whole_lab.calls)]
    assert ["--context", "aks-test", "create", "namespace", "ns-lab-test"] in kubectl
    (wait,) = [argv for argv in kubectl if "wait" in argv]
    assert {"--for=condition=Ready", "pod/app", "-n", "ns-lab-test"} <= set(wait)
    assert any(arg.startswith("--timeout=") for arg in wait)
    order = [argv[2] for argv in kubectl if argv[2] in ("create", "apply", "wait")]
    assert order[:3] == ["create", "apply", "wait"]


def test_list_secrets_shows_names_and_sizes_and_never_reads_a_file(whole_lab: Run) -> None:
    listed = whole_lab.results["04-list-secrets.sh"]
    execs = [c["argv"] for c in kubectl_calls(whole_lab.calls) if "exec" in c["argv"]]
    assert execs == [
        ["--context", "aks-test", "exec", "-n", "ns-lab-test", "app", "-c", "app", "--", "ls", "-l", "/kv/secrets"]
    ]
    readers = {"cat", "head", "tail", "less", "more", "base64", "od", "xxd", "hexdump", "strings", "dd", "sh"}
    assert not readers & {arg for argv in execs for arg in argv}
    assert "-r--r--r--    1 1000     1000            32 Jan  1 00:00 db-password" in listed.stdout
    assert "  db-password\t32 bytes" in listed.stdout
    assert "  tls cert.pem\t1704 bytes" in listed.stdout
    assert "  conf/\t(folder)" in listed.stdout


def test_cleanup_deletes_the_namespace_credential_identity_vault_and_group(whole_lab: Run) -> None:
    kubectl = [c["argv"] for c in kubectl_calls(whole_lab.calls)]
    deletes = [argv for argv in kubectl if "delete" in argv]
    assert deletes == [["--context", "aks-test", "delete", "namespace", "ns-lab-test", "--ignore-not-found"]]
    (credential,) = az_calls(whole_lab.calls, "identity", "federated-credential", "delete")
    assert_options(credential, {"--name": "fc-lab-test", "--identity-name": "id-lab-test"})
    (identity,) = az_calls(whole_lab.calls, "identity", "delete")
    assert_options(identity, {"--name": "id-lab-test", "--resource-group": "rg-lab-test"})
    (purge,) = az_calls(whole_lab.calls, "keyvault", "purge")
    assert_options(purge, {"--name": "kv-lab-test-42", "--location": "testregion"})
    (group,) = az_calls(whole_lab.calls, "group", "delete")
    assert_options(group, {"--name": "rg-lab-test"})
    assert "--yes" in group
    steps = [" ".join(c["argv"][:3]) for c in whole_lab.calls if {"delete", "purge"} & set(c["argv"][:3])]
    assert steps == [
        "--context aks-test delete",
        "identity federated-credential delete",
        "identity delete --subscription",
        "keyvault delete --subscription",
        "keyvault purge --subscription",
        "group delete --subscription",
    ]


def test_cleanup_asks_first_and_deletes_nothing_without_a_yes(lab: Lab) -> None:
    result = lab.run("99-cleanup.sh", stdin="n\n", YES="")
    assert result.returncode == 1
    assert "nothing deleted" in result.stderr
    assert [c for c in lab.calls() if c["argv"][0] != "account"] == []
    result = lab.run("99-cleanup.sh", stdin="", YES="")
    assert result.returncode == 1
    assert az_calls(lab.calls(), "group", "delete") == []


def test_cleanup_with_a_typed_yes(lab: Lab) -> None:
    result = lab.run("99-cleanup.sh", stdin="y\n", YES="")
    assert result.returncode == 0, result.stderr
    assert len(az_calls(lab.calls(), "group", "delete")) == 1


@pytest.mark.parametrize(
    ("script", "failing", "never_called"),
    [
        ("01-keyvault.sh", "account show", ("group", "create")),
        ("01-keyvault.sh", "group create", ("keyvault", "create")),
        ("01-keyvault.sh", "ad signed-in-user show", ("role", "assignment", "create")),
        ("02-identity.sh", "identity create", ("role", "assignment", "create")),
        ("02-identity.sh", "Key Vault Secrets User", ("aks", "show")),
        ("02-identity.sh", "oidcIssuerProfile", ("identity", "federated-credential", "create")),
        ("03-deploy.sh", "get-credentials", ("kubectl",)),
    ],
)
def test_a_failing_az_call_stops_the_script(lab: Lab, script: str, failing: str, never_called: tuple[str, ...]) -> None:
    (lab.fakes / "vault-created").touch()  # 01 has run: 02 and 03 can find the vault
    result = lab.run(script, LAB_FAKE_FAIL=failing)
    assert result.returncode != 0
    assert f"{failing} failed" in result.stderr
    calls = lab.calls()
    failed_at = next(i for i, c in enumerate(calls) if failing in " ".join(c["argv"]))
    assert failed_at == len(calls) - 1, f"the script went on after {failing!r} failed"
    if never_called == ("kubectl",):
        assert kubectl_calls(calls) == []
    else:
        assert az_calls(calls, *never_called) == []


def test_a_secret_that_cannot_be_set_fails_after_the_retries(lab: Lab) -> None:
    result = lab.run("01-keyvault.sh", LAB_FAKE_FAIL="secret set", RETRY_ATTEMPTS="3")
    assert result.returncode != 0
    assert len(az_calls(lab.calls(), "keyvault", "secret", "set")) == 3


def test_a_cluster_without_an_oidc_issuer_is_refused_with_advice(lab: Lab) -> None:
    (lab.fakes / "vault-created").touch()
    env = lab.env()
    answers = json.loads(env["LAB_FAKE_ANSWERS"]) | {"issuer": ""}
    result = lab.run("02-identity.sh", LAB_FAKE_ANSWERS=json.dumps(answers))
    assert result.returncode == 1
    assert "--enable-oidc-issuer" in result.stderr
    assert az_calls(lab.calls(), "identity", "federated-credential", "create") == []


def test_a_pod_that_does_not_become_ready_fails_with_kvfs_log_and_never_the_apps(lab: Lab) -> None:
    result = lab.run("03-deploy.sh", LAB_FAKE_NOT_READY="1")
    assert result.returncode == 1
    assert "not Ready" in result.stderr
    logs = [c["argv"] for c in kubectl_calls(lab.calls()) if "logs" in c["argv"]]
    assert len(logs) == 1
    assert options(logs[0])["-c"] == "kvfs"


def test_another_service_account_is_refused_by_deploy(lab: Lab) -> None:
    result = lab.run("03-deploy.sh", SERVICE_ACCOUNT="other")
    assert result.returncode == 1
    assert "ServiceAccount is 'app'" in result.stderr
    assert kubectl_calls(lab.calls()) == []
