"""`[alerts]` in the config: outputs validated with messages naming the key and the fix; secrets
from files and never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings.loading import ConfigError, parse_config
from tests.support.printgw_cli import printgw


def secret(tmp_path: Path, text: str, mode: int = 0o600) -> str:
    path = tmp_path / f"secret-{len(list(tmp_path.iterdir()))}"
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def problems(alerts: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config({"alerts": alerts})
    return caught.value.problems


def test_outputs_get_names_defaults_and_their_secrets(tmp_path: Path) -> None:
    config = parse_config({"alerts": {
        "webhook": [{"url": "https://hooks.example.com/x",
                     "secret_file": secret(tmp_path, "s" * 32)}],
        "email": [{"host": "smtp.example.com", "sender": "gw@example.com", "to": ["a@b.example"],
                   "username": "gw", "password_file": secret(tmp_path, "pw-in-a-file")},
                  {"name": "relay", "host": "127.0.0.1", "security": "none",
                   "sender": "gw@example.com", "to": ["a@b.example"]}],
        "syslog": [{"host": "127.0.0.1"}, {"socket": "/dev/log", "facility": "local5"}],
    }})
    alerts = config.alerts
    assert [o.name for o in alerts.outputs()] == ["webhook-1", "email-1", "relay", "syslog-1",
                                                  "syslog-2"]
    assert alerts.email[0].smtp_port == 587 and alerts.email[1].smtp_port == 25
    assert alerts.email[0].password.get_secret_value() == "pw-in-a-file"
    assert "pw-in-a-file" not in repr(config) and "hooks.example.com" not in repr(config)
    assert alerts.syslog[0].line_format == "rfc5424" and alerts.syslog[1].line_format == "rfc3164"


def test_mistakes_are_named_with_the_fix(tmp_path: Path) -> None:
    found = problems({
        "webhook": [{"url": "ftp://x"}, {"url": "https://h.example",
                                         "secret_file": secret(tmp_path, "short")}],
        "email": [{"host": "smtp.example.com", "security": "none", "sender": "gw@example.com",
                   "to": ["a@b.example"]},
                  {"host": "smtp.example.com", "sender": "not-an-address", "to": []},
                  {"host": "smtp.example.com", "sender": "gw@example.com", "to": ["a@b.example"],
                   "username": "gw"}],
        "syslog": [{"host": "127.0.0.1", "socket": "/dev/log", "facility": "local9",
                    "quiet_hours": {"start": "25:00", "end": "07:00"}}],
    })
    text = "\n".join(found)
    assert "alerts.webhook[0]: the webhook URL is not an http(s) URL" in text
    assert "ftp://x" not in text  # a URL may hold a token: never repeated
    assert "openssl rand" in text  # a short secret
    assert "only to a relay on this machine" in text
    assert "not a mail address" in text and "alerts.email[1].to" in text
    assert "username and password_file" in text
    assert "alerts.syslog[0].facility" in text and "not a time of day" in text
    assert "short" not in text.replace("shorter", "")  # the secret itself never shown


def test_a_webhook_is_always_signed_and_names_are_unique() -> None:
    assert "set secret_file" in "\n".join(problems({"webhook": [{"url": "https://h.example"}]}))
    assert "two outputs are named 'x'" in "\n".join(problems({"syslog": [
        {"name": "x", "host": "127.0.0.1"}, {"name": "x", "host": "127.0.0.2"}]}))


def test_a_secret_file_others_may_read_is_refused(tmp_path: Path) -> None:
    text = "\n".join(problems({"webhook": [{
        "url": "https://h.example", "secret_file": secret(tmp_path, "s" * 32, 0o644)}]}))
    assert "chmod 600" in text


def test_check_config_names_an_alerts_mistake(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\ndata_dir = "{tmp_path / "data"}"\n\n'
                    '[[alerts.email]]\nhost = "smtp.example.com"\nsender = "gw@example.com"\n'
                    'to = ["it@example.com"]\nsecurity = "none"\n')
    result = printgw("check-config", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "alerts.email[0]: security = \"none\" sends mail" in result.stderr + result.stdout
