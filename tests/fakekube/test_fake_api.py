"""The fake Kubernetes API against real clients: kubectl (subprocess) and lightkube's AsyncClient under trio.

Each test checks what a real API server would answer: objects, managedFields, Status bodies and the exact
messages clients print. Raw HTTPS requests cover what neither client sends (a missing fieldManager, bad
base64) and the Status bodies themselves.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError
from lightkube import operators as op
from lightkube.config.kubeconfig import KubeConfig
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import Secret

from . import FakeKubeAPI, lightkube_client, running_fake_kube
from .helpers import ADMIN_TOKEN, DEFAULT_TOKEN, DEFAULT_USER, Kubectl
from .helpers import DEFAULT_NAMESPACE as NS

pytestmark = pytest.mark.timeout(60)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def raw(
    api: FakeKubeAPI,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = ADMIN_TOKEN,
    content_type: str = "application/json",
) -> tuple[int, dict[str, str], Any]:
    """One HTTPS request without any client library: ``(status, headers, decoded JSON body)``."""
    context = ssl.create_default_context(cafile=str(api.ca_file))
    conn = http.client.HTTPSConnection("127.0.0.1", api.port, context=context, timeout=10)
    headers = {"Content-Type": content_type} if body is not None else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        return response.status, dict(response.getheaders()), json.loads(payload) if payload else None
    finally:
        conn.close()


def fields_of(obj: dict[str, Any] | Secret, manager: str, operation: str = "Apply") -> dict[str, Any] | None:
    """The ``fieldsV1`` of one manager's entry, or None."""
    entries = obj["metadata"].get("managedFields") if isinstance(obj, dict) else obj.metadata.managedFields
    for entry in entries or []:
        entry = entry if isinstance(entry, dict) else entry.to_dict()
        if entry["manager"] == manager and entry["operation"] == operation:
            return entry["fieldsV1"]
    return None


async def api_error(call: Awaitable[Any]) -> ApiError:
    with pytest.raises(ApiError) as info:
        await call
    return info.value


def owner(uid: str, name: str = "app", **extra: Any) -> OwnerReference:
    return OwnerReference(apiVersion="v1", kind="Pod", name=name, uid=uid, **extra)


def secret(name: str, data: dict[str, str] | None = None, **meta: Any) -> Secret:
    """A Secret to apply or create; ``data`` values are plain text."""
    encoded = {k: b64(v) for k, v in data.items()} if data is not None else None
    return Secret(metadata=ObjectMeta(name=name, namespace=NS, **meta), data=encoded)


# -- kubectl -----------------------------------------------------------------------------------------


def test_kubectl_get_and_list_show_what_the_fake_holds(kube: FakeKubeAPI, kubectl_as: Callable[[str], Kubectl]) -> None:
    kube.create_secret(NS, "db", {"password": "hunter2", "user": "admin"}, labels={"team": "a"})
    kube.create_secret(NS, "cache", {"token": "t"}, labels={"team": "b"})
    kube.create_secret(NS, "queue", {"token": "q"}, labels={"team": "a", "tier": "backend"})
    run = kubectl_as(ADMIN_TOKEN)

    got = run("get", "secret", "db", "-o", "json")
    assert got.returncode == 0, got.stderr
    # kubectl asks for aggregated discovery first; the legacy answer makes it read /api/v1 as well.
    assert {"/api", "/apis", "/api/v1"} <= {r["path"] for r in kube.requests()}
    shown, stored = json.loads(got.stdout), kube.secret(NS, "db")
    # kubectl >= 1.21 hides managedFields unless --show-managed-fields (1.20 has no such flag and shows them).
    managed_fields = stored["metadata"].pop("managedFields")
    assert shown["metadata"].pop("managedFields", managed_fields) == managed_fields
    assert shown == stored

    table = run("get", "secrets").stdout.splitlines()
    assert [line.split()[:3] for line in table] == [
        ["NAME", "TYPE", "DATA"],
        ["cache", "Opaque", "1"],
        ["db", "Opaque", "2"],
        ["queue", "Opaque", "1"],
    ]

    listed = run("get", "secrets", "-l", "team=a", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)["items"]
    assert [i["metadata"]["name"] for i in items] == ["db", "queue"]
    assert [i["data"] for i in items] == [kube.secret(NS, "db")["data"], kube.secret(NS, "queue")["data"]]

    others = run("get", "secrets", "-l", "team!=a,!tier", "-o", "name")
    assert others.stdout.split() == ["secret/cache"]


