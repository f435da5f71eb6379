"""`python -m bench [logs|control|all] [options]`: run benchmarks.

- `logs`: the log pipeline (`bench.logs`), runner vs pipelined-XADD ceiling,
  one XADD per line, one thread per line;
- `control`: the operator's control path (`bench.control_path`);
- `all` (the default): both, one after the other; the exit code is non-zero
  if any failed its target.

Options after the name go to that benchmark (`python -m bench logs --help`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

BENCHMARKS: dict[str, str] = {
    "logs": "bench.logs",
    "control": "bench.control_path",
}


def _main_of(name: str) -> Callable[[list[str]], int]:
    """The benchmark's `main(argv) -> int`, imported only when it runs."""
    module = importlib.import_module(BENCHMARKS[name])
    entry: Callable[[list[str]], int] = module.main
    return entry


def main(argv: list[str]) -> int:
    name, rest = (argv[0], argv[1:]) if argv and not argv[0].startswith("-") else ("all", argv)
    if name in ("-h", "--help") or (name not in BENCHMARKS and name != "all"):
        print(__doc__)
        return 0 if name in ("-h", "--help") else 2
    if name != "all":
        return int(_main_of(name)(rest) or 0)
    failed = 0
    for each in BENCHMARKS:
        print(f"== python -m bench {each}", flush=True)
        failed += int(_main_of(each)(rest) or 0) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
