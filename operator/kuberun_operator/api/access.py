"""Who is asking, and may they: TokenReview, then SubjectAccessReview, per request.

The bearer token is the user's own Kubernetes token (a kubeconfig's, or a
ServiceAccount's). The API server says who it belongs to (TokenReview) and
whether that identity may `get` `executions` or `executions/log` (a virtual
subresource, used only in these reviews) in the path's namespace
(SubjectAccessReview). Nothing is served unless both said yes.

Reviews are cached briefly, keyed by a hash of the token (the token itself is
never kept): a log follower that reconnects, or a page polling the list every
two seconds, must not cost two API-server calls each time. A TokenReview
answer is kept `TOKEN_TTL_SECONDS` (30 s): that is how long a revoked token may
still read, the same order as the API server's own authentication cache
(`--authentication-token-webhook-cache-ttl` defaults to 2 min). An access
review is kept `REVIEW_TTL_SECONDS` (10 s), so a removed RoleBinding stops
reads within seconds. Denials are cached `DENIED_TTL_SECONDS` (5 s) only:
long enough to blunt a flood of bad tokens, short enough that a newly granted
role works at once.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

TOKEN_TTL_SECONDS = 30.0
REVIEW_TTL_SECONDS = 10.0
DENIED_TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000

GROUP = "kuberun.dev"


class Unauthenticated(Exception):
    """No token, or one the API server does not accept (401)."""


class Forbidden(Exception):
    """A valid identity without the needed permission (403)."""


@dataclass(frozen=True)
class Identity:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def review_spec(self) -> dict[str, Any]:
        """The user part of a SubjectAccessReview spec."""
        spec: dict[str, Any] = {"user": self.username, "groups": list(self.groups)}
        if self.uid:
            spec["uid"] = self.uid
        if self.extra:
            spec["extra"] = {k: list(v) for k, v in self.extra}
        return spec


def identity_of(review_status: Mapping[str, Any]) -> Identity | None:
    """The identity a TokenReview's status names, or None when not authenticated."""
    if not review_status.get("authenticated"):
        return None
    user = review_status.get("user") or {}
    if not user.get("username"):
        return None
    extra = user.get("extra") or {}
    return Identity(
        username=user["username"],
        uid=user.get("uid") or "",
        groups=tuple(user.get("groups") or ()),
        extra=tuple(sorted((k, tuple(v or ())) for k, v in extra.items())),
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass(frozen=True)
class Permission:
    """What a request needs: a verb on executions (or a subresource) in a namespace."""

    verb: str
    namespace: str
    subresource: str = ""
    name: str = ""

    def resource_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "namespace": self.namespace,
            "verb": self.verb,
            "group": GROUP,
            "resource": "executions",
        }
        if self.subresource:
            attributes["subresource"] = self.subresource
        if self.name:
            attributes["name"] = self.name
        return attributes

    def describe(self) -> str:
        resource = "executions" + (f"/{self.subresource}" if self.subresource else "")
        return f"{self.verb} {resource} in namespace {self.namespace}"


V = TypeVar("V")


@dataclass
class TtlCache(Generic[V]):
    """A small LRU map whose entries expire; the clock is injectable for tests."""

    clock: Callable[[], float] = time.monotonic
    max_entries: int = MAX_ENTRIES
    _items: OrderedDict[Any, tuple[float, V]] = field(default_factory=OrderedDict)

    def get(self, key: Any) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        expires, value = found
        if self.clock() >= expires:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def put(self, key: Any, value: V, ttl: float) -> None:
        self._items[key] = (self.clock() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)


#: Sends a TokenReview / SubjectAccessReview body, returns the created object's status.
Review = Callable[[dict[str, Any]], Awaitable[Mapping[str, Any]]]


class Gate:
    """Authenticates a token and authorizes one permission, with the caches above."""

    def __init__(
        self,
        token_review: Review,
        access_review: Review,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_review = token_review
        self._access_review = access_review
        self._identities: TtlCache[Identity | bool] = TtlCache(clock)
        self._decisions: TtlCache[bool] = TtlCache(clock)

    async def identity(self, token: str | None) -> Identity:
        if not token:
            raise Unauthenticated("no bearer token (send Authorization: Bearer <token>)")
        key = hashlib.sha256(token.encode()).digest()
        known = self._identities.get(key)
        if known is None:
            status = await self._token_review(
                {
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenReview",
                    "spec": {"token": token},
                }
            )
            found = identity_of(status)
            known = found if found is not None else False
            self._identities.put(
                key, known, TOKEN_TTL_SECONDS if found is not None else DENIED_TTL_SECONDS
            )
        if known is False or known is True:
            raise Unauthenticated("the token was not accepted by the Kubernetes API server")
        return known

    async def allow(self, token: str | None, wanted: Permission) -> Identity:
        """The caller's identity when it holds `wanted`; raises otherwise."""
        who = await self.identity(token)
        key = (who, wanted)
        allowed = self._decisions.get(key)
        if allowed is None:
            status = await self._access_review(
                {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SubjectAccessReview",
                    "spec": {
                        **who.review_spec(),
                        "resourceAttributes": wanted.resource_attributes(),
                    },
                }
            )
            allowed = bool(status.get("allowed")) and not status.get("denied")
            self._decisions.put(key, allowed, REVIEW_TTL_SECONDS if allowed else DENIED_TTL_SECONDS)
        if not allowed:
            raise Forbidden(f"{who.username} may not {wanted.describe()}")
        return who
