"""The BPF tool tests; helpers live in bpfkit.py (put on sys.path here, since the suite
imports test modules by path)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
