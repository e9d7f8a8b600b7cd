"""A third-party-style inbound type for tests: ``knock``, whose sources greet before they send.

Loaded through ``plugins_dir`` and written like a plugin outside this repository: it imports only
``alertd.plugin``. A body ``{"knock": "<door>", "state": "<word>"}`` is a handshake: logged (outcome
``Knock``) with the door's state, which ``alertd integrations`` shows as ``door: ...`` lines through
``describe_handshake``; ``x-knock-*`` headers are kept in the inbound log. Any other JSON object is
an alert for the mapper (``{"id": "...", "state": "firing" | "ok"}``; with ``"door"``, that
door's state becomes ``in use``). No signature: tests only.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from alertd.plugin import Handshake, HandshakeRow, InboundMessage, Rejection, hookimpl, jsonlimits

__version__ = "1.0"


class KnockOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KnockInboundType:
    name = "knock"
    options_model = KnockOptions
    settings_model = None
    rulesets = {
        "plain": {
            "source_id": "id",
            "open_when": {"field": "state", "equals": "firing"},
            "close_when": {"field": "state", "equals": "ok"},
            "title": "{{ id }}",
        }
    }
    default_ruleset = "plain"
    stored_header_prefixes = ("x-knock-",)

    def _message(self, body: bytes) -> InboundMessage | Rejection:
        try:
            document = jsonlimits.loads(body)
        except (ValueError, UnicodeDecodeError):
            return Rejection(400, "body is not JSON")
        if not isinstance(document, dict):
            return Rejection(400, "body is not a JSON object")
        if "knock" in document:
            door, state = str(document["knock"]), str(document.get("state", "open"))
            return InboundMessage(
                message_type="Knock",
                document=document,
                outcome="Knock",
                # (A detail key given as None would be removed from the stored detail.)
                handshake=Handshake(door, state, {"said": document["said"]} if "said" in document else {}),
                response="come in",
            )
        # An alert that names its door also tells that the door is in use.
        used = Handshake(str(document["door"]), "in use") if "door" in document else None
        return InboundMessage(message_type="Alert", document=document, handshake=used)

    async def handle(self, request: Any, integration: Any, runtime: Any) -> InboundMessage | Rejection:
        return self._message(request.body)

    def sample_message(self, data: bytes, integration: Any) -> InboundMessage | Rejection:
        return self._message(data)

    def describe_handshake(self, row: HandshakeRow) -> tuple[str, str]:
        said = f", said {row.detail['said']!r}" if row.detail.get("said") else ""
        return "door", f"{row.key} is {row.state}{said} (knocked at inbound #{row.inbound_id})"


@hookimpl
def alertd_inbound_types() -> list[object]:
    return [KnockInboundType()]
