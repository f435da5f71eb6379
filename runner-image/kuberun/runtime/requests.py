"""Read the request file without building the contract's pydantic models, when it is safe.

Importing pydantic and building the contract's models costs a trivial
execution more start time than everything else it does, and the request the
operator writes is already valid (it was validated at admission by the very
same model). So `read()` checks the request itself, conservatively: a
request that uses only the plain shapes below — every value of the right
JSON type and within the model's bounds, names in camelCase — becomes plain
frozen dataclasses at once. Anything else (snake_case names, a value that
needs coercion such as `"5"` for an integer, an unknown field, any doubt) is
handed to `RunRequest.model_validate_json`, which accepts it exactly as
before or explains what is wrong. A unit test holds the two together: every
request the fast path accepts, the model accepts with the same values.

Both forms satisfy the `Request` protocol the runtime is written against.
"""

from __future__ import annotations

import functools
import json
import re
from typing import TYPE_CHECKING, Any, Protocol

from kuberun.contract import limits

if TYPE_CHECKING:
    from collections.abc import Mapping


if TYPE_CHECKING:  # the protocols cost a class each at start; only mypy needs them

    class ConfigMapRef(Protocol):
        @property
        def name(self) -> str: ...

        @property
        def key(self) -> str: ...

    class SourceSpec(Protocol):
        @property
        def inline(self) -> str | None: ...

        @property
        def path(self) -> str | None: ...

        @property
        def config_map(self) -> ConfigMapRef | None: ...

    class CacheSpec(Protocol):
        @property
        def ttl_seconds(self) -> int | None: ...

        @property
        def bypass(self) -> bool: ...

    class Spec(Protocol):
        """What the runtime reads of `ExecutionSpec`."""

        @property
        def source(self) -> SourceSpec: ...

        @property
        def entrypoint(self) -> str | None: ...

        @property
        def parameters(self) -> dict[str, Any]: ...

        @property
        def timeout_seconds(self) -> int: ...

        @property
        def grace_period_seconds(self) -> int: ...

        @property
        def cache(self) -> CacheSpec | None: ...

        @property
        def tracing(self) -> bool: ...

        @property
        def log_level(self) -> str: ...

        @property
        def organization(self) -> str | None: ...

        @property
        def caller(self) -> str | None: ...

    class Identity(Protocol):
        @property
        def namespace(self) -> str: ...

        @property
        def name(self) -> str: ...

        @property
        def uid(self) -> str: ...

        @property
        def attempt(self) -> int: ...

    class Organization(Protocol):
        @property
        def id(self) -> str: ...

        @property
        def name(self) -> str | None: ...

    class Caller(Protocol):
        @property
        def user_id(self) -> str: ...

        @property
        def email(self) -> str | None: ...

        @property
        def name(self) -> str | None: ...

        @property
        def is_platform_admin(self) -> bool: ...

    class Request(Protocol):
        """What the runtime reads of `RunRequest` (the model or `PlainRequest`)."""

        @property
        def identity(self) -> Identity: ...

        @property
        def spec(self) -> Spec: ...

        @property
        def source_path(self) -> str | None: ...

        @property
        def organization(self) -> Organization | None: ...

        @property
        def caller(self) -> Caller | None: ...

        @property
        def config_dir(self) -> str | None: ...

        @property
        def secrets_dir(self) -> str | None: ...

        @property
        def integrations_dir(self) -> str | None: ...

        @property
        def temp_dir(self) -> str | None: ...


