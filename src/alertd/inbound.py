"""What an inbound type plugin receives and returns (see hookspecs.alertd_inbound_types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from alertd.handshakes import Handshake

if TYPE_CHECKING:
    from alertd.config import Integration
    from alertd.runtime import Runtime


@dataclass(frozen=True)
class InboundRequest:
    """One HTTP request to an integration's URL, as received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    remote_addr: str
    received_at: float  # unix time, UTC

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class InboundMessage:
    """A verified message, ready for the inbound log and the mapper.

    ``document`` is what the mapper's field paths address. ``source_message_id``
    makes deliveries idempotent: the same id from the same integration is
    recorded as Duplicate Delivery and changes nothing. ``outcome`` is set by the
    plugin only for messages that are not mapped (a handshake such as a subscription
    confirmation); otherwise the mapper decides it. ``handshake``: the state of the
    source's side of the link that this message announces, recorded with its
    inbound-log row (alertd.handshakes). ``status``/``response`` is what the sender
    gets once the row is committed.
    """

    message_type: str
    document: Any
    source_message_id: str | None = None
    outcome: str | None = None
    handshake: Handshake | None = None
    status: int = 200
    response: str = "OK"
    extra: dict[str, Any] = field(default_factory=dict)
    # What the inbound-log row stores as the body when not the request's (a part of a batch).
    body: bytes | None = None


@dataclass
class InboundBatch:
    """Several messages in one request (an Alertmanager notification carries a group's alerts).

    Each message gets its own inbound-log row and decision (its ``body`` is what the row
    stores: the request's body would repeat in every row); all rows are committed in one
    transaction before the sender gets ``status``."""

    messages: list[InboundMessage]
    status: int = 200
    response: str = "OK"


@dataclass
class Rejection:
    """The request is refused: ``status`` (4xx, or 5xx when the sender should
    retry, e.g. a certificate could not be fetched) and a reason for the log."""

    status: int
    reason: str
    message_type: str | None = None
    source_message_id: str | None = None


class InboundType(Protocol):
    name: str
    options_model: type[BaseModel]
    settings_model: type[BaseModel] | None
    rulesets: dict[str, dict[str, Any]]
    default_ruleset: str
    # Optional (see hookspecs.alertd_inbound_types): stored_header_prefixes, after_commit (and
    # after_commit_for), describe_handshake, warm_up.

    async def handle(
        self, request: InboundRequest, integration: Integration, runtime: Runtime
    ) -> InboundMessage | InboundBatch | Rejection: ...

    def sample_message(self, data: bytes, integration: Integration) -> InboundMessage | InboundBatch | Rejection: ...
