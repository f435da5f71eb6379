"""Runner start benchmark: process start → first line of user code, and the CPU spent before it.

`python -m bench start` measures, in one run, alternating rounds:

- `python -c pass` and `python -c "import redis, pydantic"`: the interpreter
  alone, and the interpreter with the runner's two dependencies imported —
  the baseline the targets are stated against;
- the runner: `python -m kuberun.runtime` with a `RunRequest` file and a Redis
  URL, as in a pod, running trivial inline code;
- `kuberun run FILE`: the CLI and the runner it spawns (no Redis: the records
  come back over the pipe), as on a laptop.

Each command's "first line of user code" records `time.time()` and the CPU
its process used so far (`time.process_time()`; for `kuberun run`, plus the
CLI's CPU read from `/proc`); wall time is counted from just before the
process is spawned. The baselines run the same recording line right after
their imports. Reported: median wall and CPU milliseconds over the rounds,
and each as a multiple of the `import redis, pydantic` baseline. Targets
(issue 11): the runner ≤ 0.75×, `kuberun run` ≤ 1.5× that baseline.

`--importtime` also prints the runner's own `-X importtime` profile (the
modules that cost most before the first line).

Bytecode: in the image, pip compiled every module when it installed the
package, as it did for redis and pydantic here; a development checkout (an
editable install, often with PYTHONDONTWRITEBYTECODE=1) would compile
kuberun's modules again on every start. So the benchmark compiles the
package's bytecode first (`compileall`, into `__pycache__/`, which git
ignores), for this tree and for `--also-runner`'s.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import dataclasses
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from kuberun.contract import caller, identity, request, spec

DEFAULT_ROUNDS = 15
TARGET_RUNNER = 0.75
TARGET_CLI = 1.5
PASS = "python -c pass"
BASELINE = 'python -c "import redis, pydantic"'
RUNNER = "runner: python -m kuberun.runtime"
CLI = "kuberun run FILE (CLI + runner)"
# A request the fast path hands to the model (`runtime/requests.py`): what that costs.
RUNNER_MODEL = "runner, placement → model path"
SECTION = "start"
_TICKS = os.sysconf("SC_CLK_TCK")

# The first line of user code: when it ran, and the CPU of this process (and, for
# `kuberun run`, of the CLI that spawned the runner) until then.
RECORD = (
    "import os, time; _now, _cpu = time.time(), time.process_time()\n"
    "def _parent_cpu():\n"
    "    if not os.environ.get('BENCH_PARENT_CPU'):\n"
    "        return 0.0\n"
    "    fields = open(f'/proc/{{os.getppid()}}/stat').read().rsplit(')', 1)[1].split()\n"
    "    return (int(fields[11]) + int(fields[12])) / {ticks}\n"
    "open({path!r}, 'w').write(f'{{_now!r}} {{_cpu + _parent_cpu()!r}}')\n"
)


@dataclasses.dataclass(frozen=True)
class Sample:
    wall_ms: float
    cpu_ms: float


@dataclasses.dataclass(frozen=True)
class Row:
    method: str
    samples: list[Sample]

    @property
    def wall_ms(self) -> float:
        return statistics.median(s.wall_ms for s in self.samples)

    @property
    def cpu_ms(self) -> float:
        return statistics.median(s.cpu_ms for s in self.samples)


def _label(tree: str) -> str:
    """A short name for another source tree: its parent directory (`…/before/runner-image`)."""
    return Path(tree).resolve().parent.name


def _record(path: Path) -> str:
    return RECORD.format(path=str(path), ticks=_TICKS)


def _run_once(argv: list[str], env: dict[str, str], out: Path, cwd: Path) -> Sample:
    """Spawn `argv`, wait for it, read what its first line of user code recorded."""
    out.unlink(missing_ok=True)
    spawned = time.time()
    completed = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, timeout=120, check=False
    )
    if not out.exists():
        raise RuntimeError(
            f"{' '.join(argv)} exited {completed.returncode} before its first line:\n"
            + completed.stderr.decode(errors="replace")[-2000:]
        )
    now, cpu = (float(x) for x in out.read_text().split())
    return Sample((now - spawned) * 1000, cpu * 1000)


def _runner_request(tmp: Path, code: str, *, placement: bool = False) -> Path:
    """A request as the operator writes it: identity, the mount directories (empty here, as
    with a namespace that has no configuration), organization and caller."""
    mounts = {name: tmp / name for name in ("config", "secrets", "integrations", "tmp")}
    for directory in mounts.values():
        directory.mkdir(exist_ok=True)
    run_request = request.RunRequest(
        identity=identity.ExecutionIdentity(
            namespace="bench", name="start-bench", uid=uuid.uuid4().hex, attempt=1
        ),
        spec=spec.ExecutionSpec(
            source=spec.Source(inline=code),
            placement=spec.Placement(node_selector={"kubernetes.io/os": "linux"})
            if placement
            else None,
        ),
        organization=caller.Organization(id="org-bench", name="Bench"),
        caller=caller.Caller(user_id="u-bench", email="bench@example.com"),
        config_dir=str(mounts["config"]),
        secrets_dir=str(mounts["secrets"]),
        integrations_dir=str(mounts["integrations"]),
        temp_dir=str(mounts["tmp"]),
    )
    path = tmp / ("request-placement.json" if placement else "request.json")
    # What the operator writes (`manifests.run_request`): by alias, without the Nones.
    path.write_text(run_request.model_dump_json(by_alias=True, exclude_none=True))
    return path


def commands(
    tmp: Path, redis_url: str, also: str | None = None
) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each measured command with its environment; all record into `tmp/first-line`.

    `also`: the runner and the CLI of another source tree too (its `runner-image/`).
    """
    out = tmp / "first-line"
    python = sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERUN_")}
    script = tmp / "trivial.py"
    script.write_text(_record(out))
    runner_env = {
        **env,
        request.REQUEST_FILE_ENV: str(_runner_request(tmp, _record(out))),
        request.REDIS_URL_ENV: redis_url,
        request.TERMINATION_LOG_ENV: str(tmp / "termination-log"),
    }
    measured = {
        PASS: ([python, "-c", _record(out)], env),
        BASELINE: ([python, "-c", "import redis, pydantic\n" + _record(out)], env),
        RUNNER: ([python, "-m", "kuberun.runtime"], runner_env),
        RUNNER_MODEL: (
            [python, "-m", "kuberun.runtime"],
            {
                **runner_env,
                request.REQUEST_FILE_ENV: str(_runner_request(tmp, _record(out), placement=True)),
            },
        ),
        CLI: (
            [python, "-m", "kuberun.cli", "run", str(script)],
            {**env, "BENCH_PARENT_CPU": "1"},
        ),
    }
    if also:
        label = _label(also)
        measured[f"runner ({label})"] = (measured[RUNNER][0], {**runner_env, "PYTHONPATH": also})
        measured[f"kuberun run ({label})"] = (
            measured[CLI][0],
            {**measured[CLI][1], "PYTHONPATH": also},
        )
    return measured


