"""The browser's listener: one resolved `MdnsService` per instance zeroconf lists, and the changes.

zeroconf's service browser reports instance names as their PTR records come and go
(`on_state_change`); this resolves each (SRV, TXT, A/AAAA) into an `MdnsService`, keeps the
current view (`services`) and streams what changed (`events()`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from zeroconf import (
    DNSPointer,
    DNSQuestionType,
    ServiceStateChange,
    Zeroconf,
    current_time_millis,
)
from zeroconf.asyncio import AsyncServiceInfo

from protocols.mdns.service import MdnsEvent, MdnsService, service_from_info, split_type

log = logging.getLogger(__name__)

_SETTLE = 1.2
"""Seconds after an update before resolving again: RFC 6762 §10.2 keeps superseded records in the
cache for one more second, so only a second look sees an address that went away."""
_TYPE_PTR, _CLASS_IN = 12, 1
_RETRY = (5.0, 30.0, 120.0, 600.0)
"""Back-off between attempts to resolve a service that did not answer (then every 10 min)."""


class ServiceCollector:
    """Resolves and keeps the services listed under the browsed `types`.

    Instances found under several browsed types (a subtype and its parent) are one service.
    A service that cannot be resolved within `resolve_timeout` seconds is left out until it is
    resolved: again when its records change, and after a back-off (`_RETRY`) meanwhile.
    `zeroconf` is set by the browser once it runs; `close()` ends it all.
    """

    def __init__(self, types: tuple[str, ...], resolve_timeout: float) -> None:
        self.types = types
        self.resolve_timeout = resolve_timeout
        self.zeroconf: Zeroconf | None = None
        self._services: dict[str, MdnsService] = {}
        self._listed: dict[str, set[str]] = {}
        """Instance name → the browsed types (with subtypes) currently listing it."""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._failures: dict[str, int] = {}
        self._queues: set[asyncio.Queue[MdnsEvent | None]] = set()
        self._closed = False

    async def close(self) -> None:
        """Ignore zeroconf from now on, cancel resolutions and end every `events()` stream."""
        if self._closed:
            return
        self._closed = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        for queue in self._queues:
            queue.put_nowait(None)
        self._queues.clear()

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

    def on_state_change(self, zeroconf: Zeroconf, service_type: str, name: str,
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
        if self.zeroconf is None:
            return set()
        cache, now, key = self.zeroconf.cache, current_time_millis(), name.lower()
        return {t for t in self.types if any(
            isinstance(r, DNSPointer) and r.alias.lower() == key and not r.is_expired(now)
            for r in cache.async_all_by_details(t, _TYPE_PTR, _CLASS_IN))}

    def _subtypes(self, name: str) -> list[str]:
        return [sub for t in self._listed.get(name, ()) if (sub := split_type(t)[1])]

    def _parent_type(self, name: str) -> str:
        return split_type(next(iter(sorted(self._listed[name]))))[0]

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
        assert self.zeroconf is not None
        type_ = self._parent_type(name)
        try:
            info = AsyncServiceInfo(type_, name)
            # QM (multicast) questions only: a unicast (QU) answer goes to port 5353 of the
            # asking host, where another mDNS stack (avahi-daemon, a second zeroconf) may get
            # it instead of this one.
            if not await info.async_request(self.zeroconf,
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
