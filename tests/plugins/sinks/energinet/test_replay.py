"""`wattbridge deadletter replay` assigns each replayed reading the sender profile the
config gives its stream now: the usual fix for "unknown meter" is moving the meter."""

from datetime import UTC, datetime

from wattbridge import Reading
from wattbridge._cli import main
from wattbridge._outbox import Outbox

CONFIG = """
[wattbridge]
state_dir = "state"

[sinks.energinet]
plugin = "energinet"
url = "http://127.0.0.1:9/apiImport/data"
request_interval = "1s"

[sinks.energinet.senders.{sender}]
token = "token-of-{sender}-0123"
meters = {{"house/main_kwh" = "7777777777"}}
"""


def test_replay_uses_the_sender_profile_configured_now(tmp_path, capsys):
    config = tmp_path / "w.toml"
    config.write_text(CONFIG.format(sender="old"))
    config.chmod(0o600)
    box = Outbox(tmp_path / "state" / "outbox" / "energinet.sqlite")
    box.use_credentials()
    box.put([Reading("house/main_kwh", datetime(2026, 1, 1, tzinfo=UTC), 1.5)], ["old"])
    box.deadletter({box.take(1).ids[0]: "meter 7777777777: 404 unknown meter"})
    box.close()
    config.write_text(CONFIG.format(sender="new"))  # the fix: the meter moved
    assert main(["deadletter", "replay", "--sink", "energinet", "-c", str(config)]) == 0
    assert "1 dead letter(s) queued again" in capsys.readouterr().out
    box = Outbox(tmp_path / "state" / "outbox" / "energinet.sqlite")
    assert box.credentials_waiting() == ["new"]
    box.close()
