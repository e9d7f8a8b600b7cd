"""Replay after a rule fix: stored inbound messages through the current rules, in original order.

``evaluate_rows`` runs the rules (the costly part: templates, regexes) outside any write
transaction; ``apply_rows`` then settles each message against the alert state in ONE
transaction, as the inbound path does (receive.apply_evaluation: thresholds, lifecycle,
quiet timers), at the message's original time. A dry run is that same transaction rolled
back, so it shows exactly what ``--apply`` would do, counts and closes included.

Applied, each replayed message gets a new inbound-log row (``replay_of`` = the original's id,
not ``accepted``: the original keeps its delivery). A message already mapped (the original,
a replay of it, or another delivery of its source message id has a ``Mapped ...`` outcome) is
never applied again. An alert the replay opens and closes again (a later replayed close, or
its quiet time already past) is recorded, not paged: the close is in the same transaction
as the open, so its escalation never fires.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from alertd import ledger, quiet, thresholds
from alertd.mapping import Document, Evaluation, evaluate
from alertd.receive import apply_evaluation

MAX_ROWS = 5000
MAX_SINCE_SECONDS = 31 * 86400
# Outcomes the mapper gave (the rest never reached it: rejected, duplicates, handshakes).
MAPPER_OUTCOMES = ("Mapped Open", "Mapped Appended", "Mapped Acknowledged", "Mapped Closed", "Filtered", "Unmapped")
SKIPPED = "skipped"


class ReplayError(ValueError):
    """A replay that was not started (one line for the user)."""


@dataclass
class Change:
    inbound_id: int
    received_at: float
    source_message_id: str | None
    old_outcome: str
    new_outcome: str
    reason: str = ""
    alert_id: int | None = None
    new_inbound_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def select_rows(db: Database, integration: str, since: float, outcome: str | None, limit: int) -> list[dict[str, Any]]:
    """The original deliveries to replay, oldest first; ReplayError when more than ``limit``."""
    sql = (
        "SELECT id, received_at, headers, body, status, message_type, source_message_id, outcome "
        "FROM inbound_log WHERE integration = ? AND received_at >= ? AND accepted = 1 "
        "AND replay_of IS NULL AND simulated = 0 AND (outcome IN ({}) OR outcome LIKE 'Counted (%')"
    ).format(", ".join("?" for _ in MAPPER_OUTCOMES))
    params: list[Any] = [integration, since, *MAPPER_OUTCOMES]
    if outcome:
        # "Counted" matches every "Counted (k of n)"; case as the user likes.
        sql += " AND (lower(outcome) = lower(?) OR lower(outcome) LIKE lower(?))"
        params += [outcome, f"{outcome} (%"]
    sql += " ORDER BY id LIMIT ?"
    params.append(limit + 1)
    rows = [dict(r) for r in db.execute(sql, params).fetchall()]
    if len(rows) > limit:
        raise ReplayError(
            f"more than {limit} messages match; narrow the time (--since) or the outcome, or raise the limit "
            f"(at most {MAX_ROWS})"
        )
    return rows


def as_sample(row: dict[str, Any]) -> bytes:
    """A stored message in the shape an inbound type's ``sample_message`` reads (headers + body)."""
    headers = {k: v for k, v in json.loads(row["headers"]).items() if v != ledger.NOT_STORED}
    return json.dumps({"headers": headers, "body": bytes(row["body"]).decode("utf-8", "replace")}).encode()


def evaluate_rows(integration: Any, rows: list[dict[str, Any]]) -> list[Evaluation | str]:
    """The rules on each stored message (details rendered whenever the open rule matches, so that
    settling never needs a second round); a string says why a message could not be read again."""
    out: list[Evaluation | str] = []
    for row in rows:
        try:
            message = integration.inbound_type.sample_message(as_sample(row), integration)
        except Exception as exc:  # a plugin's parser on old data: that message is skipped, with the reason
            out.append(f"could not read the stored message again: {type(exc).__name__}: {exc}"[:300])
            continue
        document = getattr(message, "document", None)
        if document is None or getattr(message, "outcome", None) is not None:
            out.append(f"could not read the stored message again: {getattr(message, 'reason', 'not a message')}")
            continue
        out.append(evaluate(Document(document), integration.ruleset, None, "open_rule"))
    return out


