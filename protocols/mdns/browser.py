"""An asyncio DNS-SD browser for printers, on python-zeroconf.

`MdnsBrowser` follows the printer service types (`SERVICE_TYPES`) on the interfaces it is given and
keeps one resolved `MdnsService` (SRV, TXT, A/AAAA) per service instance, with the TXT keys of
Bonjour Printing 1.2 / PWG 5100.14 parsed; `events()` reports services added, updated (TXT or
address changes) and removed.  `browse()` is the one-shot form.

zeroconf is always pinned to the interfaces named by the caller: an empty list is an error, never
"all interfaces", so the browser never multicasts where nobody asked it to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import unicodedata
import uuid as uuidlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import Any, Literal

import ifaddr
from zeroconf import (
    BadTypeInNameException,
    DNSPointer,
    DNSQuestionType,
    IPVersion,
    ServiceStateChange,
    Zeroconf,
    current_time_millis,
)
from zeroconf import service_type_name as _check_type_name
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

__all__ = [
    "SERVICE_TYPES", "UNIVERSAL_SUBTYPES", "MdnsBrowser", "MdnsEvent", "MdnsService", "TxtRecord",
    "browse", "interface_addresses", "normalise_type", "normalise_uuid",
]

log = logging.getLogger(__name__)

SERVICE_TYPES = ("_ipp._tcp.local.", "_ipps._tcp.local.", "_printer._tcp.local.",
                 "_pdl-datastream._tcp.local.")
"""IPP, IPP over TLS, LPD and raw port 9100: the services printers advertise."""

UNIVERSAL_SUBTYPES = ("_universal._sub._ipp._tcp.local.", "_universal._sub._ipps._tcp.local.")
"""AirPrint's subtypes.  Browse them beside `SERVICE_TYPES` to learn which printers are AirPrint
printers (`MdnsService.subtypes`); each instance is still reported once."""

EventKind = Literal["added", "updated", "removed"]

_SCHEMES = {"_ipp._tcp.local.": "ipp", "_ipps._tcp.local.": "ipps"}
_TRUE = frozenset({"t", "true", "y", "yes", "on", "1"})
_FALSE = frozenset({"f", "false", "n", "no", "off", "0"})
_SETTLE = 1.2
"""Seconds after an update before resolving again: RFC 6762 §10.2 keeps superseded records in the
cache for one more second, so only a second look sees an address that went away."""
_TYPE_PTR, _CLASS_IN = 12, 1
_RETRY = (5.0, 30.0, 120.0, 600.0)
"""Back-off between attempts to resolve a service that did not answer (then every 10 min)."""


# -- TXT records ----------------------------------------------------------------------------------

def _text(raw: bytes | str | None) -> str:
    """Bytes of a TXT key or value as printable text.

    UTF-8 first (what the printing specs require); Latin-1 otherwise, which older printers use in
    `note` and which never fails.  NUL padding and control characters are dropped.
    """
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        raw = raw.rstrip(b"\x00")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    else:
        text = raw
    if not text.isprintable():
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
    return text.strip()


class TxtRecord(Mapping[str, str]):
    """Decoded TXT key/value pairs.  Look-ups ignore case (`UUID`, `uuid`: vendors differ); as in
    RFC 6763 §6.4 only a key's first occurrence counts.  A key without `=` maps to `""`.
    Immutable and hashable; iteration yields the keys as advertised."""

    __slots__ = ("_by_lower", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        pairs: list[tuple[str, str]] = []
        by_lower: dict[str, str] = {}
        for key, value in items:
            k, v = _text(key), _text(value)
            if not k or k.lower() in by_lower:
                continue
            by_lower[k.lower()] = v
            pairs.append((k, v))
        self._items = tuple(pairs)
        self._by_lower = by_lower

    @classmethod
    def from_properties(cls, properties: Mapping[bytes, bytes | None]) -> TxtRecord:
        """From zeroconf's `ServiceInfo.properties` (raw bytes, possibly not UTF-8)."""
        return cls((_text(k), _text(v)) for k, v in properties.items())

    def __getitem__(self, key: str) -> str:
        if not isinstance(key, str):
            raise KeyError(key)
        return self._by_lower[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._by_lower

    def __iter__(self) -> Iterator[str]:
        return (k for k, _v in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TxtRecord):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"TxtRecord({dict(self._items)!r})"


def normalise_uuid(value: str | None) -> str | None:
    """`urn:uuid:0F…`, `{0f…}` or 32 hex digits → `0f…-…` in lowercase; None if not a UUID."""
    if not value:
        return None
    text = value.strip().lower().removeprefix("urn:uuid:")
    try:
        return str(uuidlib.UUID(text))
    except ValueError:
        return None


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    v = value.strip().lower()
    return True if v in _TRUE else False if v in _FALSE else None


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


def _split_type(type_: str) -> tuple[str, str | None]:
    """`_universal._sub._ipp._tcp.local.` → (`_ipp._tcp.local.`, `_universal`)."""
    sub, sep, parent = type_.partition("._sub.")
    return (parent, sub) if sep else (type_, None)


# -- services and events --------------------------------------------------------------------------

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
        return _flag(self.txt.get("Color"))

    @property
    def duplex(self) -> bool | None:
        """TXT `Duplex` (`T`/`F`); None when absent or unreadable."""
        return _flag(self.txt.get("Duplex"))

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


# -- interfaces -----------------------------------------------------------------------------------

def interface_addresses(names_or_addresses: Sequence[str]) -> list[str]:
    """The IPv4 address to pin zeroconf to for each interface name (`eth0`) or address.

    An address is kept as given (it must be configured on an interface, or be loopback); a name
    gives its interface's first IPv4 address (multicast group membership is per interface, so one
    address per interface is enough).  ValueError, naming the known interfaces, for an unknown
    name, an interface without IPv4, an address nobody has, or 0.0.0.0 (all interfaces).
    """
    adapters = ifaddr.get_adapters()
    owned = {ip.ip for a in adapters for ip in a.ips if isinstance(ip.ip, str)}
    out: list[str] = []
    for item in names_or_addresses:
        item = item.strip()
        try:
            ip = ipaddress.ip_address(item)
        except ValueError:
            ip = None
        if ip is not None:
            if ip.version != 4:
                raise ValueError(f"mDNS interface {item!r}: give an IPv4 address or a name")
            if ip.is_unspecified:
                raise ValueError("mDNS interface 0.0.0.0 means every interface: name one "
                                 "interface or give its address")
            if not ip.is_loopback and item not in owned:
                raise ValueError(f"no network interface has the address {item}")
            address = str(ip)
        else:
            adapter = next((a for a in adapters if item in (a.name, a.nice_name)), None)
            if adapter is None:
                known = ", ".join(sorted({a.nice_name for a in adapters})) or "none"
                raise ValueError(f"unknown network interface {item!r} (known: {known})")
            v4 = [ip.ip for ip in adapter.ips if isinstance(ip.ip, str)]
            if not v4:
                raise ValueError(f"network interface {item!r} has no IPv4 address")
            address = v4[0]
        if address not in out:
            out.append(address)
    return out


def _interface_indexes(names_or_addresses: Sequence[str]) -> list[int]:
    """IPv6 multicast is joined per interface index: the indexes of the named interfaces (or of
    the interfaces owning the given IPv4 addresses)."""
    wanted = set(interface_addresses(names_or_addresses)) | set(names_or_addresses)
    out = []
    for adapter in ifaddr.get_adapters():
        ips = {ip.ip for ip in adapter.ips if isinstance(ip.ip, str)}
        has_v6 = any(not isinstance(ip.ip, str) for ip in adapter.ips)
        if has_v6 and adapter.index is not None and (
                adapter.name in wanted or adapter.nice_name in wanted or ips & wanted):
            out.append(adapter.index)
    return out


def _zeroconf_interfaces(names_or_addresses: Sequence[str], ip_version: IPVersion) -> list[Any]:
    if not names_or_addresses:
        raise ValueError("mDNS needs at least one interface: it never browses on all of them")
    specs: list[Any] = []
    if ip_version != IPVersion.V6Only:
        specs += interface_addresses(names_or_addresses)
    if ip_version != IPVersion.V4Only:
        indexes = _interface_indexes(names_or_addresses)
        if not indexes and ip_version == IPVersion.V6Only:
            raise ValueError(f"no IPv6 on the mDNS interfaces {list(names_or_addresses)}")
        specs += indexes
    return specs


# -- the browser ----------------------------------------------------------------------------------

class MdnsBrowser:
    """Follows DNS-SD printer services on the given interfaces.

    Lifecycle: `await start()` … `await close()`, or `async with MdnsBrowser([...]) as browser:`.
    `services` is the current view (resolved instances, by name); `events()` streams changes.
    Instances found under several browsed types (a subtype and its parent) are one service.
    A service that cannot be resolved within `resolve_timeout` seconds is left out until it is
    resolved: again when its records change, and after a back-off (`_RETRY`) meanwhile.
    Malformed TXT records never raise (see `TxtRecord`).
    """

    def __init__(self, interfaces: Sequence[str], types: Sequence[str] = SERVICE_TYPES,
                 resolve_timeout: float = 3.0, ip_version: IPVersion = IPVersion.V4Only) -> None:
        if isinstance(interfaces, str):
            interfaces = [interfaces]
        if not interfaces:
            raise ValueError("mDNS needs at least one interface: it never browses on all of them")
        if not types:
            raise ValueError("no service types to browse")
        self.interfaces = list(interfaces)
        self.types = tuple(dict.fromkeys(normalise_type(t) for t in types))
        self.resolve_timeout = resolve_timeout
        self.ip_version = ip_version
        self._aiozc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._services: dict[str, MdnsService] = {}
        self._listed: dict[str, set[str]] = {}
        """Instance name → the browsed types (with subtypes) currently listing it."""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._failures: dict[str, int] = {}
        self._queues: set[asyncio.Queue[MdnsEvent | None]] = set()
        self._closed = False

    # -- lifecycle

    async def start(self) -> None:
        """Open zeroconf on the interfaces and start browsing; ValueError for a bad interface."""
        if self._closed:
            raise RuntimeError("MdnsBrowser is closed")
        if self._aiozc is not None:
            return
        specs = _zeroconf_interfaces(self.interfaces, self.ip_version)
        self._aiozc = AsyncZeroconf(interfaces=specs, ip_version=self.ip_version)
        try:
            self._browser = AsyncServiceBrowser(self._aiozc.zeroconf, list(self.types),
                                                handlers=[self._on_state_change])
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop browsing, cancel resolutions, close zeroconf and end every `events()` stream."""
        if self._closed:
            return
        self._closed = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._aiozc is not None:
            await self._aiozc.async_close()
            self._aiozc = None
        for queue in self._queues:
            queue.put_nowait(None)
        self._queues.clear()

    async def __aenter__(self) -> MdnsBrowser:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # -- results

    @property
    def services(self) -> dict[str, MdnsService]:
        """The services resolved so far and not removed, by instance name (a copy)."""
        return dict(self._services)

    def events(self, replay: bool = True) -> AsyncIterator[MdnsEvent]:
        """Changes from now on, until `close()`.  With `replay`, the services already known come
        first as `added`, so a consumer that subscribes late misses nothing.  Each call is an
        independent stream; subscribe before awaiting anything to see every change."""
        queue: asyncio.Queue[MdnsEvent | None] = asyncio.Queue()
        if self._closed:
            queue.put_nowait(None)
        else:
            if replay:
                for service in self._services.values():
                    queue.put_nowait(MdnsEvent("added", service))
            self._queues.add(queue)
        return self._stream(queue)

    async def _stream(self, queue: asyncio.Queue[MdnsEvent | None]) -> AsyncIterator[MdnsEvent]:
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._queues.discard(queue)

    async def wait_resolved(self, max_wait: float | None = None) -> None:
        """Wait (at most `max_wait` seconds) for the resolutions under way."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=max_wait)

    # -- zeroconf callbacks and resolution

    def _on_state_change(self, zeroconf: Zeroconf, service_type: str, name: str,
                         state_change: ServiceStateChange) -> None:
        """Runs in the event loop (AsyncServiceBrowser); must not raise."""
        if self._closed:
            return
        try:
            if state_change is ServiceStateChange.Added:
                self._listed.setdefault(name, set()).add(service_type)
                self._resolve_soon(name)
            elif state_change is ServiceStateChange.Updated:
                if name in self._listed:
                    self._resolve_soon(name)
                    self._resolve_after(name, _SETTLE)
            elif state_change is ServiceStateChange.Removed:
                self._unlist(name, service_type)
        except Exception:  # a bug here must not break zeroconf's record processing
            log.exception("mDNS: handling %s of %s failed", state_change, name)

    def _unlist(self, name: str, service_type: str) -> None:
        listed = self._listed.get(name)
        if listed is None:
            return
        # zeroconf reports a subtype's PTR record under the parent type too: when only the
        # subtype goes, it says the parent went as well.  The cache knows which PTRs are left.
        listed.intersection_update(self._live_types(name))
        if listed:  # still listed under another type: only the subtypes changed
            old = self._services.get(name)
            if old is not None:
                self._publish(MdnsService(old.name, old.type, old.server, old.addresses,
                                          old.port, old.txt, self._subtypes(name)))
            return
        del self._listed[name]
        self._again.discard(name)
        self._failures.pop(name, None)
        if (handle := self._timers.pop(name, None)) is not None:
            handle.cancel()
        if (task := self._tasks.pop(name, None)) is not None:
            task.cancel()
        if (service := self._services.pop(name, None)) is not None:
            self._emit(MdnsEvent("removed", service))

    def _live_types(self, name: str) -> set[str]:
        """The browsed types whose PTR records in the cache still point at `name`."""
        if self._aiozc is None:
            return set()
        cache, now, key = self._aiozc.zeroconf.cache, current_time_millis(), name.lower()
        return {t for t in self.types if any(
            isinstance(r, DNSPointer) and r.alias.lower() == key and not r.is_expired(now)
            for r in cache.async_all_by_details(t, _TYPE_PTR, _CLASS_IN))}

    def _subtypes(self, name: str) -> list[str]:
        return [sub for t in self._listed.get(name, ()) if (sub := _split_type(t)[1])]

    def _parent_type(self, name: str) -> str:
        return _split_type(next(iter(sorted(self._listed[name]))))[0]

    def _resolve_soon(self, name: str) -> None:
        task = self._tasks.get(name)
        if task is not None and not task.done():
            self._again.add(name)  # records changed while resolving: look once more after
            return
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._resolve(name), name=f"mdns-resolve {name}")

    def _resolve_after(self, name: str, delay: float) -> None:
        """Resolve `name` again in `delay` seconds (replacing any look already planned)."""
        if (handle := self._timers.pop(name, None)) is not None:
            handle.cancel()

        def fire() -> None:
            self._timers.pop(name, None)
            if not self._closed and name in self._listed:
                self._resolve_soon(name)

        self._timers[name] = asyncio.get_running_loop().call_later(delay, fire)

    async def _resolve(self, name: str) -> None:
        try:
            while not self._closed and name in self._listed:
                self._again.discard(name)
                service = await self._resolve_once(name)
                if self._closed or name not in self._listed:
                    break
                if service is not None:
                    self._failures.pop(name, None)
                    self._publish(service)
                if name in self._again:
                    continue
                if service is None and name not in self._timers:
                    failures = self._failures[name] = self._failures.get(name, 0) + 1
                    self._resolve_after(name, _RETRY[min(failures, len(_RETRY)) - 1])
                break
        finally:
            if self._tasks.get(name) is asyncio.current_task():
                del self._tasks[name]

    async def _resolve_once(self, name: str) -> MdnsService | None:
        assert self._aiozc is not None
        type_ = self._parent_type(name)
        try:
            info = AsyncServiceInfo(type_, name)
            # QM (multicast) questions only: a unicast (QU) answer goes to port 5353 of the
            # asking host, where another mDNS stack (avahi-daemon, a second zeroconf) may get
            # it instead of this one.
            if not await info.async_request(self._aiozc.zeroconf,
                                            int(self.resolve_timeout * 1000),
                                            question_type=DNSQuestionType.QM):
                log.debug("mDNS: %s did not resolve within %.1fs", name, self.resolve_timeout)
                return None
            return service_from_info(info, type_, self._subtypes(name))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a malformed record: skip it until it changes
            log.debug("mDNS: cannot resolve %s: %r", name, exc)
            return None

    def _publish(self, service: MdnsService) -> None:
        old = self._services.get(service.name)
        if old == service:
            return
        self._services[service.name] = service
        self._emit(MdnsEvent("added" if old is None else "updated", service))

    def _emit(self, event: MdnsEvent) -> None:
        for queue in self._queues:
            queue.put_nowait(event)


async def browse(interfaces: Sequence[str], duration: float,
                 types: Sequence[str] = SERVICE_TYPES, *, resolve_timeout: float = 3.0,
                 ip_version: IPVersion = IPVersion.V4Only) -> list[MdnsService]:
    """Browse for `duration` seconds (plus up to `resolve_timeout` for resolutions then under
    way) and return the services found, sorted by type and name."""
    async with MdnsBrowser(interfaces, types, resolve_timeout, ip_version) as browser:
        await asyncio.sleep(duration)
        await browser.wait_resolved(resolve_timeout)
        return sorted(browser.services.values(), key=lambda s: (s.type, s.name))
