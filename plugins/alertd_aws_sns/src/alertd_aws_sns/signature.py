"""Amazon SNS message signatures and the signing-certificate cache.

SNS signs every HTTP(S) delivery with a key whose X.509 certificate it publishes at
``SigningCertURL``. We only trust certificates fetched over HTTPS from an SNS host
(the TLS chain to Amazon's CA is what vouches for them), then check the message's
signature over the canonical "string to sign".

Errors come in two kinds, because SNS retries on 5xx but not on 4xx:

- ``SignatureError``: the message itself is bad (forged, tampered, bad URL) -> 403.
- ``CertificateUnavailable``: we could not get the certificate right now -> 5xx, so
  SNS redelivers later and nothing is lost.

Certificate cache: fetched certificates are kept in memory and written to
``cache_dir / cache_filename(url)``, i.e. ``{host}_{basename}``, for example
``sns.us-east-1.amazonaws.com_SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem``.
A file found there is used without any network access, so operators of hosts that
have no outbound HTTPS can pre-seed the cache by copying the PEM to that name
(``CertificateCache.put_pem`` does it with the same checks).
"""

from __future__ import annotations

import binascii
import functools
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

import trio

from alertd.plugin import error_with_cause, get_logger, make_private_dirs

if TYPE_CHECKING:
    import httpx
    from cryptography import x509

# cryptography is imported by the first certificate loaded or signature checked, not when the
# daemon loads its plugins (its x509 module is a large part of a start-up's imports).

log = get_logger("alertd.aws_sns.signature")

__all__ = [
    "SNS_HOST_RE",
    "CertificateCache",
    "CertificateUnavailable",
    "SignatureError",
    "cache_filename",
    "cert_url_problem",
    "load_pem_certificate",
    "sns_host_for_topic",
    "string_to_sign",
    "topic_region",
    "validate_cert_url",
    "validate_sns_url_for_topic",
    "verify_signature",
]


class SignatureError(Exception):
    """The message must be rejected (HTTP 403): forged, tampered or malformed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CertificateUnavailable(Exception):
    """The signing certificate could not be obtained now; answer 5xx so SNS retries."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Regions look like us-east-1, eu-west-2, cn-north-1, us-gov-west-1, ap-southeast-4.
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"
SNS_HOST_RE = re.compile(rf"^sns\.{_REGION}\.amazonaws\.com(?:\.cn)?$")
# One path segment of safe characters: SNS serves its certificates at the root, and the
# basename becomes a file name in the disk cache, so nothing that could walk directories.
_CERT_PATH_RE = re.compile(r"^/[A-Za-z0-9][A-Za-z0-9._-]*\.pem$")
_TOPIC_ARN_RE = re.compile(rf"^arn:(aws|aws-cn|aws-us-gov):sns:({_REGION}):(\d{{12}}):([A-Za-z0-9_.-]+)$")


def _split_https(url: str, what: str) -> tuple[SplitResult, str]:
    """Parse an https URL with no userinfo and no port but 443; return it and its lowercase host."""
    if not isinstance(url, str) or not url:
        raise SignatureError(f"{what} is missing")
    # Reject anything a parser might read differently from httpx: spaces, controls, non-ASCII,
    # backslashes.
    if any(not (0x21 <= ord(c) <= 0x7E) or c == "\\" for c in url):
        raise SignatureError(f"{what} contains characters not allowed in a URL")
    parts = urlsplit(url)
    if parts.scheme.lower() != "https":
        raise SignatureError(f"{what} must use https")
    if "@" in parts.netloc:
        raise SignatureError(f"{what} must not contain user information")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError as exc:
        raise SignatureError(f"{what} has an invalid port") from exc
    if port not in (None, 443):
        raise SignatureError(f"{what} must not use a port other than 443")
    if parts.netloc.lower() not in (host, f"{host}:443"):
        raise SignatureError(f"{what} has a malformed host")
    if parts.fragment or url.endswith("#"):
        raise SignatureError(f"{what} must not have a fragment")
    return parts, host


