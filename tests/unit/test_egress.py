"""Egress policy decisions: pure checks of addresses, spellings and URLs (no sockets)."""

from __future__ import annotations

import pytest

from misthook.domain.egress import EgressPolicy, literal_host_ip

DEFAULT = EgressPolicy()

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("100.127.255.255", "shared (CGNAT)"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("192.0.0.8", "reserved"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("192.88.99.1", "reserved"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "private"),
    ("fd00:ec2::254", "private"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("100::1", "discard-only"),
    ("2001::1", "reserved"),
    ("5f00::1", "reserved"),
    ("64:ff9b:1::1", "local NAT64"),
    ("4000::1", "reserved"),
    # IPv6 forms carrying a refused IPv4 address are judged by that address
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:7f00:1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:10.0.0.1", "private"),
    ("::169.254.169.254", "link-local"),
    ("::127.0.0.1", "loopback"),
    ("64:ff9b::a9fe:a9fe", "link-local"),
    ("64:ff9b::7f00:1", "loopback"),
    ("2002:a9fe:a9fe::1", "link-local"),
    ("2002:7f00:1::", "loopback"),
    ("2002:c0a8:101::1", "private"),
    ("::8.8.8.8", "deprecated"),
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below the shared range
    "100.128.0.1",  # just above it
    "172.32.0.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize(("ip", "kind"), REFUSED)
def test_non_global_addresses_are_refused_with_their_kind(ip: str, kind: str) -> None:
    """Every non-global address (and IPv6 wrapping of one) is refused, naming why."""
    reason = DEFAULT.check_ip(ip)
    assert reason is not None
    assert reason.startswith(f"{kind} address {ip}")
    assert reason.endswith("is not allowed")


@pytest.mark.parametrize("ip", ALLOWED)
def test_global_addresses_are_allowed(ip: str) -> None:
    """Public addresses, and IPv6 forms carrying a public IPv4, pass."""
    assert DEFAULT.check_ip(ip) is None


def test_reason_reads_like_a_sentence() -> None:
    """The refusal text is the one shown to the admin and stored in the delivery log."""
    assert DEFAULT.check_ip("127.0.0.1") == "loopback address 127.0.0.1 is not allowed"
    assert DEFAULT.check_ip("::ffff:127.0.0.1") == (
        "loopback address ::ffff:127.0.0.1 (IPv4-mapped 127.0.0.1) is not allowed"
    )


def test_not_an_address_is_refused() -> None:
    """A name handed to check_ip is refused rather than waved through."""
    assert DEFAULT.check_ip("example.com") == "'example.com' is not an IP address"


def test_allow_list_opens_exactly_its_networks() -> None:
    """An operator CIDR allows its addresses (incl. mapped forms) and nothing next to it."""
    policy = EgressPolicy(allow=("127.0.0.0/8", "10.20.0.0/16", "fd12::/16"))
    assert policy.check_ip("127.0.0.1") is None
    assert policy.check_ip("127.9.9.9") is None
    assert policy.check_ip("::ffff:127.0.0.1") is None
    assert policy.check_ip("10.20.30.40") is None
    assert policy.check_ip("fd12::5") is None
    assert policy.check_ip("10.21.0.1") is not None
    assert policy.check_ip("::1") is not None
    assert policy.check_ip("169.254.169.254") is not None
    assert policy.check_ip("fd13::5") is not None


def test_allow_list_accepts_host_bits_and_single_addresses() -> None:
    """'10.0.0.5/8' (host bits set) and '::1/128' are accepted as networks."""
    policy = EgressPolicy(allow=("10.0.0.5/8", "::1/128"))
    assert policy.check_ip("10.9.9.9") is None
    assert policy.check_ip("::1") is None
    assert policy.check_ip("127.0.0.1") is not None


@pytest.mark.parametrize(
    ("host", "ip"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[fe80::1%25eth0]", "fe80::1"),
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_numeric_spellings_are_recognized(host: str, ip: str) -> None:
    """Every numeric spelling the C resolver accepts maps to the address it dials."""
    assert literal_host_ip(host) == ip


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "localhost",
        "169.254.169.254.nip.io",
        "1.2.3.4.5",
        "256.0.0.1",
        "1.16777216",
        "4294967296",
        "0x7f_00_00_01",
        "1_27.0.0.1",
        "+127.0.0.1",
        "08.0.0.1",
        "127..1",
        "",
        "١٢٧.0.0.1",
    ],
)
def test_names_and_invalid_numbers_are_not_literals(host: str) -> None:
    """Real names (and numbers the C resolver rejects) are left to resolution."""
    assert literal_host_ip(host) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://127.1/",
        "http://0x7f.1/",
        "http://0/",
        "http://[::169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fd00:ec2::254]/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::]/",
        "https://user:pw@127.0.0.1:8443/x",
        "http://127.0.0.1#@evil.com/",
        "http://evil.com@127.0.0.1/",
    ],
)
def test_urls_with_refused_literal_hosts_are_refused(url: str) -> None:
    """The create-time check refuses URLs whose literal host is refused (S1, S2, S8)."""
    assert DEFAULT.check_url(url) is not None


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("file:///etc/passwd", "scheme"),
        ("gopher://example.com/", "scheme"),
        ("ftp://example.com/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("data:text/plain,hi", "scheme"),
        ("example.com/hook", "scheme"),
        ("http:///nohost", "no host"),
        ("http://exa mple.com/", "whitespace"),
        ("http://example.com/\r\nX: y", "whitespace"),
        ("http://evil.com\\@127.0.0.1/", "backslash"),
        ("http://example.com:99999/", "invalid URL"),
    ],
)
def test_malformed_urls_are_refused(url: str, needle: str) -> None:
    """Schemes other than http(s), missing hosts and stray characters are refused (S7, S8)."""
    reason = DEFAULT.check_url(url)
    assert reason is not None
    assert needle in reason


@pytest.mark.parametrize(
    "url",
    ["https://example.com/hook", "http://8.8.8.8:8080/x?y=1", "https://u:p@hooks.example.org/"],
)
def test_public_and_named_urls_pass_the_create_time_check(url: str) -> None:
    """Names pass check_url (they are vetted after resolution); public literals pass."""
    assert DEFAULT.check_url(url) is None


def test_allowed_loopback_url_passes() -> None:
    """With 127.0.0.0/8 allowed, a local receiver URL is accepted."""
    assert EgressPolicy(allow=("127.0.0.0/8",)).check_url("http://127.0.0.1:9000/") is None
