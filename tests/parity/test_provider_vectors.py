"""kvfs decodes values and PEM exactly as the provider does: Go's own answers are the expectation.

``provider_vectors.json`` holds inputs and what Go's ``base64.StdEncoding.DecodeString``,
``hex.DecodeString`` and ``pem.Decode``/``pem.EncodeToMemory`` made of them (the calls in the
provider's ``getContentBytes`` and ``splitCertAndKey``), printed by ``provider_vectors.go``: hand-picked
edge cases (line-wrapped base64, CRLF, headers, text between blocks, broken END lines) plus seeded
random mutations of valid input.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from kvfs.config import ObjectSpec
from kvfs.content.material import SecretMaterial, VersionInfo
from kvfs.content.pem import pem_blocks
from kvfs.content.render import render
from kvfs.content.value_decoding import strict_base64, strict_hex
from kvfs.errors import RenderError

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "provider_vectors.json").read_text())
INFO = VersionInfo("obj", "v1", None, None)


def go_answer(case: dict[str, Any]) -> bytes | None:
    return bytes.fromhex(case.get("hex", "")) if case["ok"] else None


def kvfs_answer(decode: Any, text: str) -> bytes | None:
    try:
        return decode(text)
    except ValueError:
        return None


def test_the_vectors_cover_both_outcomes() -> None:
    for kind in ("base64", "hex"):
        outcomes = {case["ok"] for case in VECTORS[kind]}
        assert outcomes == {True, False}, kind
    assert sum(1 for case in VECTORS["pem"] if case["blocks"]) >= 50
    assert sum(1 for case in VECTORS["pem"] if not case["blocks"]) >= 20


@pytest.mark.parametrize(("kind", "decode"), [("base64", strict_base64), ("hex", strict_hex)])
def test_strict_decoding_gives_gos_answer_for_every_vector(kind: str, decode: Any) -> None:
    wrong = [
        (case["input"], go_answer(case), kvfs_answer(decode, case["input"]))
        for case in VECTORS[kind]
        if kvfs_answer(decode, case["input"]) != go_answer(case)
    ]
    assert wrong == [], f"{len(wrong)} of {len(VECTORS[kind])} differ from Go, first: {wrong[:3]}"


def test_pem_blocks_are_read_and_reencoded_as_go_does() -> None:
    wrong = []
    for case in VECTORS["pem"]:
        ours = [(b.type, b.text.decode("latin-1")) for b in pem_blocks(case["input"].encode("latin-1"))]
        theirs = [(b["type"], b["encoded"]) for b in case["blocks"]]
        if ours != theirs:
            wrong.append((case["input"], theirs, ours))
    assert wrong == [], f"{len(wrong)} of {len(VECTORS['pem'])} differ from Go, first: {wrong[:1]}"


def secret(encoding: str) -> ObjectSpec:
    return ObjectSpec(index=0, name="obj", type="secret", alias="obj", encoding=encoding)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["base64", "hex"])
def test_every_value_the_provider_serves_kvfs_serves_alike_and_without_a_warning(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    served = [case for case in VECTORS[kind] if case["ok"]]
    assert len(served) >= 20
    with caplog.at_level(logging.WARNING, logger="kvfs.content.render"):
        for case in served:
            assert render(secret(kind), SecretMaterial(INFO, case["input"])) == [("", go_answer(case))]
    assert caplog.records == []


def old_kvfs_answer(kind: str, value: str) -> bytes | None:
    """What kvfs served before it followed Go: surrounding whitespace stripped, then Python's decoders."""
    try:
        if kind == "base64":
            return base64.b64decode(value.strip(), validate=True)
        return bytes.fromhex(value.strip())
    except ValueError:
        return None


@pytest.mark.parametrize("kind", ["base64", "hex"])
def test_a_value_the_provider_refuses_is_refused_or_served_with_one_warning(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever kvfs served before it still serves, with the same bytes, saying the provider would not."""
    refused = [case["input"] for case in VECTORS[kind] if not case["ok"]]
    outcomes = {"served": 0, "refused": 0}
    with caplog.at_level(logging.WARNING, logger="kvfs.content.render"):
        for index, value in enumerate(refused):
            caplog.clear()
            name = f"{kind}-{index}"
            spec = ObjectSpec(index=index, name=name, type="secret", alias="o", encoding=kind)  # type: ignore[arg-type]
            before = old_kvfs_answer(kind, value)
            try:
                files = render(spec, SecretMaterial(INFO, value))
            except RenderError as exc:
                error = str(exc)
            else:
                outcomes["served"] += 1
                assert before is None or files == [("", before)]
                (warning,) = caplog.records
                assert f'objectName "{name}"' in warning.getMessage()
                assert "Azure provider refuses" in warning.getMessage()
                continue
            outcomes["refused"] += 1
            assert before is None, f"{value!r} was served before and is refused now"
            assert f'objectName "{name}"' in error
            assert "not valid" in error
            assert caplog.records == []
    assert outcomes["served"] > 0
    assert outcomes["refused"] > 0


def test_the_leniency_warning_is_given_once_per_object(caplog: pytest.LogCaptureFixture) -> None:
    spec = ObjectSpec(index=0, name="once", type="secret", alias="once", encoding="base64")
    with caplog.at_level(logging.WARNING, logger="kvfs.content.render"):
        for _ in range(3):  # every poll that finds a new version renders again
            assert render(spec, SecretMaterial(INFO, "aGVsbG8= ")) == [("", b"hello")]
    assert len(caplog.records) == 1
