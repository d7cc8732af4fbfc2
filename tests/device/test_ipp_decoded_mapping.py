"""The gateway decodes only the IPP attributes it asks for and reads (`wanted_attributes`): the
status mapped from each real printer's answer is the same as from the answer decoded in full."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.device.ipp_mapping import apply_ipp
from gateway.device.model import DeviceStatus
from protocols.ipp.client import wanted_attributes
from protocols.ipp.model import DECODED_PREFIXES, REQUESTED_ATTRIBUTES, IppReading
from protocols.ipp.parser import parse_response
from protocols.ipp.recording import RECORDED_ATTRIBUTES
from tests.support.paths import IPP_FIXTURES

REAL = sorted((IPP_FIXTURES / "real").glob("*.bin"))


def mapped_status(body: bytes, wanted: frozenset[str] | None) -> dict:
    status_code, version, attributes, problems = parse_response(body, wanted, DECODED_PREFIXES)
    status = DeviceStatus(host="127.0.0.1")
    apply_ipp(status, IppReading("ipp://127.0.0.1/ipp/print", version, status_code, attributes,
                                 problems))
    mapped = status.to_json()
    del mapped["read_at"]
    return mapped


@pytest.mark.parametrize("path", REAL, ids=[p.stem for p in REAL])
def test_the_mapping_of_a_real_answer_is_unchanged(path: Path) -> None:
    body = path.read_bytes()
    if parse_response(body)[0] >= 0x0400:
        pytest.skip("an error answer: nothing is mapped")
    assert mapped_status(body, wanted_attributes(REQUESTED_ATTRIBUTES)) == mapped_status(body, None)


def test_a_recording_asking_for_all_decodes_all() -> None:
    """`printgw record` asks for `all` and masks every URI's host it finds: nothing skipped."""
    assert wanted_attributes(RECORDED_ATTRIBUTES) is None
    assert "media-ready" in wanted_attributes(REQUESTED_ATTRIBUTES)
