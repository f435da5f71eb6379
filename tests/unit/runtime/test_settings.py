"""Runner settings from the environment."""

from __future__ import annotations

import pytest

from kuberun.runtime import resp, settings


def test_defaults() -> None:
    config = settings.from_environ({})
    assert config.request_file == "/var/run/kuberun/request/request.json"
    assert config.termination_log == "/dev/termination-log"
    assert (config.redis_url, config.record_fd, config.echo) == (None, None, True)
    assert config.max_log_lines == settings.DEFAULT_MAX_LOG_LINES


def test_pipe_mode_turns_the_echo_off_unless_asked() -> None:
    assert settings.from_environ({"KUBERUN_RECORD_FD": "5"}).echo is False
    config = settings.from_environ({"KUBERUN_RECORD_FD": "5", "KUBERUN_ECHO": "1"})
    assert (config.record_fd, config.echo) == (5, True)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"KUBERUN_MAX_LOG_LINES": "many"}, "KUBERUN_MAX_LOG_LINES must be an integer"),
        ({"KUBERUN_LOG_BUFFER_RECORDS": "1"}, "must be at least 10"),
        ({"KUBERUN_BACKPRESSURE_SECONDS": "x"}, "must be a number"),
        ({"KUBERUN_REDIS_URL": "redis://h?socket_timeout=1"}, "KUBERUN_REDIS_URL: unsupported"),
        ({"KUBERUN_REDIS_URL": "memcached://h"}, "KUBERUN_REDIS_URL: unsupported Redis URL"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(settings.SettingsError, match=message):
        settings.from_environ(env)


@pytest.mark.parametrize(
    "url",
    [
        "redis://u:p@h:6380/2",
        "rediss://h?ssl_cert_reqs=none",
        "unix:///run/redis.sock?db=1",
        "redis+cluster://kuberun-ns-a:secret@node-1:7000",
        "rediss+cluster://node-1:7000",
    ],
)
def test_the_runners_redis_urls_are_accepted(url: str) -> None:
    assert settings.from_environ({"KUBERUN_REDIS_URL": url}).redis_url == url


def test_a_cluster_url_is_told_apart_and_its_nodes_read_as_one_server() -> None:
    assert resp.is_cluster_url("redis+cluster://h:7000")
    assert resp.is_cluster_url("rediss+cluster://h:7000")
    assert not resp.is_cluster_url("redis://h:7000")
    address = resp.parse_url(resp.single_server_form("rediss+cluster://u:p@h:7000"))
    assert (address.tls, address.username, address.password, address.port) == (True, "u", "p", 7000)
    with pytest.raises(settings.SettingsError, match="bad port"):
        settings.from_environ({"KUBERUN_REDIS_URL": "redis+cluster://h:x"})