def validate_cert_url(url: str) -> None:
    """Accept only ``https://sns.<region>.amazonaws.com[.cn]/<name>.pem``."""
    parts, host = _split_https(url, "SigningCertURL")
    if not SNS_HOST_RE.match(host):
        raise SignatureError(f"SigningCertURL host {host!r} is not an Amazon SNS host")
    if parts.query or "?" in url:
        raise SignatureError("SigningCertURL must not have a query")
    if not _CERT_PATH_RE.match(parts.path):
        raise SignatureError("SigningCertURL path must be a single .pem file name")


# The caches below keep the few topics and certificate URLs a deployment sees. They are filled
# before the signature is checked (from what anyone with the URL sends): a longer string than any
# real ARN (256) or certificate URL is answered without being kept, so they hold little memory.
CACHED_CHARS = 1024


def cert_url_problem(url: str, topic_arn: str) -> str | None:
    """Why ``url`` may not sign the messages of ``topic_arn`` (``validate_cert_url``, and the SNS
    host of the topic's region), or None. Cached: every message repeats the same few pairs."""
    if len(url) + len(topic_arn) <= CACHED_CHARS:
        return _cert_url_problem(url, topic_arn)
    return _cert_url_problem.__wrapped__(url, topic_arn)


@functools.lru_cache(maxsize=256)
def _cert_url_problem(url: str, topic_arn: str) -> str | None:
    try:
        validate_cert_url(url)
    except SignatureError as exc:
        return exc.reason
    if urlsplit(url).hostname != sns_host_for_topic(topic_arn):
        return f"SigningCertURL is not on the SNS host of the topic's region {topic_region(topic_arn)}"
    return None


def topic_region(topic_arn: str) -> str | None:
    """``arn:aws:sns:us-east-1:123456789012:name`` -> ``us-east-1``; None if not an SNS topic ARN.
    Cached (a regex match per message was a percent of an ingest worker's time)."""
    if not isinstance(topic_arn, str):
        return None
    if len(topic_arn) <= CACHED_CHARS:
        return _topic_region(topic_arn)
    return _topic_region.__wrapped__(topic_arn)


@functools.lru_cache(maxsize=256)
def _topic_region(topic_arn: str) -> str | None:
    m = _TOPIC_ARN_RE.match(topic_arn)
    return m.group(2) if m else None


def sns_host_for_topic(topic_arn: str) -> str | None:
    """The SNS endpoint host of the topic's region (``.amazonaws.com.cn`` in the aws-cn partition)."""
    m = _TOPIC_ARN_RE.match(topic_arn) if isinstance(topic_arn, str) else None
    if not m:
        return None
    partition, region = m.group(1), m.group(2)
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"sns.{region}.{suffix}"


def validate_sns_url_for_topic(url: str, topic_arn: str) -> None:
    """SSRF guard before fetching a SubscribeURL: it must point at the topic's own SNS endpoint."""
    expected = sns_host_for_topic(topic_arn)
    if expected is None:
        raise SignatureError(f"TopicArn {topic_arn!r} is not an SNS topic ARN")
    _parts, host = _split_https(url, "SubscribeURL")
    if host != expected:
        raise SignatureError(f"SubscribeURL host {host!r} is not {expected!r}, the topic's SNS endpoint")


