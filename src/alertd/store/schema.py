"""Schema and forward migrations.

Each migration is a function of the write connection, applied in order inside
one transaction together with the bump of ``schema_version``; a database newer
than this code is refused rather than guessed at.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alertd.errors import StoreUnavailable
from alertd.store.transaction import write_transaction

if TYPE_CHECKING:
    from sqlite_utils import Database


class SchemaTooNew(Exception):
    pass


def _v1_foundation(db: Database) -> None:
    # Small persistent settings: generated integration tokens, signing keys ...
    db.execute(
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )


def _v2_inbound_and_alerts(db: Database) -> None:
    # The inbound log: every request to /in/{token}, written before it is answered.
    db.execute(
        """CREATE TABLE inbound_log (
            id INTEGER PRIMARY KEY,
            received_at REAL NOT NULL,
            integration TEXT,
            remote_addr TEXT,
            method TEXT NOT NULL,
            headers TEXT NOT NULL,
            body BLOB NOT NULL,
            body_size INTEGER NOT NULL,
            message_type TEXT,
            source_message_id TEXT,
            outcome TEXT NOT NULL,
            reason TEXT,
            status INTEGER NOT NULL,
            accepted INTEGER NOT NULL DEFAULT 0,
            alert_id INTEGER,
            decision TEXT
        )"""
    )
    # At most one accepted delivery per source message id: redeliveries are duplicates.
    db.execute(
        "CREATE UNIQUE INDEX inbound_log_delivery ON inbound_log (integration, source_message_id) "
        "WHERE accepted = 1 AND source_message_id IS NOT NULL"
    )
    db.execute("CREATE INDEX inbound_log_received ON inbound_log (received_at)")
    db.execute("CREATE INDEX inbound_log_integration ON inbound_log (integration, received_at)")
    db.execute(
        """CREATE TABLE subscriptions (
            integration TEXT NOT NULL,
            topic TEXT NOT NULL,
            state TEXT NOT NULL,
            confirm_url TEXT,
            inbound_id INTEGER,
            updated_at REAL NOT NULL,
            confirmed_at REAL,
            detail TEXT,
            PRIMARY KEY (integration, topic)
        )"""
    )
    db.execute(
        """CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            integration TEXT NOT NULL,
            source_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'closed')),
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            severity TEXT NOT NULL DEFAULT 'critical',
            url TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            fields TEXT NOT NULL DEFAULT '{}',
            escalation_policy TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            acknowledged_at REAL,
            acknowledged_by TEXT,
            closed_at REAL,
            closed_by TEXT,
            append_count INTEGER NOT NULL DEFAULT 0,
            first_inbound_id INTEGER,
            last_inbound_id INTEGER,
            previous_alert_id INTEGER REFERENCES alerts (id)
        )"""
    )
    # Dedup: one alert that is not closed per (integration, source id).
    db.execute("CREATE UNIQUE INDEX alerts_live_source ON alerts (integration, source_id) WHERE status != 'closed'")
    db.execute("CREATE INDEX alerts_status ON alerts (status, id)")
    db.execute("CREATE INDEX alerts_source ON alerts (integration, source_id, id)")
    # The timeline: every change to an alert, who or what did it and through which path.
    db.execute(
        """CREATE TABLE alert_events (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts (id),
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            via TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute("CREATE INDEX alert_events_alert ON alert_events (alert_id, id)")


def _v3_escalation_and_outbox(db: Database) -> None:
    # The escalation plan of each alert: the next level to fire, the pass, and when.
    db.execute(
        """CREATE TABLE escalations (
            alert_id INTEGER PRIMARY KEY REFERENCES alerts (id),
            policy TEXT NOT NULL,
            level INTEGER NOT NULL,
            pass INTEGER NOT NULL,
            next_due REAL,
            state TEXT NOT NULL CHECK (state IN ('active', 'stopped', 'finished')),
            reason TEXT,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX escalations_due ON escalations (next_due) WHERE state = 'active'")
    # The outbox: one row per (alert, user, contact method, step); the idempotency key makes
    # a step that is replayed after a crash insert nothing new.
    db.execute(
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts (id),
            user TEXT NOT NULL,
            kind TEXT NOT NULL,
            address TEXT NOT NULL,
            channel TEXT,
            purpose TEXT NOT NULL,
            step TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL CHECK (status IN
                ('pending', 'sending', 'sent', 'delivered', 'failed', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            provider_id TEXT,
            last_error TEXT,
            failover_of INTEGER REFERENCES outbox (id)
        )"""
    )
    db.execute("CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending'")
    db.execute("CREATE INDEX outbox_alert ON outbox (alert_id, status)")
    db.execute("CREATE INDEX outbox_provider ON outbox (channel, provider_id)")


def _v4_action_links(db: Database) -> None:
    # Signed action links are usable once: the nonce of each used link is kept until it expires.
    db.execute(
        """CREATE TABLE used_links (
            nonce TEXT PRIMARY KEY,
            alert_id INTEGER NOT NULL,
            used_at REAL NOT NULL,
            expires_at REAL NOT NULL
        )"""
    )


def _v5_outbox_sending_index(db: Database) -> None:
    # The outbox loop looks for rows stuck 'sending' on every pass: an index, not a table scan.
    db.execute("CREATE INDEX outbox_sending ON outbox (updated_at) WHERE status = 'sending'")


# What the allow-list kept by prefix when this migration was written (the one inbound type
# then, SNS); today each inbound type declares its own (stored_header_prefixes).
V6_KEPT_PREFIXES = ("x-amz-sns-",)


def _v6_inbound_repeats(db: Database) -> None:
    # Requests to unknown tokens are aggregated: one row per remote address per minute, counted.
    db.execute("ALTER TABLE inbound_log ADD COLUMN repeat_count INTEGER NOT NULL DEFAULT 1")
    db.execute("ALTER TABLE inbound_log ADD COLUMN last_received_at REAL")
    db.execute("CREATE INDEX inbound_log_unknown ON inbound_log (remote_addr, received_at) WHERE integration IS NULL")
    # Rows stored before headers were kept by allow-list may hold credentials (X-Auth-Token,
    # a proxy's X-Forwarded-Uri with the token): apply today's rules to them.
    from alertd.ledger import safe_headers, scrub

    secrets = tuple(
        row[0] for row in db.execute("SELECT value FROM meta WHERE key LIKE 'integration_token:%'").fetchall()
    )
    rows = db.execute("SELECT id, integration, headers FROM inbound_log").fetchall()
    for inbound_id, integration, headers in rows:
        kept = safe_headers(
            {k: scrub(str(v), secrets) for k, v in json.loads(headers).items()},
            known_sender=integration is not None,
            prefixes=V6_KEPT_PREFIXES,
        )
        cleaned = json.dumps(kept)
        if cleaned != headers:
            db.execute("UPDATE inbound_log SET headers = ? WHERE id = ?", [cleaned, inbound_id])


def _v7_reply_receipts(db: Database) -> None:
    # Provider webhooks that act (a Twilio SMS reply, a voice keypress) are signed but carry no
    # timestamp: the provider's id of each one is kept so that a replayed request does nothing.
    db.execute(
        """CREATE TABLE reply_receipts (
            key TEXT PRIMARY KEY,
            received_at REAL NOT NULL
        )"""
    )


def _v8_simulated_inbound(db: Database) -> None:
    # `alertd simulate` records samples like deliveries; the flag keeps them apart from real traffic.
    db.execute("ALTER TABLE inbound_log ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0")


def _v9_outbox_unknown_outcome(db: Database) -> None:
    # A send interrupted by a crash may have reached the recipient: 'in_doubt' marks such a row,
    # and a new status 'unknown' is what it ends as if its alert is stopped before a resend
    # (not 'cancelled', which would claim nothing went out). SQLite cannot alter a CHECK, so the
    # table is rebuilt from its own current definition (whatever columns earlier migrations added).
    table_sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").fetchone()[0]
    if "'cancelled'" not in table_sql:
        raise RuntimeError("outbox table definition is not the expected one")
    index_sql = [
        r[0]
        for r in db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox' AND sql IS NOT NULL"
        ).fetchall()
    ]
    columns = ", ".join(f'"{r[1]}"' for r in db.execute("PRAGMA table_info(outbox)").fetchall())
    # failover_of points at rows that may be copied later: check the references at commit.
    db.execute("PRAGMA defer_foreign_keys = ON")
    db.execute("CREATE TABLE outbox_old AS SELECT * FROM outbox")
    db.execute("DROP TABLE outbox")
    db.execute(table_sql if "'unknown'" in table_sql else table_sql.replace("'cancelled'", "'cancelled', 'unknown'", 1))
    db.execute(f"INSERT INTO outbox ({columns}) SELECT {columns} FROM outbox_old")
    db.execute("DROP TABLE outbox_old")
    for sql in index_sql:
        db.execute(sql)
    db.execute("ALTER TABLE outbox ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0")


