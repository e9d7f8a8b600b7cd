"""The web console in-process (tests/inprocess.py): access (login, sessions, CSRF, rate limit,
roles, trusted proxy header), the pages, actions recorded under the logged-in user, escaping,
bad input, and the live view's subscriber of the event dispatcher."""

from __future__ import annotations

import html
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import trio

from helpers import DaemonProcess, run_cli_in_process
from inbound_fixtures import TOKEN
from inprocess import InProcess, in_process
from web_fixtures import EXTRAS, PASSWORD, alarm_request, csrf_of, rows, set_passwords, web_config

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)


async def login(
    app: InProcess, user: str = "alice", password: str = PASSWORD, address: str | None = None
) -> httpx.Response:
    form = await app.get("/login")
    assert form.status_code == 200
    return await app.post(
        "/login",
        data={"user": user, "password": password, "csrf": csrf_of(form.text), "next": "/alerts"},
    )


async def open_alarm(app: InProcess, name: str | None = None) -> int:
    body, headers = alarm_request(name)
    response = await app.post(f"/in/{TOKEN}", content=body, headers=headers)
    assert response.status_code == 200, response.text
    found = rows(app.runtime.config.db_path, "SELECT id FROM alerts ORDER BY id DESC LIMIT 1")
    return found[0]["id"]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = web_config(tmp_path)
    set_passwords(tmp_path / "alertd.db")
    return path


async def test_pages_need_a_login_and_the_login_works(config: Path) -> None:
    async with in_process(config) as app:
        response = await app.get("/alerts?status=open")
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
        assert (await login(app, password="wrong password")).status_code == 401
        response = await login(app)
        assert response.status_code == 303 and response.headers["location"] == "/alerts"
        cookie = response.headers["set-cookie"]
        assert "alertd_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # public_url is http here
        page = await app.get("/alerts")
        assert page.status_code == 200 and "No open alerts" in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "same-origin"
        # The database keeps a hash of the session, never the cookie.
        token = cookie.split("alertd_session=", 1)[1].split(";", 1)[0]
        stored = rows(config.parent / "alertd.db", "SELECT id_hash FROM web_sessions")
        assert stored and all(token not in r["id_hash"] for r in stored)
        # Log out: the session is gone.
        response = await app.post("/logout", data={"csrf": csrf_of(page.text)})
        assert response.status_code == 303
        assert (await app.get("/alerts")).status_code == 303


async def test_ack_from_the_console_records_the_user_and_stops_escalation(config: Path) -> None:
    async with in_process(config) as app:
        await login(app, "bob")
        alert_id = await open_alarm(app)
        page = await app.get(f"/alerts/{alert_id}")
        assert page.status_code == 200 and "Acknowledge" in page.text
        response = await app.post(f"/alerts/{alert_id}/ack", data={"csrf": csrf_of(page.text)})
        assert response.status_code == 303
        alert = rows(
            config.parent / "alertd.db", "SELECT status, acknowledged_by FROM alerts WHERE id = ?", (alert_id,)
        )
        assert alert == [{"status": "acknowledged", "acknowledged_by": "bob"}]
        plan = rows(
            config.parent / "alertd.db", "SELECT state, reason FROM escalations WHERE alert_id = ?", (alert_id,)
        )
        assert plan == [{"state": "stopped", "reason": "acknowledged"}]
        detail = await app.get(f"/alerts/{alert_id}")
        assert "acknowledged by bob in the web console" in detail.text
        assert "escalation stopped" in detail.text or "stopped" in detail.text


async def test_a_post_without_the_csrf_token_is_refused(config: Path) -> None:
    async with in_process(config) as app:
        await login(app)
        alert_id = await open_alarm(app)
        for data in ({}, {"csrf": "forged"}):
            response = await app.post(f"/alerts/{alert_id}/ack", data=data)
            assert response.status_code == 403 and "CSRF" in response.text
        assert (
            rows(config.parent / "alertd.db", "SELECT status FROM alerts WHERE id = ?", (alert_id,))[0]["status"]
            == "open"
        )
        # A login form posted without its cookie's token: refused too (login CSRF).
        response = await app.post("/login", data={"user": "alice", "password": PASSWORD, "csrf": "x"})
        assert response.status_code == 403


