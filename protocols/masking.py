"""Masking of a support recording: serial numbers, MAC addresses, IP addresses and UUIDs replaced
by stand-ins of the same type and length, consistently (the same input always gets the same mask
within one recording), so that the masked recording still parses as the original did.

A `Masker` is told the secrets a recording holds where they are known by their object (a serial
number column, a MAC in `ifPhysAddress`, an `IpAddress` value, the device ID's `SN:`); `text`
then replaces each of them wherever it appears in a string, in every text form (a MAC as
`00:1B:…`, `00-1b-…` or `001b…`), and, by their shape, any IPv4/IPv6 address and UUID.  The
stand-ins come from an HMAC with a key of the recording's own, random unless given: they cannot
be turned back into the originals by trying every address or serial.

Protocol-neutral: the SNMP and IPP recorders (`protocols.snmp.recording`,
`protocols.ipp.recording`) find the secrets in their values and call this.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import string
from collections.abc import Callable

MIN_SERIAL = 4
"""Shorter serials are masked where they are the whole value only: "12" would be everywhere."""

_IPV4 = re.compile(rb"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(rb"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:.])")
_UUID = re.compile(rb"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                   rb"[0-9A-Fa-f]{12}")
_UNMASKED_V4 = frozenset({"0.0.0.0", "255.255.255.255"})


class Masker:
    """Stand-ins for one recording's secrets; `key` fixes them (tests), else a random one."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else os.urandom(32)
        self._secrets: dict[bytes, bytes] = {}
        """Every known secret in its text forms → its stand-in: what `text` replaces."""
        self._macs: dict[bytes, bytes] = {}

    # -- stand-ins ----------------------------------------------------------------------------

    def _stream(self, kind: str, value: bytes, attempt: int) -> bytes:
        message = kind.encode() + b"\0" + value + b"\0" + str(attempt).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return digest + hmac.new(self._key, digest, hashlib.sha256).digest()

    def _differing(self, kind: str, value: bytes, make: Callable[[bytes], bytes]) -> bytes:
        """The first of `make(stream)` over attempts that differs from `value`."""
        for attempt in range(100):
            masked = make(self._stream(kind, value, attempt))
            if masked != value:
                return masked
        raise AssertionError("no differing mask")  # 100 equal HMACs: impossible in practice

    def serial(self, serial: str) -> str:
        """Same length, each character of the same class (digit, upper, lower; others kept)."""
        def make(stream: bytes) -> bytes:
            out = []
            for ch, byte in zip(serial, stream * (len(serial) // 64 + 1), strict=False):
                if ch.isdigit() and ch.isascii():
                    out.append(string.digits[byte % 10])
                elif ch.isascii() and ch.isupper():
                    out.append(string.ascii_uppercase[byte % 26])
                elif ch.isascii() and ch.islower():
                    out.append(string.ascii_lowercase[byte % 26])
                else:
                    out.append(ch)
            return "".join(out).encode()
        if not any(ch.isascii() and ch.isalnum() for ch in serial):
            return serial
        return self._differing("serial", serial.encode(), make).decode()

    def ipv4(self, address: str) -> str:
        """Each octet masked to one of as many digits, so that the text keeps its length."""
        if address in _UNMASKED_V4:
            return address
        octets = address.split(".")

        def make(stream: bytes) -> bytes:
            out = []
            for octet, byte in zip(octets, stream, strict=False):
                low, high = {1: (0, 9), 2: (10, 99)}.get(len(octet), (100, 255))
                out.append(str(low + byte % (high - low + 1)))
            return ".".join(out).encode()
        return self._differing("ipv4", address.encode(), make).decode()

    def hex_digits(self, kind: str, text: str) -> str:
        """Every hex digit replaced (case kept), everything else kept: IPv6 addresses, UUIDs."""
        def make(stream: bytes) -> bytes:
            out = []
            for ch, byte in zip(text, stream * (len(text) // 64 + 1), strict=False):
                if ch in string.hexdigits:
                    digit = "0123456789abcdef"[byte % 16]
                    out.append(digit.upper() if ch.isupper() else digit)
                else:
                    out.append(ch)
            return "".join(out).encode()
        return self._differing(kind, text.lower().encode(), make).decode()

    def mac(self, mac: bytes) -> bytes:
        """The vendor's OUI (first three bytes) kept, the device's own three masked."""
        masked = self._macs.get(mac)
        if masked is None:
            masked = self._differing("mac", mac, lambda s: mac[:3] + s[:3])
            self._macs[mac] = masked
        return masked

    # -- what a recording holds ------------------------------------------------------------------

    def add_serial(self, serial: str) -> None:
        serial = serial.strip("\0 \t\r\n")
        if len(serial) >= MIN_SERIAL:
            self._secrets[serial.encode()] = self.serial(serial).encode()

    def add_mac(self, mac: bytes) -> None:
        if len(mac) != 6 or not any(mac):
            return
        masked = self.mac(mac)
        for sep in (":", "-", ""):
            for form in (str.upper, str.lower):
                original = form(mac.hex(sep)) if sep else form(mac.hex())
                stand_in = form(masked.hex(sep)) if sep else form(masked.hex())
                self._secrets[original.encode()] = stand_in.encode()

    def add_address(self, address: str) -> None:
        try:
            parsed = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return
        text = str(parsed)
        masked = self.ipv4(text) if parsed.version == 4 else self.hex_digits("ipv6", text)
        self._secrets[text.encode()] = masked.encode()

    def text(self, value: bytes) -> bytes:
        """`value` with every known secret and every address and UUID replaced, same length."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, self._secrets[secret])
        value = _IPV4.sub(lambda m: self._v4_text(m.group()), value)
        value = _IPV6.sub(lambda m: self._v6_text(m.group()), value)
        return _UUID.sub(lambda m: self.hex_digits("uuid", m.group().decode()).encode(), value)

    def _v4_text(self, found: bytes) -> bytes:
        text = found.decode()
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            return found
        return self.ipv4(text).encode()

    def _v6_text(self, found: bytes) -> bytes:
        text = found.decode()
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            return found
        if text == "::":
            return found
        return self.hex_digits("ipv6", text).encode()
