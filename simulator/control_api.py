"""Small HTTP control API (JSON, 127.0.0.1 by default) so tests and the demo can make things happen.

Printers are addressed by name, serial, IP address or 0-based position.  See simulator/README.md.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from aiohttp import web

from simulator.fleet import Fleet
from simulator.history import USAGES, run_history
from simulator.meters import JOB_FUNCTIONS
from simulator.printer import VirtualPrinter
from simulator.state import CONTRACT_MODES, PrinterError, PrinterState


def _refusal(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _refusal(web.HTTPBadRequest, f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _refusal(web.HTTPBadRequest, "body must be a JSON object")
    return data


def _print_args(body: dict[str, Any]) -> tuple[int, bool, float]:
    pages = body.get("pages", 1)
    color = body.get("color", False)
    coverage = body.get("coverage", 5.0)
    if not isinstance(pages, int) or isinstance(pages, bool) or not isinstance(color, bool) \
            or not isinstance(coverage, int | float) or isinstance(coverage, bool):
        raise PrinterError("pages: integer, color: boolean, coverage: number (percent)")
    return pages, color, float(coverage)


def _job_args(body: dict[str, Any]) -> dict[str, Any]:
    """What the job is (the vendor counters count it): `function` print, copy, fax or scan;
    `large` media (A3 class); `duplex`."""
    job = {"function": body.get("function", "print"), "large": body.get("large", False),
           "duplex": body.get("duplex", False)}
    if job["function"] not in (*JOB_FUNCTIONS, "scan") or not isinstance(job["large"], bool) \
            or not isinstance(job["duplex"], bool):
        raise PrinterError(f"function: one of {', '.join(JOB_FUNCTIONS)}, scan; large: boolean, "
                           "duplex: boolean")
    return job


def _run_job(state: PrinterState, body: dict[str, Any]) -> int:
    pages, color, coverage = _print_args(body)
    job = _job_args(body)
    if job["function"] == "scan":
        return state.scan_pages(pages)
    return state.print_pages(pages, color, coverage, **job)


@web.middleware
async def _refusals(request: web.Request, handler: Any) -> web.StreamResponse:
    """A request the printer refuses (`PrinterError`): 409 when not allowed now, else 400."""
    try:
        return await handler(request)
    except PrinterError as exc:
        return web.json_response({"error": str(exc)},
                                 status=409 if "not allowed" in str(exc) else 400)


class ControlApi:
    """The control API's handlers, one per route, on one fleet."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def printer(self, request: web.Request) -> VirtualPrinter:
        try:
            return self.fleet.get(request.match_info["key"])
        except KeyError:
            raise _refusal(web.HTTPNotFound, "no such printer") from None

    async def list_printers(self, request: web.Request) -> web.Response:
        return web.json_response([p.summary() for p in self.fleet.printers])

    async def get_printer(self, request: web.Request) -> web.Response:
        return web.json_response(self.printer(request).to_json())

    async def print_all(self, request: web.Request) -> web.Response:
        body = await _body(request)
        _print_args(body)  # a bad request is refused as a whole, not printer by printer
        _job_args(body)
        printed = {}
        for p in self.fleet.printers:
            try:
                printed[p.state.name] = _run_job(p.state, body)
            except PrinterError:
                printed[p.state.name] = 0
        return web.json_response({"printed": printed})

    async def print_one(self, request: web.Request) -> web.Response:
        p = self.printer(request)
        printed = _run_job(p.state, await _body(request))
        return web.json_response({"printed": printed,
                                  "printer": p.to_json()})

    async def replace(self, request: web.Request) -> web.Response:
        p = self.printer(request)
        body = await _body(request)
        if "supply" not in body:
            raise PrinterError("'supply' (index, colour or kind) is required")
        p.state.replace(body["supply"], body.get("cartridge_type"), body.get("cartridge_id"))
        return web.json_response(p.to_json())

    async def level(self, request: web.Request) -> web.Response:
        p = self.printer(request)
        body = await _body(request)
        percent = body.get("percent")
        if "supply" not in body or not isinstance(percent, int | float):
            raise PrinterError("'supply' and numeric 'percent' are required")
        p.state.set_level(body["supply"], float(percent))
        return web.json_response(p.to_json())

    async def history(self, request: web.Request) -> web.Response:
        """Run `days` of `usage` on the printer in simulated time, ending now: its wear and
        counter advance, and the hourly readings a gateway would have taken come back
        (`simulator.history`), for a test or a benchmark to write into a gateway's store."""
        p = self.printer(request)
        body = await _body(request)
        days, usage = body.get("days", 7), body.get("usage", "steady")
        daily, seed = body.get("daily_pages", 200), body.get("seed", 0)
        if not isinstance(days, int) or not 1 <= days <= 60 or usage not in USAGES \
                or not isinstance(daily, int) or not 0 <= daily <= 100_000 \
                or not isinstance(seed, int):
            raise PrinterError(f"days: 1..60, usage: one of {', '.join(USAGES)}, "
                               "daily_pages: 0..100000, seed: integer")
        start = (time.time() // 3600 - days * 24) * 3600
        samples = run_history(p.state, usage, days * 24, start, random.Random(seed), daily)
        return web.json_response({"samples": [s.to_json() for s in samples],
                                  "printer": p.to_json()})

    async def raise_error(self, request: web.Request) -> web.Response:
        p = self.printer(request)
        body = await _body(request)
        p.state.raise_error(str(body.get("error")))
        return web.json_response(p.to_json())

    async def clear_errors(self, request: web.Request) -> web.Response:
        p = self.printer(request)
        p.state.clear_error()
        return web.json_response(p.to_json())

    async def clear_error(self, request: web.Request) -> web.Response:
        p = self.printer(request)
        p.state.clear_error(request.match_info["error"])
        return web.json_response(p.to_json())

    async def power(self, request: web.Request) -> web.Response:
        p = self.printer(request)
        action = request.match_info["action"]
        if action in ("sleep", "wake"):
            p.state.set_sleep(action == "sleep")
        else:
            await self.fleet.set_unreachable(p, action == "offline")
        return web.json_response(p.to_json())

    async def contract(self, request: web.Request) -> web.Response:
        p = self.printer(request)
        body = await _body(request)
        st = p.state
        if "mode" in body:
            if body["mode"] not in CONTRACT_MODES:
                raise PrinterError(f"mode: one of {', '.join(CONTRACT_MODES)}")
            st.set_contract_mode(CONTRACT_MODES.index(body["mode"]) + 1)
        if "printing_prohibited" in body:
            st.contract_printing_prohibited = bool(body["printing_prohibited"])
        if "panel_message" in body:
            st.panel_message = str(body["panel_message"])[:255]
        st.touch()
        return web.json_response(p.to_json())


def make_app(fleet: Fleet) -> web.Application:
    api = ControlApi(fleet)
    app = web.Application(middlewares=[_refusals])
    app.add_routes([
        web.get("/printers", api.list_printers),
        web.get("/printers/{key}", api.get_printer),
        web.post("/print", api.print_all),
        web.post("/printers/{key}/print", api.print_one),
        web.post("/printers/{key}/replace", api.replace),
        web.post("/printers/{key}/level", api.level),
        web.post("/printers/{key}/history", api.history),
        web.post("/printers/{key}/errors", api.raise_error),
        web.delete("/printers/{key}/errors", api.clear_errors),
        web.delete("/printers/{key}/errors/{error}", api.clear_error),
        web.post("/printers/{key}/{action:sleep|wake|offline|online}", api.power),
        web.post("/printers/{key}/contract", api.contract),
    ])
    return app


async def start_control_api(fleet: Fleet, host: str = "127.0.0.1", port: int = 8631,
                            ) -> web.AppRunner:
    runner = web.AppRunner(make_app(fleet), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
