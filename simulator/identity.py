"""Each virtual printer's MAC, serial and UUID: unique across `printgw-sim` processes and seeds.

A printer's identity is derived from what only it has on this machine — its address, which no
other printer of any process serves — and the fleet's seed, never from a random stream shared by
every process started with the same seed (issue 20: fleets in several processes repeated each
other's MACs).  The same command gives the same identities on every start, whatever its ports, so
a gateway and the tests see the same printers after a restart of the fleet; a printer that moves
(DHCP) keeps its identity with `FleetConfig.identity_first_ip`.

The 45-bit identity number `PrinterKey.number` is injective: 21 bits of the seed's class on top
of the address's low 24 bits, those scrambled by a mask of the seed (an XOR: a bijection).  Within
one seed every address of one /8 (all of loopback) gets a number of its own; two seeds of
different classes never share one; two seeds of the same class (1 in 2 million) share a number
only when their masked addresses meet.  The MAC (locally administered) carries the number in 46
bits and built-in serials (prefix and 9 of 33 characters, 33⁹ > 2⁴⁵) through a bijection, so
both are unique whenever the numbers are.  A serial shaped after a recording has only the room of
its shape: it is unique within a fleet of fewer printers than the shape has values, and unlikely
to repeat beyond.
"""

from __future__ import annotations

import hashlib
import ipaddress
import string
import uuid
from dataclasses import dataclass

SERIAL_ALPHABET = string.digits + "ABCDEFGHJKLMNPRSTUVWXYZ"
"""Characters of a built-in serial after its prefix (no I, O or Q, as on many labels)."""
SERIAL_LENGTH = 9
_SCRAMBLE = 2654435761
"""A prime (Knuth's multiplicative hash): multiplying by it modulo a serial's room is a bijection
(the room is a product of 10, 26 and 33, which it does not divide) that spreads neighbours."""


@dataclass(frozen=True)
class PrinterKey:
    """What makes one virtual printer itself: the fleet's seed and its address."""

    seed: int
    address: str

    @classmethod
    def numbered(cls, number: int, seed: int = 0) -> PrinterKey:
        """A printer made outside a fleet (a forecast, a test): its number stands for an address."""
        return cls(seed, str(ipaddress.IPv4Address(number & 0xFFFFFFFF)))

    def _seed_digest(self) -> bytes:
        return hashlib.sha256(f"printgw-sim seed {self.seed}".encode()).digest()

    @property
    def number(self) -> int:
        """The 45-bit identity number (see the module's docstring)."""
        digest = self._seed_digest()
        place = int(ipaddress.ip_address(self.address)) & 0xFFFFFF
        seed_class = int.from_bytes(digest[:3], "big") & 0x1FFFFF
        return seed_class << 24 | (place ^ int.from_bytes(digest[3:6], "big"))

    @property
    def mac(self) -> bytes:
        """A locally administered unicast MAC (first octet xxxxxx10) holding the number."""
        n = self.number
        return bytes([(n >> 40) << 2 | 0x02]) + (n & (1 << 40) - 1).to_bytes(5, "big")

    @property
    def uuid(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"printgw-sim:{self.seed}/{self.address}"))

    def serial(self, prefix: str) -> str:
        """A built-in profile's serial: `prefix` and 9 characters of `SERIAL_ALPHABET`."""
        return prefix + _encode(self.number, [SERIAL_ALPHABET] * SERIAL_LENGTH)

    def serial_like(self, recorded: str) -> str:
        """A serial of the recorded one's shape: digits, upper and lower case letters where it has
        them, every other character kept."""
        classes = [string.digits if ch.isdigit() else string.ascii_uppercase if ch.isupper()
                   else string.ascii_lowercase if ch.isalpha() else ch for ch in recorded]
        return _encode(self.number, classes)


def _encode(number: int, classes: list[str]) -> str:
    """`number` (modulo the room of `classes`) scrambled bijectively and written in the mixed
    radix of `classes`, most significant first; a one-character class is a literal."""
    room = 1
    for chars in classes:
        room *= len(chars)
    value = number % room * _SCRAMBLE % room
    out = []
    for chars in reversed(classes):
        value, digit = divmod(value, len(chars))
        out.append(chars[digit])
    return "".join(reversed(out))
