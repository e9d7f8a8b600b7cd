"""Who may act on an alert: configured users only, through the API, the CLI and signed links;
the API records which (named) token acted. Also the API's bounds on ids, limits and bodies,
and its times (RFC 3339 beside the epoch)."""

from __future__ import annotations

import getpass
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from alertd import links
from alertd.config import ConfigError, build_config
from helpers import DaemonProcess, free_port, run_cli_in_process, write_config
from inbound_fixtures import Db, post_envelope, sample_message, sns_config
from inprocess import InProcessThread
from sns_signing import notification

CI_TOKEN = "ci-token-for-the-actor-tests-0123"
PLAIN_TOKEN = "plain-token-for-the-actor-tests-4567"
HUGE = "99999999999999999999"  # > 2^63 - 1

PEOPLE = """
[users.alice]
contact = { email = "alice@example.com" }
[users.bob]
contact = { email = "bob@example.com" }
"""


class Env(SimpleNamespace):
    daemon: DaemonProcess | InProcessThread
    db: Db
    config: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, module_backend: str) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("actors")
    # Plain strings (named token-1, token-2 by position), so the tests also run on older code.
    config = sns_config(tmp, PEOPLE, server=f'api_tokens = ["{CI_TOKEN}", "{PLAIN_TOKEN}"]')
    with InProcessThread(config) as daemon:
        yield Env(daemon=daemon, db=Db(tmp / "alertd.db"), config=config)


def open_alert(env: Env) -> int:
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    message = message.replace("ConsoleSignInFailures", f"Alarm-{uuid.uuid4().hex[:8]}")
    assert post_envelope(env.daemon, notification(message)).status_code == 200
    row = env.db.inbound()[-1]
    assert row["outcome"] == "Mapped Open"
    return row["alert_id"]


def api(env: Env, method: str, path: str, token: str = CI_TOKEN, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return env.daemon.request(method, "/api/v1" + path, headers=headers, **kw)


def alert_row(env: Env, alert_id: int) -> dict[str, Any]:
    return env.db.rows("SELECT * FROM alerts WHERE id = ?", (alert_id,))[0]


def last_event(env: Env, alert_id: int) -> dict[str, Any]:
    return env.db.rows("SELECT * FROM alert_events WHERE alert_id = ? ORDER BY id DESC LIMIT 1", (alert_id,))[0]


def refused(response: httpx.Response, status: int, words: str) -> None:
    """A 4xx with a one-line JSON reason."""
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert words in message and "\n" not in message, message


# --- item 9: only configured users act; the API records its token ------------------------------


def test_api_refuses_an_unconfigured_user_and_records_the_token(env: Env) -> None:
    alert_id = open_alert(env)
    refused(api(env, "POST", f"/alerts/{alert_id}/ack", json={"user": "nobody"}), 403, "'nobody' is not configured")
    refused(api(env, "POST", f"/alerts/{alert_id}/close", json={"user": ""}), 403, "is not configured")
    assert alert_row(env, alert_id)["status"] == "open"

    done = api(env, "POST", f"/alerts/{alert_id}/ack", json={"user": "alice"})
    assert done.status_code == 200 and done.json()["acknowledged_by"] == "alice"
    event = last_event(env, alert_id)
    assert (event["kind"], event["actor"], event["via"]) == ("acknowledged", "alice", "api")
    assert json.loads(event["detail"])["token"] == "token-1"

    # Without a user the token acts in its own name, which no configured user can have.
    closed = api(env, "POST", f"/alerts/{alert_id}/close", token=PLAIN_TOKEN)
    assert closed.status_code == 200 and closed.json()["closed_by"] == "api:token-2"
    event = last_event(env, alert_id)
    assert (event["actor"], json.loads(event["detail"])["token"]) == ("api:token-2", "token-2")


def test_cli_refuses_an_unconfigured_user(env: Env) -> None:
    alert_id = open_alert(env)
    result = run_cli_in_process("ack", str(alert_id), "--user", "mallory", "-c", str(env.config))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "Error: user 'mallory' is not configured: only users listed under [users] may act on alerts"
    ]
    assert alert_row(env, alert_id)["status"] == "open"

    result = run_cli_in_process("ack", str(alert_id), "-c", str(env.config))
    assert result.returncode == 0, result.stderr
    assert alert_row(env, alert_id)["acknowledged_by"] == f"cli:{getpass.getuser()}"
    result = run_cli_in_process("close", str(alert_id), "--user", "bob", "-c", str(env.config))
    assert result.returncode == 0, result.stderr
    assert alert_row(env, alert_id)["closed_by"] == "bob"

    result = run_cli_in_process("ack", HUGE, "-c", str(env.config))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_link_for_an_unconfigured_user_is_refused(env: Env) -> None:
    alert_id = open_alert(env)
    secret = env.db.rows("SELECT value FROM meta WHERE key = 'links_secret'")[0]["value"].encode()
    token = links.sign(secret, alert_id, "mallory", "ack", time.time() + 600)
    for method in ("GET", "POST"):
        response = env.daemon.request(method, f"/act/{token}")
        assert response.status_code == 403 and "&#x27;mallory&#x27; is not configured" in response.text
    assert alert_row(env, alert_id)["status"] == "open"
    good = links.sign(secret, alert_id, "alice", "ack", time.time() + 600)
    assert env.daemon.post(f"/act/{good}").status_code == 200
    assert alert_row(env, alert_id)["acknowledged_by"] == "alice"