def _v10_event_cursors(db: Database) -> None:
    # How far each consumer of alert_events has got (the dispatcher: "dispatch"). An existing
    # database starts at its last event: history from before the dispatcher is not replayed.
    db.execute(
        """CREATE TABLE event_cursors (
            name TEXT PRIMARY KEY,
            last_id INTEGER NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute(
        "INSERT INTO event_cursors (name, last_id, updated_at) "
        "SELECT 'dispatch', COALESCE(MAX(id), 0), ? FROM alert_events",
        [time.time()],
    )


def _threshold_counts_and_quiet_timers(db: Database) -> None:
    # Matches of an open rule with a threshold, per group, inside its window (thresholds.py).
    db.execute(
        """CREATE TABLE threshold_counts (
            id INTEGER PRIMARY KEY,
            integration TEXT NOT NULL,
            grp TEXT NOT NULL,
            at REAL NOT NULL,
            inbound_id INTEGER
        )"""
    )
    db.execute("CREATE INDEX threshold_counts_group ON threshold_counts (integration, grp, at)")
    db.execute("CREATE INDEX threshold_counts_at ON threshold_counts (at)")
    # close_after_quiet: one timer per alert, moved on by each matching message (quiet.py).
    db.execute(
        """CREATE TABLE quiet_timers (
            alert_id INTEGER PRIMARY KEY,
            integration TEXT NOT NULL,
            due_at REAL NOT NULL,
            quiet_seconds REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX quiet_timers_due ON quiet_timers (due_at)")


def _inbound_replays(db: Database) -> None:
    # `alertd replay --apply`: a new inbound-log row per replayed message, linked to the original.
    db.execute("ALTER TABLE inbound_log ADD COLUMN replay_of INTEGER")
    db.execute("CREATE INDEX inbound_log_replay_of ON inbound_log (replay_of) WHERE replay_of IS NOT NULL")


def _heartbeats(db: Database) -> None:
    # Each configured heartbeat's timer: its last ping and its deadline (due_at); the loop opens an
    # alert for a row past its deadline (state 'missed'), the next ping closes it.
    db.execute(
        """CREATE TABLE heartbeats (
            name TEXT PRIMARY KEY,
            state TEXT NOT NULL CHECK (state IN ('waiting', 'up', 'missed', 'inactive')),
            created_at REAL NOT NULL,
            last_ping_at REAL,
            due_at REAL,
            alert_id INTEGER REFERENCES alerts (id),
            ping_count INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX heartbeats_due ON heartbeats (due_at) WHERE state IN ('waiting', 'up')")
    # Every ping as received (pruned with the inbound log, by store.inbound_retention_days).
    db.execute(
        """CREATE TABLE heartbeat_pings (
            id INTEGER PRIMARY KEY,
            heartbeat TEXT NOT NULL,
            received_at REAL NOT NULL,
            method TEXT NOT NULL,
            remote_addr TEXT,
            user_agent TEXT,
            body BLOB NOT NULL,
            body_size INTEGER NOT NULL,
            closed_alert_id INTEGER
        )"""
    )
    db.execute("CREATE INDEX heartbeat_pings_received ON heartbeat_pings (received_at)")
    db.execute("CREATE INDEX heartbeat_pings_heartbeat ON heartbeat_pings (heartbeat, id)")


def _maintenance_windows(db: Database) -> None:
    # Maintenance windows: added by hand (name NULL) or the current/next occurrence of a recurring
    # [maintenance.NAME]. While one applies, alerts open without paging (their plan held: active with
    # no due time, alerts.maintenance_id set); ended_at marks that its end was handled.
    db.execute(
        """CREATE TABLE maintenance_windows (
            id INTEGER PRIMARY KEY,
            name TEXT,
            integrations TEXT NOT NULL,
            match TEXT,
            starts_at REAL NOT NULL,
            ends_at REAL NOT NULL,
            on_end TEXT NOT NULL CHECK (on_end IN ('page', 'quiet')),
            reason TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            ended_at REAL,
            ended_by TEXT
        )"""
    )
    db.execute("CREATE INDEX maintenance_windows_open ON maintenance_windows (ends_at) WHERE ended_at IS NULL")
    db.execute(
        "CREATE UNIQUE INDEX maintenance_windows_occurrence ON maintenance_windows (name, starts_at) "
        "WHERE name IS NOT NULL"
    )
    db.execute("ALTER TABLE alerts ADD COLUMN maintenance_id INTEGER")
    db.execute("ALTER TABLE inbound_log ADD COLUMN maintenance_id INTEGER")


def _alert_owners(db: Database) -> None:
    # Routing and assignment: the route a message took and the alert's owners (recipients, JSON).
    db.execute("ALTER TABLE alerts ADD COLUMN route TEXT")
    db.execute("ALTER TABLE alerts ADD COLUMN recipients TEXT NOT NULL DEFAULT '[]'")


def _v_alert_timers_and_workflows(db: Database) -> None:
    # Timers on alerts beside the escalation plan, fired by the same loop: a snooze's end, a
    # workflow's "not acknowledged N minutes after opening". One per (alert, kind, name), so a
    # replayed event sets nothing twice. ``ref`` is the alert state the timer was set for (a
    # timer whose alert changed state since is skipped, not fired).
    db.execute(
        """CREATE TABLE alert_timers (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts (id),
            kind TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            due REAL NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'fired', 'skipped', 'cancelled')),
            ref TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            fired_at REAL,
            UNIQUE (alert_id, kind, name)
        )"""
    )
    db.execute("CREATE INDEX alert_timers_due ON alert_timers (due) WHERE state = 'pending'")
    # One row per (workflow, trigger): the dispatcher hands events out at least once; a workflow
    # runs at most once per event (or timer) because its run and its effects commit together.
    db.execute(
        """CREATE TABLE workflow_runs (
            workflow TEXT NOT NULL,
            trigger_key TEXT NOT NULL,
            alert_id INTEGER NOT NULL,
            at REAL NOT NULL,
            matched INTEGER NOT NULL,
            actions INTEGER NOT NULL DEFAULT 0,
            detail TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (workflow, trigger_key)
        )"""
    )
    db.execute("CREATE INDEX workflow_runs_alert ON workflow_runs (alert_id)")
    # A merged duplicate points at the alert it was merged into (later messages append there).
    db.execute("ALTER TABLE alerts ADD COLUMN merged_into INTEGER REFERENCES alerts (id)")
    db.execute("ALTER TABLE alerts ADD COLUMN snoozed_until REAL")
    # A plan restarted (un-acknowledge, escalate now, reassign) pages again: the round is in its steps' keys.
    db.execute("ALTER TABLE escalations ADD COLUMN round INTEGER NOT NULL DEFAULT 0")
    # A workflow's notification carries its own rendered text (a webhook: its JSON body).
    db.execute("ALTER TABLE outbox ADD COLUMN payload TEXT")


def _web_console(db: Database) -> None:
    # Console passwords (argon2 hashes; users themselves are in the config), sessions (by the
    # SHA-256 of their cookie, so a copy of the database opens none) and failed logins (rate limit).
    db.execute(
        """CREATE TABLE web_passwords (
            user TEXT PRIMARY KEY,
            hash TEXT NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE web_sessions (
            id_hash TEXT PRIMARY KEY,
            user TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX web_sessions_user ON web_sessions (user)")
    db.execute("CREATE INDEX web_sessions_expiry ON web_sessions (expires_at)")
    db.execute("CREATE TABLE web_login_failures (key TEXT NOT NULL, at REAL NOT NULL)")
    db.execute("CREATE INDEX web_login_failures_key ON web_login_failures (key, at)")
    # The console's per-user lists ("acknowledged by me") and the inbound log's outcome filter.
    db.execute("CREATE INDEX alerts_acknowledged_by ON alerts (acknowledged_by, id)")
    db.execute("CREATE INDEX inbound_log_outcome ON inbound_log (outcome, id)")


def _v11_source_handshakes(db: Database) -> None:
    # The core keeps inbound types' handshake state without knowing a provider: SNS subscriptions
    # become rows keyed by topic, their confirm URL and confirmation time moved into the detail.
    db.execute(
        """CREATE TABLE source_handshakes (
            integration TEXT NOT NULL,
            key TEXT NOT NULL,
            state TEXT NOT NULL,
            inbound_id INTEGER,
            updated_at REAL NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (integration, key)
        )"""
    )
    # Asked of the catalogue (SQLite only: PostgreSQL starts past this step), not sqlite-utils'.
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'subscriptions'").fetchone():
        # json_patch drops the NULL members (a row never confirmed has no confirmed_at).
        db.execute(
            """INSERT INTO source_handshakes (integration, key, state, inbound_id, updated_at, detail)
               SELECT integration, topic, state, inbound_id, updated_at,
                      json_patch(COALESCE(detail, '{}'),
                                 json_object('confirm_url', confirm_url, 'confirmed_at', confirmed_at))
               FROM subscriptions"""
        )
        db.execute("DROP TABLE subscriptions")


def _rebuild(db: Database, table: str, old: str, new: str) -> None:
    """Change a column's definition (SQLite cannot ALTER one): the table is rebuilt from its own
    current definition with ``old`` replaced by ``new``, keeping every row and index (as in
    https://www.sqlite.org/lang_altertable.html#otheralter; rows are copied aside and back, so
    references to the table, including its own, stay valid at commit)."""
    table_sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()[0]
    if old not in table_sql:
        raise RuntimeError(f"{table} table definition is not the expected one")
    index_sql = [
        r[0]
        for r in db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", [table]
        ).fetchall()
    ]
    columns = ", ".join(f'"{r[1]}"' for r in db.execute(f"PRAGMA table_info({table})").fetchall())
    db.execute("PRAGMA defer_foreign_keys = ON")
    db.execute(f"CREATE TABLE {table}_old AS SELECT * FROM {table}")
    db.execute(f"DROP TABLE {table}")
    db.execute(table_sql.replace(old, new, 1))
    db.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_old")
    db.execute(f"DROP TABLE {table}_old")
    for sql in index_sql:
        db.execute(sql)


def _schedule_events(db: Database) -> None:
    # Workflows on schedule events (shift starts and ends) notify without an alert: outbox rows
    # and workflow runs whose alert_id is NULL.
    _rebuild(
        db, "outbox", "alert_id INTEGER NOT NULL REFERENCES alerts (id)", "alert_id INTEGER REFERENCES alerts (id)"
    )
    _rebuild(db, "workflow_runs", "alert_id INTEGER NOT NULL", "alert_id INTEGER")
    # Each schedule workflow's next handoff (NULL: the schedule never changes hands again).
    db.execute(
        """CREATE TABLE schedule_timers (
            workflow TEXT PRIMARY KEY,
            schedule TEXT NOT NULL,
            due REAL,
            fired_at REAL,
            last_handoff REAL,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX schedule_timers_due ON schedule_timers (due) WHERE due IS NOT NULL")


def _real(db: Database) -> str:
    """The type of a timestamp column in a migration: SQLite's REAL is 8 bytes, PostgreSQL's ``real``
    4 (a Unix time to the nearest 128 s: leases would never end on time): DOUBLE PRECISION there."""
    return "DOUBLE PRECISION" if getattr(db, "dialect", "sqlite") == "postgresql" else "REAL"


def _cluster_instances(db: Database) -> None:
    # Each running daemon's row (alertd cluster): inserted at start, last_seen renewed every third
    # of [cluster] lease_seconds, deleted at a clean stop.
    real = _real(db)
    db.execute(
        f"""CREATE TABLE instances (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            pid_namespace TEXT NOT NULL,
            version TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            started_at {real} NOT NULL,
            last_seen {real} NOT NULL
        )"""
    )


def _cluster_claims_and_locks(db: Database) -> None:
    # Work that outlives its transaction is claimed under a lease (alertd.claims): outbox rows
    # being sent, and named locks (the event dispatcher, housekeeping).
    db.execute("ALTER TABLE outbox ADD COLUMN claimed_by TEXT")
    real = _real(db)
    db.execute(f"ALTER TABLE outbox ADD COLUMN claim_until {real}")
    db.execute(f"CREATE TABLE locks (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until {real} NOT NULL)")


# The triggers the migrations make on PostgreSQL, by name (SQLite's may be named otherwise: one
# trigger per change where PostgreSQL has one for all): migrate-store turns exactly these off
# while it copies rows that already hold their effect (sqlite_to_pg.schema_triggers).
POSTGRES_TRIGGERS = frozenset({"inbound_log_opened_alert", "maintenance_windows_changed"})


def _inbound_log_opened_alert(db: Database) -> None:
    # The inbound-log row of a message that opened an alert gets the alert's id as the alert row
    # is inserted (it names that row as first_inbound_id): a statement fewer per opening message
    # than an UPDATE from the write job (issue 15; the row is inserted first, so its id is known).
    if getattr(db, "dialect", "sqlite") == "postgresql":
        db.execute(
            "CREATE FUNCTION inbound_log_opened_alert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "UPDATE inbound_log SET alert_id = NEW.id WHERE id = NEW.first_inbound_id; RETURN NULL; END $$"
        )
        db.execute(
            "CREATE TRIGGER inbound_log_opened_alert AFTER INSERT ON alerts FOR EACH ROW "
            "WHEN (NEW.first_inbound_id IS NOT NULL) EXECUTE FUNCTION inbound_log_opened_alert()"
        )
        return
    db.execute(
        "CREATE TRIGGER inbound_log_opened_alert AFTER INSERT ON alerts "
        "WHEN NEW.first_inbound_id IS NOT NULL BEGIN "
        "UPDATE inbound_log SET alert_id = NEW.id WHERE id = NEW.first_inbound_id; END"
    )


def _maintenance_windows_generation(db: Database) -> None:
    # A counter bumped by every change to maintenance_windows, whoever makes it (the daemon, the
    # CLI, another instance): the daemon keeps the windows in memory and reads this counter, not
    # the windows, to know that its copy is current (maintenance_windows.WindowCache; issue 15).
    db.execute("CREATE TABLE table_generations (name TEXT PRIMARY KEY, generation BIGINT NOT NULL)")
    db.execute("INSERT INTO table_generations (name, generation) VALUES ('maintenance_windows', 0)")
    bump = "UPDATE table_generations SET generation = generation + 1 WHERE name = 'maintenance_windows'"
    if getattr(db, "dialect", "sqlite") == "postgresql":
        db.execute(
            "CREATE FUNCTION maintenance_windows_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"{bump}; RETURN NULL; END $$"
        )
        db.execute(
            "CREATE TRIGGER maintenance_windows_changed AFTER INSERT OR UPDATE OR DELETE ON maintenance_windows "
            "FOR EACH STATEMENT EXECUTE FUNCTION maintenance_windows_changed()"
        )
        return
    for change in ("INSERT", "UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER maintenance_windows_{change.lower()} AFTER {change} ON maintenance_windows "
            f"BEGIN {bump}; END"
        )


MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("foundation: meta", _v1_foundation),
    ("inbound log, subscriptions, alerts and their timeline", _v2_inbound_and_alerts),
    ("escalation plans and the outbox", _v3_escalation_and_outbox),
    ("used action links", _v4_action_links),
    ("index of outbox rows being sent", _v5_outbox_sending_index),
    ("inbound log: repeats of requests to unknown tokens", _v6_inbound_repeats),
    ("receipts of provider webhooks (replay protection)", _v7_reply_receipts),
    ("inbound log: simulated messages", _v8_simulated_inbound),
    ("outbox: sends of unknown outcome", _v9_outbox_unknown_outcome),
    ("alert event cursors (the dispatcher's progress)", _v10_event_cursors),
    ("rule thresholds: match counts and quiet timers", _threshold_counts_and_quiet_timers),
    ("inbound log: replays linked to their originals", _inbound_replays),
    ("heartbeats: timers and pings", _heartbeats),
    ("maintenance windows", _maintenance_windows),
    ("alerts: route and owners", _alert_owners),
    ("alert timers, workflow runs, merged and snoozed alerts, outbox payloads", _v_alert_timers_and_workflows),
    ("web console: passwords, sessions, failed logins", _web_console),
    ("source handshakes (inbound types' state, was: subscriptions)", _v11_source_handshakes),
    ("schedule events: notices without an alert, schedule timers", _schedule_events),
    ("cluster: running instances", _cluster_instances),
    ("cluster: claims of outbox rows, locks", _cluster_claims_and_locks),
    ("inbound log: an opening message's row gets its alert's id (trigger)", _inbound_log_opened_alert),
    ("maintenance windows: a generation counter bumped by every change (trigger)", _maintenance_windows_generation),
]

SCHEMA_VERSION = len(MIGRATIONS)


# Held (per transaction) while a PostgreSQL database is migrated: instances starting together migrate once.
PG_MIGRATION_LOCK = 0x616C65727464  # "alertd"


def current_version(db: Any) -> int:
    # Asked of the catalogue, not sqlite-utils: the CLI's listings pass a plain sqlite3 connection.
    if getattr(db, "dialect", "sqlite") == "postgresql":
        exists = db.has_table("schema_version")
    else:
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if not exists:
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database schema version {version} is newer than this alertd "
            f"(knows up to {SCHEMA_VERSION}); upgrade alertd or use another database"
        )


def migrate(db: Any, target: int = SCHEMA_VERSION) -> int:
    """Bring ``db`` up to ``target``; return the version it is at afterwards."""
    if getattr(db, "dialect", "sqlite") == "postgresql":
        return _migrate_postgresql(db, target)
    db.execute(
        """CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY,
            description TEXT NOT NULL,
            applied_at REAL NOT NULL
        )"""
    )
    version = current_version(db)
    _refuse_newer(version)
    for number in range(version + 1, target + 1):
        fn = MIGRATIONS[number - 1][1]
        with write_transaction(db):
            # Two processes may start on a fresh database together: the loser of the
            # write lock finds the step done once it gets the lock.
            if current_version(db) >= number:
                continue
            fn(db)
            _record(db, number)
    return current_version(db)


def _record(db: Any, number: int) -> None:
    db.execute(
        "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
        [number, MIGRATIONS[number - 1][0], time.time()],
    )


def _migrate_postgresql(db: Any, target: int) -> int:
    """An empty database gets the schema at PG_BASE_VERSION in one go (store/schema_pg.py), then
    the migrations after it run as on SQLite; all in one transaction under an advisory lock."""
    import psycopg

    try:
        return _migrate_postgresql_steps(db, target)
    except psycopg.Error as exc:  # e.g. a role without CREATE on the schema: one line, not a traceback
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StoreUnavailable(f"cannot prepare the database {db.where}: {cause}") from exc


def _migrate_postgresql_steps(db: Any, target: int) -> int:
    from alertd.store.schema_pg import DDL, PG_BASE_VERSION

    with write_transaction(db):
        db.execute("SELECT pg_advisory_xact_lock(?)", [PG_MIGRATION_LOCK])
        version = current_version(db)
        _refuse_newer(version)
        if version == 0 and target > 0:
            db.execute(DDL)
            for number in range(1, PG_BASE_VERSION + 1):
                _record(db, number)
            version = PG_BASE_VERSION
        for number in range(version + 1, target + 1):
            MIGRATIONS[number - 1][1](db)
            _record(db, number)
    return current_version(db)