async def test_sessions_expire(tmp_path: Path) -> None:
    config = web_config(tmp_path, "\n[web]\nsession_hours = 1\n")
    set_passwords(tmp_path / "alertd.db")
    async with in_process(config) as app:
        assert "Max-Age=3600" in (await login(app)).headers["set-cookie"]
        assert (await app.get("/alerts")).status_code == 200
        await app.advance(3601)  # the cookie is still sent (the test client ignores Max-Age): the row decides
        response = await app.get("/alerts")
        assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_login_form_bounds(config: Path) -> None:
    async with in_process(config) as app:
        form = await app.get("/login")
        for user, password in (("u" * 65, PASSWORD), ("alice", "p" * 1025), ("", PASSWORD), ("alice", "")):
            data = {"user": user, "password": password, "csrf": csrf_of(form.text)}
            response = await app.post("/login", data=data)
            assert response.status_code == 400 and "at most 64 characters" in response.text
            form = response  # each answer carries a new login form (and its cookie)
        # Only a path on this site after logging in: never another host.
        for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            data = {"user": "alice", "password": PASSWORD, "csrf": csrf_of(form.text), "next": target}
            response = await app.post("/login", data=data)
            assert response.status_code == 303 and response.headers["location"] == "/alerts", target
            form = await app.get("/login")


async def test_failed_logins_are_limited_per_user_and_address(config: Path) -> None:
    async with in_process(config) as app:
        for _ in range(5):
            assert (await login(app, "bob", "wrong password")).status_code == 401
        blocked = await login(app, "bob", PASSWORD)
        assert blocked.status_code == 429 and "too many failed logins" in blocked.text
        # Another user from the same address is not locked out by bob's failures.
        assert (await login(app, "alice")).status_code == 303
        # The window passes: bob may try again.
        await app.advance(16 * 60)
        assert (await login(app, "bob")).status_code == 303


async def test_message_text_is_escaped(config: Path) -> None:
    async with in_process(config) as app:
        await login(app)
        alert_id = await open_alarm(app, "<script>alert(1)</script>")
        for path in ("/alerts", f"/alerts/{alert_id}", "/inbound", "/inbound/1"):
            page = await app.get(path)
            assert page.status_code == 200, path
            assert "<script>alert(1)" not in page.text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (await app.get(f"/alerts/{alert_id}")).text


async def test_inbound_log_detail_nests_the_message_and_dry_runs(config: Path) -> None:
    async with in_process(config) as app:
        await login(app)
        await open_alarm(app, "NestedAlarm")
        page = await app.get("/inbound?outcome=mapped-open")
        assert page.status_code == 200 and "Mapped Open" in page.text
        detail = await app.get("/inbound/1")
        # The Message JSON string is shown as the object it holds (indented keys, not an escaped string).
        assert '"Message": {' in detail.text.replace(
            "&#34;", '"'
        ) and '"AlarmName": "NestedAlarm"' in detail.text.replace("&#34;", '"')
        tested = await app.post("/inbound/1/test", data={"csrf": csrf_of(detail.text), "assume": "open"})
        assert tested.status_code == 200 and "Dry run: Mapped Appended" in tested.text


async def test_integrations_show_the_token_to_admins_only_and_dry_run_a_sample(config: Path) -> None:
    async with in_process(config) as app:
        await login(app, "bob")
        page = await app.get("/integrations")
        assert page.status_code == 200 and TOKEN not in page.text and "shown to admins" in page.text
        body, _headers = alarm_request("PastedAlarm")
        response = await app.post(
            "/integrations/alarms/test", data={"csrf": csrf_of(page.text), "sample": body.decode()}
        )
        assert (
            response.status_code == 200 and "Dry run: Mapped Open" in response.text and "PastedAlarm" in response.text
        )
        assert rows(config.parent / "alertd.db", "SELECT COUNT(*) AS n FROM alerts")[0]["n"] == 0  # a dry run
    async with in_process(config) as app:
        await login(app, "alice")
        assert f"/in/{TOKEN}" in (await app.get("/integrations")).text


