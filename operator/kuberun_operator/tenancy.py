"""Who a namespace belongs to, who created an Execution, and what a runner may touch in Redis.

Pure decisions, no I/O (`redisusers` applies them):

- the organization is bound to a namespace by the platform, as the namespace's
  label `kuberun.dev/organization` (its display name in the annotation
  `kuberun.dev/organization-name`), or in the chart's `tenancy.organizations`.
  Tenants cannot change it: namespaces are cluster-scoped, outside what the
  `admin`/`edit` roles grant. `spec.organization`
  is accepted only when it names that organization (the chart's admission policy
  rejects a mismatch at apply; `check_organization` is the operator's own check
  for clusters without it);
- the caller is the Kubernetes user who created the Execution, stamped into the
  annotation `kuberun.dev/created-by` by the chart's MutatingAdmissionPolicy
  (from `request.userInfo.username`, overwriting whatever the manifest said);
- a runner's Redis credential is an ACL user per namespace (`acl_rules`): its
  namespace's execution keys and its organization's cache keys, and only the
  commands a runner sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kuberun.contract import keys
from kuberun.contract.caller import Caller, Organization

ORGANIZATION_LABEL = "kuberun.dev/organization"
ORGANIZATION_NAME_ANNOTATION = "kuberun.dev/organization-name"
CREATED_BY_ANNOTATION = "kuberun.dev/created-by"
ACL_USER_PREFIX = "kuberun-ns-"

#: What a runner sends: XADD/EXPIRE (its log stream), XRANGE (reading back the ids of a
#: resend Redis rejected, to tell its own records from another writer's), SET (result,
#: cache entry, lock), GET (cancel flag, cache), EXISTS (waiting on a lock),
#: EVALSHA/EVAL/SCRIPT LOAD with the DEL/PEXPIRE/PTTL inside redis-py's lock scripts
#: (scripts' commands are checked too), PING/SELECT on connect, and what a cluster
#: client asks to find the slots.
RUNNER_COMMANDS = (
    "get",
    "set",
    "exists",
    "del",
    "xadd",
    "xrange",
    "expire",
    "pexpire",
    "pttl",
    "eval",
    "evalsha",
    "script|load",
    "ping",
    "select",
    "command",
    "cluster|slots",
    "cluster|shards",
    "cluster|nodes",
    "readonly",
    "asking",
)


@dataclass(frozen=True)
class Binding:
    """A namespace and the organization the platform bound to it (None: unbound)."""

    namespace: str
    organization: Organization | None

    @property
    def cache_scope(self) -> str:
        """Who shares this namespace's cache entries (`keys.cache_scope`)."""
        org = self.organization.id if self.organization else None
        return keys.cache_scope(org, self.namespace)


def binding(
    namespace_body: Mapping[str, Any], mapped: Mapping[str, Organization] | None = None
) -> Binding:
    """The binding from a Namespace object's label and annotation, else from the
    platform's mapping of namespaces to organizations (`Settings.organizations`)."""
    meta = namespace_body.get("metadata") or {}
    name = str(meta.get("name", ""))
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    org = labels.get(ORGANIZATION_LABEL)
    organization = (mapped or {}).get(name)
    if org:
        organization = Organization(id=org, name=annotations.get(ORGANIZATION_NAME_ANNOTATION))
    return Binding(namespace=name, organization=organization)


def check_organization(requested: str | None, bound: Binding) -> str | None:
    """Why `spec.organization` is refused for this namespace, or None when it is accepted."""
    if requested is None:
        return None
    if bound.organization is None:
        return (
            f"spec.organization {requested!r} refused: namespace {bound.namespace!r} is bound to"
            f" no organization (the platform sets the namespace label {ORGANIZATION_LABEL}"
            " or the chart value tenancy.organizations); remove spec.organization"
        )
    if requested != bound.organization.id:
        return (
            f"spec.organization {requested!r} refused: namespace {bound.namespace!r} belongs to"
            f" organization {bound.organization.id!r}; remove spec.organization or set it to that"
        )
    return None


def creator(execution_meta: Mapping[str, Any]) -> Caller | None:
    """The user who created the Execution, as the admission policy recorded it."""
    annotations = execution_meta.get("annotations") or {}
    username = annotations.get(CREATED_BY_ANNOTATION)
    if not username:
        return None
    email = username if "@" in username and not username.startswith("system:") else None
    return Caller(user_id=username, email=email, name=username)


def acl_user(namespace: str) -> str:
    """The Redis ACL user of a namespace's runners."""
    return f"{ACL_USER_PREFIX}{namespace}"


def acl_rules(bound: Binding, password: str) -> list[str]:
    """The `ACL SETUSER <user> ...` rules of a namespace's runner user.

    `reset` first, so a re-applied user (a changed binding, a Redis that restarted)
    ends up exactly as described, never with rules left from before.
    """
    return [
        "reset",
        "on",
        f">{password}",
        f"~{keys.namespace_pattern(bound.namespace)}",
        f"~{keys.cache_pattern(bound.cache_scope)}",
        "resetchannels",
        "-@all",
        *(f"+{command}" for command in RUNNER_COMMANDS),
    ]
