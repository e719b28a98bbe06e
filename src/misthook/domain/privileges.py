"""Who may do what: Mist's privilege model, pure.

A privilege is (scope, role, org_id, site_id). ``scope`` is ``org`` (the whole org and
all its sites) or ``site`` (one site). ``admin`` and ``write`` may change things in their
scope; ``read`` and ``helpdesk`` may only read. A superuser (the admin ``misthook init``
makes) is admin of every org.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

Role = Literal["admin", "write", "read", "helpdesk", "installer"]
ROLES: tuple[str, ...] = ("admin", "write", "read", "helpdesk", "installer")
WRITE_ROLES = frozenset({"admin", "write"})
SCOPES: tuple[str, ...] = ("org", "site")
_RANK = {"admin": 4, "write": 3, "installer": 2, "helpdesk": 1, "read": 1}


@dataclasses.dataclass(frozen=True, slots=True)
class Privilege:
    scope: str
    role: str
    org_id: str
    site_id: str | None = None

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Privilege:
        return cls(
            scope=str(doc["scope"]),
            role=str(doc["role"]),
            org_id=str(doc["org_id"]),
            site_id=doc.get("site_id"),
        )

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"scope": self.scope, "role": self.role, "org_id": self.org_id}
        if self.site_id is not None:
            doc["site_id"] = self.site_id
        return doc


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a request: an admin (signed in or by user token) or an org token."""

    kind: Literal["admin", "org_token"]
    id: str  # admin id, or the org token's id
    name: str  # as the audit log shows it: "First Last email", or the token's name
    privileges: tuple[Privilege, ...]
    superuser: bool = False
    email: str | None = None
    token_id: str | None = None
    src_ip: str = ""
    user_agent: str = ""

    @property
    def admin_id(self) -> str | None:
        return self.id if self.kind == "admin" else None


def _best(roles: Sequence[str]) -> str | None:
    return max(roles, key=lambda r: _RANK.get(r, 0)) if roles else None


def org_role(actor: Actor, org_id: str) -> str | None:
    """The role the actor holds on the org as a whole (not through a site)."""
    if actor.superuser:
        return "admin"
    return _best([p.role for p in actor.privileges if p.scope == "org" and p.org_id == org_id])


def site_role(actor: Actor, org_id: str, site_id: str) -> str | None:
    """The role on one site: an org privilege covers all of its sites."""
    if actor.superuser:
        return "admin"
    return _best(
        [
            p.role
            for p in actor.privileges
            if p.org_id == org_id and (p.scope == "org" or p.site_id == site_id)
        ]
    )


def reaches_org(actor: Actor, org_id: str) -> bool:
    """Whether the actor may know the org exists (any privilege in it)."""
    return actor.superuser or any(p.org_id == org_id for p in actor.privileges)


def site_ids_in(actor: Actor, org_id: str) -> set[str] | None:
    """Sites of the org the actor reaches; None means all of them."""
    if org_role(actor, org_id) is not None:
        return None
    return {p.site_id for p in actor.privileges if p.org_id == org_id and p.site_id}


def can_write(role: str | None) -> bool:
    return role in WRITE_ROLES
