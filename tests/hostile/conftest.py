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


def pytest_sessionfinish(session: pytest.Session) -> None:
    store = getattr(session.config, "workeroutput", None)
    if store is not None:  # a pytest-xdist worker: the controller prints the whole tally
        store["hostile"] = TALLY.as_dict()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TALLY.cases:
        TALLY.report(terminalreporter.write_line)
