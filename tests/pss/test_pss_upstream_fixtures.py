"""Differential test against pod-security-admission's own fixtures (test/testdata), when a
checkout is at hand: ``PSA_TESTDATA=/path/to/pod-security-admission/test/testdata``.

Each fixture is a Pod that upstream expects to pass or fail at one level and version
(``<level>/v1.N/{pass,fail}/*.yaml``). The fixtures are not copied into this repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seccompiler.platform.pss.manifests import read_manifests
from seccompiler.platform.pss.registry import DEFAULT
from seccompiler.platform.pss.versions import Level, LevelVersion, parse_version

ROOT = os.environ.get("PSA_TESTDATA")


@pytest.mark.skipif(not ROOT, reason="set PSA_TESTDATA to pod-security-admission's test/testdata")
def test_upstream_fixtures_agree() -> None:
    assert ROOT is not None
    files = sorted(Path(ROOT).glob("*/v1.*/*/*.yaml"))
    assert len(files) > 1000
    wrong = []
    for f in files:
        level, version, outcome = f.parts[-4], f.parts[-3], f.parts[-2]
        m = read_manifests([str(f)])
        assert not m.errors, f
        (obj,) = m.objects
        assert obj.pod is not None
        result = DEFAULT.evaluate(LevelVersion(Level(level), parse_version(version)), obj.pod)
        if result.allowed != (outcome == "pass"):
            wrong.append(f"{f}: {result.details()}")
    assert wrong == []
