"""`kuberun` — the command line. `kuberun run PATH` runs one execution locally;
`kuberun inspect PATH` lists a workspace's entrypoints; `kuberun logs NAME` prints (or
follows) an Execution's logs from a cluster's Redis.

Exit code: 0 only for SUCCESS; otherwise the runner's code for the verdict
(`kuberun.contract.outcome.ExitCode`); 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from kuberun.cli import configuring, following, inspecting, local, parameters, rendering
from kuberun.contract import keys, logrecord, outcome, request, spec
from kuberun.contract.statuses import Phase

USAGE_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kuberun", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run a script, workflow or data provider on this machine",
        description=(
            "Run one execution locally through the same runtime as in a pod. Without --redis"
            " (or KUBERUN_REDIS_URL) no server is needed."
        ),
    )
    run.add_argument("path", help="a .py file, or a workspace directory")
    run.add_argument("--entrypoint", "-e", help="workflow/data provider name or module:function")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter (string); KEY:=JSON for a typed value; repeatable",
    )
    run.add_argument(
        "--params-file",
        action="append",
        default=[],
        metavar="FILE",
        help="a JSON object of parameters (before -p, which override it)",
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=float(spec.DEFAULT_TIMEOUT_SECONDS),
        metavar="SECONDS",
        help="soft deadline: the code is stopped and the run ends TIMED_OUT",
    )
    run.add_argument(
        "--grace",
        type=float,
        default=float(spec.DEFAULT_GRACE_PERIOD_SECONDS),
        metavar="SECONDS",
        help="how long a stop request waits before the runner is killed",
    )
    run.add_argument("--trace", action="store_true", help="capture the entry function's variables")
    run.add_argument(
        "--log-level",
        default="DEBUG",
        type=str.upper,
        choices=[level.value for level in spec.LogLevel],
        help="level of the workspace's loggers (third-party loggers: WARNING and above)",
    )
    run.add_argument(
        "--redis",
        default=os.environ.get(request.REDIS_URL_ENV) or None,
        metavar="URL",
        help="use a real Redis (stream, cancel key, result) instead of a pipe",
    )
    run.add_argument("--output", choices=["text", "json"], default="text")
    who = run.add_argument_group(
        "identity", "who the code runs for (context.org_id, context.user_id, ...)"
    )
    who.add_argument("--org", metavar="ID", help="organization id (default: none, GLOBAL scope)")
    who.add_argument("--org-name", metavar="NAME", help="organization display name")
    who.add_argument("--user", metavar="ID", help="caller's user id (default: your login name)")
    who.add_argument("--user-email", metavar="EMAIL", help="caller's email")
    who.add_argument("--user-name", metavar="NAME", help="caller's display name")
    who.add_argument("--platform-admin", action="store_true", help="caller is a platform admin")
    conf = run.add_argument_group(
        "configuration", "what a pod gets from the namespace's ConfigMap and Secrets"
    )
    conf.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a configuration value (context.get_config); repeatable",
    )
    conf.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="FILE",
        help="configuration values: a JSON object or KEY=VALUE lines (before --config)",
    )
    conf.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a secret configuration value (redacted in all output); repeatable",
    )
    conf.add_argument(
        "--secrets-file", action="append", default=[], metavar="FILE", help="secret values"
    )
    conf.add_argument(
        "--integration",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="an integration's keys (a JSON object: access_token, client_id, ...); repeatable",
    )

    inspect = commands.add_parser(
        "inspect",
        help="list a workspace's workflows, data providers and scripts",
        description=(
            "Import a workspace (or a .py file) and list its workflows, data providers and"
            " scripts with their metadata and parameters: what a UI needs for forms and menus."
            " Importing runs the modules' top-level code."
        ),
    )
    inspect.add_argument("path", help="a .py file, or a workspace directory")
    inspect.add_argument("--output", choices=["text", "json"], default="text")

    logs = commands.add_parser(
        "logs",
        help="print an Execution's logs from Redis, in order (-f to follow)",
        description=(
            "Print the log stream of an Execution in a cluster: every attempt's records and"
            " the operator's engine records, in their one order. The uid comes from kubectl"
            " unless --uid is given."
        ),
    )
    logs.add_argument("name", help="the Execution's name")
    logs.add_argument("-n", "--namespace", help="its namespace (kubectl's current one if unset)")
    logs.add_argument("--uid", help="its uid (skips kubectl; needs -n)")
    logs.add_argument("-f", "--follow", action="store_true", help="wait for more until it ends")
    logs.add_argument(
        "--redis",
        default=os.environ.get(request.REDIS_URL_ENV) or None,
        metavar="URL",
        help="the Redis the runners write to (default: KUBERUN_REDIS_URL)",
    )
    logs.add_argument("--kubectl", metavar="PATH", help="kubectl to use (default: on PATH)")
    logs.add_argument("--output", choices=["text", "json"], default="text")
    return parser


def _fail(message: str) -> NoReturn:
    print(f"kuberun: {message}", file=sys.stderr)
    raise SystemExit(USAGE_ERROR)


def run_command(args: argparse.Namespace) -> int:
    if not os.path.exists(args.path):
        _fail(f"{args.path}: no such file or directory")
    try:
        params = parameters.collect(args.param, args.params_file)
    except parameters.ParameterError as exc:
        _fail(str(exc))
    if args.timeout <= 0 or args.grace < 0:
        _fail("--timeout must be positive and --grace not negative")
    try:
        config = configuring.collect(args.config, args.config_file, "config")
        secrets = configuring.collect(args.secret, args.secrets_file, "secret")
        integrations = configuring.load_integrations(args.integration)
    except configuring.ConfigError as exc:
        _fail(str(exc))
    if args.org_name and not args.org:
        _fail("--org-name needs --org ID")
    options = local.Options(
        path=args.path,
        entrypoint=args.entrypoint,
        parameters=params,
        timeout_seconds=max(1, math.ceil(args.timeout)),
        grace_seconds=math.ceil(args.grace),
        tracing=args.trace,
        log_level=args.log_level,
        redis_url=args.redis,
        organization_id=args.org,
        organization_name=args.org_name,
        user_id=args.user,
        user_email=args.user_email,
        user_name=args.user_name,
        platform_admin=args.platform_admin,
        config=config,
        secrets=secrets,
        integrations=integrations,
    )
    json_output = args.output == "json"

    def on_record(record: logrecord.LogRecord) -> None:
        if json_output:
            sys.stderr.write(rendering.record_json(record) + "\n")
        else:
            sys.stdout.write(rendering.record_text(record) + "\n")

    def flush() -> None:
        sys.stdout.flush()
        sys.stderr.flush()

    def notice(text: str) -> None:
        print(f"kuberun: {text}", file=sys.stderr, flush=True)

    try:
        execution = local.LocalRun(options, on_record, notice, flush)
    except ValueError as exc:  # pydantic.ValidationError (pydantic is imported by the models)
        _fail(f"invalid options: {exc}")
    try:
        result = execution.run()
    finally:
        execution.cleanup()
    if json_output:
        print(rendering.final_json(result), flush=True)
    else:
        print(rendering.final_text(result), flush=True)
    return 0 if result.status is Phase.SUCCESS else int(outcome.ExitCode.for_phase(result.status))


def logs_command(args: argparse.Namespace) -> int:
    import redis  # only these commands talk to Redis: `kuberun run` starts without it

    if not args.redis:
        _fail("logs are read from Redis: pass --redis URL or set KUBERUN_REDIS_URL")
    binary = following.find_kubectl(args.kubectl)
    kubectl = following.Kubectl(binary, args.namespace) if binary else None
    namespace, uid = args.namespace, args.uid
    try:
        if uid is None:
            if kubectl is None:
                _fail("kubectl not found: pass --kubectl PATH, or --uid with -n")
            namespace, uid = following.locate(kubectl, args.name)
        elif namespace is None:
            _fail("--uid needs -n NAMESPACE")
        show = rendering.record_json if args.output == "json" else rendering.record_text
        client = redis.Redis.from_url(args.redis, socket_connect_timeout=5)
        finished = following.PhaseWatch(kubectl, args.name) if kubectl else (lambda: False)
        shown = following.show_stream(
            client,
            keys.logs_stream(namespace, uid),
            lambda record: print(show(record), flush=True),
            keep_following=args.follow,
            finished=finished,
        )
    except following.ExecutionNotFound as exc:
        _fail(f"execution {args.name}: {exc}")
    except redis.RedisError as exc:
        _fail(f"cannot read the logs from Redis: {exc}")
    except KeyboardInterrupt:
        return 0
    if shown == 0 and not args.follow:
        print(f"kuberun: no log records for {namespace}/{args.name} (yet)", file=sys.stderr)
    return 0


def inspect_command(args: argparse.Namespace) -> int:
    if not os.path.exists(args.path):
        _fail(f"{args.path}: no such file or directory")
    catalog = inspecting.inspect_path(args.path)
    if args.output == "json":
        print(json.dumps(catalog, indent=2, default=str), flush=True)
    else:
        print(inspecting.render_text(catalog), flush=True)
    return 1 if catalog["errors"] else 0


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        raise SystemExit(run_command(args))
    if args.command == "logs":
        raise SystemExit(logs_command(args))
    if args.command == "inspect":
        raise SystemExit(inspect_command(args))
    _fail(f"unknown command {args.command}")  # pragma: no cover


if __name__ == "__main__":
    main()
