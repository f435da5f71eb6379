"""`python -m bench [logs|start|control|all] [options]`: run benchmarks.

- `logs`: the log pipeline (`bench.logs`), runner vs pipelined-XADD ceiling,
  one XADD per line, one thread per line;
- `start`: the runner's start, to the first line of user code, against
  `python -c pass` and `python -c "import redis, pydantic"` (`bench.start`);
- `control`: the operator's control path (`bench.control_path`);
- `stampede`: identical data-provider misses at once, guard on vs off (`bench.stampede`);
- `scale`: thousands of queued Executions on the local control plane (`bench.scale`);
- `admission`: the admission round alone, full re-plan vs incremental (`bench.admission_rounds`);
- `all` (the default): both with their defaults, one after the other; the
  exit code is non-zero if any failed its target.

Options after a benchmark's name go to it (`python -m bench logs --help`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

BENCHMARKS: dict[str, str] = {
    "logs": "bench.logs",
    "start": "bench.start",
    "control": "bench.control_path",
    "stampede": "bench.stampede",
    "scale": "bench.scale",
    "admission": "bench.admission_rounds",
}


def _main_of(name: str) -> Callable[[list[str]], int]:
    """The benchmark's `main(argv) -> int`, imported only when it runs."""
    module = importlib.import_module(BENCHMARKS[name])
    entry: Callable[[list[str]], int] = module.main
    return entry


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    name, rest = (argv[0], argv[1:]) if argv else ("all", [])
    if name not in BENCHMARKS and name != "all":
        print(f"unknown benchmark {name!r}\n{__doc__}")
        return 2
    if name != "all":
        return int(_main_of(name)(rest) or 0)
    if rest:
        print("`all` runs each benchmark with its defaults; give options to one benchmark")
        return 2
    failed = 0
    for each in BENCHMARKS:
        print(f"== python -m bench {each}", flush=True)
        failed += int(_main_of(each)([]) or 0) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
