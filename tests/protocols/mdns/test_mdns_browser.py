"""protocols.mdns.browser against the virtual fleet's advertisements, all on loopback.

zeroconf is pinned to 127.0.0.1 on both sides.  Fleets use 127.0.40.0-127.0.49.255 and seeds of
their own, so other modules advertising on loopback at the same time neither collide with these
names nor confuse the checks (which only look at this module's services).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from protocols.mdns.browser import MdnsBrowser, browse
from protocols.mdns.interfaces import interface_addresses
from protocols.mdns.service import (
    SERVICE_TYPES,
    UNIVERSAL_SUBTYPES,
    MdnsEvent,
    MdnsService,
    normalise_type,
)
from protocols.mdns.txt import TxtRecord, normalise_uuid
from simulator.mdns import IPP_TYPE, PDL_PORT, PDL_TYPE, Advertiser
from tests.support.sim_helpers import running_fleet

LO = ["127.0.0.1"]
TAG = f"{os.getpid()}"  # own service names: another run of this module may be browsing too
WAIT = 30.0  # generous: a loaded 2-core CI machine
pytestmark = pytest.mark.timeout(120)


class Recorder:
    """Collects a browser's events in the background."""

    def __init__(self, browser: MdnsBrowser) -> None:
        self.events: list[MdnsEvent] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run(browser.events()))

    async def _run(self, events: AsyncIterator[MdnsEvent]) -> None:
        async for event in events:
            self.events.append(event)
            self._changed.set()

    async def wait(self, done: Callable[[list[MdnsEvent]], bool], what: str,
                   limit: float = WAIT) -> None:
        try:
            async with asyncio.timeout(limit):
                while not done(self.events):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            seen = [(e.kind, e.service.name) for e in self.events]
            raise AssertionError(f"no {what} within {limit}s; events: {seen}") from None

    def of(self, names: set[str], kind: str) -> list[MdnsEvent]:
        return [e for e in self.events if e.kind == kind and e.service.name in names]

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def _txt(*entries: bytes) -> bytes:
    """A raw TXT record (length-prefixed strings), junk allowed."""
    return b"".join(bytes([len(e)]) + e for e in entries)


@pytest.fixture
async def zc() -> AsyncIterator[AsyncZeroconf]:
    """A publisher of our own, pinned to loopback."""
    aiozc = AsyncZeroconf(interfaces=LO, ip_version=IPVersion.V4Only)
    try:
        yield aiozc
    finally:
        await aiozc.async_unregister_all_services()
        await aiozc.async_close()


# -- the fleet ------------------------------------------------------------------------------------

async def test_fleet_services_are_added_with_their_parsed_txt() -> None:
    async with running_fleet("127.0.40.1", 3, profiles=["color-mfp", "mono-laser", "inkjet"],
                             seed=4001) as fleet:
        adv = Advertiser("127.0.0.1")
        try:
            async with MdnsBrowser(LO) as browser:
                recorder = Recorder(browser)
                await adv.start(fleet.printers)
                names = {i.name for i in adv.infos}
                await recorder.wait(lambda ev: len(recorder.of(names, "added")) == 6,
                                    "6 services added")
                await recorder.close()
                services = {n: s for n, s in browser.services.items() if n in names}
        finally:
            await adv.close()

    assert len(services) == 6
    by_uuid: dict[str, list[MdnsService]] = {}
    for service in services.values():
        assert service.uuid is not None
        by_uuid.setdefault(service.uuid, []).append(service)
    assert set(by_uuid) == {p.state.uuid.lower() for p in fleet.printers}
    for printer in fleet.printers:
        st, prof = printer.state, printer.profile
        ipp, = (s for s in by_uuid[st.uuid.lower()] if s.type == IPP_TYPE)
        pdl, = (s for s in by_uuid[st.uuid.lower()] if s.type == PDL_TYPE)
        assert ipp.addresses == pdl.addresses == (printer.ip,)
        assert ipp.server == pdl.server and ipp.server.endswith(".local.")
        assert ipp.port == printer.ipp_port and pdl.port == PDL_PORT
        assert ipp.make_and_model == st.make_and_model
        assert ipp.manufacturer == st.manufacturer and ipp.model == st.model
        assert ipp.product == st.model  # advertised as "(model)"
        assert ipp.resource_path == "ipp/print"
        assert ipp.admin_url == f"http://{printer.ip}:{printer.ipp_port}/"
        assert ipp.note == (st.sys_location or None)
        assert ipp.pdl == tuple(p.strip() for p in prof.pdl.split(",")) and ipp.pdl
        assert ipp.color is st.color and ipp.duplex is prof.duplex
        assert ipp.tls is None  # advertised empty
        assert ipp.scheme == "ipp"
        assert ipp.ipp_uri == f"ipp://{printer.ip}:{printer.ipp_port}/ipp/print"
        assert ipp.txt["uuid"] == ipp.txt["UUID"] == st.uuid  # look-ups ignore case
        assert pdl.scheme is None and pdl.ipp_uri is None and pdl.resource_path is None
        assert pdl.color is st.color and pdl.uuid == ipp.uuid
        assert ipp.instance == pdl.instance == printer.dns_sd_name.replace(".", " ")