async def test_bad_input_gets_a_400_with_the_reason(config: Path) -> None:
    async with in_process(config) as app:
        await login(app)
        csrf = csrf_of((await app.get("/alerts")).text)
        cases = [
            ("get", "/alerts?status=bogus", "status must be one of"),
            ("get", "/alerts?q=" + "x" * 201, "q must be at most 200"),
            ("get", "/alerts?before=-1", "before must be a whole number"),
            ("get", "/alerts?severity=" + "s" * 65, "severity must be at most 64"),
            ("get", "/alerts?integration=" + "i" * 201, "integration must be at most 200"),
            ("get", "/alerts/99999999999999999999", "must be a whole number"),
            ("get", "/inbound?outcome=nonsense", "unknown outcome"),
            ("get", "/inbound?hours=0", "hours must be"),
            ("get", "/oncall/primary?days=1000", "days must be one of"),
            ("post", "/alerts/ack", "select at least one alert"),
            ("post", "/integrations/alarms/test", "paste a sample"),
        ]
        for method, path, reason in cases:
            if method == "get":
                response = await app.get(path)
            else:
                response = await app.post(path, data={"csrf": csrf})
            assert response.status_code == 400 and reason in response.text, (path, response.status_code)
        response = await app.post("/alerts/ack", data={"csrf": csrf, "ids": [str(i) for i in range(1, 202)]})
        assert response.status_code == 400 and "at most 200" in response.text
        too_big = "x" * (app.runtime.config.raw.server.max_body_bytes + 1)
        response = await app.post("/integrations/alarms/test", data={"csrf": csrf, "sample": too_big})
        assert response.status_code == 400 and "at most" in response.text
        response = await app.post("/integrations/alarms/test", data={"csrf": csrf, "sample": "{}", "assume": "bogus"})
        assert response.status_code == 400 and "assume must be one of open, acknowledged" in response.text
        response = await app.post("/inbound/1/test", data={"csrf": csrf, "assume": "closed"})
        assert response.status_code == 400 and "assume must be one of" in response.text
        assert (await app.get("/alerts/424242")).status_code == 404


async def test_bulk_acknowledge(config: Path) -> None:
    async with in_process(config) as app:
        await login(app, "bob")
        ids = [await open_alarm(app) for _ in range(3)]
        page = await app.get("/alerts")
        response = await app.post("/alerts/ack", data={"csrf": csrf_of(page.text), "ids": [str(i) for i in ids[:2]]})
        assert response.status_code == 303
        states = rows(config.parent / "alertd.db", "SELECT id, status, acknowledged_by FROM alerts ORDER BY id")
        assert [(r["status"], r["acknowledged_by"]) for r in states] == [("acknowledged", "bob")] * 2 + [("open", None)]


async def test_oncall_people_and_schedule_pages(config: Path) -> None:
    async with in_process(config) as app:
        await login(app, "bob")
        oncall = await app.get("/oncall")
        assert oncall.status_code == 200 and "primary" in oncall.text and "on call in primary" in oncall.text
        schedule = await app.get("/oncall/primary?days=7")
        assert schedule.status_code == 200 and "/schedules/primary.ics?token=" in schedule.text
        people = await app.get("/people")
        # Contacts masked for others.
        assert "bob@example.com" not in people.text and "b***@example.com" in people.text
        assert "+1********34" in people.text
        own = await app.get("/people/bob")
        assert "bob@example.com" in own.text  # your own contacts in full
        assert "alice@example.com" not in (await app.get("/people/alice")).text


async def test_live_hub_hears_committed_events(config: Path) -> None:
    """The dispatcher hands each batch to the console's hub; an open page's stream gets a notice."""
    async with in_process(config) as app:
        hub = app.runtime.services["live_hub"]
        with hub.subscribe() as notices:
            alert_id = await open_alarm(app)
            with trio.fail_after(5):
                notice = json.loads(await notices.receive())
        assert alert_id in notice["alerts"]
        assert not hub.clients


async def test_trusted_user_header_only_from_trusted_proxies(tmp_path: Path) -> None:
    config = web_config(
        tmp_path, '\n[web]\ntrusted_user_header = "X-Forwarded-User"\ntrusted_proxies = ["10.0.0.0/8"]\n'
    )
    async with in_process(config) as app:
        # The in-process client is 127.0.0.1: not a trusted proxy, so the header is ignored.
        response = await app.get("/alerts", headers={"X-Forwarded-User": "alice"})
        assert response.status_code == 303
    config = web_config(
        tmp_path, '\n[web]\ntrusted_user_header = "X-Forwarded-User"\ntrusted_proxies = ["127.0.0.1"]\n'
    )
    async with in_process(config) as app:
        response = await app.get("/alerts", headers={"X-Forwarded-User": "alice"})
        assert response.status_code == 200 and "alice" in response.text
        assert (await app.get("/alerts", headers={"X-Forwarded-User": "mallory"})).status_code in (200, 303)


async def test_web_disabled_serves_no_console(tmp_path: Path) -> None:
    config = web_config(tmp_path, "\n[web]\nenabled = false\n")
    async with in_process(config) as app:
        assert (await app.get("/alerts")).status_code == 404
        assert (await app.get("/login")).status_code == 404
        assert (await app.get("/healthz")).status_code == 200


