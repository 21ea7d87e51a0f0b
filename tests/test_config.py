"""kvfs.config: SecretProviderClass files read as the Azure provider reads them, and refused early.

Good cases are built here or taken from ``config/`` and ``tests/config_corpus/good/``; bad cases
live one fault per file in ``tests/config_corpus/bad/``, each starting with
``# expect: <substring> && <substring>...``.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from kvfs.config import (
    ObjectSpec,
    ProviderClass,
    SecretObjectData,
    load_provider_class,
    parse_provider_class,
)
from kvfs.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "config").glob("*.yaml"))
CORPUS = Path(__file__).resolve().parent / "config_corpus"
BAD = sorted((CORPUS / "bad").glob("*.yaml"))
GOOD = sorted((CORPUS / "good").glob("*.yaml"))
EXPECT_PREFIX = "# expect: "

TENANT = "00000000-0000-0000-0000-000000000000"
CLIENT = "11111111-1111-1111-1111-111111111111"


def spc_text(
    objects: list[Any] | None = None,
    *,
    params: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    secret_objects: list[Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> str:
    """A SecretProviderClass document; objects are dumped as the provider's nested YAML strings."""
    parameters: dict[str, Any] = {"keyvaultName": "app-kv", "tenantID": TENANT, "clientID": CLIENT}
    parameters.update(params or {})
    for key in drop:
        parameters.pop(key, None)
    if objects is None:
        objects = [{"objectName": "db-password", "objectType": "secret"}]
    items = [yaml.safe_dump(o, sort_keys=False) if isinstance(o, dict) else o for o in objects]
    parameters.setdefault("objects", yaml.safe_dump({"array": items}, sort_keys=False))
    spec: dict[str, Any] = {"provider": "azure", "parameters": parameters}
    if secret_objects is not None:
        spec["secretObjects"] = secret_objects
    doc = {
        "apiVersion": "secrets-store.csi.x-k8s.io/v1",
        "kind": "SecretProviderClass",
        "metadata": metadata or {"name": "app-kv"},
        "spec": spec,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def parse(*args: Any, **kwargs: Any) -> ProviderClass:
    return parse_provider_class(spc_text(*args, **kwargs), "spc.yaml")


def parse_error(*args: Any, **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse(*args, **kwargs)
    message = str(info.value)
    assert_one_line(message)
    return message


def assert_one_line(message: str) -> None:
    assert message.splitlines() == [message], repr(message)
    assert "Traceback" not in message
    assert len(message) < 400, message


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "kvfs.config" and r.levelno == logging.WARNING]


# --------------------------------------------------------------------------------------------
# Example files


@pytest.mark.parametrize("path", EXAMPLES + GOOD, ids=lambda p: p.name)
def test_example_files_load_without_warnings(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pc = load_provider_class(str(path))
    assert pc.objects
    assert warnings_of(caplog) == []


def test_examples_are_there() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"secretproviderclass.yaml", "secretproviderclass-minimal.yaml"} <= names


def test_production_example() -> None:
    pc = load_provider_class(str(ROOT / "config" / "secretproviderclass.yaml"))
    assert (pc.name, pc.namespace) == ("payments-kv", "payments")
    assert pc.client_id
    assert not pc.use_pod_identity
    assert not pc.use_vm_managed_identity
    assert pc.vault_url == "https://payments-prod-kv.vault.azure.net/"
    by_alias = {o.alias: o for o in pc.objects}
    tls = by_alias["tls"]
    assert (tls.type, tls.split, tls.permission) == ("secret", True, 0o400)
    assert tls.file_names() == ("tls", "tls.crt", "tls.key")
    assert by_alias["jwt-signing.pub"].type == "key"
    assert by_alias["jwt-signing.pub"].version_history == 3
    assert by_alias["stripe-webhook-secret"].optional
    assert (by_alias["partner.pfx"].format, by_alias["partner.pfx"].encoding) == ("pfx", "base64")
    assert [s.secret_name for s in pc.secret_objects] == ["payments-tls", "payments-db"]
    assert pc.secret_objects[0].data == (SecretObjectData("tls", "tls.crt"), SecretObjectData("tls", "tls.key"))


def test_readers_example() -> None:
    pc = load_provider_class(str(ROOT / "config" / "secretproviderclass-readers.yaml"))
    by_name = {o.name: o for o in pc.objects}
    assert (by_name["db-password"].allowed_uids, by_name["db-password"].allowed_gids) == ((1000,), None)
    assert (by_name["api-token"].allowed_uids, by_name["api-token"].allowed_gids) == (None, (2000,))
    assert not by_name["service-ca"].restricts_readers


def test_reader_ids_may_be_one_number_and_repeat(tmp_path: Path) -> None:
    text = (ROOT / "config" / "secretproviderclass-readers.yaml").read_text()
    text = text.replace("allowedUids: [1000]", "allowedUids: 0\n          allowedGids: [33, 33, 4294967294]")
    spec = parse_provider_class(text, "t").objects[0]
    assert (spec.allowed_uids, spec.allowed_gids) == ((0,), (33, 4294967294))


def test_minimal_example() -> None:
    pc = load_provider_class(str(ROOT / "config" / "secretproviderclass-minimal.yaml"))
    assert pc.namespace == "default"
    assert pc.objects == (ObjectSpec(index=0, name="db-password", type="secret", alias="db-password"),)


def test_reference_example() -> None:
    """The documented example, placeholders and comments inside the nested strings included."""
    pc = load_provider_class(str(CORPUS / "good" / "reference-example.yaml"))
    assert (pc.name, pc.namespace, pc.keyvault_name, pc.tenant_id) == ("azure-kv", "app", "my-kv", "<guid>")
    assert pc.cloud_name == "AzurePublicCloud"
    password, tls, signing = pc.objects
    assert (password.name, password.alias, password.version) == ("db-password", "password", "")
    assert (tls.format, tls.encoding, tls.permission) == ("pfx", "base64", 0o600)
    assert (signing.type, signing.version_history) == ("key", 3)
    (secret,) = pc.secret_objects
    assert (secret.secret_name, secret.type, secret.labels) == ("app-tls", "kubernetes.io/tls", {"team": "a"})
    assert [d.key for d in secret.data] == ["tls.crt", "tls.key"]


def test_provider_style_certificate_example() -> None:
    """The provider's own examples: deprecated tenantId, literal blocks, pfx with and without base64."""
    text = """
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: azure-certs
spec:
  provider: azure
  parameters:
    usePodIdentity: "false"
    useVMManagedIdentity: "false"
    userAssignedIdentityID: ""
    keyvaultName: "kvname"
    objects: |
      array:
        - |
          objectName: cert1
          objectType: cert                 # the certificate only
          objectVersion: ""
        - |
          objectName: cert1
          objectAlias: cert1-pub-key
          objectType: key
        - |
          objectName: cert2-pfx
          objectAlias: cert2-secret-pfx
          objectType: secret
          objectFormat: pfx
        - |
          objectName: cert2-pfx
          objectAlias: cert2-secret-pfx-binary
          objectType: secret
          objectFormat: pfx
          objectEncoding: base64
    tenantId: "tid"
"""
    pc = parse_provider_class(text)
    assert pc.tenant_id == "tid"
    assert [(o.alias, o.type, o.format, o.encoding) for o in pc.objects] == [
        ("cert1", "cert", "pem", "utf-8"),
        ("cert1-pub-key", "key", "pem", "utf-8"),
        ("cert2-secret-pfx", "secret", "pfx", "utf-8"),
        ("cert2-secret-pfx-binary", "secret", "pfx", "base64"),
    ]


# --------------------------------------------------------------------------------------------
# Parameters


def test_defaults() -> None:
    pc = parse(params={"clientID": ""})
    assert pc == ProviderClass(
        name="app-kv",
        namespace="default",
        keyvault_name="app-kv",
        tenant_id=TENANT,
        objects=(ObjectSpec(index=0, name="db-password", type="secret", alias="db-password"),),
    )
    (obj,) = pc.objects
    assert (obj.version, obj.format, obj.encoding, obj.permission) == ("", "pem", "utf-8", 0o644)
    assert (obj.version_history, obj.optional, obj.split) == (0, False, False)


def test_parameters_are_trimmed() -> None:
    pc = parse(
        [
            {
                "objectName": " db-password ",
                "objectType": " secret ",
                "objectAlias": "  pw\t",
                "objectVersion": " latest ",
            }
        ],
        params={
            "keyvaultName": "  app-kv \n",
            "tenantID": f" {TENANT} ",
            "cloudName": " AzureChinaCloud ",
            "clientID": " c ",
        },
    )
    assert (pc.keyvault_name, pc.tenant_id, pc.cloud_name, pc.client_id) == ("app-kv", TENANT, "AzureChinaCloud", "c")
    assert (pc.objects[0].name, pc.objects[0].type, pc.objects[0].alias, pc.objects[0].version) == (
        "db-password",
        "secret",
        "pw",
        "",
    )


def test_tenant_id_fallback_and_precedence() -> None:
    assert parse(params={"tenantId": "old"}, drop=("tenantID",)).tenant_id == "old"
    assert parse(params={"tenantID": "new", "tenantId": "old"}).tenant_id == "new"
    assert parse(params={"tenantID": "  ", "tenantId": "old"}).tenant_id == "old"


@pytest.mark.parametrize(
    ("text", "value"),
    [(t, True) for t in ("1", "t", "T", "TRUE", "true", "True")]
    + [(f, False) for f in ("0", "f", "F", "FALSE", "false", "False", "", "  ")],
)
def test_booleans_parse_like_strconv(text: str, value: bool) -> None:
    pc = parse(params={"useVMManagedIdentity": text, "clientID": ""})
    assert pc.use_vm_managed_identity is value
    pc = parse(params={"usePodIdentity": text, "clientID": ""})
    assert pc.use_pod_identity is value


@pytest.mark.parametrize("text", ["yes", "no", "on", "tRuE", "2", "y"])
def test_bad_booleans_name_the_key(text: str) -> None:
    message = parse_error(params={"usePodIdentity": text, "clientID": ""})
    assert "spec.parameters.usePodIdentity" in message
    assert "not a boolean" in message


def test_identity_modes() -> None:
    pc = parse(params={"useVMManagedIdentity": "true", "userAssignedIdentityID": "u-id", "clientID": ""})
    assert (pc.use_vm_managed_identity, pc.user_assigned_identity_id, pc.client_id) == (True, "u-id", "")
    assert "at most one identity mode" in parse_error(
        params={"useVMManagedIdentity": "true", "usePodIdentity": "true", "clientID": ""}
    )
    assert "ambiguous" in parse_error(params={"useVMManagedIdentity": "true"})


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("", "AzurePublicCloud"),
        ("AzurePublicCloud", "AzurePublicCloud"),
        ("azurepubliccloud", "AzurePublicCloud"),
        ("AzureCloud", "AzurePublicCloud"),
        ("AZURECHINACLOUD", "AzureChinaCloud"),
        ("AzureUSGovernmentCloud", "AzureUSGovernmentCloud"),
        ("AzureUSGovernment", "AzureUSGovernmentCloud"),
        ("AzureGermanCloud", "AzureGermanCloud"),
    ],
)
def test_cloud_names(name: str, canonical: str) -> None:
    assert parse(params={"cloudName": name}).cloud_name == canonical


