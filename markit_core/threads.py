"""Hand the interpreter lock between threads sooner in the app's server process.

One Streamlit process serves every reader with threads: script runs, the login's
warm-up imports, the next case's pixels built ahead, archive prefetch. When a
thread that only needs the lock for a moment (encoding the picture a reader is
waiting for) meets one that holds it in long stretches (imports, decoding), it
waits for CPython's switch interval, 5 ms by default, at every release it asks
for, and the short task is stretched many times over. Measured while a reader
logged in: building a case's pixels took 12–17 ms alone, 95–130 ms in the
server and up to 585 ms with two busy threads beside it; with 1 ms it took
78–119 ms (docs/deployment.md).

:func:`prompt_switching` sets the interval to :data:`SWITCH_INTERVAL_S`. It changes
no result, only which thread runs when; the price is more lock handoffs in a process
whose threads all compute, which costs such a process a few per cent. Command-line
runs, which have one busy thread, leave it alone.
"""

from __future__ import annotations

import sys

__all__ = ["SWITCH_INTERVAL_S", "prompt_switching"]

#: Seconds a thread may hold the interpreter lock while another asks for it.
SWITCH_INTERVAL_S = 0.001


def prompt_switching() -> bool:
    """Apply :data:`SWITCH_INTERVAL_S`; True when this call changed the interval.

    The interpreter holds the setting, so calling again on every script run is free.
    """
    if sys.getswitchinterval() == SWITCH_INTERVAL_S:
        return False
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return True