def set_password(config: Path, user: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return run_cli_in_process("users", "set-password", user, "-c", str(config), input=stdin)


def test_set_password_cli(tmp_path: Path) -> None:
    config = web_config(tmp_path)
    result = set_password(config, "bob", PASSWORD + "\n")
    assert result.returncode == 0 and "password set for bob" in result.stdout, result.stderr
    stored = rows(tmp_path / "alertd.db", "SELECT hash FROM web_passwords WHERE user = 'bob'")
    assert stored and stored[0]["hash"].startswith("$argon2") and PASSWORD not in stored[0]["hash"]
    result = set_password(config, "mallory", PASSWORD + "\n")
    assert result.returncode == 2 and "no user 'mallory'" in result.stderr and "Traceback" not in result.stderr
    result = set_password(config, "bob", "short\n")
    assert result.returncode == 2 and "at least 8 characters" in result.stderr


def test_bad_web_config_names_the_key(tmp_path: Path) -> None:
    for text, key in (
        ("\n[web]\nsession_hours = 0\n", "web.session_hours"),
        ('\n[web]\ntrusted_proxies = ["not an address"]\n', "web.trusted_proxies"),
        ("\n[web]\nlogin_attempts = 100000\n", "web.login_attempts"),
        ('\n[web]\ntrusted_user_header = "X User"\n', "web.trusted_user_header"),
    ):
        config = web_config(tmp_path, text)
        result = run_cli_in_process("check-config", "-c", str(config))
        assert result.returncode != 0 and key in result.stderr + result.stdout, (text, result.stderr)


async def test_the_session_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    config = web_config(tmp_path, server='public_url = "https://alertd.example"')
    set_passwords(tmp_path / "alertd.db")
    async with in_process(config) as app:
        form = await app.get("/login")
        assert "Secure" in form.headers["set-cookie"]
        # The test client speaks http and keeps Secure cookies to itself: hand the login cookie over.
        login_cookie = form.headers["set-cookie"].split(";", 1)[0]
        app.client.cookies.clear()
        response = await app.post(
            "/login",
            data={"user": "alice", "password": PASSWORD, "csrf": csrf_of(form.text)},
            headers={"Cookie": login_cookie},
        )
        assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]


def test_an_open_event_stream_does_not_hold_up_shutdown(tmp_path: Path) -> None:
    """SIGTERM ends the console's event streams at once instead of waiting server.graceful_timeout."""
    config = web_config(tmp_path)
    config.write_text(config.read_text().replace("graceful_timeout = 3", "graceful_timeout = 30"))
    set_passwords(tmp_path / "alertd.db")
    daemon = DaemonProcess(config).start()
    try:
        with httpx.Client(base_url=daemon.url, timeout=10) as client:
            form = client.get("/login").text
            client.post("/login", data={"user": "bob", "password": PASSWORD, "csrf": csrf_of(form)})
            with client.stream("GET", "/live") as stream:
                assert stream.status_code == 200
                lines = stream.iter_lines()
                assert next(lines).startswith("retry:")
                began = time.monotonic()
                daemon.signal(signal.SIGTERM)
                lines = list(lines)  # ends when the daemon closes the stream
            assert all(not line.startswith("event:") for line in lines)
        assert daemon.proc is not None and daemon.proc.wait(timeout=40) == 0
        assert time.monotonic() - began < 15, "shutdown waited for the open stream"
    finally:
        daemon.kill()


def test_templates_and_static_files_are_package_data() -> None:
    """A non-editable install carries every template and static file (pyproject's package-data)."""
    import fnmatch
    import tomllib

    from helpers import ROOT

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["alertd.web"]
    web = ROOT / "src" / "alertd" / "web"
    files = [p.relative_to(web).as_posix() for sub in ("templates", "static") for p in (web / sub).iterdir()]
    assert len(files) > 10
    for name in files:
        assert any(fnmatch.fnmatch(name, g) for g in globs), name


# --- the alert actions beyond ack/close (snooze, note, escalate now, un-acknowledge, reassign) ---


def events_of(db: Path, alert_id: int, kind: str) -> list[dict]:
    return rows(db, "SELECT actor, via, detail FROM alert_events WHERE alert_id = ? AND kind = ?", (alert_id, kind))