def test_vault_url_follows_the_cloud() -> None:
    pc = parse(params={"cloudName": "azurechinacloud"})
    assert pc.cloud.name == "AzureChinaCloud"
    assert pc.vault_url == "https://app-kv.vault.azure.cn/"


@pytest.mark.parametrize(
    ("name", "authority", "resource"),
    [
        ("AzurePublicCloud", "https://login.microsoftonline.com", "https://vault.azure.net"),
        ("AzureUSGovernmentCloud", "https://login.microsoftonline.us", "https://vault.usgovcloudapi.net"),
        ("AzureChinaCloud", "https://login.chinacloudapi.cn", "https://vault.azure.cn"),
    ],
)
def test_each_cloud_has_its_authority_and_vault_resource(name: str, authority: str, resource: str) -> None:
    cloud = parse(params={"cloudName": name.upper()}).cloud
    assert (cloud.name, cloud.authority, cloud.vault_resource) == (name, authority, resource)


def test_azure_stack_reads_the_environment_file_as_go_autorest_does(tmp_path: Path) -> None:
    env = tmp_path / "azurestack.json"
    env.write_text(
        '{"name": "AzureStackCloud", "ACTIVEDIRECTORYENDPOINT": "https://adfs.local.azurestack.external/adfs/",'
        ' "keyVaultEndpoint": "https://vault.local.azurestack.external/", "keyvaultdnssuffix": '
        '"vault.local.azurestack.external", "resourceManagerEndpoint": "https://management.local.azurestack.external/"}'
    )
    pc = parse(params={"cloudName": "azurestackcloud", "cloudEnvFileName": str(env)})
    assert pc.cloud.authority == "https://adfs.local.azurestack.external/adfs"
    assert pc.cloud.vault_resource == "https://vault.local.azurestack.external"
    assert pc.vault_url == "https://app-kv.vault.local.azurestack.external/"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "not JSON"),
        ("[]", "must be a JSON object"),
        ('{"keyVaultEndpoint": "https://v", "keyVaultDNSSuffix": "v"}', "activeDirectoryEndpoint is required"),
        (
            '{"activeDirectoryEndpoint": "http://adfs", "keyVaultEndpoint": "https://v", "keyVaultDNSSuffix": "v"}',
            "must be an https:// URL",
        ),
    ],
)
def test_a_bad_environment_file_is_one_line_naming_the_field(tmp_path: Path, content: str, expected: str) -> None:
    env = tmp_path / "azurestack.json"
    env.write_text(content)
    message = parse_error(params={"cloudName": "AzureStackCloud", "cloudEnvFileName": str(env)})
    assert "spec.parameters.cloudEnvFileName" in message and str(env) in message and expected in message