_SIGNED_KEYS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_KEYS["UnsubscribeConfirmation"] = _SIGNED_KEYS["SubscriptionConfirmation"]
_OPTIONAL_KEYS = frozenset({"Subject"})


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical bytes SNS signs: ``key\\nvalue\\n`` for each signed key, in this order."""
    msg_type = message.get("Type")
    keys = _SIGNED_KEYS.get(msg_type) if isinstance(msg_type, str) else None
    if keys is None:
        raise SignatureError(f"unknown message Type {msg_type!r}")
    out: list[str] = []
    for key in keys:
        value = message.get(key)
        if value is None:
            # Subject is only signed when the publisher set one.
            if key in _OPTIONAL_KEYS:
                continue
            raise SignatureError(f"message is missing {key}")
        if not isinstance(value, str):
            raise SignatureError(f"message field {key} is not a string")
        out.append(f"{key}\n{value}\n")
    return "".join(out).encode("utf-8")


def verify_signature(message: Mapping[str, Any], certificate: x509.Certificate, *, now: datetime | None = None) -> None:
    """Raise SignatureError unless ``message`` is signed by ``certificate``'s key and the cert is valid."""
    version = message.get("SignatureVersion")
    invalid_signature, rsa_public_key, pkcs1v15, algorithms = _crypto()
    algorithm = algorithms.get(version) if isinstance(version, str) else None
    if algorithm is None:
        raise SignatureError(f"unsupported SignatureVersion {version!r}")
    raw_signature = message.get("Signature")
    if not isinstance(raw_signature, str) or not raw_signature:
        raise SignatureError("message has no Signature")
    try:
        # strict: only the base64 alphabet, padded right (as b64decode(validate=True), without its regex)
        signature = binascii.a2b_base64(raw_signature, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("Signature is not valid base64") from exc
    data = string_to_sign(message)

    now = now or datetime.now(UTC)
    not_before, not_after, key = _validity_and_key(certificate)
    if now < not_before:
        raise SignatureError(f"signing certificate is not valid before {not_before}")
    if now > not_after:
        raise SignatureError(f"signing certificate expired at {not_after}")
    if not isinstance(key, rsa_public_key):
        raise SignatureError("signing certificate key is not RSA")
    try:
        key.verify(signature, data, pkcs1v15, algorithm)
    except invalid_signature as exc:
        raise SignatureError("signature does not match the message") from exc


@functools.cache
def _crypto() -> tuple[type[Exception], type, Any, dict[str, Any]]:
    """cryptography's names and the (stateless) padding and hash objects, imported and made once,
    not per message: InvalidSignature, RSAPublicKey, PKCS1v15, and the hash of each SignatureVersion."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    return InvalidSignature, rsa.RSAPublicKey, padding.PKCS1v15(), {"1": hashes.SHA1(), "2": hashes.SHA256()}


@functools.lru_cache(maxsize=64)
def _validity_and_key(certificate: x509.Certificate) -> tuple[datetime, datetime, Any]:
    """A certificate's validity and public key, decoded once per certificate, not per message."""
    return certificate.not_valid_before_utc, certificate.not_valid_after_utc, certificate.public_key()


def cache_filename(url: str) -> str:
    """Disk-cache file name for a (validated) SigningCertURL: ``{host}_{basename}``."""
    validate_cert_url(url)
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}_{parts.path.rsplit('/', 1)[-1]}"


def load_pem_certificate(pem: bytes) -> x509.Certificate:
    """Parse one PEM certificate; ValueError if it is not one."""
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError("not a PEM certificate")
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem)


