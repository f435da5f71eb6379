from __future__ import annotations

import json

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from kuberun_operator.api import access, app, reading
from kuberun_operator.api.cursor import BadQuery


def test_the_header_token_is_taken_everywhere() -> None:
    request = make_mocked_request("GET", "/api/v1/x", headers={"Authorization": "Bearer abc"})
    assert app.token_of(request) == "abc"


def test_the_query_token_only_for_event_streams() -> None:
    url = "/api/v1/namespaces/a/executions/b/logs?access_token=abc"
    events = make_mocked_request("GET", url, headers={"Accept": "text/event-stream"})
    assert app.token_of(events) == "abc"
    plain = make_mocked_request("GET", url, headers={"Accept": "application/json"})
    assert app.token_of(plain) is None
    post = make_mocked_request("POST", url, headers={"Accept": "text/event-stream"})
    assert app.token_of(post) is None


async def answer(exc: Exception) -> tuple[int, dict[str, str]]:
    async def handler(_: web.Request) -> web.StreamResponse:
        raise exc

    response = await app.errors(make_mocked_request("GET", "/"), handler)
    assert isinstance(response, web.Response) and response.text is not None
    return response.status, json.loads(response.text)


async def test_errors_are_json_with_the_contracts_codes() -> None:
    assert await answer(access.Unauthenticated("no")) == (
        401,
        {"error": "unauthenticated", "message": "no"},
    )
    assert (await answer(access.Forbidden("x")))[0] == 403
    assert await answer(reading.Expired("gone")) == (
        410,
        {"error": "cursor-expired", "message": "gone"},
    )
    assert (await answer(BadQuery("bad")))[1]["error"] == "bad-request"
    assert (await answer(app.ApiError(404, "not-found", "none")))[0] == 404


async def test_a_namespace_the_service_may_not_read_is_forbidden_not_a_5xx() -> None:
    from kubernetes.client.exceptions import ApiException

    from kuberun_operator.api.kube import Kube

    class Denied:
        def list_namespaced_custom_object(self, *args: object, **kwargs: object) -> None:
            raise ApiException(status=403, reason="Forbidden")

        get_namespaced_custom_object = list_namespaced_custom_object

    kube = Kube.__new__(Kube)
    kube._pool = None  # type: ignore[assignment]
    kube.custom = Denied()

    async def call(fn: object, *args: object) -> object:
        return fn(*args)  # type: ignore[operator]

    kube._call = call  # type: ignore[method-assign]
    for attempt in (kube.list_executions("other"), kube.get_execution("other", "x")):
        try:
            await attempt
        except Exception as exc:
            status, body = await answer(exc)
            assert status == 403 and "does not serve namespace other" in body["message"]
        else:
            raise AssertionError("no error")