@dataclasses.dataclass(frozen=True)
class Report:
    rows: list[Row]
    environment: str
    profile: str = ""

    def row(self, method: str) -> Row:
        return next(r for r in self.rows if r.method == method)

    def ratio(self, method: str) -> float:
        return self.row(method).wall_ms / self.row(BASELINE).wall_ms

    def checks(self) -> list[tuple[bool, str]]:
        runner, cli = self.ratio(RUNNER), self.ratio(CLI)
        return [
            (
                runner <= TARGET_RUNNER,
                f"runner {runner:.2f}× the baseline (target ≤ {TARGET_RUNNER}×)",
            ),
            (cli <= TARGET_CLI, f"kuberun run {cli:.2f}× the baseline (target ≤ {TARGET_CLI}×)"),
        ]

    @property
    def passed(self) -> bool:
        return all(ok for ok, _ in self.checks())

    def render(self) -> str:
        base = self.row(BASELINE)
        header = f"{'command':<38} {'wall ms':>8} {'× base':>7} {'CPU ms':>8} {'× base':>7}"
        lines = [self.environment, "", header, "-" * len(header)]
        for row in self.rows:
            lines.append(
                f"{row.method:<38} {row.wall_ms:>8.1f} {row.wall_ms / base.wall_ms:>6.2f}×"
                f" {row.cpu_ms:>8.1f} {row.cpu_ms / base.cpu_ms:>6.2f}×"
            )
        lines += [
            "",
            "wall: spawn → the first line of user code ran; CPU: the process's CPU until then"
            " (kuberun run: runner + CLI). Medians of the rounds; base = " + BASELINE + ".",
            "",
            *(f"{'PASS' if ok else 'FAIL'}  {text}" for ok, text in self.checks()),
        ]
        if self.profile:
            lines += ["", self.profile]
        return "\n".join(lines)


