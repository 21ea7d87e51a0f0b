"""Discovery documents: enough of ``/version``, ``/api``, ``/apis`` and ``/api/v1`` for kubectl and lightkube.

Only the legacy (unaggregated) forms are served: kubectl asks for aggregated discovery first and falls back
when the answer is plain ``application/json``. OpenAPI is not served (404); ``kubectl apply`` needs
``--validate=false`` against the fake.
"""

from __future__ import annotations

from typing import Any

VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0",
    "gitCommit": "70d3cc986aa8221cd1dfb1121852688902d3bf53",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T17:59:15Z",
    "goVersion": "go1.23.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def api_versions(address: str) -> dict[str, Any]:
    """``GET /api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def api_groups() -> dict[str, Any]:
    """``GET /apis``: no groups beyond the core one."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}


def core_resources() -> dict[str, Any]:
    """``GET /api/v1``: the resources this fake serves."""
    return {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": "namespaces",
                "singularName": "namespace",
                "namespaced": False,
                "kind": "Namespace",
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                "shortNames": ["ns"],
                "storageVersionHash": "Q3oi5N2YM8M=",
            },
            {
                "name": "pods",
                "singularName": "pod",
                "namespaced": True,
                "kind": "Pod",
                "verbs": _ALL_VERBS,
                "shortNames": ["po"],
                "categories": ["all"],
                "storageVersionHash": "xPOwRZ+Yhw8=",
            },
            {
                "name": "secrets",
                "singularName": "secret",
                "namespaced": True,
                "kind": "Secret",
                "verbs": _ALL_VERBS,
                "storageVersionHash": "S6u1pOWzb84=",
            },
        ],
    }
