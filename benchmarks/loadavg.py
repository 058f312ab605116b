"""The machine is shared: every benchmark prints the load average at its start and its end."""

from __future__ import annotations

import os
from collections.abc import Callable


def run_with_load_average(main: Callable[[], None]) -> None:
    print(f"load average at start: {os.getloadavg()}", flush=True)
    try:
        main()
    finally:
        print(f"load average at end: {os.getloadavg()}", flush=True)
