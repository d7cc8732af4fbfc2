"""The Debian package, built once for the packaging tests that need it."""

from __future__ import annotations

import pytest

from tests.support.debian_package import DebPackage, build_deb, require_root_and_dpkg


@pytest.fixture(scope="session")
def deb_package(tmp_path_factory: pytest.TempPathFactory) -> DebPackage:
    require_root_and_dpkg()
    return build_deb(tmp_path_factory.mktemp("deb"))
