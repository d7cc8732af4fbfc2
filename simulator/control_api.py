"""Small HTTP control API (JSON, 127.0.0.1 by default) so tests and the demo can make things happen.

Printers are addressed by name, serial, IP address or 0-based position.  See simulator/README.md.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from simulator.fleet import Fleet, VirtualPrinter
from simulator.state import CONTRACT_MODES, PrinterError


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"invalid JSON: {exc}"}),
                                 content_type="application/json") from exc
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "body must be a JSON object"}),
                                 content_type="application/json")
    return data


def make_app(fleet: Fleet) -> web.Application:
    routes = web.RouteTableDef()

    def printer(request: web.Request) -> VirtualPrinter:
        try:
            return fleet.get(request.match_info["key"])
        except KeyError:
            raise web.HTTPNotFound(text=json.dumps({"error": "no such printer"}),
                                   content_type="application/json") from None

    def print_args(body: dict[str, Any]) -> tuple[int, bool, float]:
        pages = body.get("pages", 1)
        color = body.get("color", False)
        coverage = body.get("coverage", 5.0)
        if not isinstance(pages, int) or isinstance(pages, bool) or not isinstance(color, bool) \
                or not isinstance(coverage, int | float) or isinstance(coverage, bool):
            raise PrinterError("pages: integer, color: boolean, coverage: number (percent)")
        return pages, color, float(coverage)

    @routes.get("/printers")
    async def list_printers(request: web.Request) -> web.Response:
        return web.json_response([p.summary() for p in fleet.printers])

    @routes.get("/printers/{key}")
    async def get_printer(request: web.Request) -> web.Response:
        return web.json_response(printer(request).to_json())

    @routes.post("/print")
    async def print_all(request: web.Request) -> web.Response:
        pages, color, coverage = print_args(await _body(request))
        printed = {}
        for p in fleet.printers:
            try:
                printed[p.state.name] = p.state.print_pages(pages, color, coverage)
            except PrinterError:
                printed[p.state.name] = 0
        return web.json_response({"printed": printed})

    @routes.post("/printers/{key}/print")
    async def print_one(request: web.Request) -> web.Response:
        p = printer(request)
        pages, color, coverage = print_args(await _body(request))
        return web.json_response({"printed": p.state.print_pages(pages, color, coverage),
                                  "printer": p.to_json()})

    @routes.post("/printers/{key}/replace")
    async def replace(request: web.Request) -> web.Response:
        p = printer(request)
        body = await _body(request)
        if "supply" not in body:
            raise PrinterError("'supply' (index, colour or kind) is required")
        p.state.replace(body["supply"], body.get("cartridge_type"), body.get("cartridge_id"))
        return web.json_response(p.to_json())

    @routes.post("/printers/{key}/level")
    async def level(request: web.Request) -> web.Response:
        p = printer(request)
        body = await _body(request)
        percent = body.get("percent")
        if "supply" not in body or not isinstance(percent, int | float):
            raise PrinterError("'supply' and numeric 'percent' are required")
        p.state.set_level(body["supply"], float(percent))
        return web.json_response(p.to_json())

    @routes.post("/printers/{key}/errors")
    async def raise_error(request: web.Request) -> web.Response:
        p = printer(request)
        body = await _body(request)
        p.state.raise_error(str(body.get("error")))
        return web.json_response(p.to_json())

    @routes.delete("/printers/{key}/errors")
    async def clear_errors(request: web.Request) -> web.Response:
        p = printer(request)
        p.state.clear_error()
        return web.json_response(p.to_json())

    @routes.delete("/printers/{key}/errors/{error}")
    async def clear_error(request: web.Request) -> web.Response:
        p = printer(request)
        p.state.clear_error(request.match_info["error"])
        return web.json_response(p.to_json())

    @routes.post("/printers/{key}/{action:sleep|wake|offline|online}")
    async def power(request: web.Request) -> web.Response:
        p = printer(request)
        action = request.match_info["action"]
        if action in ("sleep", "wake"):
            p.state.set_sleep(action == "sleep")
        else:
            await fleet.set_unreachable(p, action == "offline")
        return web.json_response(p.to_json())

    @routes.post("/printers/{key}/contract")
    async def contract(request: web.Request) -> web.Response:
        p = printer(request)
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

    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except PrinterError as exc:
            return _bad(str(exc), 409 if "not allowed" in str(exc) else 400)

    app = web.Application(middlewares=[errors])
    app.add_routes(routes)
    return app


async def start_control_api(fleet: Fleet, host: str = "127.0.0.1", port: int = 8631,
                            ) -> web.AppRunner:
    runner = web.AppRunner(make_app(fleet), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
