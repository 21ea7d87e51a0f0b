"""Key rotation policies: validation and the JSON Key Vault answers with.

The fake stores a policy and rotates on demand (``POST /keys/{name}/rotate``); it does not rotate on a
schedule, because a policy's shortest period (days) is longer than any test. The new version's expiry
follows the policy's ``expiryTime``, as on the service.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .errors import bad_parameter

#: ISO 8601 durations as Key Vault takes them: years, months, weeks and days (``P90D``, ``P1Y6M``).
_DURATION = re.compile(r"^P(?=\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")
_ACTIONS = {"rotate": "Rotate", "notify": "Notify"}
_TRIGGERS = ("timeAfterCreate", "timeBeforeExpiry")
MIN_EXPIRY_DAYS = 28
MIN_ROTATE_AFTER_DAYS = 7

#: What a key without a policy of its own reports: notify 30 days before expiry.
DEFAULT_ACTIONS = [{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}]


def duration_days(value: object, where: str) -> int:
    """Days in an ISO 8601 duration (a month counts 30 days, a year 365), or a 400 naming ``where``."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise bad_parameter(f"'{where}' must be an ISO 8601 duration such as P90D or P1Y, not {value!r}.")
    years, months, weeks, days = (int(g or 0) for g in match.groups())
    return years * 365 + months * 30 + weeks * 7 + days


def _action(raw: object, index: int) -> dict[str, Any]:
    where = f"lifetimeActions[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("trigger"), dict) or not isinstance(raw.get("action"), dict):
        raise bad_parameter(f"'{where}' must have a 'trigger' object and an 'action' object.")
    kind = raw["action"].get("type")
    if not isinstance(kind, str) or kind.lower() not in _ACTIONS:
        raise bad_parameter(f"'{where}.action.type' must be Rotate or Notify, not {kind!r}.")
    trigger = {k: raw["trigger"][k] for k in _TRIGGERS if raw["trigger"].get(k) is not None}
    if len(trigger) != 1:
        raise bad_parameter(f"'{where}.trigger' must set exactly one of timeAfterCreate and timeBeforeExpiry.")
    ((field, value),) = trigger.items()
    days = duration_days(value, f"{where}.trigger.{field}")
    action = _ACTIONS[kind.lower()]
    if action == "Rotate" and field == "timeAfterCreate" and days < MIN_ROTATE_AFTER_DAYS:
        raise bad_parameter(f"'{where}': rotating sooner than {MIN_ROTATE_AFTER_DAYS} days after creation is refused.")
    return {"trigger": {field: value}, "action": {"type": action}}


def parse_policy(body: dict[str, Any]) -> dict[str, Any]:
    """A ``PUT /keys/{name}/rotationpolicy`` body as stored: ``lifetimeActions`` and ``expiryTime``.

    An empty list of actions restores the default, as the service documents.
    """
    raw_actions = body.get("lifetimeActions")
    if raw_actions is None:
        raw_actions = []
    if not isinstance(raw_actions, list):
        raise bad_parameter("'lifetimeActions' must be a list.")
    actions = [_action(raw, i) for i, raw in enumerate(raw_actions)]
    kinds = [a["action"]["type"] for a in actions]
    if len(set(kinds)) != len(kinds):
        raise bad_parameter("'lifetimeActions' may hold one Rotate and one Notify action, not more.")
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise bad_parameter("'attributes' must be an object.")
    expiry = attributes.get("expiryTime")
    if expiry is not None and duration_days(expiry, "attributes.expiryTime") < MIN_EXPIRY_DAYS:
        raise bad_parameter(f"'attributes.expiryTime' must be at least {MIN_EXPIRY_DAYS} days, not {expiry}.")
    if expiry is None and any(a["action"]["type"] == "Rotate" and "timeBeforeExpiry" in a["trigger"] for a in actions):
        raise bad_parameter("A Rotate action with timeBeforeExpiry needs 'attributes.expiryTime'.")
    return {"lifetimeActions": actions or copy.deepcopy(DEFAULT_ACTIONS), "expiryTime": expiry}


def policy_json(policy_id: str, stored: dict[str, Any] | None) -> dict[str, Any]:
    """The policy as ``GET``/``PUT`` answer it; a key never given one has the default and no timestamps."""
    if stored is None:
        return {"id": policy_id, "lifetimeActions": copy.deepcopy(DEFAULT_ACTIONS), "attributes": {}}
    attributes: dict[str, Any] = {}
    if stored["expiryTime"] is not None:
        attributes["expiryTime"] = stored["expiryTime"]
    attributes.update(created=stored["created"], updated=stored["updated"])
    return {"id": policy_id, "lifetimeActions": copy.deepcopy(stored["lifetimeActions"]), "attributes": attributes}