def test_unknown_cloud_lists_the_valid_ones() -> None:
    message = parse_error(params={"cloudName": "Azure"})
    assert "cloudName" in message
    for name in ("AzurePublicCloud", "AzureUSGovernmentCloud", "AzureChinaCloud"):
        assert name in message


@pytest.mark.parametrize("name", ["abc", "a-b-c", "A1b2C3", "x" * 24, "kv-0-prod"])
def test_good_vault_names(name: str) -> None:
    assert parse(params={"keyvaultName": name}).keyvault_name == name


def test_parameter_values_must_be_strings() -> None:
    message = parse_error(params={"useVMManagedIdentity": True})
    assert "useVMManagedIdentity" in message
    assert 'quote it: "true"' in message


def test_null_parameter_is_empty() -> None:
    assert parse(params={"cloudName": None}).cloud_name == "AzurePublicCloud"


# --------------------------------------------------------------------------------------------
# Objects


def test_latest_is_normalised() -> None:
    pc = parse([{"objectName": "a", "objectType": "secret", "objectVersion": "latest"}])
    assert pc.objects[0].version == ""


def test_pinned_version_with_history() -> None:
    pc = parse([{"objectName": "a", "objectType": "key", "objectVersion": "0123abcd", "objectVersionHistory": 4}])
    assert (pc.objects[0].version, pc.objects[0].version_history) == ("0123abcd", 4)
    assert pc.objects[0].paths() == ("a/0", "a/1", "a/2", "a/3")