def importtime_profile(tmp: Path, redis_url: str, top: int = 15, tree: str | None = None) -> str:
    """The runner's `-X importtime` lines before its first line of user code, largest first.

    Run with fd capture off, so the interpreter's own stderr lines are not taken for
    the code's output; the code writes a marker there as its first line.
    """
    marker = "--- first line of user code ---"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KUBERUN_")},
        request.REQUEST_FILE_ENV: str(
            _runner_request(tmp, f"import os\nos.write(2, b{marker!r} + b'\\n')\n")
        ),
        request.REDIS_URL_ENV: redis_url,
        request.TERMINATION_LOG_ENV: str(tmp / "termination-log"),
        "KUBERUN_CAPTURE_FDS": "0",
        **({"PYTHONPATH": tree} if tree else {}),
    }
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kuberun.runtime"],
        env=env,
        cwd=tmp,
        capture_output=True,
        timeout=120,
        check=False,
    )
    rows: list[tuple[int, int, str]] = []
    for line in completed.stderr.decode(errors="replace").splitlines():
        if line.strip() == marker:
            break
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        with contextlib.suppress(ValueError):  # the header line
            rows.append((int(cumulative), int(own), name.rstrip()))
    total = sum(own for _, own, _ in rows)
    rows.sort(reverse=True)
    text = [
        f"runner{f' ({_label(tree)}: {tree})' if tree else ''} -X importtime before the first"
        f" line of user code: {len(rows)} modules,"
        f" {total / 1000:.1f} ms of import time in all; the largest (cumulative):",
        f"{'cumulative µs':>14} {'self µs':>8}  module",
    ]
    text += [f"{cum:>14,} {own:>8,}  {name}" for cum, own, name in rows[:top]]
    return "\n".join(text)


def run(
    redis_url: str, rounds: int = DEFAULT_ROUNDS, profile: bool = False, also: str | None = None
) -> Report:
    import kuberun

    for tree in (Path(kuberun.__file__).parent, *([Path(also) / "kuberun"] if also else [])):
        compileall.compile_dir(str(tree), quiet=1)  # as pip does when it installs the image
    with tempfile.TemporaryDirectory(prefix="kuberun-start-") as name:
        tmp = Path(name)
        measured = commands(tmp, redis_url, also)
        samples: dict[str, list[Sample]] = {method: [] for method in measured}
        out = tmp / "first-line"
        for argv, env in measured.values():  # warm the page cache, once each
            _run_once(argv, env, out, tmp)
        for _ in range(rounds):
            for method, (argv, env) in measured.items():
                samples[method].append(_run_once(argv, env, out, tmp))
        trees = [None, also] if also else [None]
        text = (
            "\n\n".join(importtime_profile(tmp, redis_url, tree=t) for t in trees)
            if profile
            else ""
        )
    rows = [Row(method, found) for method, found in samples.items()]
    return Report(rows, _environment(rounds), text)


def _environment(rounds: int) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"kuberun runner start benchmark · {now} · {rounds} rounds, alternating\n"
        f"Python {platform.python_version()} · {os.cpu_count()} CPUs,"
        f" load average {load} at the end"
    )


@contextlib.contextmanager
def _redis_url(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    from tests.support.redis_server import running_redis  # the repo's helper, not a dependency

    with running_redis() as server:
        yield server.url


def main(argv: list[str] | None = None) -> int:
    from bench.logs import _read, with_section

    parser = argparse.ArgumentParser(
        prog="python -m bench start", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--redis", help="use this Redis instead of starting a redis-server")
    parser.add_argument("--importtime", action="store_true", help="also show the import profile")
    parser.add_argument("--markdown", type=Path, help="also write the output into this file")
    parser.add_argument(
        "--also-runner",
        metavar="TREE",
        help="also measure the runner and CLI of another source tree (its runner-image/)",
    )
    args = parser.parse_args(argv)
    with _redis_url(args.redis) as url:
        report = run(url, args.rounds, args.importtime, args.also_runner)
    text = report.render()
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(with_section(_read(args.markdown), SECTION, text))
        print(f"\n(written into {args.markdown})")
    return 0 if report.passed else 1