async def test_snooze_from_the_console_acknowledges_until_it_ends(config: Path) -> None:
    db = config.parent / "alertd.db"
    async with in_process(config) as app:
        await login(app, "bob")
        alert_id = await open_alarm(app)
        page = await app.get(f"/alerts/{alert_id}")
        assert f'action="/alerts/{alert_id}/snooze"' in page.text
        response = await app.post(f"/alerts/{alert_id}/snooze", data={"csrf": csrf_of(page.text), "minutes": "30"})
        assert response.status_code == 303 and response.headers["location"].endswith("done=snoozed")
        assert rows(db, "SELECT status, acknowledged_by FROM alerts WHERE id = ?", (alert_id,)) == [
            {"status": "acknowledged", "acknowledged_by": "bob"}
        ]
        snoozed = events_of(db, alert_id, "snoozed")
        assert len(snoozed) == 1 and snoozed[0]["actor"] == "bob" and snoozed[0]["via"] == "web"
        assert json.loads(snoozed[0]["detail"])["minutes"] == 30
        assert "Alert snoozed." in (await app.get(f"/alerts/{alert_id}?done=snoozed")).text
        await app.advance(30 * 60 + 5)  # the snooze timer (a row) fires: open again
        await app.wait_until(
            lambda: rows(db, "SELECT status FROM alerts WHERE id = ?", (alert_id,)) == [{"status": "open"}],
            what="the snooze ended",
        )


async def test_snooze_minutes_out_of_bounds_are_a_400_with_the_reason(config: Path) -> None:
    db = config.parent / "alertd.db"
    async with in_process(config) as app:
        await login(app)
        alert_id = await open_alarm(app)
        csrf = csrf_of((await app.get(f"/alerts/{alert_id}")).text)
        for minutes in ("0", "1441", "abc", "", "99999999999"):
            response = await app.post(f"/alerts/{alert_id}/snooze", data={"csrf": csrf, "minutes": minutes})
            assert response.status_code == 400, minutes
            assert "minutes must be a whole number from 1 to 1440" in response.text
        assert (await app.post(f"/alerts/{alert_id}/snooze", data={"minutes": "5"})).status_code == 403  # no CSRF
        assert rows(db, "SELECT status FROM alerts WHERE id = ?", (alert_id,)) == [{"status": "open"}]


async def test_a_note_is_recorded_under_the_user_and_shown_escaped(config: Path) -> None:
    db = config.parent / "alertd.db"
    async with in_process(config) as app:
        await login(app, "bob")
        alert_id = await open_alarm(app)
        csrf = csrf_of((await app.get(f"/alerts/{alert_id}")).text)
        text = "<script>alert(1)</script> disk full on db-2"
        response = await app.post(f"/alerts/{alert_id}/note", data={"csrf": csrf, "text": text})
        assert response.status_code == 303
        noted = events_of(db, alert_id, "note_added")
        assert [(n["actor"], n["via"], json.loads(n["detail"])["text"]) for n in noted] == [("bob", "web", text)]
        detail = await app.get(f"/alerts/{alert_id}")
        assert "&lt;script&gt;alert(1)&lt;/script&gt; disk full on db-2" in detail.text
        assert "<script>alert(1)" not in detail.text
        # Bad input: empty, or longer than a note may be.
        for bad, reason in (("  ", "write the text of the note"), ("x" * 2001, "text must be at most 2000 characters")):
            response = await app.post(f"/alerts/{alert_id}/note", data={"csrf": csrf, "text": bad})
            assert response.status_code == 400 and reason in response.text
        assert len(events_of(db, alert_id, "note_added")) == 1


async def test_escalate_now_and_unacknowledge_from_the_console(config: Path) -> None:
    db = config.parent / "alertd.db"
    async with in_process(config) as app:
        await login(app, "bob")
        alert_id = await open_alarm(app)
        page = await app.get(f"/alerts/{alert_id}")
        csrf = csrf_of(page.text)
        assert "Un-acknowledge" not in page.text  # only offered for an acknowledged alert
        # Un-acknowledging an open alert: refused with the reason.
        response = await app.post(f"/alerts/{alert_id}/unack", data={"csrf": csrf})
        assert response.status_code == 409 and "not acknowledged" in response.text
        assert (await app.post(f"/alerts/{alert_id}/ack", data={"csrf": csrf})).status_code == 303
        page = await app.get(f"/alerts/{alert_id}")
        assert "Un-acknowledge" in page.text
        response = await app.post(f"/alerts/{alert_id}/unack", data={"csrf": csrf})
        assert response.status_code == 303 and response.headers["location"].endswith("done=un-acknowledged")
        assert rows(db, "SELECT status FROM alerts WHERE id = ?", (alert_id,)) == [{"status": "open"}]
        assert [(e["actor"], e["via"]) for e in events_of(db, alert_id, "unacknowledged")] == [("bob", "web")]
        # Escalate now: the current level pages at once instead of after the 2-minute wait.
        before = len(events_of(db, alert_id, "escalated"))
        response = await app.post(f"/alerts/{alert_id}/escalate", data={"csrf": csrf})
        assert response.status_code == 303 and response.headers["location"].endswith("done=escalated")
        assert [(e["actor"], e["via"]) for e in events_of(db, alert_id, "escalation_requested")] == [("bob", "web")]
        await app.wait_until(lambda: len(events_of(db, alert_id, "escalated")) > before, what="paged now")
        # A closed alert cannot be escalated: 409 with the reason; a bad id is a 400.
        assert (await app.post(f"/alerts/{alert_id}/close", data={"csrf": csrf})).status_code == 303
        response = await app.post(f"/alerts/{alert_id}/escalate", data={"csrf": csrf})
        assert response.status_code == 409 and "is closed" in response.text
        assert (await app.post("/alerts/0/escalate", data={"csrf": csrf})).status_code == 400


