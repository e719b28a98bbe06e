"""`misthook init`: the first org, site, superuser and token; safe to run again."""

from __future__ import annotations

import dataclasses
import secrets

from misthook.domain.privileges import Actor
from misthook.services.identity import Identity, admin_display_name
from misthook.services.orgs import Orgs
from misthook.store.base import Query, Store, where

DEFAULT_ORG = "Default Org"
DEFAULT_SITE = "Default Site"


@dataclasses.dataclass(frozen=True)
class InitResult:
    org_id: str
    site_id: str
    token: str
    admin_email: str
    admin_password: str | None  # only when generated now
    created: bool


async def initialize(
    store: Store, identity: Identity, orgs: Orgs, *, admin_email: str, admin_password: str
) -> InitResult:
    admin = await identity.find_admin(admin_email)
    created = admin is None
    generated: str | None = None
    if admin is None:
        password = admin_password or secrets.token_urlsafe(12)
        generated = None if admin_password else password
        admin = await identity.create_admin(
            admin_email, password=password, first_name="Admin", superuser=True
        )
    elif admin_password:
        await identity.set_password(admin["id"], admin_password)
    actor = Actor(
        kind="admin",
        id=admin["id"],
        name=admin_display_name(admin),
        privileges=(),
        superuser=True,
        email=admin["email"],
        src_ip="127.0.0.1",
        user_agent="misthook init",
    )
    org = await store.find_one("orgs", where(name=DEFAULT_ORG))
    if org is None:
        org = await orgs.create_org(actor, {"name": DEFAULT_ORG})
        created = True
    sites = await store.query("sites", Query(where(org_id=org["id"], name=DEFAULT_SITE), limit=1))
    site = sites[0] if sites else await orgs.create_site(actor, org["id"], {"name": DEFAULT_SITE})
    created = created or not sites
    token = await identity.create_user_token(admin["id"], "misthook init")
    return InitResult(
        org_id=org["id"],
        site_id=site["id"],
        token=token["key"],
        admin_email=admin["email"],
        admin_password=generated,
        created=created,
    )
