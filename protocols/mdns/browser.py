"""An asyncio DNS-SD browser for printers, on python-zeroconf.

`MdnsBrowser` follows the printer service types (`SERVICE_TYPES`) on the interfaces it is given and
keeps one resolved `MdnsService` (SRV, TXT, A/AAAA) per service instance, with the TXT keys of
Bonjour Printing 1.2 / PWG 5100.14 parsed; `events()` reports services added, updated (TXT or
address changes) and removed.  `browse()` is the one-shot form.  The browser runs zeroconf; its
listener (`protocols.mdns.listener`) resolves and keeps the services.

zeroconf is always pinned to the interfaces named by the caller: an empty list is an error, never
"all interfaces", so the browser never multicasts where nobody asked it to.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from types import TracebackType

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from protocols.mdns.interfaces import required_interfaces, zeroconf_interfaces
from protocols.mdns.listener import ServiceCollector
from protocols.mdns.service import SERVICE_TYPES, MdnsEvent, MdnsService, normalise_type


class MdnsBrowser:
    """Follows DNS-SD printer services on the given interfaces.

    Lifecycle: `await start()` … `await close()`, or `async with MdnsBrowser([...]) as browser:`.
    `services` is the current view (resolved instances, by name); `events()` streams changes.
    Instances found under several browsed types (a subtype and its parent) are one service.
    A service that cannot be resolved within `resolve_timeout` seconds is left out until it is
    resolved (see `ServiceCollector`).  Malformed TXT records never raise (see `TxtRecord`).
    """

    def __init__(self, interfaces: Sequence[str], types: Sequence[str] = SERVICE_TYPES,
                 resolve_timeout: float = 3.0, ip_version: IPVersion = IPVersion.V4Only) -> None:
        self.interfaces = required_interfaces(interfaces)
        if not types:
            raise ValueError("no service types to browse")
        self.types = tuple(dict.fromkeys(normalise_type(t) for t in types))
        self.resolve_timeout = resolve_timeout
        self.ip_version = ip_version
        self._aiozc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._collector = ServiceCollector(self.types, resolve_timeout)
        self._closed = False

    async def start(self) -> None:
        """Open zeroconf on the interfaces and start browsing; ValueError for a bad interface."""
        if self._closed:
            raise RuntimeError("MdnsBrowser is closed")
        if self._aiozc is not None:
            return
        specs = zeroconf_interfaces(self.interfaces, self.ip_version)
        self._aiozc = AsyncZeroconf(interfaces=specs, ip_version=self.ip_version)
        self._collector.zeroconf = self._aiozc.zeroconf
        try:
            self._browser = AsyncServiceBrowser(self._aiozc.zeroconf, list(self.types),
                                                handlers=[self._collector.on_state_change])
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop browsing, cancel resolutions, close zeroconf and end every `events()` stream."""
        if self._closed:
            return
        self._closed = True
        await self._collector.close()
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        if self._aiozc is not None:
            await self._aiozc.async_close()
            self._aiozc = None

    async def __aenter__(self) -> MdnsBrowser:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    @property
    def services(self) -> dict[str, MdnsService]:
        """The services resolved so far and not removed, by instance name (a copy)."""
        return self._collector.services

    def events(self, replay: bool = True) -> AsyncIterator[MdnsEvent]:
        """Changes from now on, until `close()` (see `ServiceCollector.events`)."""
        return self._collector.events(replay)

    async def wait_resolved(self, max_wait: float | None = None) -> None:
        """Wait (at most `max_wait` seconds) for the resolutions under way."""
        await self._collector.wait_resolved(max_wait)


async def browse(interfaces: Sequence[str], duration: float,
                 types: Sequence[str] = SERVICE_TYPES, *, resolve_timeout: float = 3.0,
                 ip_version: IPVersion = IPVersion.V4Only) -> list[MdnsService]:
    """Browse for `duration` seconds (plus up to `resolve_timeout` for resolutions then under
    way) and return the services found, sorted by type and name."""
    async with MdnsBrowser(interfaces, types, resolve_timeout, ip_version) as browser:
        await asyncio.sleep(duration)
        await browser.wait_resolved(resolve_timeout)
        return sorted(browser.services.values(), key=lambda s: (s.type, s.name))