async def test_reassign_offers_the_configured_policies_and_refuses_others(tmp_path: Path) -> None:
    night = '\n[escalation_policies.night]\n[[escalation_policies.night.levels]]\nusers = ["bob"]\n'
    config = web_config(tmp_path, night)
    set_passwords(tmp_path / "alertd.db")
    db = tmp_path / "alertd.db"
    async with in_process(config) as app:
        await login(app, "bob")
        alert_id = await open_alarm(app)
        page = await app.get(f"/alerts/{alert_id}")
        assert '<option value="ops" selected>ops</option>' in page.text and '<option value="night">' in page.text
        csrf = csrf_of(page.text)
        for bad in ("nope", ""):
            response = await app.post(f"/alerts/{alert_id}/reassign", data={"csrf": csrf, "policy": bad})
            assert response.status_code == 400 and "policy must be one of ops, night" in response.text
        response = await app.post(f"/alerts/{alert_id}/reassign", data={"csrf": csrf, "policy": "night"})
        assert response.status_code == 303
        assert rows(db, "SELECT escalation_policy FROM alerts WHERE id = ?", (alert_id,)) == [
            {"escalation_policy": "night"}
        ]
        assert [(e["actor"], e["via"]) for e in events_of(db, alert_id, "reassigned")] == [("bob", "web")]


# --- maintenance windows, heartbeats, workflows --------------------------------------------------


def add_windows(db_path: Path) -> tuple[int, int]:
    """An active window and one to come, as `alertd maintenance add` writes them."""
    from alertd import maintenance_windows
    from alertd.store import write_transaction
    from postgres import connect

    db, now = connect(db_path), time.time()
    with write_transaction(db):
        common = {"integrations": ["alarms"], "actor": "cli:test", "now": now}
        active = maintenance_windows.add(
            db, starts_at=now - 60, ends_at=now + 3600, reason="<b>db upgrade</b>", **common
        )
        later = maintenance_windows.add(db, starts_at=now + 7200, ends_at=now + 9000, reason="kernel patch", **common)
    db.conn.close()
    return active, later


async def test_maintenance_page_lists_windows_and_only_admins_end_one(tmp_path: Path) -> None:
    config = web_config(tmp_path)
    set_passwords(tmp_path / "alertd.db")
    db = tmp_path / "alertd.db"
    active, later = add_windows(db)
    async with in_process(config) as app:
        await login(app, "bob")
        page = await app.get("/maintenance")
        assert page.status_code == 200 and 'href="/maintenance"' in page.text
        assert "&lt;b&gt;db upgrade&lt;/b&gt;" in page.text and "kernel patch" in page.text
        assert ">active<" in page.text and ">scheduled<" in page.text
        assert f'action="/maintenance/{active}/end"' not in page.text  # no button for a non-admin
        response = await app.post(f"/maintenance/{active}/end", data={"csrf": csrf_of(page.text)})
        assert response.status_code == 403 and "only admins" in response.text
        await login(app, "alice")
        page = await app.get("/maintenance")
        csrf = csrf_of(page.text)
        assert f'action="/maintenance/{active}/end"' in page.text and f'action="/maintenance/{later}/end"' in page.text
        assert (await app.post(f"/maintenance/{active}/end", data={})).status_code == 403  # no CSRF token
        assert (await app.post("/maintenance/abc/end", data={"csrf": csrf})).status_code == 400
        assert (await app.post("/maintenance/999/end", data={"csrf": csrf})).status_code == 404
        response = await app.post(f"/maintenance/{active}/end", data={"csrf": csrf})
        assert response.status_code == 303
        ended = rows(db, "SELECT ended_by FROM maintenance_windows WHERE id = ?", (active,))
        assert ended == [{"ended_by": "alice"}]
        response = await app.post(f"/maintenance/{active}/end", data={"csrf": csrf})
        assert response.status_code == 409 and "already ended" in response.text
        page = await app.get("/maintenance")
        assert "db upgrade" not in page.text and "kernel patch" in page.text