def test_api_tokens_have_names() -> None:
    def tokens(value: list[Any]) -> list[str]:
        config = build_config(Path("a.toml"), {"server": {"api_tokens": value}}, None)
        return [t.name for t in config.raw.server.api_tokens]

    assert tokens(["x" * 16, {"name": "ci", "token": "y" * 16}, "z" * 16]) == ["token-1", "ci", "token-3"]
    for bad, where in (
        ([{"name": "ci", "token": "y" * 16}, {"name": "ci", "token": "z" * 16}], "expected distinct token names"),
        ([{"name": "c i", "token": "y" * 16}], "server.api_tokens[0].name"),
        (["short"], "server.api_tokens[0].token: expected API tokens of 16 to 256 characters"),
        ([{"name": "ci"}], "server.api_tokens[0].token"),
    ):
        with pytest.raises(ConfigError) as caught:
            build_config(Path("a.toml"), {"server": {"api_tokens": bad}}, None)
        assert where in str(caught.value)
        assert "short" not in str(caught.value)  # the secret itself is never shown


# --- item 11: ids, limits and bodies out of bounds get a 4xx with a reason ---------------------


def test_ids_beyond_2_63_are_404(env: Env) -> None:
    refused(api(env, "GET", f"/alerts/{HUGE}"), 404, "no alert #")
    refused(api(env, "GET", "/alerts/-1"), 404, "no alert #")
    refused(api(env, "GET", "/alerts/\u00b2"), 404, "no alert #")
    refused(api(env, "POST", f"/alerts/{HUGE}/ack"), 404, "no alert #")
    refused(api(env, "POST", f"/alerts/{HUGE}/close", json={"user": "alice"}), 404, "no alert #")
    refused(api(env, "GET", f"/inbound/{HUGE}"), 404, "no inbound message #")
    refused(api(env, "POST", f"/sns/confirm/{HUGE}"), 404, "no inbound message #")
    refused(api(env, "GET", "/alerts/9223372036854775807"), 404, "no alert #9223372036854775807")
    # Routing errors under /api/ are one JSON line too.
    refused(api(env, "GET", "/nothing"), 404, "Not Found: GET /api/v1/nothing")
    refused(api(env, "GET", "/alerts/1/ack"), 405, "Method Not Allowed")


@pytest.mark.parametrize("path", ["/alerts", "/inbound"])
@pytest.mark.parametrize("limit", ["\u00b2", "-1", "0", "1001", HUGE, "1e3", " 5"])
def test_bad_limits_are_400(env: Env, path: str, limit: str) -> None:
    refused(api(env, "GET", path, params={"limit": limit}), 400, "limit must be a whole number from 1 to 1000")


def test_limits_and_since_that_are_good(env: Env) -> None:
    open_alert(env)
    open_alert(env)
    assert len(api(env, "GET", "/alerts", params={"limit": "1"}).json()) == 1
    assert len(api(env, "GET", "/inbound", params={"limit": "1"}).json()) == 1
    assert api(env, "GET", "/inbound", params={"since": "2000-01-01T00:00:00Z"}).json()
    assert api(env, "GET", "/inbound", params={"since": "946684800"}).json()
    assert api(env, "GET", "/inbound", params={"since": "2999-01-01T00:00:00+02:00"}).json() == []
    for since in ("nan", "inf", "2026-01-05T09:00:00", "1e400", "yesterday"):
        refused(api(env, "GET", "/inbound", params={"since": since}), 400, "since must be")


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b'["alice"]', 400, "found a JSON list"),
        (b'"alice"', 400, "found a JSON str"),
        (b"{not json", 400, "the body must be a JSON object"),
        (b"[" * 3000, 400, "the body must be a JSON object"),  # nested beyond the recursion limit
        (b"[" * 100_000, 413, "at most 4096 bytes"),
        (b'{"user": 42}', 400, "user must be a string"),
        (b'{"user": "alice", "admin": true}', 400, "unknown key 'admin'"),
    ],
)
def test_bad_command_bodies_are_refused(env: Env, body: bytes, status: int, words: str) -> None:
    alert_id = open_alert(env)
    response = env.daemon.post(
        f"/api/v1/alerts/{alert_id}/ack",
        content=body,
        headers={"Authorization": f"Bearer {CI_TOKEN}", "Content-Type": "application/json"},
    )
    refused(response, status, words)
    assert alert_row(env, alert_id)["status"] == "open"


