"""The Debian package's systemd unit from config/printgw.service: `python3 unit.py UNIT > OUT`.

The repository's unit is for a venv installed by hand with a user allocated by systemd; the
package has the commands in /usr/bin and a system user of its own (`printgw`, made by postinst)
that owns /var/lib/printgw with mode 0750.  Everything else (the notify protocol, the watchdog,
the hardening) is the repository's unit as it is.  A line this expects and does not find stops
the build: the unit changed and this must follow.
"""

from __future__ import annotations

import sys
from pathlib import Path

HEADER = """\
# printgw as a systemd service (the Debian package).
#
# Not enabled on install: edit /etc/printgw/gateway.toml (check it with
# `printgw check-config /etc/printgw/gateway.toml`), then `systemctl enable --now printgw`.
# Change settings of this unit with a drop-in (`systemctl edit printgw`), not here: this file is
# replaced on upgrades.  The service runs as the system user `printgw`, which owns
# /var/lib/printgw; secrets are passed as credentials (LoadCredential= below, in a drop-in):
# keep each in a file only root can read, and refer to it in the config as
#   enrolment_token_file = "$CREDENTIALS_DIRECTORY/enrolment-token"
"""

REPLACEMENTS = {
    "ExecStart=/opt/printgw/bin/printgw ": "ExecStart=/usr/bin/printgw ",
    "DynamicUser=yes": "User=printgw\nGroup=printgw",
    "StateDirectoryMode=0700": "StateDirectoryMode=0750",
}


def packaged_unit(text: str) -> str:
    """`text` without its leading comment block, with HEADER and the REPLACEMENTS."""
    body = text[text.index("[Unit]"):]
    for old, new in REPLACEMENTS.items():
        if old not in body:
            raise SystemExit(f"unit.py: {old!r} is no longer in the unit: update REPLACEMENTS")
        body = body.replace(old, new)
    return HEADER + "\n" + body


def main() -> None:
    sys.stdout.write(packaged_unit(Path(sys.argv[1]).read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