async def test_heartbeats_page_shows_state_and_pings_and_the_url_only_to_admins(tmp_path: Path) -> None:
    config = web_config(tmp_path, EXTRAS)
    set_passwords(tmp_path / "alertd.db")
    async with in_process(config) as app:
        await login(app, "alice")
        page = await app.get("/heartbeats")
        assert page.status_code == 200 and "nightly-backup" in page.text and "never" in page.text
        match = re.search(r"<code>http://[^<]*(/hb/[A-Za-z0-9_-]{20,})</code>", page.text)
        assert match, page.text
        token_path = match.group(1)
        assert (await app.get(token_path)).status_code == 200  # the cron job pings it
        page = await app.get("/heartbeats")
        assert "1 pings" in page.text and ">up<" in page.text
        await login(app, "bob")
        page = await app.get("/heartbeats")
        assert "nightly-backup" in page.text and "1 pings" in page.text
        assert token_path not in page.text and "/hb/••••" in page.text
        # No ping for interval + grace: missed, with a link to its alert.
        await app.advance(66 * 60)
        missed = await app.wait_until(
            lambda: rows(tmp_path / "alertd.db", "SELECT alert_id FROM heartbeats WHERE state = 'missed'"),
            what="the heartbeat missed",
        )
        page = await app.get("/heartbeats")
        assert ">missed<" in page.text and f'href="/alerts/{missed[0]["alert_id"]}"' in page.text


async def test_workflows_page_shows_trigger_actions_and_runs(tmp_path: Path) -> None:
    config = web_config(tmp_path, EXTRAS)
    set_passwords(tmp_path / "alertd.db")
    db = tmp_path / "alertd.db"
    async with in_process(config) as app:
        await login(app, "bob")
        page = await app.get("/workflows")
        assert page.status_code == 200 and "raise-on-open" in page.text and "never" in page.text
        await open_alarm(app)
        await app.wait_until(lambda: rows(db, "SELECT COUNT(*) AS n FROM workflow_runs")[0]["n"] == 1, what="a run")
        page = await app.get("/workflows")
        assert "never" not in page.text and "1 (1)" in page.text and "critical" in page.text


async def test_merge_from_the_console_closes_the_duplicate_into_the_other(config: Path) -> None:
    db = config.parent / "alertd.db"
    async with in_process(config) as app:
        await login(app, "bob")
        target = await open_alarm(app, "DiskFull")
        dup = await open_alarm(app, "DiskFullAgain")
        page = await app.get(f"/alerts/{dup}")
        assert f'action="/alerts/{dup}/merge"' in page.text and 'name="into"' in page.text
        csrf = csrf_of(page.text)
        for into, status, words in [
            ("", 400, "the alert to merge into must be a whole number from 1 to 2^63-1"),
            ("abc", 400, "the alert to merge into must be a whole number"),
            ("9" * 30, 400, "the alert to merge into must be a whole number"),
            (str(dup), 409, "into itself"),
            ("999", 404, "no alert #999"),
        ]:
            response = await app.post(f"/alerts/{dup}/merge", data={"csrf": csrf, "into": into})
            assert response.status_code == status and words in response.text, response.text
        assert (await app.post(f"/alerts/{dup}/merge", data={"into": str(target)})).status_code == 403  # no CSRF
        assert rows(db, "SELECT status FROM alerts WHERE id = ?", (dup,)) == [{"status": "open"}]
        response = await app.post(f"/alerts/{dup}/merge", data={"csrf": csrf, "into": str(target)})
        assert response.status_code == 303
        assert response.headers["location"] == f"/alerts/{dup}?done=merged+into+%23{target}"
        assert rows(db, "SELECT status FROM alerts WHERE id = ?", (dup,)) == [{"status": "closed"}]
        assert [(e["actor"], e["via"]) for e in events_of(db, dup, "merged")] == [("bob", "web")]
        page = await app.get(response.headers["location"])
        assert f"Alert merged into #{target}." in page.text and f"merged into #{target} by bob" in page.text


