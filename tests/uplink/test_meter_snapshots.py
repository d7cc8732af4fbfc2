"""Meter snapshots through the upload pipeline on a real store (issue 17): once per period, from
the first reading that answers at or after the scheduled moment, across a reopened store; the
counters data types with their sources; why a meter type is unavailable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.device.model import Counters, DeviceStatus
from gateway.fleet.inventory import Device, Inventory, Sighting
from gateway.settings.loading import parse_config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.data_types import available, project
from gateway.uplink.meter_snapshots import MeterSnapshots
from gateway.uplink.outbox import Outbox
from gateway.uplink.pipeline import UploadPipeline
from protocols.cloud.models import StatusEntry
from protocols.cloud.registration import MeterSchedule
from tests.support.outbox_entries import Clock

PRINTER = "11111111-2222-4333-8444-555555555555"
TYPES = ["counters.total", "counters.function", "supplies.level"]
# 00:00 on the 1st in Tokyo: 15:00 UTC on the last day of the month before
DECEMBER = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
JANUARY = datetime(2026, 12, 31, 15, 0, tzinfo=UTC)
SOURCES = {"counters.total": "snmp:prtMarkerLifeCount",
           "counters.print": "snmp:Sharp:1.3.6.1.4.1.2385.1.1.19.2.1.3.1.4.60",
           "counters.copy": "snmp:Sharp:1.3.6.1.4.1.2385.1.1.19.2.1.3.4.4.60"}


class Gateway:
    """A registered device, its store and pipeline; `restart()` opens the store again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = Clock()
        self.clock.now = (DECEMBER - timedelta(days=3)).timestamp()
        self.store = Store(path)
        self.device: Device = Inventory(self.store).record(Sighting(
            address="192.0.2.40", sources=frozenset({"static"}), serial="SN-40"))
        state = CloudState(self.store, self.clock)
        state.set_printer(self.device.id, PRINTER, "SN-40",
                          told={"serial": "SN-40", "time_zone": "Asia/Tokyo"})
        state.set_transmission_types(self.device.id, TYPES, TYPES)
        self.pipeline = self._pipeline()

    def _pipeline(self) -> UploadPipeline:
        config = parse_config({"poll": {"periodic_upload": 10**6}})
        return UploadPipeline(lambda: config.events, lambda: config.poll,
                              CloudState(self.store, self.clock),
                              Outbox(self.store, clock=self.clock), clock=self.clock)

    def restart(self) -> None:
        self.store.close()
        self.store = Store(self.path)
        self.pipeline = self._pipeline()

    def schedule(self, schedule: MeterSchedule | None) -> bool:
        return MeterSnapshots(self.store, self.clock).set_schedule(self.device.id, schedule)

    def read(self, at: datetime, total: int | None, answers: bool = True) -> list[StatusEntry]:
        self.clock.now = at.timestamp()
        status = DeviceStatus(host="192.0.2.40", read_at=at, reachable={"snmp": answers},
                              counters=Counters(total=total, print=total,
                                                copy=None if total is None else 0),
                              sources=dict(SOURCES) if answers else {})
        return [e for e in self.pipeline.record(self.device, status)
                if e.event == "meter-snapshot"]


def test_one_snapshot_per_period_from_the_first_reading_at_or_after_the_moment(
        tmp_path: Path) -> None:
    gw = Gateway(tmp_path / "gateway.db")
    assert gw.schedule(MeterSchedule(1, "00:00")) is True  # the printer's zone: Tokyo
    assert gw.schedule(MeterSchedule(1, "00:00")) is False  # unchanged: kept since then
    assert gw.read(DECEMBER - timedelta(seconds=1), 1000) == []
    [snapshot] = gw.read(DECEMBER + timedelta(minutes=4), 1010)
    assert snapshot.event_detail is not None
    assert (snapshot.event_detail.period, snapshot.event_detail.scheduled_at) == (
        "2026-12", "2026-11-30T15:00:00Z")
    assert snapshot.read_at == "2026-11-30T15:04:00Z"
    assert list(snapshot.data) == ["counters.total", "counters.function"]  # no supplies
    assert snapshot.data["counters.function"] == {
        "print": 1010, "copy": 0, "fax": None, "scan": None,
        "sources": {"print": SOURCES["counters.print"], "copy": SOURCES["counters.copy"]}}
    assert gw.read(DECEMBER + timedelta(minutes=9), 1020) == []

    gw.restart()  # what was sent survives: no second snapshot for the period
    assert gw.read(DECEMBER + timedelta(hours=1), 1030) == []
    assert gw.store.conn.execute("SELECT count(*) FROM outbox WHERE event = 'meter-snapshot'"
                                 ).fetchone()[0] == 1

    # January's moment passes while the printer does not answer: the next reading that does
    assert gw.read(JANUARY + timedelta(minutes=1), None, answers=False) == []
    [late] = gw.read(JANUARY + timedelta(hours=5), 2000)
    assert late.event_detail is not None and late.event_detail.period == "2027-01"
    assert late.read_at == "2026-12-31T20:00:00Z"
    gw.store.close()