async def test_browse_once_and_late_subscribers_get_a_replay() -> None:
    async with running_fleet("127.0.41.1", 2, profiles=["mono-laser"], seed=4002) as fleet:
        adv = Advertiser("127.0.0.1")
        await adv.start(fleet.printers)
        try:
            names = {i.name for i in adv.infos}
            found = [s for s in await browse(LO, 3.5) if s.name in names]
            assert sorted(s.name for s in found) == sorted(names)
            assert found == sorted(found, key=lambda s: (s.type, s.name))

            async with MdnsBrowser(LO, types=["_ipp._tcp"]) as browser:  # short names work
                recorder = Recorder(browser)
                ipp_names = {n for n in names if n.endswith(IPP_TYPE)}
                await recorder.wait(lambda ev: len(recorder.of(ipp_names, "added")) == 2,
                                    "2 IPP services added")
                await recorder.close()
                known = browser.services
                replay = browser.events()  # subscribes now: what is known comes first
                assert all(s.type == IPP_TYPE for s in known.values())
                first = [await anext(replay) for _ in range(len(known))]
                assert {e.kind for e in first} == {"added"}
                assert {e.service.name for e in first} == set(known)
            async with asyncio.timeout(5):  # the stream ends with the browser
                assert all([e.service.type == IPP_TYPE async for e in replay])
        finally:
            await adv.close()


async def test_txt_update_and_removal_are_events() -> None:
    async with running_fleet("127.0.42.1", 2, profiles=["color-mfp"], seed=4003) as fleet:
        adv = Advertiser("127.0.0.1")
        try:
            async with MdnsBrowser(LO) as browser:
                recorder = Recorder(browser)
                await adv.start(fleet.printers)
                assert adv.zc is not None
                names = {i.name for i in adv.infos}
                await recorder.wait(lambda ev: len(recorder.of(names, "added")) == 4,
                                    "4 services added")

                # Re-register the first printer's IPP service with a changed TXT record.
                old = next(i for i in adv.infos if i.type == IPP_TYPE
                           and i.parsed_addresses() == [fleet.printers[0].ip])
                props = {k.decode(): (v or b"").decode() for k, v in old.properties.items()}
                props.update(note="Moved to the 3rd floor", Color="F", Duplex="T")
                new = ServiceInfo(old.type, old.name, addresses=old.addresses, port=old.port,
                                  properties=props, server=old.server)
                await adv.zc.async_update_service(new)
                await recorder.wait(lambda ev: any(
                    e.kind == "updated" and e.service.name == old.name
                    and e.service.note == "Moved to the 3rd floor" for e in ev), "update")
                updated = browser.services[old.name]
                assert updated.color is False and updated.duplex is True
                assert updated.uuid == fleet.printers[0].state.uuid.lower()
                assert updated.addresses == (fleet.printers[0].ip,)

                # Withdraw the second printer: both its services are removed, nothing else.
                gone = [i for i in adv.infos if i.parsed_addresses() == [fleet.printers[1].ip]]
                assert len(gone) == 2
                for info in gone:
                    await adv.zc.async_unregister_service(info)
                gone_names = {i.name for i in gone}
                await recorder.wait(lambda ev: len(recorder.of(gone_names, "removed")) == 2,
                                    "2 services removed")
                assert not gone_names & set(browser.services)
                assert names - gone_names <= set(browser.services)
                removed = recorder.of(gone_names, "removed")
                assert {e.service.addresses for e in removed} == {(fleet.printers[1].ip,)}
                assert not recorder.of(names - gone_names, "removed")
                await recorder.close()
        finally:
            await adv.close()


