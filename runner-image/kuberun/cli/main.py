"""`kuberun` — the command line: run code locally or as Executions in a cluster.

`run PATH` runs one execution on this machine; `inspect PATH` lists a
workspace's entrypoints; `schedules PATH` prints ScheduledExecution manifests
for its scheduled workflows; `endpoints PATH` prints WorkflowEndpoint manifests
for its `endpoint_enabled` workflows; `submit`, `get`, `list`, `logs`, `wait`, `cancel`,
`retry`, `delete` and `cache invalidate` act on a cluster with the user's
kubeconfig (`kuberun.cli.remote`); `completion` prints a shell script.

Exit codes: one table, `kuberun.contract.exitcodes` (0 only for SUCCESS).
Every failure is a `kuberun.cli.errors.CliError`, printed once by `main`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pydantic

import kuberun
from kuberun.cli import (
    completion,
    configuring,
    endpoints,
    entrypoints,
    errors,
    inspecting,
    local,
    logapi,
    parameters,
    remote,
    rendering,
    schedules,
    tables,
)
from kuberun.contract import logrecord, outcome, request, spec
from kuberun.contract.exitcodes import CommandExit

USAGE_ERROR = int(CommandExit.USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kuberun", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kuberun {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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

    scheduled = commands.add_parser(
        "schedules",
        help="print ScheduledExecution manifests for a workspace's @workflow(schedule=...)",
        description=(
            "Import a workspace (as inspect does) and print one ScheduledExecution per"
            " workflow with a schedule, as a YAML stream for a GitOps repository or"
            " `kubectl apply -f -`."
        ),
    )
    scheduled.add_argument("path", help="a .py file, or a workspace directory")
    where = scheduled.add_mutually_exclusive_group(required=True)
    where.add_argument("--source-path", help="where the workspace is in the runner image")
    where.add_argument(
        "--config-map", metavar="NAME:KEY", help="the ConfigMap key holding the (one-file) code"
    )
    scheduled.add_argument("--image", help="the runner image with the workspace")
    scheduled.add_argument("--namespace", "-n", help="metadata.namespace of every manifest")
    scheduled.add_argument("--name-prefix", default="", help="prefix of every resource name")
    scheduled.add_argument("--time-zone", help="IANA time zone of the schedules (default UTC)")
    scheduled.add_argument(
        "--concurrency-policy", choices=["Allow", "Forbid", "Replace"], default="Allow"
    )
    scheduled.add_argument("--starting-deadline-seconds", type=int, default=None)

    exposed = commands.add_parser(
        "endpoints",
        help="print WorkflowEndpoint manifests for a workspace's @workflow(endpoint_enabled=True)",
        description=(
            "Import a workspace (as inspect does) and print one WorkflowEndpoint per"
            " workflow with endpoint_enabled, as a YAML stream for a GitOps repository or"
            " `kubectl apply -f -`; the API service then starts it over HTTP."
        ),
    )
    exposed.add_argument("path", help="a .py file, or a workspace directory")
    where = exposed.add_mutually_exclusive_group(required=True)
    where.add_argument("--source-path", help="where the workspace is in the runner image")
    where.add_argument(
        "--config-map", metavar="NAME:KEY", help="the ConfigMap key holding the (one-file) code"
    )
    exposed.add_argument("--image", help="the runner image with the workspace")
    exposed.add_argument("--namespace", "-n", help="metadata.namespace of every manifest")
    exposed.add_argument("--name-prefix", default="", help="prefix of every resource name")
    exposed.add_argument(
        "--sync-timeout-seconds",
        type=int,
        default=None,
        help="how long a sync call waits before answering 202 (default 30, at most 300)",
    )

    add_cluster_commands(commands)
    return parser


def version() -> str:
    """The installed distribution's version (the source tree's when not installed)."""
    try:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as installed

        return installed("kuberun")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return getattr(kuberun, "__version__", "unknown")


def _cluster_options() -> argparse.ArgumentParser:
    """Options every cluster command takes (kubectl's names)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("cluster")
    group.add_argument("-n", "--namespace", help="namespace (default: the context's, else default)")
    group.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG)")
    group.add_argument("--context", help="kubeconfig context (default: the current one)")
    group.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour and spinner: auto = on a terminal, unless NO_COLOR is set",
    )
    return common


