"""Shared pieces of the channel plugin tests: notifications, a recording HTTP peer, a test CA."""

from __future__ import annotations

import datetime
import ipaddress
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from alertd.channels import Notification

PUBLIC = "https://alertd.example.test"


def make_notification(purpose: str = "alert", **overrides: Any) -> Notification:
    """A notification as the outbox would build it, for alert #42 and user alice."""
    alert = {
        "id": 42,
        "title": "Failed console login for root",
        "description": "3 failed sign-ins in 5 minutes\nfrom 203.0.113.7",
        "severity": "critical",
        "url": "https://console.aws.example/cloudtrail/event/abc",
        "tags": ["security", "aws"],
        "fields": {"account": "123456789012", "region": "us-east-1", "user_agent": "<script>x</script>"},
        "status": "open" if purpose == "alert" else "closed",
        "integration": "cloudtrail-alarms",
        "source_id": "ConsoleLoginFailures",
        "created_at": 1767600000.0,
    }
    alert.update(overrides.pop("alert", {}))
    links = (
        {
            "ack": f"{PUBLIC}/act/ACK-TOKEN-42.alice",
            "close": f"{PUBLIC}/act/CLOSE-TOKEN-42.alice",
            "view": f"{PUBLIC}/api/v1/alerts/42",
        }
        if purpose == "alert"
        else {}
    )
    values: dict[str, Any] = {
        "id": 7,
        "alert_id": 42,
        "user": "alice",
        "user_name": "Alice Example",
        "kind": "email",
        "address": "alice@example.com",
        "purpose": purpose,
        "step": "0:0" if purpose == "alert" else "closed",
        "idempotency_key": f"{purpose}:42:0:0:alice:email" if purpose == "alert" else "closed:42:alice:email",
        "attempt": 1,
        "alert": alert,
        "links": links,
        "public_url": PUBLIC,
    }
    values.update(overrides)
    return Notification(**values)


# --- a recording HTTP peer ----------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class HttpPeer:
    """A real HTTP server on 127.0.0.1 in a thread: records each request, answers with ``reply``."""

    def __init__(self, port: int = 0, responder: Callable[[Recorded], Reply] | None = None) -> None:
        self.requests: list[Recorded] = []
        self.reply = Reply()
        # Chooses the answer per request when set (fault scripts); else ``reply`` for all.
        self.responder = responder
        self._stop = threading.Event()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorded = Recorded(self.command, self.path, headers, body)
                peer.requests.append(recorded)
                reply = peer.responder(recorded) if peer.responder else peer.reply
                if reply.delay and peer._stop.wait(reply.delay):
                    return
                data = reply.body
                if isinstance(data, dict):
                    data = json.dumps(data).encode()
                elif isinstance(data, str):
                    data = data.encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout tests)
                    pass

            do_POST = do_PUT = do_GET = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> HttpPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def closed_port_url() -> str:
    """An http URL nobody listens on (connection refused)."""
    from helpers import free_port

    return f"http://127.0.0.1:{free_port()}"


# --- a self-signed certificate for 127.0.0.1 ----------------------------------------------------


def make_self_signed(directory: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem) for CN=localhost with SANs localhost and 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


# --- the configured concurrency reaches the channel object the outbox reads ----------------------
