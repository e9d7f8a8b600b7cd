"""The plugin API: everything a plugin may import from alertd, and nothing else.

A plugin (built-in under ``plugins/``, installed through the ``alertd`` entry point, or a ``.py``
file in ``plugins_dir``) imports only this module. What is here is re-exported from the module
that implements it (so ``alertd.plugin.Notification is alertd.channels.Notification``); what is
not here is internal and may change without notice. ``tests/test_plugin_api.py`` keeps the
built-in plugins to this rule. The hooks themselves are documented in ``alertd.hookspecs``.

Hooks and the shapes they exchange
    ``hookimpl``             decorator marking a function as the implementation of a hook.
    ``Channel``              protocol of a channel (``alertd_channels``): ``name``, ``kinds`` (the
                             contact kinds it serves; a user's ``contact = { <kind> = ... }`` is
                             valid when a loaded channel declares ``<kind>``), ``config_model``,
                             ``concurrency``, ``async send(notification, settings, runtime)``; optional
                             ``closure_notices`` (default True; False: never used to say an
                             alert closed).
    ``Notification``         one attempt to reach one person on one contact kind about one alert.
    ``DeliveryResult``       what ``send`` returns: sent, delivered, retry or failed.
    ``DeliveryState``        a provider's later delivery report in neutral words: accepted,
                             delivered, failed, unanswered (see ``report_delivery_status``).
    ``InboundType``          protocol of an inbound type (``alertd_inbound_types``).
    ``InboundRequest``       one HTTP request to an integration's URL, as received.
    ``InboundMessage``       a verified message, ready for the inbound log and the mapper.
    ``InboundBatch``         several messages in one request (one inbound-log row and decision
                             each, committed together before the 2xx).
    ``Rejection``            a refused request: a status (4xx, or 5xx to make the sender retry)
                             and a one-line reason for the inbound log.
    ``Handshake``            the state of the source's side of the link that an inbound message
                             announces (``InboundMessage.handshake``: an SNS subscription pending,
                             unsubscribed), recorded with its inbound-log row; ``HandshakeRow``
                             a stored one, as ``describe_handshake`` gets it.
    ``SUBSCRIPTION_CONFIRMATION``, ``UNSUBSCRIBE_CONFIRMATION``
                             inbound-log outcomes of messages that are not mapped.
    ``Integration``          a configured integration as an inbound type receives it.
    ``Runtime``              the running daemon handed to hooks (config, store, clock).
    ``LongSecret``           pydantic type for a hand-set secret in a plugin's settings model
                             (at least 32 characters, never shown).

Acting on alerts (inside ``runtime.store.write``)
    ``apply_command(db, action, alert_id, actor, via, now, **detail)``
                             acknowledge (``"ack"``) or close (``"close"``) an alert as ``actor``
                             (a name under ``[users]``), recorded as done via ``via``; returns
                             the alert row after the change. ``AlertCommandError`` (with an HTTP-ish ``status``)
                             when it cannot be done. ``ACTIONS`` lists the actions.
    ``actor_problem(raw, user)``
                             why ``user`` may not act on alerts, or None: check it first.
    ``MAX_ID``               the largest alert or notification id (SQLite's signed 64 bits).
    ``parse_reply``, ``handle_reply``, ``first_receipt``
                             the reply parser (``ACK 12``, ``close``), the whole handling of a
                             reply from a contact address (``kinds=``: the contact kinds the
                             address may be listed under; ``normalize=``: how addresses compare,
                             e.g. ``phone_number``), and once-only receipt of a provider's
                             message id (a retried webhook changes nothing twice).
    ``report_delivery_status(db, raw, channel, provider_id, state, error, now, notification_id)``
                             a provider's delivery report for a sent notification (a status
                             callback), as a ``DeliveryState`` the plugin translated from its
                             provider's words, with the reason of a failure in ``error``;
                             ``get_notification(db, id)`` reads one outbox row.

Sending and receiving safely
    ``post``                 POST to a provider with one deadline; returns a DeliveryResult
                             (2xx sent, 429/5xx/timeouts retry, other 4xx failed).
    ``safe_link``            an http(s) URL fit to put in a message, or "".
    ``visible``, ``visible_block``
                             text with control characters shown as escapes (for terminals,
                             logs and messages a person reads).
    ``sandbox``              the bounded Jinja sandbox: ``sandbox.BoundedSandbox``,
                             ``sandbox.render(template, variables, seconds=, max_chars=)``.
    ``jsonlimits``           JSON with a nesting bound: ``jsonlimits.loads``,
                             ``jsonlimits.check_depth``, ``jsonlimits.JSONTooDeep``.
    ``get_logger``, ``error_with_cause``
                             a structured logger (never log secrets), and an exception as one
                             line with its cause.

Storage, HTTP routes and CLI commands
    ``Store``, ``write_transaction``, ``StoreUnavailable``
                             the database handle (``await store.read(fn)``, ``await
                             store.write(fn)``), one write transaction on a direct connection
                             (CLI), and the error a busy or full database raises.
    ``make_private_dirs``    create directories readable by the daemon's user only.
    ``inbound_log_entry(db, id)``
                             one row of the inbound log, or None.
    ``set_handshake_state(db, integration, key, state, now, inbound_id=None, **detail)``
                             record the state of a source handshake later (e.g. confirmed);
                             ``detail`` is merged into the stored one (None removes a key) and
                             shown to operators: no secrets. ``HandshakeError`` when out of bounds.
    ``integration_tokens(db, config)``, ``integration_url(config, token)``
                             every integration's URL token (generated and kept on first use; call
                             inside ``write_transaction``) and the public URL it makes.
    ``requires_token``, ``json_response``, ``error``, ``parse_id``
                             for routes (``alertd_register_routes``): bearer-token check,
                             JSON answers, one-line errors, and ids from a URL.
    ``api_doc``, ``ApiError``
                             a route under /api/v1 describes itself for /api/v1/openapi.json
                             (``@api_doc(summary, {status: (text, model)}, query=, body=, path=)``
                             under the route decorator); ``ApiError`` is the ``{"error": ...}`` shape.
    ``config_option``, ``ROW_ID``
                             for commands (``alertd_register_commands``): the ``-c/--config``
                             option and a click type for row ids.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from alertd import hookimpl, jsonlimits
from alertd.channels import Channel, DeliveryResult, DeliveryState, Notification
from alertd.commands import ACTIONS, MAX_ID, AlertCommandError, actor_problem, apply_command
from alertd.config import Integration, LongSecret
from alertd.decisions import SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION
from alertd.handshakes import Handshake, HandshakeError, HandshakeRow
from alertd.handshakes import record as set_handshake_state
from alertd.http_delivery import post
from alertd.inbound import InboundBatch, InboundMessage, InboundRequest, InboundType, Rejection
from alertd.integrations import ensure_tokens as integration_tokens
from alertd.integrations import integration_url
from alertd.ledger import get as inbound_log_entry
from alertd.log import error_with_cause, get_logger
from alertd.outbox import get as get_notification
from alertd.outbox import record_delivery_status as report_delivery_status
from alertd.replies import first_receipt, handle_reply, parse_reply, phone_number
from alertd.runtime import Runtime
from alertd.store import Store, StoreUnavailable, write_transaction
from alertd.store.files import make_private_dirs
from alertd.textout import visible, visible_block
from alertd.weburl import safe_link

if TYPE_CHECKING:
    from alertd import sandbox
    from alertd.cli_common import ROW_ID, config_option
    from alertd.http.api import error, json_response, parse_id, requires_token
    from alertd.http.openapi import ApiError, api_doc

# The helpers for routes come with Quart (alertd.http.api imports it): loaded on first use, so
# that loading a plugin does not load the web stack (the daemon builds it after it is ready).
# The helpers for commands come with click: loaded by the commands that use them, so that
# `alertd run` (alertd.launch) does not import click for the plugins.
_ROUTE_HELPERS = {
    "ROW_ID": "alertd.cli_common",
    "config_option": "alertd.cli_common",
    "error": "alertd.http.api",
    "json_response": "alertd.http.api",
    "parse_id": "alertd.http.api",
    "requires_token": "alertd.http.api",
    "ApiError": "alertd.http.openapi",
    "api_doc": "alertd.http.openapi",
}


def __getattr__(name: str) -> Any:
    if name == "sandbox":  # jinja2 (a tenth of start-up): loaded by the first template, not with plugins
        value: Any = importlib.import_module("alertd.sandbox")
        globals()[name] = value
        return value
    module = _ROUTE_HELPERS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ACTIONS",
    "MAX_ID",
    "ROW_ID",
    "SUBSCRIPTION_CONFIRMATION",
    "UNSUBSCRIBE_CONFIRMATION",
    "AlertCommandError",
    "ApiError",
    "Channel",
    "DeliveryResult",
    "DeliveryState",
    "Handshake",
    "HandshakeError",
    "HandshakeRow",
    "InboundBatch",
    "InboundMessage",
    "InboundRequest",
    "InboundType",
    "Integration",
    "LongSecret",
    "Notification",
    "Rejection",
    "Runtime",
    "Store",
    "StoreUnavailable",
    "actor_problem",
    "api_doc",
    "apply_command",
    "config_option",
    "error",
    "error_with_cause",
    "first_receipt",
    "get_logger",
    "get_notification",
    "handle_reply",
    "hookimpl",
    "inbound_log_entry",
    "integration_tokens",
    "integration_url",
    "json_response",
    "jsonlimits",
    "make_private_dirs",
    "parse_id",
    "parse_reply",
    "phone_number",
    "post",
    "report_delivery_status",
    "requires_token",
    "safe_link",
    "sandbox",
    "set_handshake_state",
    "visible",
    "visible_block",
    "write_transaction",
]
