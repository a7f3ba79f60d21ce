"""Where a benchmark records its headline numbers for ``run_all.py``'s summary figure.

A benchmark prints its own table; it also calls :func:`record` for each number worth
plotting. When ``EBM_BENCH_ROWS`` names a file (``run_all.py`` sets it), each row is
appended there as one JSON line; otherwise :func:`record` does nothing.
"""

from __future__ import annotations

import json
import os


def record(benchmark: str, case: str, value: float, unit: str, *, bar: float | None = None) -> None:
    """Append one result: ``value`` in ``unit`` for ``case`` of ``benchmark``, with an optional bar to meet."""
    path = os.environ.get("EBM_BENCH_ROWS")
    if not path:
        return
    with open(path, "a") as handle:
        handle.write(json.dumps({"benchmark": benchmark, "case": case, "value": float(value), "unit": unit, "bar": bar}) + "\n")
