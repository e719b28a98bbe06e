"""Turning privileges into answers: 404 when the caller may not know an object exists,
403 when it may know but not do."""

from __future__ import annotations

from misthook.domain.privileges import Actor, can_write, org_role, reaches_org, site_role
from misthook.errors import ForbiddenError, NotFoundError
from misthook.store.base import Doc, Store


async def org_for(
    store: Store, actor: Actor, org_id: str, *, write: bool = False, org_level: bool = True
) -> Doc:
    """The org, if the actor may see it (and change it at org level when ``write``).

    ``org_level`` False: a site privilege in the org is enough to read it.
    """
    org = await store.get("orgs", org_id)
    if org is None or not reaches_org(actor, org_id):
        raise NotFoundError()
    role = org_role(actor, org_id)
    if org_level and role is None:
        raise ForbiddenError()
    if write and not can_write(role):
        raise ForbiddenError()
    return org


async def site_for(store: Store, actor: Actor, site_id: str, *, write: bool = False) -> Doc:
    """The site, if the actor reaches it (and may change things in it when ``write``)."""
    site = await store.get("sites", site_id)
    if site is None:
        raise NotFoundError()
    role = site_role(actor, site["org_id"], site_id)
    if role is None:
        raise NotFoundError()
    if write and not can_write(role):
        raise ForbiddenError()
    return site
