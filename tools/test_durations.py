"""Write tests/durations.json from pytest's JUnit XML reports: each test file's seconds, averaged over the reports
given (run the suite with ``PYTEST_ARGS="-n 2 --dist loadfile --no-loadscope-reorder --junitxml=FILE"`` on each
database). tests/conftest.py starts the slowest files first from it, so a parallel run does not end on one long
file while the other workers wait.

    .venv/bin/python tools/test_durations.py sqlite.xml postgresql.xml
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "durations.json"


def main(reports: list[str]) -> None:
    totals: Counter[str] = Counter()
    for report in reports:
        for case in ET.parse(report).getroot().iter("testcase"):
            module = case.get("classname", "").split(".")
            if len(module) >= 2 and module[0] == "tests":
                totals[f"tests/{module[1]}.py"] += float(case.get("time", 0))
    averaged = {name: round(seconds / len(reports), 1) for name, seconds in sorted(totals.items())}
    OUT.write_text(json.dumps(averaged, indent=0, sort_keys=True) + "\n")
    print(f"{len(averaged)} files written to {OUT}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