def already_mapped(db: Database, integration: str, row: dict[str, Any]) -> int | None:
    """The inbound row that already mapped this message (itself, a replay, its message id), if any."""
    found = db.execute(
        "SELECT id FROM inbound_log WHERE integration = ? AND outcome LIKE 'Mapped %' AND "
        "(id = ? OR replay_of = ? OR (? IS NOT NULL AND source_message_id = ?)) ORDER BY id LIMIT 1",
        [integration, row["id"], row["id"], row["source_message_id"], row["source_message_id"]],
    ).fetchone()
    return None if found is None else int(found[0])


def apply_rows(
    db: Database,
    config: Any,
    integration: Any,
    rows: list[dict[str, Any]],
    evaluations: list[Evaluation | str],
    now: float,
) -> list[Change]:
    """Replay in original order inside the caller's transaction (commit it to apply, roll it back
    for a dry run)."""
    changes: list[Change] = []
    for row, evaluation in zip(rows, evaluations, strict=True):
        change = Change(row["id"], row["received_at"], row["source_message_id"], row["outcome"], SKIPPED)
        changes.append(change)
        if isinstance(evaluation, str):
            change.reason = evaluation
            continue
        mapped_by = already_mapped(db, integration.name, row)
        if mapped_by is not None:
            change.reason = f"already mapped (inbound #{mapped_by}): never applied twice"
            continue
        thresholds.forget(db, row["id"])  # a match counted the first time is counted again below
        entry = ledger.Entry(
            received_at=now,
            integration=integration.name,
            remote_addr="replay",
            method="POST",
            headers=json.loads(row["headers"]),
            body=bytes(row["body"]),
            body_size=len(row["body"]),
            outcome="",
            status=row["status"],
            message_type=row["message_type"],
            source_message_id=row["source_message_id"],
        )
        recorded = apply_evaluation(db, config, integration, entry, evaluation, row["received_at"])
        assert recorded is not None, "evaluated with open_rule details: settles in one round"
        reason = f"replay of inbound #{row['id']}"
        db.execute(
            "UPDATE inbound_log SET replay_of = ?, reason = ? || CASE WHEN reason IS NULL OR reason = '' "
            "THEN '' ELSE '; ' || reason END WHERE id = ?",
            [row["id"], reason, recorded.inbound_id],
        )
        change.new_outcome, change.alert_id, change.new_inbound_id = (
            recorded.outcome,
            recorded.alert_id,
            recorded.inbound_id,
        )
        change.reason = str(
            db.execute("SELECT reason FROM inbound_log WHERE id = ?", [recorded.inbound_id]).fetchone()[0]
        )
    # Alerts whose close_after_quiet time passed during the replayed period close now, in this
    # transaction: recorded on the timeline, never paged.
    quiet.fire_due(db, now, limit=MAX_ROWS)
    return changes


def run(
    db: Database,
    config: Any,
    integration: Any,
    rows: list[dict[str, Any]],
    evaluations: list[Evaluation | str],
    now: float,
    *,
    apply: bool,
) -> list[Change]:
    """``apply_rows`` inside the caller's write transaction; without ``apply``, undone before
    returning (a savepoint rolled back): the dry run sees exactly what applying would do."""
    if apply:
        return apply_rows(db, config, integration, rows, evaluations, now)
    db.execute("SAVEPOINT replay_dry_run")
    try:
        return apply_rows(db, config, integration, rows, evaluations, now)
    finally:
        db.execute("ROLLBACK TO replay_dry_run")
        db.execute("RELEASE replay_dry_run")
