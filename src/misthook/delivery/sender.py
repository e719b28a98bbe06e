"""The HTTP sender: POSTs prepared requests through one pooled aiohttp session.

Remote failures are values: ``send`` returns a ``SendOutcome`` for every answer, timeout,
refused connection, TLS failure or egress refusal, and raises only for programming errors.

- Only 2xx is success. Redirects are never followed (a 3xx is a failure, "redirect not
  followed"): a receiver must not be able to point us at an internal address.
- Connections go through ``VettingResolver``: aiohttp dials exactly the addresses the
  egress policy vetted. IP-literal hosts, which aiohttp does not resolve, are vetted here.
- ``verify_cert=False`` turns off TLS verification for that request only (aiohttp keys its
  pool by the TLS setting, so verified and unverified connections are never shared).
- Requests carry only our headers plus Host and Content-Length: aiohttp's automatic
  ``Accept`` and ``Accept-Encoding`` are skipped, as Mist's deliveries show none.
- Cookies from receivers are ignored; proxy variables in the environment are ignored
  (a proxy would resolve names itself, behind the guard's back).
"""

from __future__ import annotations

import dataclasses
import email.utils
import ssl
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from misthook.delivery.message import USER_AGENT, OutgoingRequest, redact_url
from misthook.delivery.resolver import EgressRefused, VettingResolver
from misthook.domain.egress import EgressPolicy, literal_host_ip

FORM_BODY_MAX_BYTES = 65536  # OAuth2 token answers can be longer than a logged body
_URL_CACHE_MAX = 4096


@dataclasses.dataclass(frozen=True, slots=True)
class SendOutcome:
    ok: bool  # 2xx only
    status_code: int | None  # None: no response
    error: str  # "" if none
    resp_headers: dict[str, list[str]]
    resp_body: bytes  # capped
    latency_s: float
    retry_after_s: float | None  # parsed Retry-After: seconds or HTTP date
    refused: bool = False  # the egress guard said no; nothing was sent


class Sender:
    """One keep-alive pool for all deliveries of a process (or a worker)."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        connect_timeout_s: float = 5.0,
        total_timeout_s: float = 10.0,
        resp_body_max_bytes: int = 4096,
        max_conns_per_host: int = 16,
        max_conns: int = 1024,
        keepalive_s: float = 30.0,
        exempt: Callable[[str], bool] | None = None,
    ) -> None:
        self._policy = policy
        # URLs the egress guard lets through although their literal host is refused
        # (this server's own request bins, see services/bins.OwnBinUrls)
        self._exempt = exempt
        self._timeout = aiohttp.ClientTimeout(total=total_timeout_s, sock_connect=connect_timeout_s)
        self._total_timeout_s = total_timeout_s
        self._resp_body_max_bytes = resp_body_max_bytes
        self._max_conns_per_host = max_conns_per_host
        self._max_conns = max_conns
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        # url -> (parsed URL, egress refusal of its literal host or None); bounded
        self._urls: dict[str, tuple[URL, str | None]] = {}

    async def start(self) -> None:
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            resolver=VettingResolver(self._policy),
            limit=self._max_conns,
            limit_per_host=self._max_conns_per_host,
            keepalive_timeout=self._keepalive_s,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            skip_auto_headers=("Accept", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> Sender:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def send(self, req: OutgoingRequest) -> SendOutcome:
        """POST ``req``; every remote failure comes back as an outcome."""
        return await self._post(
            req.url, req.headers, req.body, req.verify_cert, self._resp_body_max_bytes
        )

    async def post_form(self, url: str, data: Mapping[str, str], verify_cert: bool) -> SendOutcome:
        """POST an ``application/x-www-form-urlencoded`` form (OAuth2 token requests)."""
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        body = urlencode(data).encode()
        return await self._post(url, headers, body, verify_cert, FORM_BODY_MAX_BYTES)

    async def _post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        verify_cert: bool,
        body_max_bytes: int,
    ) -> SendOutcome:
        session = self._session
        if session is None:
            raise RuntimeError("Sender.start() was not called")
        started = time.perf_counter()
        try:
            target, refusal = self._vet_url(url)
        except ValueError as exc:
            return _failure(f"invalid URL: {exc}", started)
        if refusal is not None:
            return _failure(refusal, started, refused=True)
        try:
            async with session.post(
                target,
                data=body,
                headers=headers,
                allow_redirects=False,
                ssl=verify_cert,  # False: no verification for this request only
            ) as resp:
                resp_body = await _read_capped(resp.content, body_max_bytes)
                status = resp.status
                return SendOutcome(
                    ok=200 <= status < 300,
                    status_code=status,
                    error=_status_error(status, resp.reason),
                    resp_headers=_header_lists(resp.headers),
                    resp_body=resp_body,
                    latency_s=time.perf_counter() - started,
                    retry_after_s=parse_retry_after(resp.headers.get("Retry-After")),
                )
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, EgressRefused):
                return _failure(exc.os_error.reason, started, refused=True)
            return _failure(f"cannot resolve {exc.host}: {exc.os_error}", started)
        except aiohttp.ClientConnectorCertificateError as exc:
            return _failure(f"TLS certificate not trusted: {exc.certificate_error}", started)
        except aiohttp.ClientConnectorError as exc:
            return _failure(f"cannot connect to {exc.host}:{exc.port}: {exc.os_error}", started)
        except TimeoutError:
            return _failure(f"timed out after {self._total_timeout_s:g} s", started)
        except (aiohttp.ClientError, ssl.SSLError, OSError, ValueError) as exc:
            # the message can carry the URL; keep credentials out of it
            return _failure(f"{type(exc).__name__}: {_scrub(str(exc), url)}".rstrip(": "), started)

    def _vet_url(self, url: str) -> tuple[URL, str | None]:
        cached = self._urls.get(url)
        if cached is not None:
            return cached
        target = URL(url)
        if target.scheme not in ("http", "https") or not target.raw_host:
            raise ValueError("only http and https URLs with a host can be sent to")
        host = target.raw_host
        # aiohttp skips the resolver for IP literals, so they are judged here
        literal = literal_host_ip(host)
        refusal = None if literal is None else self._policy.check_ip(literal)
        if refusal is not None and self._exempt is not None and self._exempt(url):
            refusal = None
        if len(self._urls) >= _URL_CACHE_MAX:
            self._urls.clear()
        self._urls[url] = (target, refusal)
        return target, refusal


async def _read_capped(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """At most ``limit`` bytes of the body; the rest is never read (nor kept)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _status_error(status: int, reason: str | None) -> str:
    if 200 <= status < 300:
        return ""
    if 300 <= status < 400:
        return "redirect not followed"
    return f"HTTP {status} {reason or ''}".rstrip()


def _header_lists(headers: CIMultiDictProxy[str]) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for name, value in headers.items():
        lists.setdefault(name, []).append(value)
    return lists


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _failure(error: str, started: float, *, refused: bool = False) -> SendOutcome:
    return SendOutcome(
        ok=False,
        status_code=None,
        error=error,
        resp_headers={},
        resp_body=b"",
        latency_s=time.perf_counter() - started,
        retry_after_s=None,
        refused=refused,
    )


def _scrub(message: str, url: str) -> str:
    clean = redact_url(url)
    return message.replace(url, clean) if clean != url else message
