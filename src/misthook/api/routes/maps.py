"""Maps and zones of a site (a zone is a polygon on a map, optional occupancy_limit)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from misthook.api.deps import get_actor, get_app, json_body, ok
from misthook.app import App
from misthook.domain.privileges import Actor

router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["Maps", "Zones"])


def _add_routes(collection: str, noun: str) -> None:
    base = f"/{collection}"

    async def list_all(
        site_id: str, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
    ) -> Any:
        return await app.location.list_docs(actor, site_id, collection)

    async def create(
        site_id: str,
        body: Any = Depends(json_body),
        actor: Actor = Depends(get_actor),
        app: App = Depends(get_app),
    ) -> Any:
        return await app.location.create(actor, site_id, collection, body)

    async def get_one(
        site_id: str, doc_id: str, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
    ) -> Any:
        return await app.location.get_doc(actor, site_id, collection, doc_id)

    async def update(
        site_id: str,
        doc_id: str,
        body: Any = Depends(json_body),
        actor: Actor = Depends(get_actor),
        app: App = Depends(get_app),
    ) -> Any:
        return await app.location.update(actor, site_id, collection, doc_id, body)

    async def delete(
        site_id: str, doc_id: str, actor: Actor = Depends(get_actor), app: App = Depends(get_app)
    ) -> Response:
        await app.location.delete(actor, site_id, collection, doc_id)
        return ok()

    for func, method, path, summary in (
        (list_all, "GET", base, f"List the site's {collection}"),
        (create, "POST", base, f"Create a {noun}"),
        (get_one, "GET", base + "/{doc_id}", f"Get a {noun}"),
        (update, "PUT", base + "/{doc_id}", f"Update a {noun}"),
        (delete, "DELETE", base + "/{doc_id}", f"Delete a {noun}"),
    ):
        router.add_api_route(
            path, func, methods=[method], summary=summary, operation_id=f"{func.__name__}_{noun}"
        )


_add_routes("maps", "map")
_add_routes("zones", "zone")
