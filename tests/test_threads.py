"""The app's switch interval is set once per process and is the documented value."""

from __future__ import annotations

import subprocess
import sys

from markit_core.threads import SWITCH_INTERVAL_S

_CHILD = """
import sys
before = sys.getswitchinterval()
from markit_core.threads import prompt_switching
first, second = prompt_switching(), prompt_switching()
print(before, sys.getswitchinterval(), first, second)
"""


def test_set_once_per_process_to_the_documented_interval() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True
    ).stdout.split()
    before, after, first, second = float(out[0]), float(out[1]), out[2], out[3]
    assert before == 0.005  # CPython's default: the setting is what changes it
    assert after == SWITCH_INTERVAL_S < before
    assert (first, second) == ("True", "False")
