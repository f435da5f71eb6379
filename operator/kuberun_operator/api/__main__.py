"""`python -m kuberun_operator.api`: the log and result API service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from kuberun_operator.api import access, app
from kuberun_operator.api.kube import Kube, PhaseWatch
from kuberun_operator.api.logsource import ArchiveLogs, RedisLogs
from kuberun_operator.api.settings import ApiSettings
from kuberun_operator.kubeio import load_api_client


def application(settings: ApiSettings) -> web.Application:
    kube = Kube(load_api_client(settings.api_workers), settings.api_workers)
    services = app.Services(
        gate=access.Gate(kube.token_review, kube.access_review),
        kube=kube,
        phases=PhaseWatch(kube),
        redis=None,
        archive=None,
    )
    web_app = app.build(services)

    async def resources(_: web.Application) -> AsyncIterator[None]:
        pool = None
        if settings.redis_url:
            services.redis_client = aioredis.Redis.from_url(
                settings.redis_url,
                socket_timeout=settings.redis_timeout_seconds,
                socket_connect_timeout=settings.redis_timeout_seconds,
            )
            services.redis = RedisLogs(services.redis_client)
        if settings.archive_dsn:
            pool = await asyncpg.create_pool(settings.archive_dsn, min_size=1, max_size=8)
            services.archive = ArchiveLogs(pool)
        yield
        services.phases.close()
        if services.redis_client is not None:
            await services.redis_client.aclose()
        if pool is not None:
            await pool.close()
        kube.close()

    web_app.cleanup_ctx.append(resources)
    return web_app


def main() -> None:
    settings = ApiSettings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    web.run_app(
        application(settings),
        host=settings.api_host,
        port=settings.api_port,
        access_log_class=app.AccessLog,
        print=None,
    )


if __name__ == "__main__":
    main()