def test_kubectl_server_side_apply_records_managers_and_conflicts(
    kube: FakeKubeAPI, kubectl_as: Callable[[str], Kubectl]
) -> None:
    run = kubectl_as(ADMIN_TOKEN)
    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  labels:\n    team: a\n"
        "data:\n  password: {password}\n  user: {user}\n"
    )
    first = manifest.format(password=b64("hunter2"), user=b64("admin"))
    applied = run("apply", "--server-side", "--field-manager=other", "--validate=false", "-f", "-", stdin=first)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == "secret/db serverside-applied"
    stored = kube.secret(NS, "db")
    assert stored is not None and stored["type"] == "Opaque"
    assert fields_of(stored, "other") == {
        "f:data": {"f:password": {}, "f:user": {}},
        "f:metadata": {"f:labels": {"f:team": {}}},
    }
    entry = stored["metadata"]["managedFields"][0]
    assert set(entry) == {"manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"}
    assert kube.requests()[-1]["field_manager"] == "other"
    assert kube.requests()[-1]["content_type"] == "application/apply-patch+yaml"

    # The same manager changing its own fields: an update, no conflict, one entry still.
    again = run(
        "apply", "--server-side", "--field-manager=other", "--validate=false", "-f", "-",
        stdin=manifest.format(password=b64("hunter2"), user=b64("root")),
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    updated = kube.secret(NS, "db")
    assert updated["data"]["user"] == b64("root")
    assert int(updated["metadata"]["resourceVersion"]) > int(stored["metadata"]["resourceVersion"])
    assert [e["manager"] for e in updated["metadata"]["managedFields"]] == ["other"]

    # Another manager changing a field "other" owns: the server's 409, printed by kubectl.
    second = manifest.format(password=b64("changed"), user=b64("root"))
    refused = run("apply", "--server-side", "--field-manager=rotator", "--validate=false", "-f", "-", stdin=second)
    assert refused.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "other": .data.password' in refused.stderr
    assert kube.requests()[-1]["status"] == 409
    assert kube.secret(NS, "db")["data"]["password"] == b64("hunter2")

    forced = run(
        "apply", "--server-side", "--field-manager=rotator", "--force-conflicts", "--validate=false", "-f", "-",
        stdin=second,
    )  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert kube.requests()[-1]["force"] is True
    stored = kube.secret(NS, "db")
    assert stored["data"]["password"] == b64("changed")
    # "rotator" took the password; both applied the same user and team, so both own them.
    assert fields_of(stored, "other") == {"f:data": {"f:user": {}}, "f:metadata": {"f:labels": {"f:team": {}}}}
    assert fields_of(stored, "rotator") == {
        "f:data": {"f:password": {}, "f:user": {}},
        "f:metadata": {"f:labels": {"f:team": {}}},
    }


def test_kubectl_create_patch_and_delete(kube: FakeKubeAPI, kubectl_as: Callable[[str], Kubectl]) -> None:
    run = kubectl_as(ADMIN_TOKEN)
    # kubectl's typed client sends this one as protobuf.
    created = run("create", "secret", "generic", "db", "--from-literal=password=hunter2")
    assert created.returncode == 0, created.stderr
    before = kube.secret(NS, "db")
    assert before["data"] == {"password": b64("hunter2")}
    assert fields_of(before, "kubectl-create", "Update") == {"f:data": {".": {}, "f:password": {}}, "f:type": {}}

    patched = run("patch", "secret", "db", "-p", json.dumps({"data": {"extra": b64("x")}}))
    assert patched.returncode == 0, patched.stderr
    assert patched.stdout.strip() == "secret/db patched"
    after = kube.secret(NS, "db")
    assert after["data"] == {"extra": b64("x"), "password": b64("hunter2")}
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert fields_of(after, "kubectl-patch", "Update") == {"f:data": {"f:extra": {}}}
    assert kube.requests()[-1]["content_type"] == "application/strategic-merge-patch+json"

    removal = json.dumps([{"op": "remove", "path": "/data/extra"}])
    assert run("patch", "secret", "db", "--type=json", "-p", removal).returncode == 0
    assert kube.secret(NS, "db")["data"] == {"password": b64("hunter2")}
    assert fields_of(kube.secret(NS, "db"), "kubectl-patch", "Update") is None

    deleted = run("delete", "secret", "db")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == 'secret "db" deleted'
    assert kube.secret(NS, "db") is None
    missing = run("get", "secret", "db")
    assert 'Error from server (NotFound): secrets "db" not found' in missing.stderr


def test_kubectl_is_refused_what_rbac_does_not_allow(kube: FakeKubeAPI, kubectl_as: Callable[[str], Kubectl]) -> None:
    kube.create_secret(NS, "db", {"password": "hunter2"})
    run = kubectl_as(DEFAULT_TOKEN)

    assert run("get", "secret", "db", "-o", "name").stdout.strip() == "secret/db"
    listing = run("get", "secrets")
    assert listing.returncode != 0
    assert (
        'Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:app:kvfs" cannot list '
        'resource "secrets" in API group "" in the namespace "app"'
    ) in listing.stderr
    deleting = run("delete", "secret", "db")
    assert (
        'Error from server (Forbidden): secrets "db" is forbidden: User "system:serviceaccount:app:kvfs" cannot '
        'delete resource "secrets" in API group "" in the namespace "app"'
    ) in deleting.stderr
    assert kube.secret(NS, "db") is not None
    assert [r["status"] for r in kube.requests() if r["path"].startswith("/api/v1/namespaces/")][-2:] == [403, 403]


def test_kubectl_with_a_bad_or_revoked_token_is_unauthorized(
    kube: FakeKubeAPI, kubectl_as: Callable[[str], Kubectl]
) -> None:
    bad = kubectl_as("no-such-token")("get", "secret", "db")
    assert bad.returncode != 0
    assert "error: You must be logged in to the server" in bad.stderr

    kube.add_token("short-lived", DEFAULT_USER)
    run = kubectl_as("short-lived")
    assert "NotFound" in run("get", "secret", "db").stderr
    kube.revoke_token("short-lived")
    assert "error: You must be logged in to the server" in run("get", "secret", "db").stderr
    assert {r["user"] for r in kube.requests() if r["status"] == 401} == {None}


# -- lightkube ---------------------------------------------------------------------------------------


async def test_get_missing_is_not_found(kube: FakeKubeAPI) -> None:
    async with lightkube_client(kube, token=DEFAULT_TOKEN, namespace=NS) as client:
        error = await api_error(client.get(Secret, "nope"))
    assert error.status.code == 404
    assert error.status.reason == "NotFound"
    assert error.status.message == 'secrets "nope" not found'
    assert (error.status.details.name, error.status.details.kind) == ("nope", "secrets")


async def test_create_records_an_update_manager_and_refuses_a_duplicate(kube: FakeKubeAPI) -> None:
    async with lightkube_client(kube, token=DEFAULT_TOKEN, namespace=NS, field_manager="kvfs") as client:
        created = await client.create(secret("db", {"password": "hunter2"}, labels={"team": "a"}))
        duplicate = await api_error(client.create(secret("db", {"password": "other"})))
    assert created.metadata.uid and created.metadata.creationTimestamp
    assert created.metadata.resourceVersion == kube.resource_version
    assert created.type == "Opaque"
    # An Update entry marks maps it created with ".", and owns the defaulted type.
    assert fields_of(created, "kvfs", "Update") == {
        "f:data": {".": {}, "f:password": {}},
        "f:metadata": {"f:labels": {".": {}, "f:team": {}}},
        "f:type": {},
    }
    assert duplicate.status.code == 409
    assert duplicate.status.reason == "AlreadyExists"
    assert duplicate.status.message == 'secrets "db" already exists'
    assert kube.secret(NS, "db")["data"] == {"password": b64("hunter2")}


async def test_apply_takes_conflicting_fields_only_when_forced(kube: FakeKubeAPI) -> None:
    kube.create_secret(NS, "db", {"password": "hunter2", "user": "admin"}, manager="kubectl-create")
    async with lightkube_client(kube, token=DEFAULT_TOKEN, namespace=NS) as client:
        # Same value as the owner: no conflict, both own the field.
        shared = await client.apply(secret("db", {"user": "admin"}), field_manager="kvfs")
        assert fields_of(shared, "kvfs") == {"f:data": {"f:user": {}}}
        assert fields_of(shared, "kubectl-create", "Update")["f:data"] == {".": {}, "f:password": {}, "f:user": {}}

        refused = await api_error(client.apply(secret("db", {"password": "new", "user": "root"}), field_manager="kvfs"))
        assert refused.status.code == 409
        assert refused.status.reason == "Conflict"
        assert refused.status.message == (
            'Apply failed with 2 conflicts: conflicts with "kubectl-create" using v1:\n- .data.password\n- .data.user'
        )
        assert [c.to_dict() for c in refused.status.details.causes] == [
            {"reason": "FieldManagerConflict", "message": 'conflict with "kubectl-create" using v1', "field": f}
            for f in (".data.password", ".data.user")
        ]

        forced = await client.apply(secret("db", {"password": "new", "user": "root"}), field_manager="kvfs", force=True)
    assert forced.data == {"password": b64("new"), "user": b64("root")}
    assert fields_of(forced, "kvfs") == {"f:data": {"f:password": {}, "f:user": {}}}
    # The creator lost both keys; it keeps the data map itself (a member without children: {}) and the type.
    assert fields_of(forced, "kubectl-create", "Update") == {"f:data": {}, "f:type": {}}
    assert kube.requests()[-1]["force"] is True


async def test_apply_removes_what_its_manager_no_longer_applies_unless_someone_else_owns_it(kube: FakeKubeAPI) -> None:
    async with lightkube_client(kube, token=ADMIN_TOKEN, namespace=NS) as client:
        await client.apply(secret("s", {"a": "1", "b": "2", "c": "3"}), field_manager="kvfs")
        await client.apply(secret("s", {"b": "2"}), field_manager="helper")
        after = await client.apply(secret("s", {"a": "1"}), field_manager="kvfs")
        # "c" went with kvfs's configuration; "b" stays, "helper" still owns it.
        assert after.data == {"a": b64("1"), "b": b64("2")}
        unchanged = await client.apply(secret("s", {"a": "1"}), field_manager="kvfs")
        assert unchanged.metadata.resourceVersion == after.metadata.resourceVersion
        last = await client.apply(secret("s"), field_manager="kvfs")
    assert last.data == {"b": b64("2")}
    assert fields_of(last, "kvfs") is None


async def test_owner_references_merge_as_a_list_map_keyed_by_uid(kube: FakeKubeAPI) -> None:
    async with lightkube_client(kube, token=ADMIN_TOKEN, namespace=NS) as client:
        await client.apply(secret("s", {"k": "v"}, ownerReferences=[owner("u1", "pod-1")]), field_manager="a")
        merged = await client.apply(secret("s", ownerReferences=[owner("u2", "pod-2")]), field_manager="b")
        assert [r.uid for r in merged.metadata.ownerReferences] == ["u1", "u2"]
        ref_fields = {".": {}, "f:apiVersion": {}, "f:kind": {}, "f:name": {}, "f:uid": {}}
        assert fields_of(merged, "a")["f:metadata"] == {"f:ownerReferences": {'k:{"uid":"u1"}': ref_fields}}
        assert fields_of(merged, "b") == {"f:metadata": {"f:ownerReferences": {'k:{"uid":"u2"}': ref_fields}}}

        # "a" applies both references (the same values): no conflict, "a" co-owns u2 ...
        both = [owner("u1", "pod-1"), owner("u2", "pod-2")]
        await client.apply(secret("s", {"k": "v"}, ownerReferences=both), field_manager="a")
        # ... so u2 survives "b" dropping it, and goes when "a" drops it too.
        kept = await client.apply(secret("s"), field_manager="b")
        assert [r.uid for r in kept.metadata.ownerReferences] == ["u1", "u2"]
        dropped = await client.apply(secret("s", {"k": "v"}, ownerReferences=[owner("u1", "pod-1")]), field_manager="a")
        assert [r.uid for r in dropped.metadata.ownerReferences] == ["u1"]

        renamed = await api_error(
            client.apply(secret("s", ownerReferences=[owner("u1", "other-pod")]), field_manager="b")
        )
    assert renamed.status.message == (
        'Apply failed with 1 conflict: conflict with "a": .metadata.ownerReferences[uid="u1"].name'
    )


async def test_resource_version_is_a_precondition(kube: FakeKubeAPI) -> None:
    async with lightkube_client(kube, token=ADMIN_TOKEN, namespace=NS) as client:
        created = await client.apply(secret("s", {"k": "1"}), field_manager="kvfs")
        current = created.metadata.resourceVersion
        updated = await client.apply(secret("s", {"k": "2"}, resourceVersion=current), field_manager="kvfs")
        assert int(updated.metadata.resourceVersion) > int(current)

        stale = await api_error(client.apply(secret("s", {"k": "3"}, resourceVersion=current), field_manager="kvfs"))
        assert stale.status.code == 409
        assert stale.status.reason == "Conflict"
        assert stale.status.message == (
            'Operation cannot be fulfilled on secrets "s": the object has been modified; '
            "please apply your changes to the latest version and try again"
        )
        replaced = await api_error(client.replace(secret("s", {"k": "4"}, resourceVersion=current)))
        assert replaced.status.code == 409
        assert kube.secret(NS, "s")["data"] == {"k": b64("2")}

        # On a missing object the real server ignores the precondition and creates it (documented choice).
        fresh = await client.apply(secret("fresh", {"k": "1"}, resourceVersion="1"), field_manager="kvfs")
    assert fresh.metadata.resourceVersion == kube.resource_version


@pytest.mark.parametrize(
    ("body", "message", "causes"),
    [
        (
            {"metadata": {"name": "tls"}, "type": "kubernetes.io/tls", "data": {"tls.crt": b64("c")}},
            'Secret "tls" is invalid: data[tls.key]: Required value',
            [{"reason": "FieldValueRequired", "message": "Required value", "field": "data[tls.key]"}],
        ),
        (
            {"metadata": {"name": "auth"}, "type": "kubernetes.io/basic-auth", "data": {"other": b64("x")}},
            'Secret "auth" is invalid: [data[username]: Required value, data[password]: Required value]',
            [
                {"reason": "FieldValueRequired", "message": "Required value", "field": "data[username]"},
                {"reason": "FieldValueRequired", "message": "Required value", "field": "data[password]"},
            ],
        ),
        (
            {"metadata": {"name": "ssh"}, "type": "kubernetes.io/ssh-auth", "data": {}},
            'Secret "ssh" is invalid: data[ssh-privatekey]: Required value',
            None,
        ),
        (
            {
                "metadata": {"name": "pull"},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": b64("{")},
            },
            'Secret "pull" is invalid: data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": '
            "unexpected end of JSON input",
            None,
        ),
        (
            {"metadata": {"name": "Bad_Name"}},
            'Secret "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain '
            "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            None,
        ),
        (
            {"metadata": {"name": "keys"}, "data": {"bad key": b64("x")}},
            'Secret "keys" is invalid: data[bad key]: Invalid value: "bad key": a valid config key must consist of '
            "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used "
            "for validation is '[-._a-zA-Z0-9]+')",
            None,
        ),
        (
            {"metadata": {"name": "big"}, "data": {"a": b64("x" * 600_000), "b": b64("y" * 600_000)}},
            'Secret "big" is invalid: data: Too long: may not be more than 1048576 bytes',
            [
                {
                    "reason": "FieldValueTooLong",
                    "message": "Too long: may not be more than 1048576 bytes",
                    "field": "data",
                }
            ],
        ),
    ],
    ids=["tls", "basic-auth", "ssh-auth", "dockerconfigjson", "name", "data-key", "size"],
)
def test_invalid_secrets_are_refused_as_the_server_words_it(
    kube: FakeKubeAPI, body: dict[str, Any], message: str, causes: list[dict[str, str]] | None
) -> None:
    status, headers, answer = raw(kube, "POST", f"/api/v1/namespaces/{NS}/secrets", body)
    assert status == 422
    assert headers["Content-Type"] == "application/json"
    assert answer["reason"] == "Invalid"
    assert answer["message"] == message
    assert answer["details"]["kind"] == "Secret"
    assert answer["details"]["name"] == body["metadata"]["name"]
    if causes is not None:
        assert answer["details"]["causes"] == causes
    assert kube.secrets(NS) == []


async def test_type_is_immutable_and_data_must_be_base64(kube: FakeKubeAPI) -> None:
    async with lightkube_client(kube, token=ADMIN_TOKEN, namespace=NS) as client:
        await client.apply(secret("s", {"tls.crt": "c", "tls.key": "k"}), field_manager="kvfs")
        tls = secret("s", {"tls.crt": "c", "tls.key": "k"})
        tls.type = "kubernetes.io/tls"
        error = await api_error(client.apply(tls, field_manager="kvfs"))
    assert error.status.code == 422
    assert error.status.message == 'Secret "s" is invalid: type: Invalid value: "kubernetes.io/tls": field is immutable'

    labelled = {"metadata": {"name": "b", "labels": {"version": 1.5}}}
    status, _, answer = raw(kube, "POST", f"/api/v1/namespaces/{NS}/secrets", labelled)
    assert (status, answer["message"]) == (
        400,
        'Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal number into Go struct field '
        "ObjectMeta.metadata.labels of type string",
    )
    status, _, answer = raw(
        kube, "POST", f"/api/v1/namespaces/{NS}/secrets", {"metadata": {"name": "b"}, "data": {"k": "abc!"}}
    )
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert (
        answer["message"] == 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3'
    )


async def test_apply_that_would_create_also_needs_create(kube: FakeKubeAPI) -> None:
    kube.add_token("patch-only", "system:serviceaccount:app:patcher")
    kube.allow("system:serviceaccount:app:patcher", NS, verbs=("get", "patch"))
    async with lightkube_client(kube, token="patch-only", namespace=NS) as client:
        refused = await api_error(client.apply(secret("s", {"k": "v"}), field_manager="kvfs"))
        assert refused.status.code == 403
        assert refused.status.reason == "Forbidden"
        # The real server words this one with RBAC's (empty) reason, not the usual sentence.
        assert refused.status.message == 'secrets "s" is forbidden: '
        assert (refused.status.details.name, refused.status.details.kind) == ("s", "secrets")
        assert kube.secret(NS, "s") is None

        kube.create_secret(NS, "s", {"k": "old"})
        updated = await client.apply(secret("s", {"k": "v"}), field_manager="kvfs", force=True)
    assert updated.data == {"k": b64("v")}


async def test_list_by_label_selector(kube: FakeKubeAPI) -> None:
    kube.create_secret(NS, "a1", {"k": "v"}, labels={"team": "a", "tier": "db"})
    kube.create_secret(NS, "a2", {"k": "v"}, labels={"team": "a"})
    kube.create_secret(NS, "b1", {"k": "v"}, labels={"team": "b"})
    kube.create_secret("elsewhere", "a3", {"k": "v"}, labels={"team": "a"})
    async with lightkube_client(kube, token=ADMIN_TOKEN, namespace=NS) as client:

        async def names(**labels: Any) -> list[str]:
            return [s.metadata.name async for s in client.list(Secret, labels=labels)]

        assert await names(team="a") == ["a1", "a2"]
        assert await names(team=op.not_equal("a")) == ["b1"]
        assert await names(tier=op.exists()) == ["a1"]
        assert await names(tier=op.not_exists()) == ["a2", "b1"]
        assert await names(team=op.in_(["a", "b"]), tier=op.not_exists()) == ["a2", "b1"]
        listing = client.list(Secret, labels={"team": "a"})
        assert [s.metadata.name async for s in listing] == ["a1", "a2"]
        assert listing.resourceVersion == kube.resource_version

    status, _, page = raw(kube, "GET", f"/api/v1/namespaces/{NS}/secrets?labelSelector=team%3D%3Da&limit=1")
    assert status == 200
    assert (page["kind"], [i["metadata"]["name"] for i in page["items"]]) == ("SecretList", ["a1"])
    assert "kind" not in page["items"][0]
    assert page["metadata"]["remainingItemCount"] == 1
    _, _, rest = raw(
        kube, "GET", f"/api/v1/namespaces/{NS}/secrets?labelSelector=team%3Da&continue={page['metadata']['continue']}"
    )
    assert [i["metadata"]["name"] for i in rest["items"]] == ["a2"]


# -- HTTP details, Python API, lifecycle --------------------------------------------------------------


def test_status_bodies_and_discovery(kube: FakeKubeAPI) -> None:
    status, headers, body = raw(kube, "GET", f"/api/v1/namespaces/{NS}/secrets/x", token="wrong")
    assert status == 401
    assert headers["Content-Type"] == "application/json"
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    assert raw(kube, "GET", "/version")[2]["gitVersion"] == "v1.32.0"
    assert raw(kube, "GET", "/api")[2]["versions"] == ["v1"]
    assert raw(kube, "GET", "/apis")[2] == {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
    resources = {r["name"]: r for r in raw(kube, "GET", "/api/v1")[2]["resources"]}
    assert (resources["secrets"]["namespaced"], resources["secrets"]["kind"]) == (True, "Secret")
    assert resources["namespaces"]["namespaced"] is False
    assert raw(kube, "GET", "/openapi/v2")[0] == 404

    namespace = raw(kube, "GET", f"/api/v1/namespaces/{NS}")[2]
    assert (namespace["kind"], namespace["metadata"]["name"], namespace["status"]["phase"]) == (
        "Namespace",
        NS,
        "Active",
    )
    pod = kube.add_pod(NS, "app-0", uid="0c1a7d0e-pod")
    assert raw(kube, "GET", f"/api/v1/namespaces/{NS}/pods/app-0")[2] == pod
    status, _, body = raw(kube, "GET", f"/api/v1/namespaces/{NS}/pods/app-0", token=DEFAULT_TOKEN)
    assert status == 403
    assert body["message"] == (
        'pods "app-0" is forbidden: User "system:serviceaccount:app:kvfs" cannot get resource "pods" '
        'in API group "" in the namespace "app"'
    )


def test_apply_needs_a_field_manager_and_a_patch_may_not_force(kube: FakeKubeAPI) -> None:
    path = f"/api/v1/namespaces/{NS}/secrets/s"
    applied = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    status, _, body = raw(kube, "PATCH", path, applied, content_type="application/apply-patch+yaml")
    assert status == 422
    assert (
        body["message"]
        == 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    )

    yaml_body = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: v\n"
    status, _, created = raw(
        kube, "PATCH", path + "?fieldManager=kvfs", yaml_body, content_type="application/apply-patch+yaml"
    )
    assert status == 201
    assert created["data"] == {"k": b64("v")}
    assert fields_of(created, "kvfs") == {"f:stringData": {"f:k": {}}}

    status, _, body = raw(
        kube, "PATCH", path + "?force=true", {"data": {}}, content_type="application/merge-patch+json"
    )
    assert (status, body["message"]) == (
        422,
        'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch',
    )
    status, _, body = raw(kube, "PATCH", path, {"data": {}}, content_type="application/json")
    assert (status, body["reason"]) == (415, "UnsupportedMediaType")


def test_delete_answers_a_status_and_honours_finalizers(kube: FakeKubeAPI) -> None:
    created = kube.create_secret(NS, "plain", {"k": "v"})
    status, _, body = raw(kube, "DELETE", f"/api/v1/namespaces/{NS}/secrets/plain")
    assert status == 200
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": "plain", "kind": "secrets", "uid": created["metadata"]["uid"]},
    }
    assert raw(kube, "DELETE", f"/api/v1/namespaces/{NS}/secrets/plain")[0] == 404

    raw(
        kube,
        "POST",
        f"/api/v1/namespaces/{NS}/secrets",
        {"metadata": {"name": "held", "finalizers": ["example.com/keep"]}},
    )
    status, _, held = raw(kube, "DELETE", f"/api/v1/namespaces/{NS}/secrets/held")
    assert status == 200
    assert "deletionTimestamp" in held["metadata"]
    assert kube.secret(NS, "held") is not None
    patch = {"metadata": {"finalizers": None}}
    assert (
        raw(kube, "PATCH", f"/api/v1/namespaces/{NS}/secrets/held", patch, content_type="application/merge-patch+json")[
            0
        ]
        == 200
    )
    assert kube.secret(NS, "held") is None


async def test_faults_answer_before_authentication(kube: FakeKubeAPI) -> None:
    kube.add_fault(503, count=1, path=r"/secrets/db$")
    async with lightkube_client(kube, token=DEFAULT_TOKEN, namespace=NS) as client:
        error = await api_error(client.get(Secret, "db"))
        assert (error.status.code, error.status.reason) == (503, "ServiceUnavailable")
        assert (await api_error(client.get(Secret, "db"))).status.code == 404
        kube.add_fault(429, path="secrets")
        throttled = await api_error(client.get(Secret, "db"))
        assert throttled.status.reason == "TooManyRequests"
        assert throttled.response.headers["Retry-After"] == "1"
        kube.clear_faults()
        assert (await api_error(client.get(Secret, "db"))).status.code == 404
        window = kube.add_fault(500, seconds=3600)
        outage = await api_error(client.get(Secret, "db"))
        assert (outage.status.code, outage.status.reason) == (500, "InternalError")
        kube.remove_fault(window)
        assert (await api_error(client.get(Secret, "db"))).status.code == 404
    statuses = [(r["status"], r["user"]) for r in kube.requests()]
    assert statuses == [
        (503, None),
        (404, DEFAULT_USER),
        (429, None),
        (404, DEFAULT_USER),
        (500, None),
        (404, DEFAULT_USER),
    ]


async def test_restart_keeps_port_state_and_tokens(kube: FakeKubeAPI) -> None:
    kube.create_secret(NS, "db", {"k": "v"})
    port = kube.port
    kube.stop()
    with pytest.raises(ConnectionRefusedError):
        raw(kube, "GET", f"/api/v1/namespaces/{NS}/secrets/db")
    kube.start()
    assert kube.port == port
    async with lightkube_client(kube, token=DEFAULT_TOKEN, namespace=NS) as client:
        assert (await client.get(Secret, "db")).data == {"k": b64("v")}


async def test_service_account_files_work_with_lightkube(
    kube: FakeKubeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.create_secret(NS, "db", {"k": "v"})
    folder = tmp_path / "serviceaccount"
    env = kube.write_service_account(folder, token=DEFAULT_TOKEN, namespace=NS)
    assert env == {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(kube.port)}
    assert (folder / "token").read_text() == DEFAULT_TOKEN
    assert (folder / "namespace").read_text() == NS
    assert (folder / "ca.crt").read_bytes() == kube.ca_file.read_bytes()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from lightkube import AsyncClient

    async with AsyncClient(KubeConfig.from_service_account(folder)) as client:
        assert (await client.get(Secret, "db")).metadata.name == "db"


async def test_request_log_and_server_log_hold_no_token_and_no_data(
    kube: FakeKubeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tests.fakekube")
    async with lightkube_client(kube, token=DEFAULT_TOKEN, namespace=NS) as client:
        await client.apply(secret("db", {"password": "s3cr3t-value"}), field_manager="kvfs")
        await api_error(client.get(Secret, "nope"))
    entries = kube.requests()
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("PATCH", f"/api/v1/namespaces/{NS}/secrets/db", 201),
        ("GET", f"/api/v1/namespaces/{NS}/secrets/nope", 404),
    ]
    assert set(entries[0]) == {"method", "path", "query", "content_type", "user", "status", "field_manager", "force"}
    assert entries[0]["query"] == {"fieldManager": "kvfs"}
    assert entries[0]["user"] == DEFAULT_USER
    for text in (repr(entries), caplog.text):
        assert DEFAULT_TOKEN not in text
        assert "s3cr3t-value" not in text
        assert b64("s3cr3t-value") not in text
    assert "PATCH /api/v1/namespaces/app/secrets/db -> 201" in caplog.text
    kube.clear_requests()
    assert kube.requests() == []


def test_plain_helper_runs_a_fake_for_other_test_folders(tmp_path: Path) -> None:
    with running_fake_kube(tmp_path / "kube", namespace="team-a") as api:
        status, _, body = raw(
            api, "POST", "/api/v1/namespaces/team-a/secrets", {"metadata": {"name": "s"}}, token=DEFAULT_TOKEN
        )
        assert status == 201
        assert body["metadata"]["namespace"] == "team-a"
        assert raw(api, "GET", "/api/v1/namespaces/other/secrets/s", token=DEFAULT_TOKEN)[0] == 403
        assert api.secrets("team-a")[0]["metadata"]["name"] == "s"
        assert [r["user"] for r in api.requests()] == [DEFAULT_USER, DEFAULT_USER]
    assert not api.running