# -- bad and awkward records ----------------------------------------------------------------------

async def test_bad_txt_records_never_raise(zc: AsyncZeroconf) -> None:
    junk = _txt(b"UUID=not-a-uuid", b"ty=\xff\xfe\x00Junk 1", b"Color=maybe", b"noequals",
                b"=novalue", b"note=B\xfcro 2", b"COLOR=T", b"pdl=,,application/pdf,, ",
                b"Duplex", b"product=(Odd") + b"\x30truncated"
    infos = [
        ServiceInfo(IPP_TYPE, f"PGW Junk TXT {TAG}._ipp._tcp.local.", port=631,
                    properties=junk, addresses=[socket.inet_aton("127.0.43.1")],
                    server=f"pgw-junk-{TAG}.local."),
        ServiceInfo(IPP_TYPE, f"PGW Empty TXT {TAG}._ipp._tcp.local.", port=631,
                    properties=b"\x00", addresses=[socket.inet_aton("127.0.43.2")],
                    server=f"pgw-empty-{TAG}.local."),
        ServiceInfo(PDL_TYPE, f"PGW Latin TXT {TAG}._pdl-datastream._tcp.local.", port=9100,
                    properties=_txt(b"ty=Caf\xe9 Printer", b"usb_MFG=\xc3\xa9t\xc3\xa9"),
                    addresses=[socket.inet_aton("127.0.43.3")], server=f"pgw-latin-{TAG}.local."),
    ]
    async with MdnsBrowser(LO) as browser:
        recorder = Recorder(browser)
        await asyncio.gather(*[await zc.async_register_service(info) for info in infos])
        names = {i.name for i in infos}
        await recorder.wait(lambda ev: len(recorder.of(names, "added")) == 3, "3 services added")
        await recorder.close()
        junk_s = browser.services[f"PGW Junk TXT {TAG}._ipp._tcp.local."]
        empty = browser.services[f"PGW Empty TXT {TAG}._ipp._tcp.local."]
        latin = browser.services[f"PGW Latin TXT {TAG}._pdl-datastream._tcp.local."]

    assert junk_s.uuid is None  # not a UUID
    assert junk_s.make_and_model == "ÿþJunk 1"  # Latin-1 fallback, NUL dropped
    assert junk_s.color is None  # the first "Color" counts, and "maybe" is no answer
    assert junk_s.txt["noequals"] == "" and junk_s.duplex is None
    assert junk_s.note == "Büro 2"
    assert junk_s.pdl == ("application/pdf",)
    assert junk_s.product == "Odd"
    assert "" not in junk_s.txt
    assert junk_s.ipp_uri == "ipp://127.0.43.1:631/"  # no rp: the root
    assert empty.txt == {} and empty.uuid is None and empty.pdl == ()
    assert (empty.make_and_model, empty.color, empty.resource_path) == (None, None, None)
    assert latin.make_and_model == "Café Printer" and latin.manufacturer == "été"
    for service in (junk_s, empty, latin):
        service.to_json()  # always serialisable
        hash(service)


async def test_unresolvable_service_is_retried_on_its_next_update(zc: AsyncZeroconf) -> None:
    name = f"PGW No Address {TAG}._ipp._tcp.local."
    bare = ServiceInfo(IPP_TYPE, name, addresses=[], port=631, properties={"rp": "ipp/print"},
                       server=f"pgw-noaddr-{TAG}.local.")
    async with MdnsBrowser(LO, resolve_timeout=1.0) as browser:
        recorder = Recorder(browser)
        await (await zc.async_register_service(bare))
        await asyncio.sleep(2.5)  # listed, but it has no address: not resolved, not reported
        assert name not in browser.services and not recorder.of({name}, "added")
        fixed = ServiceInfo(IPP_TYPE, name, addresses=[socket.inet_aton("127.0.44.1")], port=631,
                            properties={"rp": "ipp/print"}, server=f"pgw-noaddr-{TAG}.local.")
        await zc.async_update_service(fixed)
        await recorder.wait(lambda ev: bool(recorder.of({name}, "added")), "added after update")
        await recorder.close()
        assert browser.services[name].ipp_uri == "ipp://127.0.44.1:631/ipp/print"


