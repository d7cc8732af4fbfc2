"""DNS-SD printer services as the browser reports them: the resolved instance (SRV, TXT,
A/AAAA) with the TXT keys of Bonjour Printing 1.2 / PWG 5100.14 parsed, and the changes to it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from zeroconf import BadTypeInNameException, IPVersion
from zeroconf import service_type_name as _check_type_name
from zeroconf.asyncio import AsyncServiceInfo

from protocols.mdns.txt import TxtRecord, normalise_uuid, txt_flag

SERVICE_TYPES = ("_ipp._tcp.local.", "_ipps._tcp.local.", "_printer._tcp.local.",
                 "_pdl-datastream._tcp.local.")
"""IPP, IPP over TLS, LPD and raw port 9100: the services printers advertise."""

UNIVERSAL_SUBTYPES = ("_universal._sub._ipp._tcp.local.", "_universal._sub._ipps._tcp.local.")
"""AirPrint's subtypes.  Browse them beside `SERVICE_TYPES` to learn which printers are AirPrint
printers (`MdnsService.subtypes`); each instance is still reported once."""

EventKind = Literal["added", "updated", "removed"]

_SCHEMES = {"_ipp._tcp.local.": "ipp", "_ipps._tcp.local.": "ipps"}


def normalise_type(type_: str) -> str:
    """`_ipp._tcp` → `_ipp._tcp.local.`; ValueError for a name that is not a DNS-SD type."""
    t = type_.strip()
    if not t.endswith("."):
        t += "."
    if not t.endswith(".local."):
        t += "local."
    try:
        _check_type_name(t, strict=False)
    except BadTypeInNameException as exc:
        raise ValueError(f"not a DNS-SD service type: {type_!r} ({exc})") from None
    if not t.endswith(("._tcp.local.", "._udp.local.")):
        raise ValueError(f"not a DNS-SD service type: {type_!r} (e.g. _ipp._tcp)")
    return t


def split_type(type_: str) -> tuple[str, str | None]:
    """`_universal._sub._ipp._tcp.local.` → (`_ipp._tcp.local.`, `_universal`)."""
    sub, sep, parent = type_.partition("._sub.")
    return (parent, sub) if sep else (type_, None)


@dataclass(frozen=True)
class MdnsService:
    """One resolved DNS-SD service instance (one device usually advertises several)."""

    name: str
    """Full instance name, e.g. `HP LaserJet M404 [X1]._ipp._tcp.local.`: the key."""
    type: str
    """Service type without subtype, e.g. `_ipp._tcp.local.`."""
    server: str | None
    """SRV target host, e.g. `NPI1A2B3C.local.`."""
    addresses: tuple[str, ...]
    """IPv4 first, then IPv6 (scoped, `fe80::1%2`, for link-local)."""
    port: int
    txt: Mapping[str, str] = field(default_factory=TxtRecord)
    """Decoded TXT record; look-ups ignore case.  A plain dict is converted."""
    subtypes: tuple[str, ...] = ()
    """Browsed subtypes the instance is listed under, e.g. `("_universal",)` for AirPrint."""

    def __post_init__(self) -> None:
        if not isinstance(self.txt, TxtRecord):
            object.__setattr__(self, "txt", TxtRecord(self.txt.items()))
        object.__setattr__(self, "addresses", tuple(sorted(self.addresses, key=_is_ipv6)))
        object.__setattr__(self, "subtypes", tuple(sorted(set(self.subtypes))))

    def _get(self, key: str) -> str | None:
        return self.txt.get(key) or None

    @property
    def instance(self) -> str:
        """The instance label, as people read it: `HP LaserJet M404 [X1]`."""
        return self.name.removesuffix("." + self.type) if self.name.endswith(self.type) \
            else self.name

    @cached_property
    def uuid(self) -> str | None:
        """TXT `UUID`, lowercase, without `urn:uuid:`; None when absent or not a UUID."""
        return normalise_uuid(self._get("UUID"))

    @property
    def make_and_model(self) -> str | None:
        """TXT `ty`."""
        return self._get("ty")

    @property
    def product(self) -> str | None:
        """TXT `product` without its parentheses: `(LaserJet M404)` → `LaserJet M404`."""
        value = self._get("product")
        if value is None:
            return None
        return value.removeprefix("(").removesuffix(")").strip() or None

    @property
    def manufacturer(self) -> str | None:
        """TXT `usb_MFG`."""
        return self._get("usb_MFG")

    @property
    def model(self) -> str | None:
        """TXT `usb_MDL`."""
        return self._get("usb_MDL")

    @property
    def resource_path(self) -> str | None:
        """TXT `rp` without a leading slash: `ipp/print`."""
        value = self._get("rp")
        return value.lstrip("/") if value is not None else None

    @property
    def admin_url(self) -> str | None:
        """TXT `adminurl`."""
        return self._get("adminurl")

    @property
    def note(self) -> str | None:
        """TXT `note` (usually the location)."""
        return self._get("note")

    @cached_property
    def pdl(self) -> tuple[str, ...]:
        """TXT `pdl`: the document formats, e.g. `("application/pdf", "image/urf")`."""
        return tuple(p.strip() for p in (self._get("pdl") or "").split(",") if p.strip())

    @property
    def color(self) -> bool | None:
        """TXT `Color` (`T`/`F`); None when absent or unreadable."""
        return txt_flag(self.txt.get("Color"))

    @property
    def duplex(self) -> bool | None:
        """TXT `Duplex` (`T`/`F`); None when absent or unreadable."""
        return txt_flag(self.txt.get("Duplex"))

    @property
    def tls(self) -> str | None:
        """TXT `TLS`: the highest TLS version the printer speaks, e.g. `1.2`."""
        return self._get("TLS")

    @property
    def scheme(self) -> Literal["ipp", "ipps"] | None:
        """`ipp` for `_ipp._tcp`, `ipps` for `_ipps._tcp`, None for other services."""
        return _SCHEMES.get(self.type)  # type: ignore[return-value]

    @property
    def ipp_uri(self) -> str | None:
        """`ipp://ADDRESS:PORT/RP` for IPP services (IPv4 preferred, IPv6 bracketed)."""
        return self.ipp_uri_at(self.addresses[0]) if self.addresses else None

    def ipp_uri_at(self, host: str) -> str | None:
        """The IPP URI at one of the service's addresses; None for other services."""
        scheme = self.scheme
        if scheme is None or not 0 < self.port < 65536:
            return None
        if ":" in host:
            host = "[" + host.replace("%", "%25") + "]"
        return f"{scheme}://{host}:{self.port}/{self.resource_path or ''}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the record as resolved and its parsed TXT keys."""
        return {
            "name": self.name, "instance": self.instance, "type": self.type,
            "subtypes": list(self.subtypes), "server": self.server,
            "addresses": list(self.addresses), "port": self.port, "txt": dict(self.txt.items()),
            "uuid": self.uuid, "make_and_model": self.make_and_model, "product": self.product,
            "manufacturer": self.manufacturer, "model": self.model,
            "resource_path": self.resource_path, "admin_url": self.admin_url, "note": self.note,
            "pdl": list(self.pdl), "color": self.color, "duplex": self.duplex, "tls": self.tls,
            "scheme": self.scheme, "ipp_uri": self.ipp_uri,
        }


def _is_ipv6(address: str) -> bool:
    return ":" in address


@dataclass(frozen=True)
class MdnsEvent:
    kind: EventKind
    service: MdnsService
    """For `removed`: the service as last resolved."""

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, "service": self.service.to_json()}


def service_from_info(info: AsyncServiceInfo, type_: str,
                      subtypes: Iterable[str] = ()) -> MdnsService:
    """An `MdnsService` from a resolved zeroconf `ServiceInfo`."""
    v4 = [str(a) for a in info.ip_addresses_by_version(IPVersion.V4Only)]
    v6 = info.parsed_scoped_addresses(IPVersion.V6Only)
    return MdnsService(
        name=info.name, type=type_, server=info.server or None,
        addresses=tuple(dict.fromkeys(v4 + v6)), port=info.port or 0,
        txt=TxtRecord.from_properties(info.properties or {}), subtypes=tuple(subtypes))
