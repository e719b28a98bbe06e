"""The `misthook` command line. Every option can also come from MISTHOOK_<NAME>."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import click
import orjson

from misthook import gc_tuning
from misthook.app import App
from misthook.config import Config, load_config
from misthook.errors import ConfigError
from misthook.services.bootstrap import initialize

DATABASE_HELP = "SQLite file path (default ./misthook.db), memory://, or a postgresql:// URL."


def _config(**overrides: Any) -> Config:
    try:
        return load_config(**overrides)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


def _run(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(coro)


def _setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group(
    context_settings={"auto_envvar_prefix": "MISTHOOK", "help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="misthook")
def main() -> None:
    """misthook: self-hosted, Mist-compatible webhooks.

    Every option can also come from the environment: the settings (database, host,
    port, TLS, ...) as MISTHOOK_<SETTING> (see the README's table), any option as
    MISTHOOK_<COMMAND>_<OPTION>, e.g. MISTHOOK_SIMULATE_TOKEN."""


@main.command()
@click.option("--database", default=None, help=DATABASE_HELP)
@click.option("--json", "as_json", is_flag=True, help='Print {"org_id","site_id","token"} only.')
@click.option("--admin-email", default=None, help="Sign-in email of the superuser.")
@click.option(
    "--admin-password",
    default=None,
    help="Sign-in password of the superuser (generated and printed if unset).",
)
def init(
    database: str | None, as_json: bool, admin_email: str | None, admin_password: str | None
) -> None:
    """Create the schema, "Default Org", "Default Site", a superuser and an API token.

    Run again, it creates nothing twice: it prints the same ids and a fresh token."""
    cfg = _config(database=database, admin_email=admin_email, admin_password=admin_password)

    async def go() -> None:
        app = App(cfg)
        await app.store.open()
        try:
            result = await initialize(
                app.store,
                app.identity,
                app.orgs,
                admin_email=cfg.admin_email,
                admin_password=cfg.admin_password,
            )
        finally:
            await app.store.close()
        if as_json:
            click.echo(
                orjson.dumps(
                    {"org_id": result.org_id, "site_id": result.site_id, "token": result.token}
                ).decode()
            )
            return
        click.echo("misthook is initialized" + (" (new database)" if result.created else ""))
        click.echo(f"  database:  {cfg.database}")
        click.echo(f"  org_id:    {result.org_id}")
        click.echo(f"  site_id:   {result.site_id}")
        click.echo(f"  API token: {result.token}   (shown once; use Authorization: Token <key>)")
        click.echo(f"  sign-in:   {result.admin_email}")
        if result.admin_password:
            click.echo(f"  password:  {result.admin_password}   (shown once)")

    _run(go())


@main.command()
@click.option("--database", default=None, help=DATABASE_HELP)
def migrate(database: str | None) -> None:
    """Apply pending schema migrations (init and serve do it too)."""
    cfg = _config(database=database)

    async def go() -> None:
        app = App(cfg)
        await app.store.open()
        version = await app.store.schema_version()
        await app.store.close()
        click.echo(f"schema version {version}")

    _run(go())


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 8000).")
@click.option("--database", default=None, help=DATABASE_HELP)
@click.option("--tls-cert", default=None, help="PEM certificate: serve HTTPS.")
@click.option("--tls-key", default=None, help="PEM private key of --tls-cert.")
@click.option(
    "--tls-self-signed",
    is_flag=True,
    default=None,
    help="Serve HTTPS with a certificate generated now.",
)
@click.option(
    "--workers/--no-workers",
    "serve_workers",
    default=None,
    help="Run delivery workers in this process (default on).",
)
def serve(
    host: str | None,
    port: int | None,
    database: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    tls_self_signed: bool | None,
    serve_workers: bool | None,
) -> None:
    """Serve the API, the web UI and (by default) the delivery workers."""
    import uvicorn

    from misthook.api.asgi import create_asgi

    cfg = _config(
        host=host,
        port=port,
        database=database,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_self_signed=tls_self_signed,
        serve_workers=serve_workers,
    )
    _setup_logging()
    cert, key = cfg.tls_cert or None, cfg.tls_key or None
    if cfg.tls_self_signed:
        from misthook.tls import write_self_signed

        tls_dir = Path(tempfile.mkdtemp(prefix="misthook-tls-"))
        cert_path, key_path, fingerprint = write_self_signed(tls_dir, cfg.host)
        cert, key = str(cert_path), str(key_path)
        click.echo(f"self-signed certificate {cert} (SHA-256 {fingerprint})", err=True)
    scheme = "https" if cert else "http"
    api = create_asgi(App(cfg), workers=cfg.serve_workers)
    gc_tuning.tune()
    click.echo(
        f"misthook serving on {scheme}://{cfg.host}:{cfg.port}/ (API docs at /api/v1/docs)",
        err=True,
    )
    uvicorn.run(
        api,
        host=cfg.host,
        port=cfg.port,
        ssl_certfile=cert,
        ssl_keyfile=key,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )


@main.command()
@click.option("--database", default=None, help=DATABASE_HELP)
def worker(database: str | None) -> None:
    """Run delivery workers only (scale out: many of them on one PostgreSQL)."""
    cfg = _config(database=database)
    _setup_logging()

    async def go() -> None:
        app = App(cfg)
        gc_tuning.tune()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with app.running(workers=True):
            click.echo("misthook worker running; Ctrl-C stops it", err=True)
            await stop.wait()

    _run(go())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9000, show_default=True, type=int, help="Port to listen on.")
@click.option("--secret", default=None, help="The webhook's secret: check X-Mist-Signature-v2.")
def listen(host: str, port: int, secret: str | None) -> None:
    """Receive webhooks in the terminal: answer 200, check signatures, print each message."""
    from misthook.listen import Listener

    listener = Listener(host, port, secret, lambda text: click.echo(text))
    click.echo(f"listening on http://{host}:{listener.port}/ ; Ctrl-C stops", err=True)
    try:
        listener.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        listener.stop()


@main.command()
@click.option(
    "--url", required=True, help="Base URL of a running misthook, e.g. http://127.0.0.1:8000"
)
@click.option("--token", required=True, help="API token with write access to the site.")
@click.option("--site", "site_id", required=True, help="Site to simulate a network in.")
@click.option("--aps", default=5, show_default=True, help="Access points to claim and run.")
@click.option("--clients", default=10, show_default=True, help="Clients walking the map.")
@click.option("--assets", default=3, show_default=True, help="BLE assets beaconing.")
@click.option("--duration", default=120.0, show_default=True, help="Seconds to run.")
@click.option("--seed", default=None, type=int, help="Make the sequence of actions repeatable.")
@click.option("--tick", default=1.0, show_default=True, help="Seconds per simulation step.")
@click.option(
    "--action-rate", default=6.0, show_default=True, help="User actions and reports per minute."
)
@click.option("--down-rate", default=1.0, show_default=True, help="AP outages per minute.")
@click.option("--insecure", is_flag=True, help="Accept a self-signed HTTPS certificate.")
def simulate(
    url: str,
    token: str,
    site_id: str,
    aps: int,
    clients: int,
    assets: int,
    duration: float,
    seed: int | None,
    tick: float,
    action_rate: float,
    down_rate: float,
    insecure: bool,
) -> None:
    """Run a virtual network (APs, clients, assets) against a misthook, through its API."""
    from misthook.simulate import Options, SimulationError
    from misthook.simulate import simulate as run_simulation

    options = Options(
        url=url,
        token=token,
        site_id=site_id,
        aps=aps,
        clients=clients,
        assets=assets,
        duration_s=duration,
        seed=seed,
        tick_s=tick,
        action_rate=action_rate,
        down_rate=down_rate,
        insecure=insecure,
    )
    try:
        summary = run_simulation(options, out=click.echo)
    except SimulationError as exc:
        raise click.ClickException(str(exc)) from exc
    if summary["errors"]:
        raise SystemExit(1)