def test_a_schedule_set_after_this_periods_moment_starts_with_the_next(tmp_path: Path) -> None:
    gw = Gateway(tmp_path / "gateway.db")
    gw.clock.now = (DECEMBER + timedelta(days=14)).timestamp()
    gw.schedule(MeterSchedule(1, "00:00"))
    assert gw.read(DECEMBER + timedelta(days=15), 1000) == []
    [snapshot] = gw.read(JANUARY, 1100)
    assert snapshot.event_detail is not None and snapshot.event_detail.period == "2027-01"
    gw.store.close()


def test_the_schedules_own_zone_wins_and_no_schedule_means_no_snapshot(tmp_path: Path) -> None:
    gw = Gateway(tmp_path / "gateway.db")
    assert gw.read(DECEMBER + timedelta(days=1), 1000) == []  # none set: none taken
    gw.schedule(MeterSchedule("last", "23:00", "UTC"))
    assert gw.read(datetime(2026, 12, 31, 22, 59, tzinfo=UTC), 1100) == []
    [snapshot] = gw.read(datetime(2026, 12, 31, 23, 0, tzinfo=UTC), 1100)
    assert snapshot.event_detail is not None and snapshot.event_detail.period == "2026-12"
    gw.schedule(None)
    assert gw.read(datetime(2027, 1, 31, 23, 30, tzinfo=UTC), 1200) == []
    gw.store.close()


def test_no_counters_types_or_no_count_no_snapshot(tmp_path: Path) -> None:
    gw = Gateway(tmp_path / "gateway.db")
    gw.schedule(MeterSchedule(1, "00:00"))
    assert gw.read(DECEMBER + timedelta(minutes=1), None) == []  # answered, counted nothing
    CloudState(gw.store, gw.clock).set_transmission_types(gw.device.id, ["supplies.level"],
                                                          ["supplies.level"])
    assert gw.read(DECEMBER + timedelta(minutes=2), 1000) == []
    CloudState(gw.store, gw.clock).set_transmission_types(gw.device.id, TYPES, TYPES)
    assert len(gw.read(DECEMBER + timedelta(minutes=3), 1000)) == 1
    gw.store.close()


def test_counters_types_carry_their_sources_and_say_why_they_are_unavailable() -> None:
    status = DeviceStatus(host="192.0.2.41", reachable={"snmp": True}, counters=Counters(
        total=5000, color=2000, mono=None, two_color=10, large=30, duplex=40),
        sources={"counters.total": "snmp:prtMarkerLifeCount",
                 "counters.color": "ipp:printer-impressions-completed-col",
                 "counters.mono": "snmp:Kyocera:1.3.6.1.4.1.1347.42.2.1.1.1.7.1.1",  # withheld
                 "counters.two_color": "snmp:Sharp:1.3.6.1.4.1.2385.1.1.19.2.1.3.5.4.64",
                 "counters.large": "snmp:pwg-imaging-counter:1.3.6.1.4.1.2699.1.3.1.2.3.1.3",
                 "counters.duplex": "snmp:Ricoh:1.3.6.1.4.1.367.3.2.1.2.19.5.1.9.20"})
    data = project(status, ["counters.color", "counters.media", "counters.total"])
    assert data["counters.total"] == {"total": 5000,
                                      "sources": {"total": "snmp:prtMarkerLifeCount"}}
    assert data["counters.color"]["sources"] == {
        "color": "ipp:printer-impressions-completed-col",
        "two_color": "snmp:Sharp:1.3.6.1.4.1.2385.1.1.19.2.1.3.5.4.64"}
    assert data["counters.media"]["small"] is None
    assert set(data["counters.media"]["sources"]) == {"large", "duplex"}
    reasons = available(status)
    assert reasons["counters.media"] is None and reasons["counters.color"] is None
    assert reasons["counters.function"] == "the device reports no print, copy, fax or scan counters"
    asleep = DeviceStatus(host="192.0.2.41", reachable={"snmp": False, "ipp": False})
    assert available(asleep)["counters.total"] == (
        "the device did not answer: no total impression counter read this time")