async def test_universal_subtype_does_not_duplicate_a_service(zc: AsyncZeroconf) -> None:
    name = f"PGW AirPrint {TAG}._ipp._tcp.local."
    fields = dict(addresses=[socket.inet_aton("127.0.45.1")], port=631,
                  server=f"pgw-air-{TAG}.local.",
                  properties={"rp": "ipp/print", "ty": "AirPrint One", "URF": "W8"})
    # The subtype's PTR record comes from a second, cooperating responder (zeroconf registers
    # one type per ServiceInfo); the instance and its records are the same.
    sub_zc = AsyncZeroconf(interfaces=LO, ip_version=IPVersion.V4Only)
    try:
        async with MdnsBrowser(LO, SERVICE_TYPES + UNIVERSAL_SUBTYPES) as browser:
            recorder = Recorder(browser)
            await (await zc.async_register_service(ServiceInfo(IPP_TYPE, name, **fields)))
            sub = ServiceInfo(UNIVERSAL_SUBTYPES[0], name, **fields)
            await (await sub_zc.async_register_service(sub, cooperating_responders=True))
            await recorder.wait(lambda ev: any(
                e.service.name == name and e.service.subtypes == ("_universal",) for e in ev),
                "the service with its subtype")
            assert len(recorder.of({name}, "added")) == 1
            assert [n for n in browser.services if n == name] == [name]
            assert browser.services[name].type == IPP_TYPE

            await sub_zc.async_unregister_service(sub)  # off the subtype: still there
            await recorder.wait(lambda ev: browser.services.get(name) is not None
                                and browser.services[name].subtypes == (), "subtype withdrawn")
            assert not recorder.of({name}, "removed")
            await recorder.close()
    finally:
        await sub_zc.async_close()


# -- pure functions -------------------------------------------------------------------------------

def test_txt_record_and_service_parsing() -> None:
    txt = TxtRecord([("UUID", "URN:UUID:0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"), ("uuid", "x"),
                     ("Color", "t"), ("product", " (Model X) "), ("TLS", "1.2"), ("rp", "/ipp")])
    assert txt["uuid"] == txt["UUID"] and len(txt) == 5 and "COLOR" in txt
    assert txt == TxtRecord(txt.items()) and hash(txt) == hash(TxtRecord(txt.items()))
    s = MdnsService("X._ipps._tcp.local.", "_ipps._tcp.local.", "x.local.",
                    ("fe80::1%2", "10.0.0.7"), 443, dict(txt.items()))
    assert isinstance(s.txt, TxtRecord)
    assert s.addresses == ("10.0.0.7", "fe80::1%2")  # IPv4 first
    assert s.uuid == "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    assert (s.color, s.product, s.tls, s.resource_path) == (True, "Model X", "1.2", "ipp")
    assert s.ipp_uri == "ipps://10.0.0.7:443/ipp"
    v6 = MdnsService("Y._ipp._tcp.local.", "_ipp._tcp.local.", None, ("fe80::1%2",), 631, {})
    assert v6.ipp_uri == "ipp://[fe80::1%252]:631/" and v6.instance == "Y"
    assert normalise_uuid("{0F1E2D3C4B5A69788796A5B4C3D2E1F0}") == s.uuid
    assert normalise_uuid("urn:uuid:nope") is None and normalise_uuid(None) is None
    assert normalise_type("_ipp._tcp") == "_ipp._tcp.local."
    assert normalise_type("_universal._sub._ipp._tcp.local.") == UNIVERSAL_SUBTYPES[0]
    with pytest.raises(ValueError, match="not a DNS-SD service type"):
        normalise_type("_ipp")


def test_interfaces_are_explicit() -> None:
    assert interface_addresses(["lo"]) == ["127.0.0.1"]
    assert interface_addresses(["127.0.0.1", "lo"]) == ["127.0.0.1"]
    with pytest.raises(ValueError, match=r"unknown network interface 'pgw-nosuch0'.*lo"):
        interface_addresses(["pgw-nosuch0"])
    with pytest.raises(ValueError, match="every interface"):
        interface_addresses(["0.0.0.0"])
    with pytest.raises(ValueError, match="no network interface has the address"):
        interface_addresses(["203.0.113.254"])
    with pytest.raises(ValueError, match="never browses on all"):
        MdnsBrowser([])