def _write_atomic(path: Path, data: bytes) -> None:
    # Temp file in the same directory + os.replace: readers never see a half-written PEM.
    # Private like the database (0700 directories, 0600 files) whatever the umask.
    make_private_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _read_cached(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class CertificateCache:
    """SNS signing certificates by URL: memory, then ``cache_dir``, then HTTPS.

    ``client_factory`` builds the httpx.AsyncClient for one fetch (tests inject transports);
    the default client reads HTTPS_PROXY / NO_PROXY / SSL_CERT_FILE from the environment
    when it is created, which is per fetch, so proxy settings apply without a restart.
    """

    def __init__(
        self,
        cache_dir: Path | None,
        *,
        timeout: float = 5.0,
        max_bytes: int = 64 * 1024,
        client_factory: Callable[[], httpx.AsyncClient] | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._client_factory = client_factory or self._default_client
        self._memory: dict[str, x509.Certificate] = {}
        self._locks: dict[str, trio.Lock] = {}

    def _default_client(self) -> httpx.AsyncClient:
        # No redirects: a redirect could lead off the validated SNS host.
        import httpx  # on first use, like cryptography

        return httpx.AsyncClient(trust_env=True, follow_redirects=False, timeout=self.timeout)

    def cache_path(self, url: str) -> Path | None:
        return self.cache_dir / cache_filename(url) if self.cache_dir is not None else None

    async def get(self, url: str) -> x509.Certificate:
        """The certificate at ``url``; SignatureError for a bad URL, CertificateUnavailable if unfetchable."""
        cert = self._memory.get(url)
        if cert is not None:  # (only a valid URL is ever stored)
            return cert
        validate_cert_url(url)
        lock = self._locks.setdefault(url, trio.Lock())
        try:
            async with lock:
                # Another task may have fetched it while we waited for the lock.
                cert = self._memory.get(url)
                if cert is None:
                    cert = await self._load_from_disk(url) or await self._fetch(url)
                    self._memory[url] = cert
                return cert
        finally:
            # Drop the lock once nobody holds or waits for it, so odd URLs do not pile up.
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._locks.pop(url, None)

    async def _load_from_disk(self, url: str) -> x509.Certificate | None:
        path = self.cache_path(url)
        if path is None:
            return None
        try:
            pem = await trio.to_thread.run_sync(_read_cached, path)
        except OSError as exc:
            log.warning("sns.cert_cache.unreadable", path=str(path), error=str(exc))
            return None
        if pem is None:
            return None
        try:
            return load_pem_certificate(pem)
        except ValueError as exc:
            # A broken file is not fatal: fetching again overwrites it.
            log.warning("sns.cert_cache.invalid", path=str(path), error=str(exc))
            return None

    async def _fetch(self, url: str) -> x509.Certificate:
        pem = await self._download(url)
        try:
            cert = load_pem_certificate(pem)
        except ValueError as exc:
            raise CertificateUnavailable(f"{url} did not return a PEM certificate: {exc}") from exc
        path = self.cache_path(url)
        if path is not None:
            try:
                await trio.to_thread.run_sync(_write_atomic, path, pem)
            except OSError as exc:
                # Still usable from memory; only the restart-survival is lost.
                log.warning("sns.cert_cache.write_failed", path=str(path), error=str(exc))
        log.info("sns.cert_fetched", url=url, cached_to=str(path) if path else None)
        return cert

    async def _download(self, url: str) -> bytes:
        import httpx

        try:
            # Overall deadline as well as httpx's per-operation timeouts: a server that
            # trickles bytes must not hold an inbound request for long.
            with trio.fail_after(self.timeout * 2):
                async with self._client_factory() as client, client.stream("GET", url) as response:
                    if response.status_code != 200:
                        raise CertificateUnavailable(f"{url} answered HTTP {response.status_code}")
                    declared = response.headers.get("Content-Length")
                    if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                        raise CertificateUnavailable(f"{url} is larger than {self.max_bytes} bytes")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > self.max_bytes:
                            raise CertificateUnavailable(f"{url} is larger than {self.max_bytes} bytes")
                    return bytes(body)
        except trio.TooSlowError as exc:
            raise CertificateUnavailable(f"fetching {url} timed out") from exc
        except httpx.HTTPError as exc:
            raise CertificateUnavailable(f"fetching {url} failed: {error_with_cause(exc)}") from exc
        except OSError as exc:
            raise CertificateUnavailable(f"fetching {url} failed: {error_with_cause(exc)}") from exc

    def put_pem(self, url: str, pem: bytes) -> x509.Certificate:
        """Pre-seed the cache for ``url`` (operator command, tests). SignatureError / ValueError if bad."""
        validate_cert_url(url)
        cert = load_pem_certificate(pem)
        path = self.cache_path(url)
        if path is not None:
            _write_atomic(path, pem)
        self._memory[url] = cert
        return cert
