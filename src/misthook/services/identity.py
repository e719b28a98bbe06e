"""Admins, API tokens and sign-in.

Keys are random (``secrets.token_urlsafe``), shown once when created, and stored only as
their SHA-256 hash. Passwords are stored as scrypt hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from misthook.bus import Bus
from misthook.domain.privileges import (
    ROLES,
    Actor,
    Privilege,
    org_role,
    reaches_org,
)
from misthook.errors import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
)
from misthook.services.audit import AuditLog
from misthook.services.search import list_page
from misthook.store.base import Delete, Doc, Filter, Put, Query, Store, where

TOKEN_SCOPES = ("org", "site")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return secrets.token_urlsafe(32)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, salt_hex, _digest = stored.split("$")
    except ValueError:
        return False
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt_hex)), stored)


def admin_display_name(admin: Mapping[str, Any]) -> str:
    """As Mist's audit log shows an admin: "First Last email"."""
    parts = [admin.get("first_name") or "", admin.get("last_name") or "", admin.get("email") or ""]
    return " ".join(p for p in parts if p)


def public_token(token: Mapping[str, Any]) -> dict[str, Any]:
    """A token as lists show it: never the key, only its last characters."""
    doc = {k: v for k, v in token.items() if k not in ("key_hash",)}
    return doc


