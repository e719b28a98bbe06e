"""Configuration: one frozen value, read from ``MISTHOOK_*`` variables and CLI flags.

``load_config`` is the only reader of the environment. Every field has a default and
a one-line comment; the variable for field ``foo_bar`` is ``MISTHOOK_FOO_BAR``.
Lists are comma-separated.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from typing import Any, get_type_hints

from misthook.errors import ConfigError

ENV_PREFIX = "MISTHOOK_"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    # where the data lives: a SQLite path, "memory://", or a postgresql:// URL
    database: str = "./misthook.db"
    # address and port the HTTP(S) server listens on
    host: str = "127.0.0.1"
    port: int = 8000
    # TLS certificate and key files (PEM); both or neither
    tls_cert: str = ""
    tls_key: str = ""
    # serve HTTPS with a certificate generated at start (for Mist clients that insist on https)
    tls_self_signed: bool = False
    # run delivery workers inside `misthook serve` (off when separate `misthook worker`s run)
    serve_workers: bool = True
    # API calls allowed per token per hour (Mist: 5000)
    rate_limit_per_hour: int = 5000
    # networks deliveries may reach although not global (e.g. 127.0.0.0/8 for local receivers)
    egress_allow: tuple[str, ...] = ()
    # connect and total timeouts of one delivery attempt
    connect_timeout_s: float = 5.0
    total_timeout_s: float = 10.0
    # upper bounds of one message: events and JSON body bytes
    batch_max_events: int = 1000
    batch_max_bytes: int = 1_048_576
    # waits between attempts of one message; jitter of +-20% is added; about two days in all
    retry_schedule_s: tuple[float, ...] = (
        5,
        30,
        120,
        600,
        1800,
        3600,
        7200,
        14400,
        28800,
        43200,
        43200,
        43200,
    )
    # longest wait a receiver's Retry-After header may ask for
    retry_after_max_s: float = 3600.0
    # a webhook failing with no success for this long is disabled
    disable_after_failing_s: float = 5 * 86400.0
    # events and delivery logs older than this are pruned
    retention_s: float = 7 * 86400.0
    # how long a worker owns a stream before another may take it over (renewed while working)
    lease_s: float = 30.0
    # polling interval when no wake-up arrives (PostgreSQL NOTIFY or in-process)
    poll_interval_s: float = 1.0
    # a stopping worker waits this long for the answers to messages in flight (0: none; at most
    # half of MISTHOOK_LEASE_S)
    stop_grace_s: float = 5.0
    # a delivering process logs what it delivered this often, while it delivers (0: never)
    progress_interval_s: float = 10.0
    # messages in flight at once on one single_event_per_message stream (1: strictly in order)
    single_event_in_flight: int = 16
    # messages in flight at once per receiver host, in each process that delivers
    max_in_flight_per_host: int = 16
    # largest body the publish API accepts
    publish_max_bytes: int = 16_777_216
    # response body bytes kept in the delivery log
    log_body_max_bytes: int = 4096
    # request bins: requests kept per bin and lifetime of a bin
    bin_max_requests: int = 200
    bin_ttl_s: float = 7 * 86400.0
    # sign-in of the admin that `misthook init` creates
    admin_email: str = "admin@misthook.local"
    admin_password: str = ""
    # event sources: devices are told to heartbeat this often (seconds)
    heartbeat_interval_s: float = 10.0
    # a connected device whose heartbeats stop this long is disconnected (AP_DISCONNECTED)
    disconnect_after_s: float = 30.0
    # a device disconnected this long gets AP_DISCONNECTED_LONG
    disconnect_long_after_s: float = 600.0
    # seconds per minute of a site's device_updown_threshold (tests shrink it)
    updown_minute_s: float = 60.0
    # incidents of one alarm type at one site within this window make one alarm
    alarm_window_s: float = 300.0
    # how often the monitor checks heartbeats, delayed updowns and scheduled upgrades
    monitor_interval_s: float = 1.0
    # run the monitor with the workers (one monitor per deployment: off on extra workers)
    run_monitor: bool = True
    # newest events this process appended, kept in memory for delivery (0: no cache)
    tail_cache_events: int = 200_000
    # memory bound of that cache in bytes (0: no cache)
    tail_cache_bytes: int = 134_217_728
    # events that store reads returned, kept for the other webhooks of the topic (0: off)
    read_cache_events: int = 50_000
    # memory bound of that cache in bytes (0: off)
    read_cache_bytes: int = 33_554_432

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("MISTHOOK_TLS_CERT and MISTHOOK_TLS_KEY go together: set both.")
        if self.tls_cert and self.tls_self_signed:
            raise ConfigError("Choose either a TLS certificate or --tls-self-signed, not both.")
        for net in self.egress_allow:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ConfigError(
                    f"MISTHOOK_EGRESS_ALLOW: {net!r} is not a network; write a CIDR such "
                    "as 127.0.0.0/8"
                ) from exc
        positive = ("port", "rate_limit_per_hour", "batch_max_events", "batch_max_bytes")
        for name in (*positive, "single_event_in_flight", "max_in_flight_per_host"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"MISTHOOK_{name.upper()} must be positive.")
        caches = ("tail_cache_events", "tail_cache_bytes", "read_cache_events", "read_cache_bytes")
        for name in (*caches, "stop_grace_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"MISTHOOK_{name.upper()} must be 0 (off) or more.")
        if not self.retry_schedule_s:
            raise ConfigError("MISTHOOK_RETRY_SCHEDULE_S needs at least one wait.")

    @property
    def tls_enabled(self) -> bool:
        return bool(self.tls_cert) or self.tls_self_signed


def _parse(name: str, raw: str, kind: Any) -> Any:
    try:
        if kind is bool:
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind == tuple[str, ...]:
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        if kind == tuple[float, ...]:
            return tuple(float(p) for p in raw.split(",") if p.strip())
        return raw
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind}.") from exc


def load_config(environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """Build the Config from ``environ`` (default ``os.environ``), then ``overrides``.

    Overrides whose value is None are ignored, so CLI flags left unset fall through.
    """
    env = os.environ if environ is None else environ
    hints = get_type_hints(Config)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Config):
        raw = env.get(ENV_PREFIX + field.name.upper())
        if raw is not None:
            values[field.name] = _parse(field.name, raw, hints[field.name])
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config(**values)