def window_form(csrf: str, **fields: object) -> dict[str, object]:
    return {"csrf": csrf, "integrations": ["alarms"], "reason": "RDS upgrade", **fields}


async def test_an_admin_adds_a_maintenance_window_in_their_time_zone(config: Path) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    db = config.parent / "alertd.db"
    count = "SELECT COUNT(*) AS n FROM maintenance_windows"
    async with in_process(config) as app:
        await login(app, "bob")  # not an admin: no form, and a POST is refused
        page = await app.get("/maintenance")
        assert 'action="/maintenance"' not in page.text and "(admins only)" in page.text
        response = await app.post("/maintenance", data=window_form(csrf_of(page.text), minutes="60"))
        assert response.status_code == 403 and "only admins" in response.text

        await login(app, "alice")  # an admin, in Europe/Berlin
        page = await app.get("/maintenance")
        assert page.text.count('action="/maintenance"') == 1 and "Start, Europe/Berlin" in page.text
        assert '<input type="checkbox" name="integrations" value="alarms">' in page.text
        csrf = csrf_of(page.text)
        berlin = ZoneInfo("Europe/Berlin")
        tomorrow = (datetime.now(berlin) + timedelta(days=1)).date()
        start, end = f"{tomorrow}T02:00", f"{tomorrow}T04:00"
        for form, words in [
            ({"integrations": []}, "choose at least one integration"),
            ({"integrations": ["nope"], "minutes": "60"}, "integrations: no integration named 'nope'"),
            ({}, "give either an end or a number of minutes"),
            ({"end": end, "minutes": "60"}, "give either an end or a number of minutes"),
            ({"minutes": "50000"}, "minutes must be a whole number from 1 to 44640"),
            ({"minutes": "-5"}, "minutes must be a whole number"),
            ({"start": "yesterday", "minutes": "5"}, "start must be a date and time like 2026-11-28T02:00"),
            ({"start": f"{tomorrow}T02:00+00:00", "minutes": "5"}, "start must be a date and time"),
            ({"start": end, "end": start}, "the window must end after its start and in the future"),
            ({"start": start, "end": f"{tomorrow + timedelta(days=40)}T02:00"}, "at most 31 days"),
            ({"reason": "", "minutes": "5"}, "reason: String should have at least 1 character"),
            ({"reason": "x" * 1000, "minutes": "5"}, "reason: String should have at most"),
            ({"match": "nope", "minutes": "5"}, "match: expected FIELD=VALUE"),
            ({"on_end": "sometimes", "minutes": "5"}, "on_end: Input should be 'page' or 'quiet'"),
        ]:
            response = await app.post("/maintenance", data=window_form(csrf, **form))
            assert response.status_code == 400 and words in html.unescape(response.text), (form, response.text)
        assert (await app.post("/maintenance", data={**window_form(csrf, minutes="5"), "csrf": ""})).status_code == 403
        assert rows(db, count) == [{"n": 0}]

        # Tomorrow 02:00-04:00 Berlin time, for one alarm only, quiet at the end.
        form = window_form(csrf, start=start, end=end, match="Message^AlarmName=prod-db", on_end="quiet")
        response = await app.post("/maintenance", data=form)
        assert response.status_code == 303 and response.headers["location"] == "/maintenance?done=%231+added"
        window = rows(db, "SELECT * FROM maintenance_windows")[0]
        expected = datetime.fromisoformat(start).replace(tzinfo=berlin).timestamp()
        assert (window["starts_at"], window["ends_at"] - window["starts_at"]) == (expected, 7200)
        assert (window["created_by"], window["integrations"], window["on_end"]) == ("alice", '["alarms"]', "quiet")
        assert json.loads(window["match"]) == {"field": "Message^AlarmName", "equals": "prod-db"}
        page = await app.get(response.headers["location"])
        assert "Window #1 added." in page.text and ">scheduled<" in page.text

        # From now, for 90 minutes: it holds the pages of what arrives meanwhile.
        response = await app.post("/maintenance", data=window_form(csrf, minutes="90"))
        assert response.status_code == 303
        window = rows(db, "SELECT * FROM maintenance_windows WHERE id = 2")[0]
        assert window["ends_at"] - window["starts_at"] == 5400
        assert abs(window["starts_at"] - app.clock.now()) < 60
        alert_id = await open_alarm(app, "DuringMaintenance")
        held = rows(db, "SELECT maintenance_id FROM inbound_log WHERE alert_id = ?", (alert_id,))
        assert held == [{"maintenance_id": 2}]
