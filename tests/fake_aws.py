"""A fake Amazon SNS endpoint for tests: a local HTTPS server that presents a certificate for
sns.us-east-1.amazonaws.com (signed by a throwaway CA), reachable through a local CONNECT
proxy. Point httpx (or a daemon subprocess) at it with HTTPS_PROXY and SSL_CERT_FILE: the
real protocols run, and nothing leaves this host.
"""

from __future__ import annotations

import select
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_tls_ca_and_server(tmp_path: Path, dns_name: str) -> tuple[Path, Path, Path]:
    """(CA pem, server cert pem, server key pem) files; EC keys because they are instant."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("alertd test CA"))
        .issuer_name(_name("alertd test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_name))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_file, cert_file, key_file


@dataclass
class FakeSNS:
    """A local HTTPS 'sns.us-east-1.amazonaws.com' reachable only through a local CONNECT proxy."""

    ca_file: Path
    proxy_url: str
    # path -> (status, headers, body)
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (Host header, path)
    connects: list[str] = field(default_factory=list)  # CONNECT targets seen by the proxy
    stop: Callable[[], None] = lambda: None

    def env(self) -> dict[str, str]:
        """Environment for a process (a daemon) that should reach this fake through the proxy."""
        return {
            "HTTPS_PROXY": self.proxy_url,
            "https_proxy": self.proxy_url,
            "SSL_CERT_FILE": str(self.ca_file),
            "NO_PROXY": "",
            "no_proxy": "",
        }


def start_fake_sns(tmp_path: Path, dns_name: str = "sns.us-east-1.amazonaws.com") -> FakeSNS:
    """Start the fake; call ``.stop()`` when done."""
    ca_file, cert_file, key_file = make_tls_ca_and_server(tmp_path, dns_name)
    state = FakeSNS(ca_file=ca_file, proxy_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append((self.headers.get("Host", ""), self.path))
            status, headers, body = state.routes.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers and "X-No-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_ctx.load_cert_chain(cert_file, key_file)
    https = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    https.socket = tls_ctx.wrap_socket(https.socket, server_side=True)
    tls_port = https.server_address[1]

    class Tunnel(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            client: socket.socket = self.request
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target, _version = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            state.connects.append(f"{method} {target}")
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            # Whatever the target, tunnel to the local TLS server: nothing leaves this host.
            with socket.create_connection(("127.0.0.1", tls_port)) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                pending = head.split(b"\r\n\r\n", 1)[1]
                if pending:
                    upstream.sendall(pending)
                socks = [client, upstream]
                while True:
                    readable, _w, _x = select.select(socks, [], [], 10)
                    if not readable:
                        return
                    for sock in readable:
                        data = sock.recv(65536)
                        if not data:
                            return
                        (upstream if sock is client else client).sendall(data)

    class ProxyServer(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    proxy = ProxyServer(("127.0.0.1", 0), Tunnel)
    state.proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
    threads = [
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for server in (https, proxy)
    ]
    for t in threads:
        t.start()

    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            for server in (proxy, https):
                server.shutdown()
                server.server_close()
            for t in threads:
                t.join(5)

    state.stop = stop
    return state
