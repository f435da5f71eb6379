"""A script that fails on purpose: what a failure looks like, and its exit code.

    kuberun run examples/failing.py                     # FAILED, exit code 11
    kuberun submit examples/failing.py --watch          # the same, in a cluster

`UserError` is for failures the user should read: only its message is shown,
once, without a traceback.
"""

import logging

from kuberun import UserError

logging.getLogger("failing").info("checking the input")
raise UserError("the input file is empty: upload one and try again")
