"""The publish API: producers POST events of one topic to a site or an org.

``POST /api/v1/sites/{site_id}/events/{topic}`` (site topics) and
``POST /api/v1/orgs/{org_id}/events/{topic}`` (org topics), body ``{"events": [{...}, ...]}``,
one event or thousands. Needs write or admin on the scope. The answer ``200 {"ids": [...]}``
comes only after the events are committed, so an acknowledged event is never lost. A 400
stores nothing: unknown topic, a body that is not ``{"events": [objects]}``, or a body over
``publish_max_bytes``.

This is the ingest hot path: the raw body is parsed with orjson, no model validation.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from misthook.api.deps import get_actor, get_app
from misthook.app import App
from misthook.domain.privileges import Actor
from misthook.domain.topics import ORG_TOPICS, SITE_TOPICS, normalize_topic
from misthook.errors import BadRequestError

router = APIRouter(prefix="/api/v1", tags=["Events"])


async def _events_of(request: Request, app: App) -> list[dict[str, Any]]:
    limit = app.config.publish_max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequestError(f"body too large: at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequestError(f"body too large: at most {limit} bytes")
        chunks.append(chunk)
    try:
        body = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"JSON parse error - {exc}") from exc
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise BadRequestError("invalid field: events", reason='expected {"events": [{...}, ...]}')
    return events


def _topic(raw: str, allowed: frozenset[str], scope: str) -> str:
    topic = normalize_topic(raw)
    if topic is None or topic not in allowed:
        raise BadRequestError(f"invalid topic: {raw}", reason=f"not a {scope} topic")
    return topic


def _ids(ids: list[str]) -> Response:
    return Response(orjson.dumps({"ids": ids}), media_type="application/json")


@router.post("/sites/{site_id}/events/{topic}", summary="Publish events of a site topic")
async def publish_site_events(
    request: Request,
    site_id: str,
    topic: str,
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Response:
    scope = await app.webhooks.site_scope(actor, site_id, write=True)
    key = _topic(topic, SITE_TOPICS, "site")
    events = await _events_of(request, app)
    return _ids(await app.bus.publish(scope.org_id, site_id, key, events))


@router.post("/orgs/{org_id}/events/{topic}", summary="Publish events of an org topic")
async def publish_org_events(
    request: Request,
    org_id: str,
    topic: str,
    actor: Actor = Depends(get_actor),
    app: App = Depends(get_app),
) -> Response:
    await app.webhooks.org_scope(actor, org_id, write=True)
    key = _topic(topic, ORG_TOPICS, "org")
    events = await _events_of(request, app)
    return _ids(await app.bus.publish(org_id, None, key, events))
