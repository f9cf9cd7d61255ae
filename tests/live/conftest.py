"""Shared helpers of the live tests: small policies written on the fly, compiled filters.

Nothing here installs a filter in the pytest process: filters go to the probe, the
launcher, bwrap, runc, or a forked child.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the suite imports test modules by path

from livekit import DEFAULT, policy_text

from seccompiler.compile import load_program
from seccompiler.program import Program
from seccompiler.runner import native


@pytest.fixture
def make_policy(tmp_path: Path) -> Callable[[str], Path]:
    """Write a policy whose rules are the YAML list given; return its path."""
    count = 0

    def make(rules: str) -> Path:
        nonlocal count
        count += 1
        path = tmp_path / f"policy{count}.yaml"
        path.write_text(policy_text(rules))
        return path

    return make


@pytest.fixture
def make_program(make_policy: Callable[[str], Path]) -> Callable[[str], Program]:
    return lambda rules: load_program(str(make_policy(rules)))


@pytest.fixture(scope="session")
def default_program() -> Program:
    return load_program(str(DEFAULT))


@pytest.fixture(autouse=True)
def native_built(request: pytest.FixtureRequest) -> None:
    """Live tests need the native parts ('make setup') and root (runc, bwrap, namespaces)."""
    if request.node.get_closest_marker("live") is None:
        return
    native.executable(native.PROBE)
    native.executable(native.LAUNCHER)
    assert os.geteuid() == 0, "the live tests run as root in CI"