def _log_source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("log source (the API first; Redis only without one)")
    group.add_argument(
        "--api",
        metavar="URL",
        help=f"the kuberun log API (default: ${logapi.API_URL_ENV}); uses your kubeconfig token",
    )
    group.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help=f"read the stream from Redis instead (default: ${request.REDIS_URL_ENV})",
    )


def _parameter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter (string); KEY:=JSON for a typed value; repeatable",
    )
    parser.add_argument(
        "--params-file",
        action="append",
        default=[],
        metavar="FILE",
        help="a JSON object of parameters (before -p, which override it)",
    )


def add_cluster_commands(commands: Any) -> None:
    """submit, get, list, logs, wait, cancel, retry, delete, cache, completion."""
    common = _cluster_options()
    submit = commands.add_parser(
        "submit",
        parents=[common],
        help="create an Execution from a file or directory (--watch: follow it)",
        description=(
            "Create an Execution running FILE (inline, or a ConfigMap when larger than 64 KiB)"
            " or the flat workspace DIR (a ConfigMap, one key per file). With --watch, print"
            " its logs live and exit with its outcome's code."
        ),
    )
    submit.add_argument("path", help="a .py file, or a flat workspace directory")
    submit.add_argument("--entrypoint", "-e", help="workflow/data provider name or module:function")
    _parameter_options(submit)
    submit.add_argument("--timeout", type=int, metavar="SECONDS", help="spec.timeoutSeconds")
    names = submit.add_mutually_exclusive_group()
    names.add_argument("--name", help="the Execution's name")
    names.add_argument("--generate-name", metavar="PREFIX", help="a name prefix (default: FILE-)")
    submit.add_argument("-w", "--watch", action="store_true", help="follow it to the end")
    submit.add_argument("-o", "--output", choices=["text", "json"], default="text")
    _log_source_options(submit)

    get = commands.add_parser("get", parents=[common], help="show one Execution")
    get.add_argument("name")
    get.add_argument("-o", "--output", choices=list(tables.FORMATS), default="table")

    listing = commands.add_parser("list", parents=[common], help="list the namespace's Executions")
    listing.add_argument("-o", "--output", choices=list(tables.FORMATS), default="table")
    listing.add_argument("-l", "--selector", help="label selector, e.g. app=reports")
    listing.add_argument("-w", "--watch", action="store_true", help="then print every change")

    logs = commands.add_parser(
        "logs",
        parents=[common],
        help="print an Execution's logs in order (-f to follow)",
        description=(
            "Print the log stream of an Execution: every attempt's records and the operator's"
            " engine records, in their one order. Through the log API when --api or"
            " KUBERUN_API_URL is set (your kubeconfig's token; a dropped connection resumes"
            " where it stopped), else straight from Redis."
        ),
    )
    logs.add_argument("name", help="the Execution's name")
    logs.add_argument("-f", "--follow", action="store_true", help="wait for more until it ends")
    logs.add_argument(
        "--since-seq",
        metavar="ID",
        help="only records after this one: N (attempt 1), or ATTEMPT-N as in -o json's id",
    )
    logs.add_argument("--attempt", type=int, help="only this attempt's records (API only)")
    logs.add_argument("--uid", help="its uid: read Redis without asking the API server (needs -n)")
    logs.add_argument("-o", "--output", choices=["text", "json"], default="text")
    _log_source_options(logs)

    wait = commands.add_parser(
        "wait", parents=[common], help="wait until an Execution is finished (like kubectl wait)"
    )
    wait.add_argument("name")
    wait.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS", help="give up after"
    )
    wait.add_argument(
        "--exit-code",
        action="store_true",
        help="exit with the outcome's code (0 only for SUCCESS) instead of 0 once finished",
    )

    cancel = commands.add_parser("cancel", parents=[common], help="cancel a running Execution")
    cancel.add_argument("name")
    cancel.add_argument("--wait", action="store_true", help="wait until it is CANCELLED")
    cancel.add_argument("--timeout", type=float, default=None, metavar="SECONDS")

    retry = commands.add_parser(
        "retry", parents=[common], help="a new Execution with an old one's spec"
    )
    retry.add_argument("name", help="the Execution to run again")
    retry.add_argument("--name", dest="new_name", help="the new one's name (default: NAME-retry-…)")
    retry.add_argument("-w", "--watch", action="store_true", help="follow it to the end")
    retry.add_argument("-o", "--output", choices=["text", "json"], default="text")
    _log_source_options(retry)

    delete = commands.add_parser("delete", parents=[common], help="delete Executions")
    delete.add_argument("names", nargs="+", metavar="NAME")

    cache = commands.add_parser("cache", help="the data-provider cache")
    cache_commands = cache.add_subparsers(dest="cache_command", required=True, metavar="COMMAND")
    invalidate = cache_commands.add_parser(
        "invalidate",
        parents=[common],
        help="drop one cached data-provider result",
        description=(
            "Delete the cached options of data provider PROVIDER for exactly these parameters,"
            " so the next call runs it. The scope is --org, else the namespace."
        ),
    )
    invalidate.add_argument("provider", help="the data provider's name")
    _parameter_options(invalidate)
    invalidate.add_argument("--org", help="organization whose cache it is (default: the namespace)")
    invalidate.add_argument(
        "--redis", default=None, metavar="URL", help="default: KUBERUN_REDIS_URL"
    )

    shell = commands.add_parser("completion", help="print a shell completion script")
    shell.add_argument("shell", choices=["bash", "zsh"])


