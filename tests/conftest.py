"""Suite-wide settings: the suite never reads or writes the user's own cache; the hostile-input
tally of pytest-xdist workers is added up and printed once."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "hostile"))

from hostilekit import Tally

_WORKERS_TALLY = Tally()


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    mp.undo()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    tally = getattr(node, "workeroutput", {}).get("hostile")
    if tally:
        _WORKERS_TALLY.merge(tally)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _WORKERS_TALLY.cases:
        _WORKERS_TALLY.report(terminalreporter.write_line)