def test_dry_run_bodies_nested_too_deeply_or_too_big(env: Env) -> None:
    path = "/integrations/alarms/test"
    # Too deep for the inbound type: the dry run answers what a delivery would get (Rejected, 400).
    deep = api(env, "POST", path, content=b"[" * 100_000)
    assert deep.status_code == 200, deep.text
    assert deep.json()["outcome"] == "Rejected" and deep.json()["status"] == 400
    assert "nested deeper than" in deep.json()["reason"]
    refused(api(env, "POST", path, content=b" " * (288 * 1024 + 1)), 413, "server.max_body_bytes")
    refused(api(env, "POST", "/integrations/nope/test", content=b"{}"), 404, "no integration named 'nope'")


# --- item 19 (API): times as RFC 3339 with an offset, the epoch beside them --------------------


def test_api_times_are_rfc3339_with_the_epoch_beside(env: Env) -> None:
    alert_id = open_alert(env)
    assert api(env, "POST", f"/alerts/{alert_id}/ack", json={"user": "bob"}).status_code == 200
    alert = api(env, "GET", f"/alerts/{alert_id}").json()
    row = alert_row(env, alert_id)
    for key in ("created_at", "updated_at", "acknowledged_at"):
        shown = datetime.fromisoformat(alert[key])
        assert shown.utcoffset() is not None and alert[key].endswith("+00:00")
        assert alert[f"{key}_epoch"] == row[key]
        assert abs(shown.timestamp() - row[key]) < 0.001
    assert alert["closed_at"] is None and alert["closed_at_epoch"] is None
    event = alert["timeline"][0]
    assert datetime.fromisoformat(event["at"]).timestamp() == pytest.approx(event["at_epoch"], abs=0.001)
    assert alert["escalation"] is None or "next_due_epoch" in alert["escalation"]

    [listed] = [a for a in api(env, "GET", "/alerts").json() if a["id"] == alert_id]
    assert listed["created_at"] == alert["created_at"] and isinstance(listed["created_at_epoch"], float)
    inbound = api(env, "GET", "/inbound", params={"limit": "1"}).json()[0]
    assert datetime.fromisoformat(inbound["received_at"]).utcoffset() is not None
    shown = api(env, "GET", f"/inbound/{inbound['id']}").json()
    assert shown["received_at_epoch"] == inbound["received_at_epoch"]


# --- item 14: the confirmation form posts to its own URL (public_url with a path prefix) -----------


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self.forms.append(dict(attrs))


def prefix_proxy(prefix: str, upstream: str) -> ThreadingHTTPServer:
    """A reverse proxy that serves ``upstream`` under ``prefix`` (as nginx with location /prefix/ would)."""

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            if not self.path.startswith(prefix + "/"):
                self.send_response(404)
                self.end_headers()
                return
            length = int(self.headers.get("Content-Length") or 0)
            response = httpx.request(
                self.command, upstream + self.path[len(prefix) :], content=self.rfile.read(length), timeout=10
            )
            self.send_response(response.status_code)
            self.send_header("Content-Type", response.headers.get("content-type", "text/plain"))
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        do_GET = do_POST = _forward

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_the_confirmation_form_posts_to_its_own_url_behind_a_path_prefix(tmp_path: Path) -> None:
    port = free_port()
    proxy = prefix_proxy("/alertd", f"http://127.0.0.1:{port}")
    try:
        public = f"http://127.0.0.1:{proxy.server_address[1]}/alertd"
        config = sns_config(tmp_path, PEOPLE, port=port, server=f'public_url = "{public}"')
        with DaemonProcess(config) as daemon:
            env = Env(daemon=daemon, db=Db(tmp_path / "alertd.db"), config=config)
            alert_id = open_alert(env)
            secret = env.db.rows("SELECT value FROM meta WHERE key = 'links_secret'")[0]["value"].encode()
            # The link as a notification carries it: under public_url.
            config_obj = build_config(config, {"server": {"public_url": public}}, None)
            link = links.links_for(config_obj, secret, alert_id, "alice", time.time())["ack"]
            assert link.startswith(f"{public}/act/")

            page = httpx.get(link, timeout=10)
            assert page.status_code == 200
            parser = _Form()
            parser.feed(page.text)
            [form] = parser.forms
            assert form["method"] == "post"
            target = urljoin(link, form.get("action") or "") if form.get("action") else link
            pressed = httpx.post(target, timeout=10)  # what a browser does on the button
            assert pressed.status_code == 200 and f"Alert #{alert_id} acknowledged" in pressed.text
            assert alert_row(env, alert_id)["acknowledged_by"] == "alice"
    finally:
        proxy.shutdown()
        proxy.server_close()


@pytest.mark.parametrize(
    "args",
    [
        ("alerts", "show", "99999999999999999999"),
        ("inbound-log", "show", "99999999999999999999"),
        ("sns", "confirm", "99999999999999999999"),
        ("ack", "0"),
        ("close", "99999999999999999999"),
        ("inbound-log", "--limit", "-1"),
        ("alerts", "--limit", "²"),
    ],
)
def test_cli_ids_and_limits_out_of_range_are_usage_errors(tmp_path: Path, args: tuple[str, ...]) -> None:
    config = write_config(tmp_path, "")
    result = run_cli_in_process(*args, "-c", str(config))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Invalid value" in result.stderr
