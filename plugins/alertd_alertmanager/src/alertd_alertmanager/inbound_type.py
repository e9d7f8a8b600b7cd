"""The ``alertmanager`` inbound type: Alertmanager ``webhook_configs`` notifications (version 4).

A notification carries the alerts of one group. By default each alert is its own alertd alert,
keyed by its fingerprint: the notification becomes an ``InboundBatch``, one inbound-log row and
decision per alert (the row's body is that alert with the notification's group fields), all
committed together before the 2xx. ``firing`` opens, or appends while the alert is open (so
Alertmanager's ``repeat_interval`` resends are ``Mapped Appended``); ``resolved`` closes. With
``one_alert_per = "group"`` the notification as a whole is one message keyed by ``groupKey``: it fires
while any alert of the group fires and resolves when all have. Alertmanager sends no delivery id
(a resend is a repeat, not a duplicate). ``bearer_token`` checks ``Authorization: Bearer``
(Alertmanager's ``http_config.authorization``), in constant time.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from alertd.plugin import InboundBatch, InboundMessage, InboundRequest, Rejection, jsonlimits
from alertd_alertmanager.rulesets import DEFAULT_RULESET, RULESETS

if TYPE_CHECKING:
    from alertd.plugin import Integration, Runtime

MESSAGE_TYPE = "alertmanager"
# Alertmanager's webhook_configs max_alerts bounds a notification; unbounded by default.
MAX_ALERTS = 1000
GROUP_FIELDS = ("groupKey", "receiver", "externalURL", "groupLabels", "commonLabels", "commonAnnotations")
STATUSES = ("firing", "resolved")


class AlertmanagerOptions(BaseModel):
    """``[integrations.NAME.options]`` of an alertmanager integration."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    bearer_token: SecretStr | None = None
    one_alert_per: Literal["alert", "group"] = "alert"

    @field_validator("bearer_token")
    @classmethod
    def _token_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 16 <= len(value.get_secret_value()) <= 256:
            raise ValueError("expected a bearer token of 16 to 256 characters")
        return value


def check_bearer(request: InboundRequest, token: SecretStr) -> Rejection | None:
    header = request.header("authorization").strip()
    if not header:
        return Rejection(401, "missing Authorization: Bearer header", message_type=MESSAGE_TYPE)
    scheme, _, given = header.partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected):
        return Rejection(403, "bearer token does not match", message_type=MESSAGE_TYPE)
    return None


def _labels_problem(value: Any, where: str) -> str:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return f"{where} is not an object of strings"
    return ""


def parse(body: bytes) -> dict[str, Any] | Rejection:
    """The notification, checked for the shape the rules rely on, or why it is refused."""

    def refuse(reason: str) -> Rejection:
        return Rejection(400, reason, message_type=MESSAGE_TYPE)

    try:
        payload = jsonlimits.loads(body)
    except jsonlimits.JSONTooDeep as exc:
        return refuse(f"body is not acceptable JSON: {exc}")
    except (ValueError, UnicodeDecodeError):
        return refuse("body is not JSON")
    if not isinstance(payload, dict):
        return refuse(f"body is JSON but not an object (found {type(payload).__name__})")
    if payload.get("version") != "4":
        return refuse(f'expected an Alertmanager webhook payload version "4"; found {payload.get("version")!r:.40}')
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        return refuse("alerts is missing or empty")
    if len(alerts) > MAX_ALERTS:
        return refuse(f"{len(alerts)} alerts in one notification; at most {MAX_ALERTS} (set max_alerts)")
    if payload.get("status") not in STATUSES:
        return refuse("status is not firing or resolved")
    if not isinstance(payload.get("groupKey"), str) or not payload["groupKey"]:
        return refuse("groupKey is missing or not a string")
    for name in ("groupLabels", "commonLabels", "commonAnnotations"):
        problem = _labels_problem(payload.get(name, {}), name)
        if problem:
            return refuse(problem)
    for i, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            return refuse(f"alerts[{i}] is not an object")
        if alert.get("status") not in STATUSES:
            return refuse(f"alerts[{i}].status is not firing or resolved")
        if not isinstance(alert.get("fingerprint"), str) or not alert["fingerprint"]:
            return refuse(f"alerts[{i}].fingerprint is missing or not a string")
        for name in ("labels", "annotations"):
            problem = _labels_problem(alert.get(name, {}), f"alerts[{i}].{name}")
            if problem:
                return refuse(problem)
    return payload


def _group(payload: dict[str, Any]) -> dict[str, Any]:
    return {name: payload.get(name) for name in GROUP_FIELDS if name in payload}


def alert_document(payload: dict[str, Any], alert: dict[str, Any]) -> dict[str, Any]:
    """One alert as the rules see it: the alert's keys, ``key`` (its fingerprint) and the group's fields."""
    return {
        **_group(payload),
        "labels": {},
        "annotations": {},
        **alert,
        "key": alert["fingerprint"],
    }


def group_document(payload: dict[str, Any]) -> dict[str, Any]:
    """The notification as one alert: keyed by groupKey, the group's common labels and annotations."""
    first = payload["alerts"][0]
    return {
        **payload,
        "key": payload["groupKey"],
        "labels": payload.get("commonLabels") or {},
        "annotations": payload.get("commonAnnotations") or {},
        "generatorURL": first.get("generatorURL", ""),
        "startsAt": min(str(a.get("startsAt", "")) for a in payload["alerts"]),
    }


def unwrap(body: bytes, options: AlertmanagerOptions) -> InboundMessage | InboundBatch | Rejection:
    payload = parse(body)
    if isinstance(payload, Rejection):
        return payload
    if options.one_alert_per == "group":
        return InboundMessage(message_type=MESSAGE_TYPE, document=group_document(payload))
    messages = []
    for alert in payload["alerts"]:
        document = alert_document(payload, alert)
        row_body = json.dumps(document, separators=(",", ":")).encode()
        messages.append(InboundMessage(message_type=MESSAGE_TYPE, document=document, body=row_body))
    return InboundBatch(messages)


class AlertmanagerInboundType:
    name = "alertmanager"
    options_model = AlertmanagerOptions
    settings_model = None
    rulesets = RULESETS
    default_ruleset = DEFAULT_RULESET

    async def handle(
        self, request: InboundRequest, integration: Integration, runtime: Runtime
    ) -> InboundMessage | InboundBatch | Rejection:
        options: AlertmanagerOptions = integration.options  # type: ignore[assignment]
        if options.bearer_token is not None:
            refused = check_bearer(request, options.bearer_token)
            if refused is not None:
                return refused
        return unwrap(request.body, options)

    def sample_message(self, data: bytes, integration: Integration) -> InboundMessage | InboundBatch | Rejection:
        """A dry-run message from a notification body (e.g. one captured from Alertmanager)."""
        return unwrap(data, integration.options)  # type: ignore[arg-type]
