""""One contract, one printer" over the whole cloud API (issue 15): a hypothesis state machine
drives the real reference cloud over HTTP on loopback (SQLite file database, its contract engine
running) as three parties at once —

- the member site: first contracts, changes of contract machine with or without the new
  printer, the new printer named later, proposals answered yes or no, processes cancelled (by
  the member or the operator);
- the operator: any contract-mode command to any printer;
- a simulated gateway for four printers (three with the contract function, one without): it
  polls the pending commands, acknowledges them `received`, completes them in any order —
  `done` (its printer applies the command), `refused`, `failed`, or `failed` after the device
  did apply it (the acknowledgement reports the device's real contract state) — and uploads
  statuses with contract cartridge data (installed or not, levels, `supply-empty`).

Every answer is checked against the document (`Api.call`); none is a 5xx.  After every step, on
the simulated devices: no two printers of one contract are contract-printing (contract mode and
not prohibited).  Whenever a device starts billing, its printer's contract record is confirmed.

Which printers are "of one contract" is the member's history as the test saw it: a first
contract starts one; the new printer of a change (named at once or later) joins the old
printer's; a printer leaves its contract only by starting a new one.  Every run starts with a
contract in force on the first printer and a change to the second one proposed.

With the guard switched off (`check_command`, `check_joining` no-ops) the runs fail within
seconds (an operator's transition putting a printer of the contract into contract printing or
billing).  The engine runs in real time, so a failure is not replayed or shrunk: the
invariant's message carries the calls that led to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from cloud import times
from protocols.cloud.times import rfc3339
from tests.support.cloud_helpers import Answer, Gateway, Operator, running_cloud, sqlite_url
from tests.support.contract_device import Device

MEMBER = "member-0042"
SERVICE = "contract-printing"
DATA_TYPES = ["supplies.level", "supplies.cartridge", "contract"]
THRESHOLD = 10
PRINTERS = 4
LEGACY = PRINTERS - 1
"""The printer without the contract function (its index)."""
ENABLING = ["contract-transition", "permit-contract-printing", "billing-start"]
OTHERS = ["withdrawal", "prohibit-contract-printing", "panel-message"]
RESULTS = ["done", "done", "refused", "failed", "failed-applied"]

printer_index = st.integers(0, PRINTERS - 1)
any_index = st.integers(0, 50)


class ContractApi(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        self.tmp = tempfile.TemporaryDirectory()
        self.ids: list[str] = []
        self.devices: dict[str, Device] = {}
        self.inbox: dict[str, dict[str, Any]] = {}
        """Commands the gateway received and has not completed, by command ID."""
        self.contract_of: dict[str, int] = {}
        """Printer ID → the contract it belongs to (the test's count)."""
        self.old_of: dict[str, str] = {}
        """Process ID → its old printer (changes only)."""
        self.processes: list[str] = []
        self.trace: list[str] = []
        """The calls so far (the engine runs in real time: a failure may not replay, so the
        invariant's message carries what led to it)."""
        self.counter = itertools.count()
        self.run(self.start())

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    async def start(self) -> None:
        cloud = await self.stack.enter_async_context(running_cloud(
            sqlite_url(Path(self.tmp.name)), contract_threshold_percent=THRESHOLD,
            contract_retry_seconds=0, contract_poll_seconds=0.05))
        http = await self.stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)))
        self.operator = Operator(http, cloud.url)
        self.gateway = await Gateway.enrol(http, cloud.url, self.operator)
        await self.operator.put_service(SERVICE, DATA_TYPES)
        for index in range(PRINTERS):
            printer_id = await self.gateway.register(contract_supported=index != LEGACY)
            application = await self.operator.contract(printer_id, SERVICE)
            await self.gateway.activate(printer_id, SERVICE, application["application_id"])
            self.ids.append(printer_id)
            self.devices[printer_id] = Device(supported=index != LEGACY)
            await self.upload(printer_id, "periodic")
        await self.contract_in_force(self.ids[0])
        # Each run starts in the middle of a change (pattern B: its plan proposed).
        change = (await self.call(self.operator, "requestContractChange", 201, json_body={
            "member_id": MEMBER, "old_printer_id": self.ids[0], "new_printer_id": self.ids[1],
            "new_model": "inkjet", "new_series": "IJ-700"})).body
        self.processes.append(change["process_id"])
        self.old_of[change["process_id"]] = self.ids[0]
        self.join(self.ids[1], self.contract_of[self.ids[0]])

    async def contract_in_force(self, printer_id: str) -> None:
        """A first contract run to its end on the printer (contract cartridge at 80 %), so that
        the changes of contract machine have something to move from."""
        device = self.devices[printer_id]
        device.contract_cartridge, device.level = True, 80
        await self.upload(printer_id, "contract-cartridge-installed")
        process_id = (await self.call(self.operator, "requestContract", 201, json_body={
            "member_id": MEMBER, "printer_id": printer_id, "model": "inkjet",
            "series": "IJ-500", "page_limit": 300})).body["process_id"]
        self.join(printer_id, next(self.counter))
        for _ in range(200):
            process = (await self.call(self.operator, "getContractProcess", 200,
                                       path={"process_id": process_id})).body
            if process["outcome"] is not None:
                assert process["outcome"] == "completed", process
                return
            await self.gateway_round(["done"])
        raise AssertionError(f"the first contract did not complete: {process}")

    async def gateway_round(self, results: list[str]) -> None:
        """Poll, then complete every command received (the `results` in turn)."""
        await self.poll()
        for command, result in zip(list(self.inbox.values()), itertools.cycle(results),
                                   strict=False):
            del self.inbox[command["command_id"]]
            await self.complete(command, result)
        await asyncio.sleep(0.02)

    def teardown(self) -> None:
        self.run(self.stack.aclose())
        self.loop.close()
        self.tmp.cleanup()

    # -- calls -------------------------------------------------------------------------------------

    async def call(self, api: Operator | Gateway, operation_id: str, *allowed: int,
                   **kwargs: Any) -> Answer:
        """The answer, documented (checked by `Api.call`), never a 5xx, one of `allowed`."""
        answer = await api.call(operation_id, **kwargs)
        body = kwargs.get("json_body") or {}
        printer_id = kwargs.get("path", {}).get("printer_id") or body.get("printer_id")
        self.trace.append(" ".join(str(part) for part in (
            operation_id, answer.status, self.ids.index(printer_id) if printer_id in self.ids
            else "", body.get("kind") or body.get("answer") or "", body.get("result") or ""
        )) + f" -> {[(d.mode, d.prohibited) for d in self.devices.values()]}")
        assert answer.status < 500 and answer.status in allowed, (
            operation_id, answer.status, answer.body)
        return answer

    async def upload(self, printer_id: str, event: str) -> None:
        device = self.devices[printer_id]
        entry = device.status_entry(printer_id, event, cartridge_id=f"C-{printer_id[:4]}",
                                    low_percent=THRESHOLD)
        if event == "supply-empty":
            entry["event_detail"] = {"supply_index": "1.1"}
        await self.call(self.gateway, "uploadStatuses", 200, json_body={"statuses": [entry]},
                        headers={"Idempotency-Key": uuid.uuid4().hex})

    def join(self, printer_id: str, contract: int) -> None:
        self.contract_of[printer_id] = contract

    # -- the member site -------------------------------------------------------------------------

    @rule(printer=printer_index)
    def request_contract(self, printer: int) -> None:
        answer = self.run(self.call(self.operator, "requestContract", 201, 409, json_body={
            "member_id": MEMBER, "printer_id": self.ids[printer], "model": "inkjet",
            "series": "IJ-500", "page_limit": 300}))
        if printer == LEGACY:
            assert answer.status == 409 and answer.body["type"].endswith(
                "/contract-unsupported"), answer.body
        if answer.status == 201:
            self.processes.append(answer.body["process_id"])
            self.join(self.ids[printer], next(self.counter))

    @rule(which=any_index, new=st.none() | printer_index,
          series=st.sampled_from(["IJ-500", "IJ-700"]))
    def request_change(self, which: int, new: int | None, series: str) -> None:
        """From one of the printers that joined a contract (confirmed or not: the cloud says)."""
        contracted = sorted(self.contract_of, key=self.ids.index)
        old_id = contracted[which % len(contracted)]
        body = {"member_id": MEMBER, "old_printer_id": old_id, "new_model": "inkjet",
                "new_series": series}
        if new is not None:
            body["new_printer_id"] = self.ids[new]
        answer = self.run(self.call(self.operator, "requestContractChange", 201, 404, 409, 422,
                                    json_body=body))
        if answer.status == 201:
            process_id = answer.body["process_id"]
            self.processes.append(process_id)
            self.old_of[process_id] = old_id
            if new is not None:
                self.join(self.ids[new], self.contract_of[old_id])

    @rule(which=any_index, new=printer_index)
    def name_new_printer(self, which: int, new: int) -> None:
        process_id = list(self.old_of)[which % len(self.old_of)]
        answer = self.run(self.call(
            self.operator, "nameNewPrinter", 200, 409, 422, path={"process_id": process_id},
            json_body={"printer_id": self.ids[new]}))
        if answer.status == 200:
            self.join(self.ids[new], self.contract_of[self.old_of[process_id]])

    @rule(which=any_index, yes=st.booleans())
    def answer_proposal(self, which: int, yes: bool) -> None:
        async def answer() -> None:
            proposals = (await self.call(self.operator, "listProposals", 200,
                                         params={"member_id": MEMBER})).body["proposals"]
            if proposals:
                proposal = proposals[which % len(proposals)]
                await self.call(self.operator, "answerProposal", 200, 409,
                                path={"proposal_id": proposal["proposal_id"]},
                                json_body={"member_id": MEMBER, "answer": "yes" if yes else "no"})
        self.run(answer())

    @rule(which=any_index, by_member=st.booleans())
    def cancel(self, which: int, by_member: bool) -> None:
        path = {"process_id": self.processes[which % len(self.processes)]}
        if by_member:
            self.run(self.call(self.operator, "cancelMemberContractProcess", 200, 409, path=path,
                               json_body={"member_id": MEMBER}))
        else:
            self.run(self.call(self.operator, "cancelContractProcess", 200, 409, path=path))

    # -- the operator ------------------------------------------------------------------------------

    @rule(printer=printer_index, kind=st.sampled_from(ENABLING), billing=st.booleans())
    def operator_enables(self, printer: int, kind: str, billing: bool) -> None:
        """A command that can let the printer contract-print (what the guard is about)."""
        self.run(self.operator_command(printer, kind, billing))

    @rule(printer=printer_index, kind=st.sampled_from(OTHERS))
    def operator_other(self, printer: int, kind: str) -> None:
        self.run(self.operator_command(printer, kind, False))

    async def operator_command(self, printer: int, kind: str, billing: bool) -> None:
        body: dict[str, Any] = {"kind": kind}
        if kind == "contract-transition":
            body["parameters"] = {"mode": "contract-billing" if billing
                                  else "contract-non-billing"}
        elif kind == "panel-message":
            body["parameters"] = {"message": "From the operator"}
        answer = await self.call(self.operator, "createCommand", 201, 409,
                                 path={"printer_id": self.ids[printer]}, json_body=body)
        if answer.status == 409:
            assert answer.body["type"].endswith("/contract-conflict"), answer.body

    # -- the gateway -------------------------------------------------------------------------------

    async def poll(self) -> None:
        pending = (await self.call(self.gateway, "listPendingCommands", 200)).body
        for command in pending["commands"]:
            if command["command_id"] in self.inbox:
                continue
            self.inbox[command["command_id"]] = command
            await self.call(self.gateway, "acknowledgeCommand", 200,
                            path={"command_id": command["command_id"]}, json_body={
                                "printer_id": command["printer_id"], "stage": "received",
                                "at": rfc3339(times.now())})

    @rule()
    def poll_commands(self) -> None:
        self.run(self.poll())

    @rule(results=st.lists(st.sampled_from(RESULTS), min_size=1, max_size=4),
          rounds=st.integers(1, 3))
    def gateway_rounds(self, results: list[str], rounds: int) -> None:
        """The gateway at work: commands polled and completed as they come, a few times."""
        for _ in range(rounds):
            self.run(self.gateway_round(results))

    @rule(which=any_index, result=st.sampled_from(RESULTS))
    def complete_command(self, which: int, result: str) -> None:
        """One of the received commands, whichever (no precondition on what has arrived: the
        rules drawn must not depend on timing, or hypothesis cannot replay a failure)."""
        if not self.inbox:
            return
        command = self.inbox.pop(list(self.inbox)[which % len(self.inbox)])
        self.run(self.complete(command, result))

    async def complete(self, command: dict[str, Any], result: str) -> None:
        printer_id, kind = command["printer_id"], command["kind"]
        device = self.devices[printer_id]
        reason = device.refusal(kind)
        ack: dict[str, Any] = {"printer_id": printer_id, "stage": "completed",
                               "at": rfc3339(times.now())}
        if reason is not None:
            ack.update(result="refused", reason=reason)
        elif result in ("done", "failed-applied"):
            billing_before = device.mode == "contract-billing"
            device.apply(kind, command["parameters"])
            if device.mode == "contract-billing" and not billing_before:
                await self.billing_started(printer_id)
            ack["result"] = "done" if result == "done" else "failed"
        else:
            ack["result"] = result
        if ack["result"] != "done" and "reason" not in ack:
            ack["reason"] = {"code": "set-failed" if result != "refused" else "invalid-mode",
                             "detail": "The simulated device said no."}
        ack["contract_state"] = device.contract_state()
        await self.call(self.gateway, "acknowledgeCommand", 200,
                        path={"command_id": command["command_id"]}, json_body=ack)
        await asyncio.sleep(0.02)  # the contract engine's turn

    async def billing_started(self, printer_id: str) -> None:
        """A device of a contract starts billing: its contract is confirmed in the cloud."""
        if printer_id not in self.contract_of:
            return  # no contract: the operator's own business
        record = await self.call(self.operator, "getPrinterContract", 200,
                                 path={"printer_id": printer_id})
        assert record.body["flag"] == "confirmed", record.body

    @rule(printer=printer_index, contract_cartridge=st.booleans(),
          level=st.sampled_from([100, 60, THRESHOLD, 0]),
          event=st.sampled_from(["periodic", "supply-empty", "contract-cartridge-installed"]))
    def upload_status(self, printer: int, contract_cartridge: bool, level: int,
                      event: str) -> None:
        device = self.devices[self.ids[printer]]
        device.contract_cartridge, device.level = contract_cartridge, level
        if event == "supply-empty":
            device.level = 0
        self.run(self.upload(self.ids[printer], event))
        self.run(asyncio.sleep(0.02))

    # -- the invariant -----------------------------------------------------------------------------

    @invariant()
    def one_printer_per_contract(self) -> None:
        printing: dict[int, list[str]] = {}
        for printer_id, contract in self.contract_of.items():
            if self.devices[printer_id].contract_printing:
                printing.setdefault(contract, []).append(printer_id)
        both = {c: p for c, p in printing.items() if len(p) > 1}
        assert not both, "contract printing on two printers of one contract:\n" + "\n".join(
            self.trace[-60:])


ContractApi.TestCase.settings = settings(
    max_examples=20, stateful_step_count=40, deadline=None, derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: real time, no replay
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_one_contract_one_printer_over_the_api = ContractApi.TestCase
