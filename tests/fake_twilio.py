"""A fake Twilio REST API on a local port, enough for the ``twilio`` client: create Messages and Calls.

Requests are checked (HTTP basic auth with the account SID and Auth Token, the account in
the path) and recorded with their form parameters; each answers 201 with a resource like
Twilio's. ``fail_next`` makes the next requests answer an error instead (500, 429, or a
400 with Twilio's error JSON). ``signature`` signs a webhook the way Twilio does, so tests
can drive alertd's Twilio webhooks as Twilio would.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
FROM_NUMBER = "+15005550006"


def signature(url: str, params: dict[str, Any] | None = None, token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature of a webhook request to ``url`` with these form parameters."""
    return RequestValidator(token).compute_signature(url, params or {})


@dataclass
class Recorded:
    resource: str  # "Messages" or "Calls"
    path: str
    params: dict[str, Any]  # one value per key, or a list when the key repeats
    headers: dict[str, str]
    sid: str | None = None  # of the created resource (None when the request was failed)


@dataclass
class Failure:
    status: int
    code: int | None = None
    message: str = ""
    resource: str | None = None  # only for this resource ("Messages", "Calls"); None: any


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    requests: list[Recorded] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(
        self, count: int, status: int, code: int | None = None, message: str = "", resource: str | None = None
    ) -> None:
        """Answer the next ``count`` create requests (of ``resource``, or any) with this error
        instead of creating anything."""
        with self._cond:
            self.failures.extend(Failure(status, code, message, resource) for _ in range(count))

    def created(self, resource: str) -> list[Recorded]:
        with self._cond:
            return [r for r in self.requests if r.resource == resource and r.sid is not None]

    def wait_for(
        self,
        resource: str,
        match: Callable[[Recorded], bool] | None = None,
        timeout: float = 10,
        **params: str,
    ) -> Recorded:
        """The first created ``resource`` whose parameters include ``params`` (and that ``match``
        accepts); waits for it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self.requests:
                    if (
                        r.resource == resource
                        and r.sid
                        and all(r.params.get(k) == v for k, v in params.items())
                        and (match is None or match(r))
                    ):
                        return r
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(r.resource, r.params.get("To")) for r in self.requests]
                    raise AssertionError(f"no {resource} with {params} within {timeout}s; seen: {seen}")
                self._cond.wait(left)

    # --- the API -------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode("utf-8")
        parsed = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(body, keep_blank_values=True).items()}
        prefix = f"/2010-04-01/Accounts/{self.account_sid}/"
        resource = handler.path.removeprefix(prefix).removesuffix(".json")
        if not handler.path.startswith(prefix) or resource not in ("Messages", "Calls"):
            self._answer(handler, 404, self._error(20404, f"The requested resource {handler.path} was not found", 404))
            return
        if handler.headers.get("Authorization") != self._basic_auth():
            self._answer(handler, 401, self._error(20003, "Authenticate", 401))
            return
        record = Recorded(resource, handler.path, parsed, dict(handler.headers.items()))
        with self._cond:
            failure = next((f for f in self.failures if f.resource in (None, resource)), None)
            if failure is not None:
                self.failures.remove(failure)
            if failure is None:
                record.sid = ("SM" if resource == "Messages" else "CA") + uuid.uuid4().hex
            self.requests.append(record)
            self._cond.notify_all()
        if failure is not None:
            if failure.code is None:
                self._answer(handler, failure.status, {"message": "fake failure", "status": failure.status})
            else:
                self._answer(handler, failure.status, self._error(failure.code, failure.message, failure.status))
            return
        assert record.sid is not None
        self._answer(handler, 201, self._resource(resource, record.sid, parsed))

    def _basic_auth(self) -> str:
        return "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()

    @staticmethod
    def _error(code: int, message: str, status: int) -> dict[str, Any]:
        return {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }

    def _resource(self, resource: str, sid: str, params: dict[str, Any]) -> dict[str, Any]:
        now = formatdate(usegmt=True)
        common = {
            "sid": sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "to": params.get("To"),
            "from": params.get("From"),
            "status": "queued",
            "date_created": now,
            "date_updated": now,
            "price": None,
            "price_unit": "USD",
        }
        if resource == "Messages":
            return {
                **common,
                "body": params.get("Body", ""),
                "date_sent": None,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": "1",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
                "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            }
        return {
            **common,
            "direction": "outbound-api",
            "start_time": None,
            "end_time": None,
            "duration": None,
            "answered_by": None,
            "caller_name": None,
            "forwarded_from": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "queue_time": "0",
            "to_formatted": params.get("To"),
            "from_formatted": params.get("From"),
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json",
            "subresource_uris": {},
        }

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, data: dict[str, Any]) -> None:
        payload = json.dumps(data).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