@pytest.mark.parametrize(("history", "expected"), [("0", 0), ("1", 0), ("2", 2), ("+3", 3), ("10", 10)])
def test_version_history_one_is_a_single_file_as_in_the_provider(history: str, expected: int) -> None:
    pc = parse([{"objectName": "a", "objectType": "secret", "objectVersionHistory": history}])
    assert pc.objects[0].version_history == expected


@pytest.mark.parametrize(
    ("text", "mode"), [("0600", 0o600), ("600", 0o600), ("0", 0), ("0777", 0o777), ("00440", 0o440)]
)
def test_file_permission(text: str, mode: int) -> None:
    pc = parse([{"objectName": "a", "objectType": "secret", "filePermission": text}])
    assert pc.objects[0].permission == mode


def test_unquoted_values_in_nested_strings_keep_their_text() -> None:
    """As Go string fields do: an unquoted 0600 is the octal text, not the YAML 1.1 number 384."""
    objects = (
        "array:\n  - |\n    objectName: a\n    objectType: secret\n    filePermission: 0600\n    objectVersion: 1e3\n"
    )
    pc = parse(params={"objects": objects})
    assert (pc.objects[0].permission, pc.objects[0].version) == (0o600, "1e3")


def test_format_and_encoding_are_case_insensitive() -> None:
    pc = parse([{"objectName": "a", "objectType": "secret", "objectFormat": "PFX", "objectEncoding": "Base64"}])
    assert (pc.objects[0].format, pc.objects[0].encoding) == ("pfx", "base64")
    pc = parse([{"objectName": "a", "objectType": "cert", "objectFormat": "PEM"}])
    assert pc.objects[0].format == "pem"


