"""The egress guard with real resolution and real sockets, inside a network namespace.

The test re-runs this file under ``unshare --net --mount``: a namespace whose only
interface is loopback, so nothing can leave the machine even if the guard failed. Inside,
the "internal" and "public" addresses are put on ``lo``, ``/etc/hosts`` is bind-mounted
with test names (only in that mount namespace), and one listener on every address records
each TCP connection it accepts. The real ``Sender`` (default policy: nothing extra allowed)
then targets each destination; the outer test asserts which ones were connected to.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:4700::1111"
LOCAL_ADDRESSES = ["10.0.0.5", "169.254.169.254", "192.168.1.1", "100.64.0.1", PUBLIC_V4]
LOCAL_ADDRESSES_V6 = ["fd00:ec2::254", PUBLIC_V6]
HOSTS = f"""\
127.0.0.1 localhost
::1 localhost
169.254.169.254 metadata.google.internal
10.0.0.5 internal.test
{PUBLIC_V4} public.test
{PUBLIC_V4} mixed.test
10.0.0.5 mixed.test
192.168.1.1 mixed.test
fd00:ec2::254 imds6.test
{PUBLIC_V4} rebind.test
"""
REFUSED_HOSTS = [
    "127.0.0.1",
    "localhost",
    "2130706433",
    "0x7f000001",
    "127.1",
    "0",
    "0.0.0.0",
    "[::1]",
    "[::]",
    "[::ffff:127.0.0.1]",
    "10.0.0.5",
    "internal.test",
    "169.254.169.254",
    "metadata.google.internal",
    "[::ffff:169.254.169.254]",
    "[::169.254.169.254]",
    "192.168.1.1",
    "100.64.0.1",
    "[fd00:ec2::254]",
    "imds6.test",
]
ALLOWED_HOSTS = [PUBLIC_V4, "public.test", f"[{PUBLIC_V6}]"]


# ---------------------------------------------------------------- inside the namespace


async def _inside(hosts_file: str) -> dict[str, Any]:
    from misthook.delivery.message import build_request
    from misthook.delivery.resolver import check_destination
    from misthook.delivery.sender import Sender
    from misthook.domain.egress import EgressPolicy

    accepted: list[str] = []  # the local address of every accepted connection

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(str(writer.get_extra_info("sockname")[0]))
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOk")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    # one port on every address, IPv4 and IPv6 (port 0 would give each socket its own)
    server = await asyncio.start_server(answer, host="0.0.0.0", port=0)
    port = server.sockets[0].getsockname()[1]
    server6 = await asyncio.start_server(answer, host="::", port=port)
    results: dict[str, Any] = {"port": port, "sends": {}, "checks": {}}
    policy = EgressPolicy()

    async with Sender(policy, connect_timeout_s=2.0, total_timeout_s=3.0) as sender:

        async def send(host: str) -> dict[str, Any]:
            accepted.clear()
            req = build_request({"url": f"http://{host}:{port}/hook"}, "audits", [b"{}"])
            outcome = await sender.send(req)
            await asyncio.sleep(0.01)
            return {
                "ok": outcome.ok,
                "refused": outcome.refused,
                "error": outcome.error,
                "accepted": list(accepted),
            }

        for host in [*REFUSED_HOSTS, *ALLOWED_HOSTS]:
            results["sends"][host] = await send(host)
        results["mixed"] = [await send("mixed.test") for _ in range(6)]
        # DNS rebinding: the name first answers a public address, then an internal one.
        first = await send("rebind.test")
        Path(hosts_file).write_text(
            HOSTS.replace(f"{PUBLIC_V4} rebind.test", "10.0.0.5 rebind.test")
        )
        later = [await send("rebind.test") for _ in range(3)]
        results["rebind"] = [first, *later]

    # a fresh sender (no DNS cache) now sees only the internal answer and refuses it
    async with Sender(policy) as fresh:
        accepted.clear()
        req = build_request({"url": f"http://rebind.test:{port}/"}, "audits", [b"{}"])
        outcome = await fresh.send(req)
        results["rebind_fresh"] = {
            "refused": outcome.refused,
            "error": outcome.error,
            "accepted": list(accepted),
        }

    # control: with everything allowed the same destinations are reached, so the silence
    # above comes from the guard and not from the harness
    async with Sender(EgressPolicy(allow=("0.0.0.0/0", "::/0"))) as open_sender:
        results["unguarded"] = {}
        for host in ("internal.test", "169.254.169.254", "[fd00:ec2::254]", "127.0.0.1"):
            accepted.clear()
            req = build_request({"url": f"http://{host}:{port}/"}, "audits", [b"{}"])
            outcome = await open_sender.send(req)
            results["unguarded"][host] = {"ok": outcome.ok, "accepted": list(accepted)}

    for url in [
        "http://metadata.google.internal/",
        "http://localhost:8080/",
        "http://internal.test/",
        "http://imds6.test/",
        "http://public.test/",
        "http://mixed.test/",
        "http://no-such-name.test/",
    ]:
        results["checks"][url] = await check_destination(policy, url)
    loopback_ok = EgressPolicy(allow=("127.0.0.0/8",))
    results["checks"]["localhost allowed"] = await check_destination(
        loopback_ok, "http://localhost/"
    )
    for srv in (server, server6):
        srv.close()
        await srv.wait_closed()
    return results


def _run_inside(hosts_file: str) -> None:
    for cmd in (
        ["ip", "link", "set", "lo", "up"],
        *(["ip", "addr", "add", f"{a}/32", "dev", "lo"] for a in LOCAL_ADDRESSES),
        *(["ip", "-6", "addr", "add", f"{a}/128", "dev", "lo"] for a in LOCAL_ADDRESSES_V6),
    ):
        subprocess.run(cmd, check=True)
    Path(hosts_file).write_text(HOSTS)
    subprocess.run(["mount", "--bind", hosts_file, "/etc/hosts"], check=True)
    print(json.dumps(asyncio.run(_inside(hosts_file))))


# ---------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def netns_results() -> dict[str, Any]:
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("ip") is None or shutil.which("mount") is None:
        pytest.skip("unshare, ip or mount is not installed")
    probe = subprocess.run(
        [unshare, "--net", "--mount", "true"], capture_output=True, text=True, timeout=30
    )
    if probe.returncode != 0:
        pytest.skip(f"network namespaces are not permitted here: {probe.stderr.strip()}")
    with tempfile.TemporaryDirectory() as tmp:
        hosts_file = os.path.join(tmp, "hosts")
        proc = subprocess.run(
            [unshare, "--net", "--mount", sys.executable, __file__, "--inside", hosts_file],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    results: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_refused_destinations_are_never_connected_to(
    netns_results: dict[str, Any], host: str
) -> None:
    """Each refused spelling or name ends as a refusal and the listener sees no SYN."""
    sent = netns_results["sends"][host]
    assert sent["refused"], sent
    assert not sent["ok"]
    assert sent["accepted"] == []
    assert "is not allowed" in sent["error"]


@pytest.mark.parametrize("host", ALLOWED_HOSTS)
def test_public_destinations_are_delivered(netns_results: dict[str, Any], host: str) -> None:
    """Control: the same listener does get public destinations, so silence above is real."""
    sent = netns_results["sends"][host]
    assert sent["ok"], sent
    assert len(sent["accepted"]) == 1


def test_without_the_guard_the_listener_would_be_reached(netns_results: dict[str, Any]) -> None:
    """Control: allowing everything reaches the internal addresses the guard refused."""
    unguarded = netns_results["unguarded"]
    assert unguarded["internal.test"] == {"ok": True, "accepted": ["10.0.0.5"]}
    assert unguarded["169.254.169.254"] == {"ok": True, "accepted": ["169.254.169.254"]}
    assert unguarded["[fd00:ec2::254]"] == {"ok": True, "accepted": ["fd00:ec2::254"]}
    assert unguarded["127.0.0.1"] == {"ok": True, "accepted": ["127.0.0.1"]}


def test_mixed_answers_dial_only_the_public_address(netns_results: dict[str, Any]) -> None:
    """A name with public and private records is only ever dialled at the public one (S5)."""
    for sent in netns_results["mixed"]:
        assert sent["ok"], sent
        assert set(sent["accepted"]) <= {PUBLIC_V4}


def test_dns_rebinding_never_reaches_the_internal_address(
    netns_results: dict[str, Any],
) -> None:
    """After the name starts answering 10.0.0.5, no connection goes there (S4)."""
    for sent in netns_results["rebind"]:
        assert "10.0.0.5" not in sent["accepted"], sent
        assert sent["ok"] or sent["refused"], sent
    fresh = netns_results["rebind_fresh"]
    assert fresh["refused"] and fresh["accepted"] == []
    assert "10.0.0.5" in fresh["error"]


def test_create_time_check_resolves_names(netns_results: dict[str, Any]) -> None:
    """check_destination refuses names that resolve only to refused addresses."""
    checks = netns_results["checks"]
    assert "link-local" in checks["http://metadata.google.internal/"]
    assert "loopback" in checks["http://localhost:8080/"]
    assert "private" in checks["http://internal.test/"]
    assert "private" in checks["http://imds6.test/"]
    assert checks["http://public.test/"] is None
    assert checks["http://mixed.test/"] is None  # deliveries dial only its public record
    assert checks["http://no-such-name.test/"] is None  # may resolve later; deliveries log it
    assert checks["localhost allowed"] is None


def test_namespace_left_the_real_hosts_file_alone() -> None:
    """The bind mount lived only in the test's mount namespace."""
    assert "metadata.google.internal" not in Path("/etc/hosts").read_text()


if __name__ == "__main__" and sys.argv[1:2] == ["--inside"]:
    _run_inside(sys.argv[2])
