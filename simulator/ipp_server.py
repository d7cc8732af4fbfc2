"""The fleet's IPP server: one aiohttp application, one TCP site per printer address.

The handler finds the printer from the connection's local address, so a thousand printers share
one application.  Only Get-Printer-Attributes is implemented (what the gateway reads); other
operations get server-error-operation-not-supported, malformed requests client-error-bad-request,
and unsupported versions server-error-version-not-supported, as RFC 8011 says.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

from aiohttp import web
from pyipp.enums import IppOperation, IppPrinterState, IppStatus, IppTag

from protocols.snmp.vendor_counters import Meter
from simulator.ipp_codec import (
    Attr,
    Collection,
    IppParseError,
    encode_response,
    now,
    operation_group,
    parse_request,
)
from simulator.ipp_replay import replay_answer
from simulator.printer import VirtualPrinter

RESOURCES = ("/ipp/print", "/ipp", "/")
UNITS = {3: "tenThousandthsOfInches", 4: "micrometers", 7: "impressions", 8: "sheets",
         11: "hours", 12: "thousandthsOfOunces", 13: "tenthsOfGrams",
         14: "hundrethsOfFluidOunces", 15: "tenthsOfMilliliters", 16: "feet", 17: "meters",
         18: "items", 19: "percent"}
HEX_COLORS = {"black": "#000000", "cyan": "#00FFFF", "magenta": "#FF00FF", "yellow": "#FFFF00"}
OPERATIONS = [IppOperation.GET_PRINTER_ATTRIBUTES]
GROUP_NAMES = {"printer-description", "printer-status", "all"}
STATUS_ATTRS = {"printer-state", "printer-state-reasons", "printer-state-message",
                "printer-is-accepting-jobs", "printer-up-time", "printer-current-time",
                "marker-levels", "printer-supply", "printer-alert",
                "printer-alert-description", "queued-job-count", "printer-config-change-time"}


def marker_type(kind: str) -> str:
    """Printer-MIB camelCase supply type → IPP keyword (`inkCartridge` → `ink-cartridge`)."""
    return re.sub(r"([A-Z])", lambda m: "-" + m.group(1).lower(), kind)


def printer_attributes(printer: VirtualPrinter) -> list[Attr]:
    """Every printer attribute, in the order a real printer sends them."""
    st = printer.state
    prof = printer.profile
    supplies = st.supplies
    supply_strings = [
        (f"index={s.index};class={_supply_class(s.is_receptacle)};"
         f"type={s.kind};unit={UNITS.get(s.unit, 'percent')};maxcapacity={s.reported_capacity};"
         f"level={st.reported_level(s, s.level_int)};"
         + (f"colorantname={s.color};" if s.color else "")).encode()
        for s in supplies]
    device_id = (f"MFG:{st.manufacturer};MDL:{st.model};CMD:{_cmd(prof.pdl)};CLS:PRINTER;"
                 f"DES:{st.make_and_model};SN:{st.serial};")
    pstate = {"idle": IppPrinterState.IDLE, "processing": IppPrinterState.PROCESSING}.get(
        st.printer_state(), IppPrinterState.STOPPED)
    alerts = st.alerts()
    uptime = max(1, int(time.monotonic() - st.started))
    A = Attr
    T = IppTag
    attrs = [
        A("charset-configured", T.CHARSET, ["utf-8"]),
        A("charset-supported", T.CHARSET, ["utf-8"]),
        A("color-supported", T.BOOLEAN, [st.color]),
        A("compression-supported", T.KEYWORD, ["none"]),
        A("copies-default", T.INTEGER, [1]),
        A("document-format-default", T.MIME_TYPE, ["application/octet-stream"]),
        A("document-format-supported", T.MIME_TYPE,
          ["application/octet-stream", *prof.pdl.split(",")]),
        A("generated-natural-language-supported", T.LANGUAGE, ["en"]),
        *([A("ipp-features-supported", T.KEYWORD, list(prof.ipp_features))]
          if prof.ipp_features else []),
        A("ipp-versions-supported", T.KEYWORD, ["1.1", "2.0"]),
        A("marker-colors", T.NAME, [HEX_COLORS.get(s.color or "", "none") for s in supplies]),
        A("marker-high-levels", T.INTEGER, [100 for _ in supplies]),
        A("marker-levels", T.INTEGER, [st.reported_level(s, s.percent) for s in supplies]),
        A("marker-low-levels", T.INTEGER,
          [0 if s.is_receptacle else s.low_percent for s in supplies]),
        A("marker-names", T.NAME, [s.description for s in supplies]),
        A("marker-types", T.KEYWORD, [marker_type(s.kind) for s in supplies]),
        A("media-col-default", T.BEGIN_COLLECTION, [Collection([
            A("media-size", T.BEGIN_COLLECTION, [Collection([
                A("x-dimension", T.INTEGER, [21000]), A("y-dimension", T.INTEGER, [29700])])]),
            A("media-source", T.KEYWORD, ["main"]),
            A("media-type", T.KEYWORD, ["stationery"])])]),
        A("media-default", T.KEYWORD, ["iso_a4_210x297mm"]),
        A("media-supported", T.KEYWORD, ["iso_a4_210x297mm", "na_letter_8.5x11in"]),
        A("natural-language-configured", T.LANGUAGE, ["en"]),
        A("operations-supported", T.ENUM, [int(o) for o in OPERATIONS]),
        A("pdl-override-supported", T.KEYWORD, ["attempted"]),
        # A 1setOf needs one value at least: with no alert the attributes are left out.
        *([A("printer-alert", T.STRING,
             [f"code={a.code};severity={a.severity};group={a.group};index={a.index}".encode()
              for a in alerts]),
           A("printer-alert-description", T.TEXT, [a.description for a in alerts])]
          if alerts else []),
        A("printer-config-change-time", T.INTEGER, [1]),
        A("printer-current-time", T.DATE, [now()]),
        A("printer-device-id", T.TEXT, [device_id]),
        A("printer-dns-sd-name", T.NAME, [printer.dns_sd_name]),
        A("printer-firmware-name", T.NAME, ["firmware"]),
        A("printer-firmware-string-version", T.TEXT, [st.firmware]),
        A("printer-firmware-version", T.STRING, [st.firmware.encode()]),
        A("printer-impressions-completed", T.INTEGER, [st.meters.count(Meter())]),
        A("printer-impressions-completed-col", T.BEGIN_COLLECTION, [Collection([
            A("monochrome", T.INTEGER, [st.meters.count(Meter(colour="mono"))]),
            A("full-color", T.INTEGER, [st.meters.count(Meter(colour="color"))])])]),
        A("printer-info", T.TEXT, [st.make_and_model]),
        A("printer-is-accepting-jobs", T.BOOLEAN, [pstate != IppPrinterState.STOPPED]),
        A("printer-location", T.TEXT, [st.sys_location]),
        A("printer-kind", T.KEYWORD, list(prof.printer_kind)),
        A("printer-make-and-model", T.TEXT, [st.make_and_model]),
        A("printer-more-info", T.URI, [printer.admin_url]),
        A("printer-name", T.NAME, [st.name]),
        A("printer-serial-number", T.TEXT, [st.serial]),
        A("printer-state", T.ENUM, [int(pstate)]),
        A("printer-state-message", T.TEXT,
          [st.panel_message or (alerts[0].description if alerts else "Ready")]),
        A("printer-state-reasons", T.KEYWORD, st.reasons()),
        A("printer-supply", T.STRING, supply_strings),
        A("printer-supply-description", T.TEXT, [s.description for s in supplies]),
        A("printer-up-time", T.INTEGER, [uptime]),
        A("printer-uri-supported", T.URI, [printer.ipp_uri]),
        A("printer-uuid", T.URI, [f"urn:uuid:{st.uuid}"]),
        A("queued-job-count", T.INTEGER, [0]),
        A("sides-supported", T.KEYWORD,
          ["one-sided", "two-sided-long-edge", "two-sided-short-edge"] if prof.duplex
          else ["one-sided"]),
        A("uri-authentication-supported", T.KEYWORD, ["none"]),
        A("uri-security-supported", T.KEYWORD, ["none"]),
    ]
    return attrs


def _supply_class(receptacle: bool) -> str:
    return "receptacleThatIsFilled" if receptacle else "supplyThatIsConsumed"


def _cmd(pdl: str) -> str:
    names = {"application/pdf": "PDF", "image/urf": "URF", "image/pwg-raster": "PWG",
             "application/postscript": "PS", "application/vnd.hp-pcl": "PCL"}
    return ",".join(names.get(p, p.split("/")[-1].upper()) for p in pdl.split(","))


def wanted(requested: list[str] | None) -> Callable[[str], bool]:
    """RFC 8011 §4.2.5.1: whether an attribute is among requested-attributes (names and group
    names; unknown names ignored)."""
    if not requested or "all" in requested or "printer-description" in requested:
        return lambda _name: True
    names = set(requested)
    status = "printer-status" in names
    return lambda name: name in names or (status and name in STATUS_ATTRS)


def select(attrs: list[Attr], requested: list[str] | None) -> list[Attr]:
    keep = wanted(requested)
    return [a for a in attrs if keep(a.name)]


class IppServer:
    """Serves Get-Printer-Attributes for every printer of a fleet."""

    def __init__(self, sleep_delay: float = 0.8) -> None:
        self.printers: dict[tuple[str, int], VirtualPrinter] = {}
        self.sleep_delay = sleep_delay
        self.app = web.Application(client_max_size=1 << 20)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        self.sites: dict[tuple[str, int], web.TCPSite] = {}
        self.requests = 0

    async def setup(self) -> None:
        await self.runner.setup()

    async def add(self, printer: VirtualPrinter) -> None:
        key = (printer.ip, printer.ipp_port)
        self.printers[key] = printer
        site = web.TCPSite(self.runner, printer.ip, printer.ipp_port, reuse_address=True)
        await site.start()
        self.sites[key] = site

    async def stop_site(self, printer: VirtualPrinter) -> None:
        """Stop listening for one printer (it is unreachable)."""
        site = self.sites.pop((printer.ip, printer.ipp_port), None)
        if site is not None:
            await site.stop()

    async def start_site(self, printer: VirtualPrinter) -> None:
        if (printer.ip, printer.ipp_port) not in self.sites:
            await self.add(printer)

    async def close(self) -> None:
        await self.runner.cleanup()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        printer = self.printers.get((sock[0], sock[1])) if sock else None
        if printer is None or printer.state.unreachable or (
                printer.profile.replay and printer.profile.ipp_answer is None):
            raise web.HTTPServiceUnavailable()  # (a recording without IPP: none replayed)
        if request.method == "GET":
            st = printer.state
            return web.Response(text=f"{st.manufacturer} {st.model} — serial {st.serial}\n"
                                     f"state: {st.printer_state()}\n")
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        if request.content_type != "application/ipp":
            raise web.HTTPBadRequest(text="Content-Type must be application/ipp")
        if request.path not in RESOURCES:
            raise web.HTTPNotFound()
        body = await request.read()
        if printer.state.asleep:
            await asyncio.sleep(self.sleep_delay)
        return web.Response(body=self.answer(printer, body), content_type="application/ipp")

    def answer(self, printer: VirtualPrinter, body: bytes) -> bytes:
        """The IPP response bytes for one request body (never raises for bad input)."""
        if len(body) < 8:
            return encode_response((1, 1), IppStatus.ERROR_BAD_REQUEST, 0,
                                   [operation_group("request too short")])
        request_id = int.from_bytes(body[4:8], "big", signed=True)
        version = (body[0], body[1])
        if version not in ((1, 0), (1, 1), (2, 0), (2, 1), (2, 2)):
            return encode_response((1, 1), IppStatus.ERROR_VERSION_NOT_SUPPORTED, request_id,
                                   [operation_group("IPP version not supported")])
        reply_version = version if version[0] == 2 else (1, 1)
        try:
            req = parse_request(body)
        except IppParseError as exc:
            return encode_response(reply_version, IppStatus.ERROR_BAD_REQUEST, request_id,
                                   [operation_group(str(exc))])
        ops = req.operation_attrs()
        if (len(ops) < 2 or ops[0].name != "attributes-charset"
                or ops[1].name != "attributes-natural-language"):
            return encode_response(reply_version, IppStatus.ERROR_BAD_REQUEST, request_id,
                                   [operation_group("attributes-charset and "
                                                    "attributes-natural-language must come first")])
        charset = ops[0].values[0] if ops[0].values else None
        if not isinstance(charset, str) or charset.lower() not in ("utf-8", "us-ascii"):
            return encode_response(reply_version, IppStatus.ERROR_CHARSET, request_id,
                                   [operation_group("charset not supported")])
        if req.operation != IppOperation.GET_PRINTER_ATTRIBUTES:
            return encode_response(reply_version, IppStatus.ERROR_OPERATION_NOT_SUPPORTED,
                                   request_id, [operation_group("operation not supported")])
        if req.get("printer-uri") is None:
            return encode_response(reply_version, IppStatus.ERROR_BAD_REQUEST, request_id,
                                   [operation_group("printer-uri missing")])
        requested_attr = req.get("requested-attributes")
        requested = ([v for v in requested_attr.values if isinstance(v, str)]
                     if requested_attr else None)
        if printer.profile.ipp_answer is not None:
            return replay_answer(printer.profile.ipp_answer, request_id, wanted(requested))
        attrs = select(printer_attributes(printer), requested)
        return encode_response(reply_version, IppStatus.OK, request_id,
                               [operation_group(), (IppTag.PRINTER, attrs)])
