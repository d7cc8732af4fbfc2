"""The OCI image (`scripts/build-image`): built without a registry from Debian packages, inspected,
and run with podman and the host's network: `printgw --version` and the demo (a virtual fleet on
127.0.130.x, the reference cloud and the gateway, all inside the container).  The image is removed
from podman's storage at the end."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from protocols.version import VERSION
from tests.support.debian_package import require_root_and_dpkg, system
from tests.support.demo_runner import fleet_args
from tests.support.paths import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@dataclass(frozen=True)
class Image:
    name: str
    archive: Path
    build_seconds: float


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    require_root_and_dpkg()
    missing = [tool for tool in ("mmdebstrap", "podman") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing (Debian packages; .ci/run installs them)")
    out = tmp_path_factory.mktemp("image")
    started = time.monotonic()
    built = subprocess.run([str(REPO / "scripts" / "build-image"), str(out)], capture_output=True,
                           text=True, timeout=1500, check=False)
    assert built.returncode == 0, built.stderr[-4000:]
    name, archive = built.stdout.split()
    try:
        yield Image(name, Path(archive), time.monotonic() - started)
    finally:
        for tag in (name, "localhost/printgw:latest"):
            subprocess.run(["podman", "rmi", "--force", tag], capture_output=True, check=False)


def test_image_is_built_from_scratch_with_the_package(image: Image,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (inspected,) = json.loads(system("podman", "image", "inspect", image.name).stdout)
    config = inspected["Config"]
    assert config["Entrypoint"] == ["/usr/bin/printgw"]
    assert config["Cmd"] == ["run", "--config", "/etc/printgw/gateway.toml"]
    assert config["User"] == "printgw"
    assert config["Labels"]["org.opencontainers.image.version"] == VERSION
    assert len(inspected["RootFS"]["Layers"]) == 1  # FROM scratch: the root filesystem only
    with tarfile.open(image.archive) as archive:
        names = set(archive.getnames())
    assert {"oci-layout", "index.json"} <= names
    with capsys.disabled():
        print(f"\n[packaging] image {image.name}: {inspected['Size'] / 1e6:.0f} MB "
              f"(OCI archive {image.archive.stat().st_size / 1e6:.0f} MB); "
              f"built in {image.build_seconds:.0f} s")


REFUSED = "OCI permission denied"
"""crun's answer where the machine does not let it set up a container (e.g. no CAP_SYS_RESOURCE
for its rlimits, as in some sandboxes): the image's root filesystem is then run with chroot."""


@dataclass(frozen=True)
class Runner:
    """Runs a program of the image as its user with the host's network: `podman run`, or, where
    podman cannot run containers, chroot into a mounted container of the image."""

    image: Image
    root: Path | None = None

    def run(self, program: str, *args: str,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        if self.root is None:
            return system("podman", "run", "--rm", "--network=host", "--entrypoint", program,
                          self.image.name, *args, timeout=timeout)
        script = ('mount -t proc proc "$0/proc" && cd "$0/var/lib/printgw" && exec chroot '
                  '--userspec=printgw:printgw "$0" env -i PATH=/usr/bin:/bin LANG=C.UTF-8 '
                  'HOME=/var/lib/printgw "$@"')
        return system("unshare", "--mount", "--fork", "sh", "-c", script, str(self.root), program,
                      *args, timeout=timeout)


@pytest.fixture
def runner(image: Image, capsys: pytest.CaptureFixture[str]) -> Iterator[Runner]:
    probe = subprocess.run(["podman", "run", "--rm", "--network=host", image.name, "--version"],
                           capture_output=True, text=True, timeout=120, check=False)
    if probe.returncode == 0 or REFUSED not in probe.stderr:
        yield Runner(image)
        return
    container = system("podman", "create", image.name).stdout.strip()
    try:
        root = Path(system("podman", "mount", container).stdout.strip())
        with capsys.disabled():
            print(f"\n[packaging] podman cannot run containers here ({probe.stderr.strip()}): "
                  "the image's root filesystem runs under chroot")
        yield Runner(image, root)
    finally:
        subprocess.run(["podman", "umount", container], capture_output=True, check=False)
        subprocess.run(["podman", "rm", "--force", container], capture_output=True, check=False)


def test_image_runs_the_commands(runner: Runner) -> None:
    assert runner.run("/usr/bin/printgw", "--version").stdout.strip() == f"printgw {VERSION}"
    checked = runner.run("/usr/bin/printgw", "check-config", "/etc/printgw/gateway.toml")
    assert "OK" in checked.stdout
    small = runner.run("/bin/sh", "-c", "find /usr/share/doc /usr/share/man /var/lib/apt/lists "
                       "-type f ! -name copyright ! -name lock 2>/dev/null | wc -l; "
                       "id -un").stdout.split()
    assert small == ["0", "printgw"], small  # no docs, no apt lists; runs as printgw


def test_demo_runs_in_the_image(runner: Runner) -> None:
    result = runner.run("/usr/bin/printgw", "demo", "--duration", "15",
                        *fleet_args("127.0.130.1", 3), timeout=400)
    assert "Registered in the cloud: 3 of 3" in result.stdout, result.stdout[-3000:]
    assert "Stopped the gateway, the reference cloud and the virtual fleet" in result.stdout
