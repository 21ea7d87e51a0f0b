"""Key rotation and rotation policies through the real SDK's KeyClient, as Key Vault answers them."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.certificates import CertificateClient, CertificatePolicy
from azure.keyvault.keys import KeyClient, KeyRotationLifetimeAction, KeyRotationPolicy, KeyRotationPolicyAction


def test_rotate_makes_a_new_version_of_the_same_kind(keys_client: KeyClient) -> None:
    rsa_key = keys_client.create_rsa_key("rot-rsa", size=3072, key_operations=["sign", "verify"])
    rotated = keys_client.rotate_key("rot-rsa")
    assert rotated.properties.version != rsa_key.properties.version
    assert rotated.key.n != rsa_key.key.n
    assert len(rotated.key.n) == 3072 // 8
    assert sorted(rotated.key_operations) == ["sign", "verify"]
    assert keys_client.get_key("rot-rsa").id == rotated.id
    versions = [p.version for p in keys_client.list_properties_of_key_versions("rot-rsa")]
    assert versions == [rsa_key.properties.version, rotated.properties.version]

    ec_key = keys_client.create_ec_key("rot-ec", curve="P-384")
    rotated_ec = keys_client.rotate_key("rot-ec")
    assert rotated_ec.key.crv == "P-384"
    assert rotated_ec.key.x != ec_key.key.x


def test_a_key_without_a_policy_reports_the_default(keys_client: KeyClient) -> None:
    keys_client.create_rsa_key("no-policy")
    policy = keys_client.get_key_rotation_policy("no-policy")
    assert policy.id.endswith("/keys/no-policy/rotationpolicy")
    assert [(a.action, a.time_before_expiry) for a in policy.lifetime_actions] == [("Notify", "P30D")]
    assert policy.expires_in is None
    assert policy.created_on is None


def test_policy_round_trips_and_sets_the_expiry_of_rotated_versions(keys_client: KeyClient) -> None:
    keys_client.create_rsa_key("with-policy")
    actions = [KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P2M")]
    updated = keys_client.update_key_rotation_policy("with-policy", KeyRotationPolicy(), lifetime_actions=actions)
    assert updated.expires_in is None
    assert [(a.action, a.time_after_create) for a in updated.lifetime_actions] == [("Rotate", "P2M")]
    fetched = keys_client.get_key_rotation_policy("with-policy")
    assert (fetched.id, fetched.created_on, fetched.updated_on) == (updated.id, updated.created_on, updated.updated_on)

    again = keys_client.update_key_rotation_policy("with-policy", policy=updated, expires_in="P90D")
    assert again.expires_in == "P90D"
    assert again.created_on == updated.created_on
    rotated = keys_client.rotate_key("with-policy")
    lifetime = rotated.properties.expires_on - rotated.properties.created_on
    assert lifetime.days == 90


def test_an_empty_list_of_actions_restores_the_default(keys_client: KeyClient) -> None:
    keys_client.create_rsa_key("reset")
    actions = [KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")]
    keys_client.update_key_rotation_policy("reset", KeyRotationPolicy(lifetime_actions=actions))
    reset = keys_client.update_key_rotation_policy("reset", KeyRotationPolicy(lifetime_actions=[]))
    assert [(a.action, a.time_before_expiry) for a in reset.lifetime_actions] == [("Notify", "P30D")]


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        (KeyRotationPolicy(expires_in="P7D"), "at least 28 days"),
        (KeyRotationPolicy(expires_in="ninety days"), "ISO 8601 duration"),
        (
            KeyRotationPolicy(
                lifetime_actions=[KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P1D")]
            ),
            "7 days",
        ),
        (
            KeyRotationPolicy(
                lifetime_actions=[KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_before_expiry="P30D")]
            ),
            "expiryTime",
        ),
    ],
)
def test_bad_policies_are_refused_with_the_field_named(keys_client: KeyClient, policy: object, fragment: str) -> None:
    keys_client.create_rsa_key("bad-policy")
    with pytest.raises(HttpResponseError) as raised:
        keys_client.update_key_rotation_policy("bad-policy", policy)  # type: ignore[arg-type]
    assert raised.value.status_code == 400
    assert fragment in str(raised.value.message)


def test_rotation_is_refused_for_missing_and_certificate_keys(
    keys_client: KeyClient, certs_client: CertificateClient
) -> None:
    with pytest.raises(ResourceNotFoundError):
        keys_client.rotate_key("absent")
    certs_client.begin_create_certificate("cert-backed", CertificatePolicy.get_default()).result()
    with pytest.raises(HttpResponseError) as raised:
        keys_client.rotate_key("cert-backed")
    assert raised.value.status_code == 409
    assert "managed by a certificate" in str(raised.value.message)
