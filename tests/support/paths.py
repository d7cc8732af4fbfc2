"""Where the shared test data lives: `shared/fixtures/` beside the repository (locally and in CI),
or wherever `PRINTGW_FIXTURES` points."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("PRINTGW_FIXTURES", REPO.parent / "shared" / "fixtures"))
SNMP_FIXTURES = FIXTURES / "snmp"
IPP_FIXTURES = FIXTURES / "ipp"