def test_items_may_already_be_mappings() -> None:
    objects = "array:\n  - objectName: a\n    objectType: secret\n  - {objectName: b, objectType: key}\n"
    pc = parse(params={"objects": objects})
    assert [(o.name, o.type) for o in pc.objects] == [("a", "secret"), ("b", "key")]


def test_same_object_twice_under_different_aliases() -> None:
    pc = parse(
        [
            {"objectName": "tls", "objectType": "secret"},
            {"objectName": "tls", "objectType": "secret", "objectAlias": "tls-2"},
        ]
    )
    assert [o.alias for o in pc.objects] == ["tls", "tls-2"]
    assert [o.index for o in pc.objects] == [0, 1]


def test_optional_and_split() -> None:
    pc = parse(
        [
            {"objectName": "a", "objectType": "secret", "optional": "true", "split": "True"},
            {"objectName": "b", "objectType": "cert", "optional": "0"},
        ]
    )
    a, b = pc.objects
    assert (a.optional, a.split, b.optional, b.split) == (True, True, False, False)
    assert a.file_names() == ("a", "a.crt", "a.key")
    assert b.file_names() == ("b",)


def test_alias_may_contain_dots_and_unicode() -> None:
    pc = parse(
        [
            {"objectName": "a", "objectType": "secret", "objectAlias": ".hidden.pem"},
            {"objectName": "b", "objectType": "secret", "objectAlias": "clé"},
        ]
    )
    assert [o.alias for o in pc.objects] == [".hidden.pem", "clé"]


def test_aliases_may_hold_folders_shared_by_several_objects() -> None:
    pc = parse(
        [
            {"objectName": "a", "objectType": "secret", "objectAlias": "conf/db.txt"},
            {"objectName": "b", "objectType": "secret", "objectAlias": "conf/api.txt", "split": "true"},
            {"objectName": "c", "objectType": "key", "objectAlias": "conf/keys/c.pem", "objectVersionHistory": 2},
        ],
        secret_objects=[{"secretName": "s", "type": "Opaque", "data": [{"objectName": "conf/db.txt", "key": "db"}]}],
    )
    assert [o.file_names() for o in pc.objects] == [
        ("conf/db.txt",),
        ("conf/api.txt", "conf/api.txt.crt", "conf/api.txt.key"),
        ("conf/keys/c.pem",),
    ]
    assert pc.objects[2].paths() == ("conf/keys/c.pem/0", "conf/keys/c.pem/1")