class _Plain:
    """Frozen plain data: the fast path's values (a dataclass costs the start ~1 ms each)."""

    __slots__ = ()

    def __init__(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        names: tuple[str, ...] = self.__slots__
        return type(other) is type(self) and all(
            getattr(self, name) == getattr(other, name) for name in names
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        names: tuple[str, ...] = self.__slots__
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({fields})"


class PlainConfigMap(_Plain):
    __slots__ = ("key", "name")
    name: str
    key: str


class PlainSource(_Plain):
    __slots__ = ("config_map", "inline", "path")
    inline: str | None
    path: str | None
    config_map: PlainConfigMap | None


class PlainCache(_Plain):
    __slots__ = ("bypass", "ttl_seconds")
    ttl_seconds: int | None
    bypass: bool


class PlainSpec(_Plain):
    __slots__ = (
        "cache",
        "caller",
        "entrypoint",
        "grace_period_seconds",
        "log_level",
        "organization",
        "parameters",
        "source",
        "timeout_seconds",
        "tracing",
    )
    source: PlainSource
    entrypoint: str | None
    parameters: dict[str, Any]
    timeout_seconds: int
    grace_period_seconds: int
    cache: PlainCache | None
    tracing: bool
    log_level: str
    organization: str | None
    caller: str | None


class PlainIdentity(_Plain):
    __slots__ = ("attempt", "name", "namespace", "uid")
    namespace: str
    name: str
    uid: str
    attempt: int


class PlainOrganization(_Plain):
    __slots__ = ("id", "name")
    id: str
    name: str | None


class PlainCaller(_Plain):
    __slots__ = ("email", "is_platform_admin", "name", "user_id")
    user_id: str
    email: str | None
    name: str | None
    is_platform_admin: bool


class PlainRequest(_Plain):
    __slots__ = (
        "caller",
        "config_dir",
        "identity",
        "integrations_dir",
        "organization",
        "secrets_dir",
        "source_path",
        "spec",
        "temp_dir",
    )
    identity: PlainIdentity
    spec: PlainSpec
    source_path: str | None
    organization: PlainOrganization | None
    caller: PlainCaller | None
    config_dir: str | None
    secrets_dir: str | None
    integrations_dir: str | None
    temp_dir: str | None


class NotPlain(Exception):
    """The fast path cannot vouch for this request: the model decides."""


def read(raw: bytes) -> Request:
    """The request in `raw`; pydantic.ValidationError (from the model) when it is invalid."""
    try:
        return parse_plain(raw)
    except NotPlain:
        from kuberun.contract.request import RunRequest

        return RunRequest.model_validate_json(raw)


def parse_plain(raw: bytes) -> PlainRequest:
    """The fast path alone: a `PlainRequest`, or NotPlain. Pure."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise NotPlain("not JSON") from None
    body = _object(data, _REQUEST_FIELDS, required={"identity", "spec"})
    return PlainRequest(
        identity=_identity(body["identity"]),
        spec=_spec(body["spec"]),
        source_path=_text(body.get("sourcePath"), optional=True),
        organization=_organization(body.get("organization")),
        caller=_caller(body.get("caller")),
        config_dir=_text(body.get("configDir"), optional=True),
        secrets_dir=_text(body.get("secretsDir"), optional=True),
        integrations_dir=_text(body.get("integrationsDir"), optional=True),
        temp_dir=_text(body.get("tempDir"), optional=True),
    )


_REQUEST_FIELDS = {
    "identity",
    "spec",
    "sourcePath",
    "organization",
    "caller",
    "configDir",
    "secretsDir",
    "integrationsDir",
    "tempDir",
}


def _organization(value: Any) -> PlainOrganization | None:
    if value is None:
        return None
    data = _object(value, {"id", "name"}, {"id"})
    return PlainOrganization(
        id=_text(data["id"], low=1, high=253),
        name=_text(data.get("name"), optional=True, high=253),
    )


def _caller(value: Any) -> PlainCaller | None:
    if value is None:
        return None
    data = _object(value, {"userId", "email", "name", "isPlatformAdmin"}, {"userId"})
    return PlainCaller(
        user_id=_text(data["userId"], low=1, high=253),
        email=_text(data.get("email"), optional=True, high=320),
        name=_text(data.get("name"), optional=True, high=253),
        is_platform_admin=_flag(data.get("isPlatformAdmin", False)),
    )


def _identity(value: Any) -> PlainIdentity:
    data = _object(value, {"namespace", "name", "uid", "attempt"}, {"namespace", "name", "uid"})
    return PlainIdentity(
        namespace=_text(data["namespace"], low=1, high=253),
        name=_text(data["name"], low=1, high=253),
        uid=_text(data["uid"], low=1, high=128),
        attempt=_integer(data.get("attempt", 1), low=1),
    )


_SPEC_FIELDS = {
    "source",
    "entrypoint",
    "parameters",
    "timeoutSeconds",
    "gracePeriodSeconds",
    "resources",
    "image",
    "retry",
    "cache",
    "tracing",
    "logLevel",
    "cancel",
    "organization",
    "caller",
    "priority",
    "serviceAccountName",
    "env",
    "envFrom",
    # `placement` is the operator's (scheduling); the runner never reads it, and its
    # models (label patterns, enums, nested Kubernetes shapes) are the model's to check:
    # a request that carries one is handed to `RunRequest` (see `_spec`).
    "placement",
}


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    """Compiled on first use: most requests never need the quantity or name patterns."""
    return re.compile(pattern)


def _spec(value: Any) -> PlainSpec:
    data = _object(value, _SPEC_FIELDS, {"source"})
    if data.get("placement") is not None:
        raise NotPlain("placement")
    parameters = data.get("parameters", {})
    if not isinstance(parameters, dict):
        raise NotPlain("parameters")
    _resources(data.get("resources"))
    _text(data.get("image"), optional=True, low=1, high=512, pattern=limits.IMAGE_PATTERN)
    _retry(data.get("retry"))
    for name in ("cancel",):
        _flag(data.get(name, False))
    _integer(data.get("priority", 0), low=limits.MIN_PRIORITY, high=limits.MAX_PRIORITY)
    _text(data.get("serviceAccountName"), optional=True, high=253, pattern=limits.NAME_PATTERN)
    for name, most in (("env", 256), ("envFrom", 64)):
        items = data.get(name, [])
        if not isinstance(items, list) or len(items) > most:
            raise NotPlain(name)
        if not all(isinstance(item, dict) for item in items):
            raise NotPlain(name)
    # As the model's validators: every env item named, every envFrom item one reference.
    if not all(type(item.get("name")) is str and item["name"] for item in data.get("env", [])):
        raise NotPlain("env")
    for item in data.get("envFrom", []):
        if ("configMapRef" in item) + ("secretRef" in item) != 1:
            raise NotPlain("envFrom")
    log_level = data.get("logLevel", "DEBUG")
    if log_level not in limits.LOG_LEVELS:
        raise NotPlain("logLevel")
    return PlainSpec(
        source=_source(data["source"]),
        entrypoint=_text(
            data.get("entrypoint"), optional=True, high=253, pattern=limits.ENTRYPOINT_PATTERN
        ),
        parameters=parameters,
        timeout_seconds=_integer(
            data.get("timeoutSeconds", limits.DEFAULT_TIMEOUT_SECONDS),
            low=1,
            high=limits.MAX_TIMEOUT_SECONDS,
        ),
        grace_period_seconds=_integer(
            data.get("gracePeriodSeconds", limits.DEFAULT_GRACE_PERIOD_SECONDS),
            low=0,
            high=limits.MAX_GRACE_PERIOD_SECONDS,
        ),
        cache=_cache(data.get("cache")),
        tracing=_flag(data.get("tracing", False)),
        log_level=log_level,
        organization=_text(data.get("organization"), optional=True, high=253),
        caller=_text(data.get("caller"), optional=True, high=253),
    )


def _source(value: Any) -> PlainSource:
    data = _object(value, {"inline", "configMap", "path"})
    inline = _text(data.get("inline"), optional=True, high=1_000_000)
    path = _text(data.get("path"), optional=True, low=1, high=4096)
    config_map = None
    if data.get("configMap") is not None:
        ref = _object(data["configMap"], {"name", "key"}, {"name", "key"})
        config_map = PlainConfigMap(
            name=_text(ref["name"], high=253, pattern=limits.NAME_PATTERN),
            key=_text(ref["key"], low=1, high=253),
        )
    if sum(given is not None for given in (inline, path, config_map)) != 1:
        raise NotPlain("source must set exactly one of inline, configMap or path")
    return PlainSource(inline=inline, path=path, config_map=config_map)


def _cache(value: Any) -> PlainCache | None:
    if value is None:
        return None
    data = _object(value, {"ttlSeconds", "bypass"})
    ttl = data.get("ttlSeconds")
    return PlainCache(
        ttl_seconds=None if ttl is None else _integer(ttl, low=0, high=30 * 86400),
        bypass=_flag(data.get("bypass", False)),
    )


def _resources(value: Any) -> None:
    if value is None:
        return
    data = _object(value, {"requests", "limits", "extended"})
    extended = data.get("extended", {})
    if not isinstance(extended, dict) or len(extended) > 16:
        raise NotPlain("resources.extended")
    for name, count in extended.items():
        _text(name, high=253, pattern=limits.EXTENDED_RESOURCE_PATTERN)
        _integer(count, low=0, high=1024)
    for part in ("requests", "limits"):
        if data.get(part) is None:
            continue
        quantities = _object(data[part], {"cpu", "memory"})
        for name in ("cpu", "memory"):
            _text(quantities.get(name), optional=True, high=32, pattern=limits.QUANTITY_PATTERN)


def _retry(value: Any) -> None:
    if value is None:
        return
    data = _object(value, {"limit", "backoffSeconds", "maxBackoffSeconds", "on"})
    _integer(data.get("limit", 0), low=0, high=limits.MAX_RETRY_LIMIT)
    _number(data.get("backoffSeconds", 5.0), low=0, high=3600)
    _number(data.get("maxBackoffSeconds", 300.0), low=0, high=86400)
    on = data.get("on", ["FAILED", "TIMED_OUT"])
    if not isinstance(on, list) or len(on) > 8:
        raise NotPlain("retry.on")
    if not all(type(phase) is str and phase in limits.RETRYABLE_PHASES for phase in on):
        raise NotPlain("retry.on")


def _object(value: Any, allowed: set[str], required: set[str] | None = None) -> Mapping[str, Any]:
    if not isinstance(value, dict) or not value.keys() <= allowed:
        raise NotPlain("object")
    if required and not required <= value.keys():
        raise NotPlain("missing field")
    return value


def _text(
    value: Any,
    *,
    optional: bool = False,
    low: int = 0,
    high: int | None = None,
    pattern: str | None = None,
) -> Any:
    if value is None and optional:
        return None
    if type(value) is not str or len(value) < low or (high is not None and len(value) > high):
        raise NotPlain("text")
    if pattern is not None and _pattern(pattern).fullmatch(value) is None:
        raise NotPlain("pattern")  # fullmatch: `$` must not accept a trailing newline
    return value


def _integer(value: Any, *, low: int | None = None, high: int | None = None) -> int:
    if type(value) is not int or (low is not None and value < low):
        raise NotPlain("integer")
    if high is not None and value > high:
        raise NotPlain("integer")
    return value


def _number(value: Any, *, low: float, high: float) -> float:
    if type(value) not in (int, float) or not low <= value <= high:
        raise NotPlain("number")
    return float(value)


def _flag(value: Any) -> bool:
    if type(value) is not bool:
        raise NotPlain("bool")
    return value
