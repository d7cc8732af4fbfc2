"""What the contract state machine (`cloud.contract_change`) asks of its shell
(`cloud.contract_store`): plain values, carried out in the transaction that stores the step, and
the texts they carry to the member (proposals, prompts) and to the printers' panels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MESSAGES = {
    "remove": "Contract printing stays on your old printer for now: please remove the contract "
              "cartridge from this printer.",
    "install": "Please install the contract cartridge in this printer.",
    "plan-ends": "The change plan ends on {ends}: contract printing then moves to your new "
                 "printer.",
    "remove-old": "Contract printing has moved to your new printer: please remove the contract "
                  "cartridge from the old printer.",
}

QUESTIONS = {
    "cancel-after-new-device": "You have not obtained the new printer yet. Cancel the contract of "
                               "the old printer only once the new one has arrived? (no: cancel "
                               "it now, without a new printer)",
    "urgency": "Is the change urgent? (yes: the old printer stops contract printing now)",
    "change-plan": "Keep printing under contract on the old printer until its contract cartridge "
                   "runs out, while the new printer is prepared?",
    "re-proposal": "A contract cartridge is installed in the new printer, but the old printer's "
                   "contract cartridge still has ink. Keep using the old printer until it runs "
                   "out?",
}


@dataclass(frozen=True)
class Issue:
    """Issue a command to a printer (through `cloud.commands.issue`), with this command ID."""

    command_id: str
    printer_id: str
    kind: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class Ask:
    """Open a proposal to the member (answered yes/no on the member site)."""

    proposal_id: str
    kind: str
    question: str
    strongly_recommended: bool


@dataclass(frozen=True)
class Close:
    """A proposal is no longer open: `answered` or `withdrawn` (the process moved on)."""

    proposal_id: str
    state: str


@dataclass(frozen=True)
class Order:
    """Order contract cartridges for a printer (S110), once: `order_id` is the idempotency key."""

    order_id: str
    printer_id: str


@dataclass(frozen=True)
class Record:
    """The printer's contract record: flag (`unconfirmed`/`confirmed`), mode, prohibition."""

    printer_id: str
    flag: str
    mode: str
    printing_prohibited: bool


@dataclass(frozen=True)
class Describe:
    """The printer's machine as S120 decided it: model and series, and where each came from
    (`reported`, `member`, `product-name`)."""

    printer_id: str
    model: str
    series: str
    model_source: str
    series_source: str


@dataclass(frozen=True)
class Notify:
    """Tell the member (`cloud.member_notices.notify_member`); `key` is deterministic, so a step
    run again records nothing new."""

    kind: str
    payload: dict[str, Any]
    key: str


Action = Issue | Ask | Close | Order | Record | Describe | Notify