@pytest.mark.parametrize(
    ("aliases", "expected"),
    [
        (["conf", "conf/db"], '"conf/db" needs a folder "conf", which is a file of objects[0]'),
        (["conf/db", "conf"], 'file name "conf" is already a folder, holding a file of objects[0]'),
        (["a/b/c", "a/b"], 'file name "a/b" is already a folder'),
        (["a/b", "a/b/c/d"], '"a/b/c/d" needs a folder "a/b", which is a file of objects[0]'),
    ],
)
def test_a_file_where_another_object_needs_a_folder_is_refused(aliases: list[str], expected: str) -> None:
    objects = [{"objectName": f"o{i}", "objectType": "secret", "objectAlias": a} for i, a in enumerate(aliases)]
    message = parse_error(objects)
    assert message.startswith('spc.yaml: objects[1] (objectName "o1"): '), message
    assert expected in message


def test_a_split_file_where_another_object_needs_a_folder_is_refused() -> None:
    message = parse_error(
        [
            {"objectName": "a", "objectType": "secret", "objectAlias": "x.crt/inner"},
            {"objectName": "b", "objectType": "secret", "objectAlias": "x", "split": "true"},
        ]
    )
    assert 'objects[1] (objectName "b")' in message
    assert 'file name "x.crt" is already a folder, holding a file of objects[0]' in message


