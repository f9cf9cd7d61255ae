"""Hostile and careless input on every surface: the harness lives in hostilekit.py."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hostilekit import TALLY, Outcome, run_case


@pytest.fixture
def hostile() -> Callable[..., Outcome]:
    """Run one CLI case with a time bound; see ``hostilekit.run_case``."""
    return run_case


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY.cases:
        return
    terminalreporter.write_line(TALLY.line())
    for kind, cases in (
        ("traceback", TALLY.tracebacks),
        ("escape", TALLY.escapes),
        ("hang", TALLY.hangs),
    ):
        for case in cases:
            terminalreporter.write_line(f"  {kind}: {case}")
