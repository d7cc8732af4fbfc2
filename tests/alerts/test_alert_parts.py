"""The parts of the local alerts that need no peer: quiet hours, the token bucket, the syslog
line formats, the webhook's payload and signature."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gateway.alerts.model import Alert
from gateway.alerts.policy import TokenBucket, quiet_until
from gateway.alerts.syslog import line
from gateway.alerts.webhook import idempotency_key, payload
from gateway.settings.alerts import QuietHours, SyslogOutput
from protocols.cloud.webhook_signature import sign, verify


def alert(severity: str = "warning", zone: str = "Asia/Tokyo", **extra: object) -> Alert:
    return Alert(alert_id="a-1", kind="threshold-crossed", severity=severity,  # type: ignore
                 device_id=7, serial="SN1", model="LaserWriter", address="10.0.0.7",
                 time_zone=zone, occurred_at=0.0, text="black toner at 8 % (threshold 10 %)",
                 **extra)  # type: ignore[arg-type]


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_quiet_hours_across_midnight_in_the_devices_zone() -> None:
    quiet = QuietHours(start="22:00", end="07:00")
    # 23:30 in Tokyo is 14:30 UTC: held until 07:00 Tokyo the next morning
    assert quiet_until(quiet, alert(), at("2026-03-02T14:30:00+00:00")) == \
        at("2026-03-03T07:00:00+09:00")
    # 06:59 Tokyo: held one more minute; 07:00: out
    assert quiet_until(quiet, alert(), at("2026-03-02T06:59:00+09:00")) == \
        at("2026-03-02T07:00:00+09:00")
    assert quiet_until(quiet, alert(), at("2026-03-02T07:00:00+09:00")) is None
    assert quiet_until(quiet, alert(), at("2026-03-02T12:00:00+09:00")) is None
    # the same instant is daytime for a device in Berlin
    assert quiet_until(quiet, alert(zone="Europe/Berlin"), at("2026-03-02T14:30:00+00:00")) \
        is None


def test_critical_goes_out_unless_quiet_means_none() -> None:
    night = at("2026-03-02T02:00:00+00:00")
    assert quiet_until(QuietHours(start="01:00", end="05:00", time_zone="UTC"),
                       alert("critical"), night) is None
    assert quiet_until(QuietHours(start="01:00", end="05:00", time_zone="UTC", allow="none"),
                       alert("critical"), night) == at("2026-03-02T05:00:00+00:00")


def test_the_token_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(burst=2, per_hour=360)
    assert bucket.available(100.0) == 2
    bucket.take(100.0)
    bucket.take(100.0)
    assert bucket.available(100.0) == 0
    assert bucket.next_token(100.0) == 110.0
    assert 0.49 < bucket.available(105.0) < 0.51
    assert bucket.available(10_000.0) == 2  # never above the burst


def test_syslog_lines_rfc5424_and_rfc3164() -> None:
    now = datetime(2026, 3, 2, 14, 30, 5, 123000, UTC).timestamp()
    udp = SyslogOutput(host="127.0.0.1", facility="local0")
    text = line(udp, [alert(supply_index="1.1")], False, "gw1", now).decode()
    assert text.startswith("<132>1 2026-03-02T14:30:05.123Z gw1 printgw ")  # local0.warning
    assert ' threshold-crossed [printgw@32473 device_id="7" serial="SN1" address="10.0.0.7" ' \
           'severity="warning" supply="1.1" alert_id="a-1"] warning: LaserWriter SN1 at ' \
           '10.0.0.7: black toner at 8 % (threshold 10 %)' in text
    local = SyslogOutput(facility="daemon")
    text = line(local, [alert("critical"), alert()], True, "gw1", now).decode()
    assert text.startswith("<26>")  # daemon.crit: a summary has its highest severity
    assert "printgw[" in text and "]: 2 alerts held back by the rate limit" in text


def test_the_webhook_payload_is_signed_over_the_exact_body() -> None:
    alerts = [alert(), alert("critical")]
    body = json.dumps(payload(alerts, True, "gw1")).encode()
    document = json.loads(body)
    assert (document["type"], document["count"], document["severity"]) == \
        ("summary", 2, "critical")
    header = sign(b"k" * 32, body)
    assert verify(b"k" * 32, header, body) and not verify(b"k" * 32, header, body + b" ")
    assert idempotency_key(alerts, True) == idempotency_key(list(alerts), True)
    assert payload(alerts[:1], False, "gw1")["alert"]["occurred_at"] == \
        "1970-01-01T00:00:00+00:00"