@pytest.mark.parametrize("value", ["PFX", "Pfx", "pFx"])
@pytest.mark.parametrize("object_type", ["cert", "key"])
def test_objectformat_pfx_in_capitals_on_a_key_or_cert_is_ignored_with_a_warning(
    value: str, object_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The provider's pfx-only-for-secrets check is case-sensitive: PFX passes there and is ignored."""
    pc = parse([{"objectName": "c", "objectType": object_type, "objectFormat": value}])
    assert pc.objects[0].format == "pem"
    (warning,) = warnings_of(caplog)
    assert 'objects[0] (objectName "c")' in warning
    assert f'objectFormat "{value}" is ignored for objectType {object_type}' in warning


def test_objectformat_pfx_in_lower_case_on_a_cert_is_refused_as_by_the_provider() -> None:
    message = parse_error([{"objectName": "c", "objectType": "cert", "objectFormat": "pfx"}])
    assert "objectFormat pfx is only for objectType secret, not cert" in message


@pytest.mark.parametrize("value", ["pfx", "PFX", "Pfx"])
def test_objectformat_pfx_on_a_secret_is_case_insensitive_as_in_the_provider(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    pc = parse([{"objectName": "c", "objectType": "secret", "objectFormat": value}])
    assert pc.objects[0].format == "pfx"
    assert warnings_of(caplog) == []


def test_alias_of_255_bytes_is_fine_but_split_names_must_fit() -> None:
    parse([{"objectName": "a", "objectType": "secret", "objectAlias": "a" * 255}])
    message = parse_error([{"objectName": "a", "objectType": "secret", "objectAlias": "a" * 253, "split": "true"}])
    assert "objects[0]" in message
    assert "255 bytes" in message


# --------------------------------------------------------------------------------------------
# secretObjects


def test_secret_objects_may_name_split_and_history_files() -> None:
    pc = parse(
        [
            {"objectName": "tls", "objectType": "secret", "split": "true"},
            {"objectName": "signing", "objectType": "key", "objectVersionHistory": 2},
        ],
        secret_objects=[
            {
                "secretName": "app.tls",
                "type": "kubernetes.io/tls",
                "labels": {"team": "a"},
                "annotations": None,
                "data": [{"objectName": "tls.crt", "key": "tls.crt"}, {"objectName": " tls.key ", "key": " tls.key"}],
            },
            {"secretName": "keys", "type": "Opaque", "data": [{"objectName": "signing/1", "key": "previous.pem"}]},
        ],
    )
    tls, keys = pc.secret_objects
    assert tls.data == (SecretObjectData("tls.crt", "tls.crt"), SecretObjectData("tls.key", "tls.key"))
    assert (tls.labels, tls.annotations) == ({"team": "a"}, {})
    assert keys.data == (SecretObjectData("signing/1", "previous.pem"),)


def test_secret_object_cannot_name_a_history_folder() -> None:
    message = parse_error(
        [{"objectName": "signing", "objectType": "key", "objectVersionHistory": 2}],
        secret_objects=[{"secretName": "keys", "type": "Opaque", "data": [{"objectName": "signing", "key": "k"}]}],
    )
    assert "secretObjects[0]" in message
    assert 'objectName "signing"' in message


def test_basic_auth_takes_any_key() -> None:
    pc = parse(
        secret_objects=[
            {
                "secretName": "creds",
                "type": "kubernetes.io/basic-auth",
                "data": [{"objectName": "db-password", "key": "credentials"}],
            }
        ]
    )
    assert pc.secret_objects[0].type == "kubernetes.io/basic-auth"


# --------------------------------------------------------------------------------------------
# Sources


def test_stdin_source() -> None:
    pc = load_provider_class("-", stdin=io.StringIO(spc_text()))
    assert pc.keyvault_name == "app-kv"
    with pytest.raises(ConfigError, match=r"^<stdin>: spec.parameters.keyvaultName"):
        load_provider_class("-", stdin=io.StringIO(spc_text(drop=("keyvaultName",))))


def test_env_source() -> None:
    pc = load_provider_class("env:KVFS_SPC", environ={"KVFS_SPC": spc_text()})
    assert pc.keyvault_name == "app-kv"
    with pytest.raises(ConfigError, match=r"^env:KVFS_SPC: spec.parameters.tenantID"):
        load_provider_class("env:KVFS_SPC", environ={"KVFS_SPC": spc_text(drop=("tenantID",))})


def test_env_source_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KVFS_TEST_SPC", spc_text())
    assert load_provider_class("env:KVFS_TEST_SPC").name == "app-kv"


def test_env_variable_not_set() -> None:
    with pytest.raises(ConfigError) as info:
        load_provider_class("env:NOPE", environ={})
    assert str(info.value) == "env:NOPE: environment variable NOPE is not set"
    with pytest.raises(ConfigError, match="no environment variable name"):
        load_provider_class("env:", environ={})


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_provider_class(str(path))
    assert str(info.value) == f"{path}: no such file"


def test_directory_and_unreadable_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_provider_class(str(tmp_path))
    binary = tmp_path / "spc.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=r"spc\.bin: not UTF-8 text"):
        load_provider_class(str(binary))


def test_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "spc.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + spc_text().encode())
    assert load_provider_class(str(path)).name == "app-kv"


def test_multi_document_file_uses_the_one_class(tmp_path: Path) -> None:
    text = "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n---\n" + spc_text() + "---\n---\nkind: Service\n"
    path = tmp_path / "bundle.yaml"
    path.write_text(text)
    assert load_provider_class(str(path)).keyvault_name == "app-kv"


# --------------------------------------------------------------------------------------------
# Warnings


def test_unknown_parameters_warn_once_each(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kvfs.config")
    pc = parse(
        params={
            "usePodIdentiy": "true",
            "KeyvaultName": "x",
            "somethingElse": "1",
            "csi.storage.k8s.io/pod.name": "app-0",
            "csi.storage.k8s.io/serviceAccount.tokens": "{}",
            "resourceGroup": "rg",
            "subscriptionId": "sub",
        }
    )
    assert not pc.use_pod_identity  # a misspelt switch is not a switch
    lines = warnings_of(caplog)
    assert len(lines) == 3, lines
    assert all(line.startswith("spc.yaml: spec.parameters: unknown key ") for line in lines)
    assert sum('"usePodIdentiy"' in line and 'did you mean "usePodIdentity"' in line for line in lines) == 1
    assert sum('"KeyvaultName"' in line and 'did you mean "keyvaultName"' in line for line in lines) == 1
    assert sum('"somethingElse"' in line and "did you mean" not in line for line in lines) == 1


def test_unknown_object_fields_warn_once_each_naming_the_object(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kvfs.config")
    parse(
        [
            {"objectName": "a", "objectType": "secret", "objectAliass": "x", "filePermissions": "0600"},
            {"objectName": "b", "objectType": "key", "colour": "blue"},
        ]
    )
    lines = warnings_of(caplog)
    assert len(lines) == 3, lines
    assert (
        'objects[0] (objectName "a"): unknown key "objectAliass" is ignored (did you mean "objectAlias"?)' in lines[0]
    )
    assert 'objects[0] (objectName "a"): unknown key "filePermissions"' in lines[1]
    assert 'did you mean "filePermission"' in lines[1]
    assert 'objects[1] (objectName "b"): unknown key "colour"' in lines[2]


def test_other_unknown_keys_warn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kvfs.config")
    text = spc_text(
        params={"cloudEnvFileName": "/etc/kubernetes/azurestack.json"},
        secret_objects=[
            {
                "secretName": "s",
                "type": "Opaque",
                "lables": {},
                "data": [{"objectName": "db-password", "key": "k", "x": "1"}],
            }
        ],
    )
    text = text.replace("spec:\n", "spec:\n  secretObject: []\n", 1)
    parse_provider_class(text, "spc.yaml")
    lines = warnings_of(caplog)
    assert len(lines) == 4, lines
    assert any('spec: unknown key "secretObject"' in line and 'did you mean "secretObjects"' in line for line in lines)
    assert any(
        "cloudEnvFileName: is read only with cloudName AzureStackCloud, and is ignored" in line for line in lines
    )
    assert any('secretObjects[0] (secretName "s"): unknown key "lables"' in line for line in lines)
    assert any('secretObjects[0] (secretName "s"): data[0]: unknown key "x"' in line for line in lines)


def test_known_keys_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kvfs.config")
    parse(
        [
            {
                "objectName": "a",
                "objectType": "secret",
                "objectAlias": "b",
                "objectVersion": "",
                "objectVersionHistory": 0,
                "objectFormat": "pem",
                "objectEncoding": "utf-8",
                "filePermission": "0644",
                "optional": "false",
                "split": "false",
            }
        ],
        params={
            "tenantId": "t",
            "cloudName": "",
            "cloudEnvFileName": "",
            "userAssignedIdentityID": "",
            "usePodIdentity": "false",
            "useVMManagedIdentity": "false",
            "useAzureTokenProxy": "false",
            "csi.storage.k8s.io/pod.namespace": "app",
            "csi.storage.k8s.io/ephemeral": "false",
        },
    )
    assert warnings_of(caplog) == []


# --------------------------------------------------------------------------------------------
# Messages


def test_long_values_are_truncated_and_escaped() -> None:
    message = parse_error([{"objectName": "a", "objectType": "secret\nwith a newline " + "x" * 200}])
    assert "\\n" in message
    assert "…" in message
    assert "x" * 61 not in message


def test_messages_never_echo_the_document() -> None:
    message = parse_error(params={"objects": "array: [\n" + "  - objectName: x\n" * 50})
    assert "objectName: x" not in message
    assert message.startswith("spc.yaml: spec.parameters.objects: invalid YAML at line")


def test_unicode_line_separators_do_not_break_the_line() -> None:
    message = parse_error(params={"keyvaultName": "kv\u2028name"})
    assert_one_line(message)
    assert "keyvaultName" in message


# --------------------------------------------------------------------------------------------
# The corpus of bad files


def expectations(path: Path) -> list[str]:
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    assert first.startswith(EXPECT_PREFIX), f"{path.name}: first line must be '{EXPECT_PREFIX}...'"
    expected = [part for part in first[len(EXPECT_PREFIX) :].split(" && ")]
    assert all(expected), f"{path.name}: empty expectation"
    return expected


def test_corpus_is_large_enough() -> None:
    assert len(BAD) >= 40


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_file_is_refused_with_one_line_naming_the_fault(path: Path) -> None:
    expected = expectations(path)
    with pytest.raises(ConfigError) as info:
        load_provider_class(str(path))
    message = str(info.value)
    assert_one_line(message)
    assert message.startswith(f"{path}: "), message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert info.value.exit_code == 2
