"""The allocator settings are applied once per process on glibc, and change no result."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from markit_core.allocator import keep_freed_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

_CHILD = """
import sys
import numpy as np
from markit_core.allocator import keep_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
rng = np.random.default_rng(5)
total = 0.0
for size in (1 << 16, 1 << 20, 5 << 20, 40 << 20):  # below and above the heap limit
    a = rng.random(size // 8)
    total += float(np.sort(a)[::997].sum())
    del a
print(repr(total))
"""


@pytest.mark.skipif(not GLIBC, reason="the settings are glibc's")
def test_applied_once_and_results_unchanged() -> None:
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # idempotent
    out = {
        mode: subprocess.run(
            [sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True
        ).stdout
        for mode in ("tuned", "default")
    }
    assert out["tuned"] == out["default"] and float(out["tuned"]) > 0