def completion_command(args: argparse.Namespace) -> int:
    parser = build_parser()
    script = (
        completion.bash_script(parser) if args.shell == "bash" else completion.zsh_script(parser)
    )
    print(script, end="")
    return 0


def _fail(message: str, hint: str | None = None) -> NoReturn:
    raise errors.UsageError(message, hint)


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
    entrypoint, warning = plan_local(args.path, args.entrypoint, params)
    if warning:
        print(f"kuberun: warning: {warning}", file=sys.stderr, flush=True)
    options = local.Options(
        path=args.path,
        entrypoint=entrypoint,
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

    shown_errors: set[str] = set()

    def on_record(record: logrecord.LogRecord) -> None:
        if record.level in ("ERROR", "CRITICAL"):
            shown_errors.add(record.message.strip())
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
    except pydantic.ValidationError as exc:
        _fail(f"invalid options: {exc}")
    try:
        result = execution.run()
    finally:
        execution.cleanup()
    if json_output:
        print(rendering.final_json(result), flush=True)
    else:
        print(rendering.final_text(result, shown_errors), flush=True)
    return int(outcome.ExitCode.for_verdict(result.status, result.reason))


def plan_local(path: str, given: str | None, params: dict[str, Any]) -> tuple[str | None, str]:
    """The entrypoint `run` uses (a file's one workflow when none is given) and a warning
    about parameters nothing reads (empty when all are read). Reads the files, imports none."""
    target = Path(path)
    files = [target] if target.is_file() else sorted(target.glob("*.py"))
    trees = []
    entry: entrypoints.Declared | None = None
    chosen = given
    for file in files:
        try:
            text = file.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        tree = entrypoints.parse(text, str(file))
        if tree is None:
            continue
        trees.append(tree)
        if target.is_file():
            chosen = entrypoints.choose(tree, given)
        if chosen and entry is None:
            entry = entrypoints.find(tree, chosen)
    if not trees or (target.is_dir() and chosen and entry is None):
        return chosen, ""  # nothing to judge by (a nested module): the runner reports problems
    unread = entrypoints.unread(trees, entry, params)
    where = target.name if target.is_file() else f"{target.name}/"
    return chosen, entrypoints.describe_unread(unread, entry, where) if unread else ""


def inspect_command(args: argparse.Namespace) -> int:
    if not os.path.exists(args.path):
        _fail(f"{args.path}: no such file or directory")
    catalog = inspecting.inspect_path(args.path)
    if args.output == "json":
        print(json.dumps(catalog, indent=2, default=str), flush=True)
    else:
        print(inspecting.render_text(catalog), flush=True)
    return 1 if catalog["errors"] else 0


def schedules_command(args: argparse.Namespace) -> int:
    if not os.path.exists(args.path):
        _fail(f"{args.path}: no such file or directory")
    config_map = None
    if args.config_map is not None:
        name, sep, key = args.config_map.partition(":")
        if not sep or not name or not key:
            _fail(f"--config-map {args.config_map!r}: expected NAME:KEY")
        config_map = (name, key)
    options = schedules.Options(
        source_path=args.source_path,
        config_map=config_map,
        image=args.image,
        namespace=args.namespace,
        name_prefix=args.name_prefix,
        time_zone=args.time_zone,
        concurrency_policy=args.concurrency_policy,
        starting_deadline_seconds=args.starting_deadline_seconds,
    )
    with contextlib.redirect_stdout(sys.stderr):  # module bodies may print
        catalog = inspecting.inspect_path(args.path)
    for problem in catalog["errors"]:
        print(f"kuberun: {problem['file']}: {problem['error']}", file=sys.stderr)
    try:
        documents = schedules.manifests(catalog, options)
    except ValueError as exc:
        _fail(str(exc))
    print(schedules.render(documents), end="", flush=True)
    if not documents:
        print("kuberun: no workflow has a schedule", file=sys.stderr)
    return 1 if catalog["errors"] else 0


def endpoints_command(args: argparse.Namespace) -> int:
    if not os.path.exists(args.path):
        _fail(f"{args.path}: no such file or directory")
    config_map = None
    if args.config_map is not None:
        name, sep, key = args.config_map.partition(":")
        if not sep or not name or not key:
            _fail(f"--config-map {args.config_map!r}: expected NAME:KEY")
        config_map = (name, key)
    options = endpoints.Options(
        source_path=args.source_path,
        config_map=config_map,
        image=args.image,
        namespace=args.namespace,
        name_prefix=args.name_prefix,
        sync_timeout_seconds=args.sync_timeout_seconds,
    )
    with contextlib.redirect_stdout(sys.stderr):  # module bodies may print
        catalog = inspecting.inspect_path(args.path)
    for problem in catalog["errors"]:
        print(f"kuberun: {problem['file']}: {problem['error']}", file=sys.stderr)
    try:
        documents = endpoints.manifests(catalog, options)
    except ValueError as exc:
        _fail(str(exc))
    print(schedules.render(documents), end="", flush=True)
    if not documents:
        print("kuberun: no workflow has endpoint_enabled=True", file=sys.stderr)
    return 1 if catalog["errors"] else 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": lambda args: run_command(args),
    "inspect": lambda args: inspect_command(args),
    "submit": remote.submit_command,
    "get": remote.get_command,
    "list": remote.list_command,
    "logs": remote.logs_command,
    "wait": remote.wait_command,
    "cancel": remote.cancel_command,
    "retry": remote.retry_command,
    "delete": remote.delete_command,
    "completion": lambda args: completion_command(args),
    "schedules": lambda args: schedules_command(args),
    "endpoints": lambda args: endpoints_command(args),
}


def dispatch(args: argparse.Namespace) -> int:
    """Run the command; every `CliError` is printed here, once, and becomes its exit code."""
    try:
        if args.command == "cache":
            return remote.cache_invalidate_command(args)
        return int(COMMANDS[args.command](args))
    except errors.CliError as exc:
        print(exc.render(), file=sys.stderr, flush=True)
        return exc.code
    except KeyboardInterrupt:
        return int(CommandExit.INTERRUPTED)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = build_parser().parse_args(argv)
    raise SystemExit(dispatch(args))


if __name__ == "__main__":
    main()
