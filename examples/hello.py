"""Hello, kuberun: a script. The top-level code runs as is; `result` is the result.

    kuberun run examples/hello.py

`print` and `logging` both land in the execution's log, in one order. A script
may also use top-level `await` (see `countdown` in executions/hello.yaml).
"""

import logging
import platform

log = logging.getLogger("hello")

print("hello from a kuberun script")
log.info("running on Python %s", platform.python_version())
words = ["hello", "kuberun"]
log.debug("about to join %d words", len(words))

result = {"greeting": " ".join(words), "python": platform.python_version()}