def parse_privileges(raw: object, org_id: str) -> list[dict[str, Any]]:
    """Validate an org token's ``privileges`` (1-10 of scope org|site, a role)."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= 10:
        raise BadRequestError("invalid field: privileges", reason="give 1 to 10 privileges")
    out: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise BadRequestError("invalid field: privileges", reason="each must be an object")
        scope, role = item.get("scope"), item.get("role")
        if scope not in TOKEN_SCOPES:
            raise BadRequestError(
                "invalid field: privileges",
                reason=f"scope must be one of {', '.join(TOKEN_SCOPES)}",
            )
        if role not in ROLES:
            raise BadRequestError(
                "invalid field: privileges", reason=f"role must be one of {', '.join(ROLES)}"
            )
        priv: dict[str, Any] = {"scope": scope, "role": role, "org_id": org_id}
        if scope == "site":
            site_id = item.get("site_id")
            if not isinstance(site_id, str) or not site_id:
                raise BadRequestError(
                    "invalid field: privileges", reason="site_id is required for scope site"
                )
            priv["site_id"] = site_id
        out.append(priv)
    return out


class Identity:
    def __init__(
        self, store: Store, bus: Bus, audit: AuditLog, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._bus = bus
        self._audit = audit
        self._clock = clock

    # --- authentication -----------------------------------------------------------

    async def _actor_for_admin(
        self, admin: Doc, token_id: str | None, src_ip: str, user_agent: str
    ) -> Actor:
        return Actor(
            kind="admin",
            id=admin["id"],
            name=admin_display_name(admin),
            privileges=tuple(Privilege.from_doc(p) for p in admin.get("privileges", [])),
            superuser=bool(admin.get("superuser")),
            email=admin.get("email"),
            token_id=token_id,
            src_ip=src_ip,
            user_agent=user_agent,
        )

    async def authenticate(self, key: str, *, src_ip: str = "", user_agent: str = "") -> Actor:
        """The actor a token key stands for; UnauthorizedError if none."""
        token = await self._store.find_one("tokens", where(key_hash=hash_key(key)))
        if token is None:
            raise UnauthorizedError("Invalid token.")
        if token["kind"] == "user":
            admin = await self._store.get("admins", token["admin_id"])
            if admin is None:
                raise UnauthorizedError("Invalid token.")
            return await self._actor_for_admin(admin, token["id"], src_ip, user_agent)
        return Actor(
            kind="org_token",
            id=token["id"],
            name=token.get("name") or "org token",
            privileges=tuple(Privilege.from_doc(p) for p in token.get("privileges", [])),
            token_id=token["id"],
            src_ip=src_ip,
            user_agent=user_agent,
        )

    async def sign_in(
        self, email: str, password: str, *, src_ip: str = "", user_agent: str = ""
    ) -> Actor:
        admin = await self._store.find_one("admins", where(email=email.strip().lower()))
        if admin is None or not check_password(password, admin.get("password_hash", "")):
            raise UnauthorizedError("Wrong email or password.")
        return await self._actor_for_admin(admin, None, src_ip, user_agent)

    async def actor_for_admin_id(
        self, admin_id: str, *, src_ip: str = "", user_agent: str = ""
    ) -> Actor:
        admin = await self._store.get("admins", admin_id)
        if admin is None:
            raise UnauthorizedError("Your session has ended; sign in again.")
        return await self._actor_for_admin(admin, None, src_ip, user_agent)

    # --- admins --------------------------------------------------------------------

    async def create_admin(
        self,
        email: str,
        *,
        password: str | None = None,
        first_name: str = "",
        last_name: str = "",
        privileges: list[dict[str, Any]] | None = None,
        superuser: bool = False,
    ) -> Doc:
        now = self._clock()
        admin: Doc = {
            "id": str(uuid.uuid4()),
            "email": email.strip().lower(),
            "first_name": first_name,
            "last_name": last_name,
            "privileges": privileges or [],
            "superuser": superuser,
            "created_time": now,
            "modified_time": now,
        }
        if password:
            admin["password_hash"] = hash_password(password)
        await self._store.commit([Put("admins", admin)])
        return admin

    async def find_admin(self, email: str) -> Doc | None:
        return await self._store.find_one("admins", where(email=email.strip().lower()))

    async def set_password(self, admin_id: str, password: str) -> None:
        admin = await self._store.get("admins", admin_id)
        if admin is None:
            raise NotFoundError()
        admin = {**admin, "password_hash": hash_password(password), "modified_time": self._clock()}
        await self._store.commit([Put("admins", admin)])

    async def grant(self, admin_id: str, privilege: Privilege) -> None:
        """Give an admin a privilege (the creator of an org becomes its admin)."""
        admin = await self._store.get("admins", admin_id)
        if admin is None:
            raise NotFoundError()
        privs = [p for p in admin.get("privileges", []) if Privilege.from_doc(p) != privilege]
        privs.append(privilege.to_doc())
        await self._store.commit([Put("admins", {**admin, "privileges": privs})])

    async def self_view(self, actor: Actor) -> dict[str, Any]:
        """`GET /api/v1/self`: who the caller is and its privileges, with names."""
        privileges: list[dict[str, Any]] = []
        if actor.superuser:
            for org in await self._store.query("orgs", Query(sort="created_time")):
                privileges.append(
                    {
                        "scope": "org",
                        "role": "admin",
                        "org_id": org["id"],
                        "name": org["name"],
                        "org_name": org["name"],
                    }
                )
        for p in actor.privileges:
            doc = p.to_doc()
            org_doc = await self._store.get("orgs", p.org_id)
            org_name = org_doc["name"] if org_doc else ""
            doc["org_name"] = org_name
            if p.scope == "site" and p.site_id:
                site = await self._store.get("sites", p.site_id)
                doc["name"] = site["name"] if site else ""
            else:
                doc["name"] = org_name
            if not (actor.superuser and p.scope == "org"):
                privileges.append(doc)
        if actor.kind == "org_token":
            return {"name": actor.name, "privileges": privileges}
        admin = await self._store.get("admins", actor.id) or {}
        return {
            "admin_id": actor.id,
            "email": admin.get("email"),
            "first_name": admin.get("first_name", ""),
            "last_name": admin.get("last_name", ""),
            "privileges": privileges,
            "superuser": actor.superuser,
        }

    # --- user tokens -----------------------------------------------------------------

    async def create_user_token(self, admin_id: str, name: str = "") -> Doc:
        """A token acting as the admin. The answer carries ``key``, shown only now."""
        key = new_key()
        token: Doc = {
            "id": str(uuid.uuid4()),
            "kind": "user",
            "admin_id": admin_id,
            "name": name,
            "key_hash": hash_key(key),
            "key_hint": key[-4:],
            "created_time": self._clock(),
            "last_used": None,
        }
        await self._store.commit([Put("tokens", token)])
        return {**public_token(token), "key": key}

    async def list_user_tokens(self, actor: Actor) -> list[Doc]:
        if actor.kind != "admin":
            raise ForbiddenError("Org tokens have no user tokens.")
        tokens = await self._store.query(
            "tokens", Query(where(admin_id=actor.id, kind="user"), sort="created_time")
        )
        return [public_token(t) for t in tokens]

    async def delete_user_token(self, actor: Actor, token_id: str) -> None:
        token = await self._store.get("tokens", token_id)
        if token is None or token.get("kind") != "user" or token.get("admin_id") != actor.id:
            raise NotFoundError()
        await self._store.commit([Delete("tokens", token_id)])

    # --- org tokens ------------------------------------------------------------------

    def _require_org_admin(self, actor: Actor, org_id: str) -> None:
        if not reaches_org(actor, org_id):
            raise NotFoundError()
        if org_role(actor, org_id) != "admin":
            raise ForbiddenError()

    async def list_org_tokens(
        self, actor: Actor, org_id: str, limit: str | None, page: str | None
    ) -> tuple[list[Doc], int, int, int]:
        self._require_org_admin(actor, org_id)
        filters = (*where(org_id=org_id), Filter("kind", "eq", "org"))
        rows, total, lim, pg = await list_page(self._store, "tokens", filters, limit, page)
        return [public_token(t) for t in rows], total, lim, pg

    async def get_org_token(self, actor: Actor, org_id: str, token_id: str) -> Doc:
        self._require_org_admin(actor, org_id)
        token = await self._store.get("tokens", token_id)
        if token is None or token.get("kind") != "org" or token.get("org_id") != org_id:
            raise NotFoundError()
        return token

    async def create_org_token(self, actor: Actor, org_id: str, body: Mapping[str, Any]) -> Doc:
        self._require_org_admin(actor, org_id)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise BadRequestError("invalid field: name", reason="name is required")
        privileges = parse_privileges(
            body.get("privileges", [{"scope": "org", "role": "admin"}]), org_id
        )
        await self._check_sites(org_id, privileges)
        key = new_key()
        now = self._clock()
        token: Doc = {
            "id": str(uuid.uuid4()),
            "kind": "org",
            "org_id": org_id,
            "name": name.strip(),
            "privileges": privileges,
            "created_by": actor.email or actor.name,
            "key_hash": hash_key(key),
            "key_hint": key[-4:],
            "created_time": now,
            "modified_time": now,
            "last_used": None,
        }
        ops = [
            Put("tokens", token),
            *self._audit.record(
                actor,
                org_id=org_id,
                message=f'Add API Token "{token["name"]}"',
                after={"name": token["name"], "privileges": privileges},
            ),
        ]
        await self._bus.commit(ops)
        return {**public_token(token), "key": key}

    async def _check_sites(self, org_id: str, privileges: list[dict[str, Any]]) -> None:
        for p in privileges:
            if p.get("site_id"):
                site = await self._store.get("sites", p["site_id"])
                if site is None or site["org_id"] != org_id:
                    raise BadRequestError("invalid field: privileges", reason="unknown site_id")

    async def update_org_token(
        self, actor: Actor, org_id: str, token_id: str, body: Mapping[str, Any]
    ) -> Doc:
        token = await self.get_org_token(actor, org_id, token_id)
        updated = dict(token)
        if "name" in body:
            if not isinstance(body["name"], str) or not body["name"].strip():
                raise BadRequestError("invalid field: name", reason="name must be a string")
            updated["name"] = body["name"].strip()
        if "privileges" in body:
            updated["privileges"] = parse_privileges(body["privileges"], org_id)
            await self._check_sites(org_id, updated["privileges"])
        updated["modified_time"] = self._clock()
        ops = [
            Put("tokens", updated),
            *self._audit.record(
                actor,
                org_id=org_id,
                message=f'Update API Token "{updated["name"]}"',
                before={k: token.get(k) for k in ("name", "privileges")},
                after={k: updated.get(k) for k in ("name", "privileges")},
            ),
        ]
        await self._bus.commit(ops)
        return public_token(updated)

    async def delete_org_token(self, actor: Actor, org_id: str, token_id: str) -> None:
        token = await self.get_org_token(actor, org_id, token_id)
        ops = [
            Delete("tokens", token_id),
            *self._audit.record(
                actor, org_id=org_id, message=f'Delete API Token "{token["name"]}"'
            ),
        ]
        await self._bus.commit(ops)
