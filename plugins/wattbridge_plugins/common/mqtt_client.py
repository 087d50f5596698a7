"""One way to build a paho-mqtt client, whether paho-mqtt 1.6 or 2.x is installed.

Home Assistant's test harness pins paho-mqtt 1.6.1, while a plain install gets 2.x. The
two differ in how a client is built (2.x wants a callback API version) and in the
callbacks' signatures and result codes (1.6 passes ints, 2.x ``ReasonCode`` objects).
:func:`make_client` hides both: the callbacks it takes have one shape on either version.
Both the ``energydata-mqtt`` sink and the ``mqtt`` source use it.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import attrs
import paho.mqtt.client as mqtt
from paho.mqtt import __version__ as PAHO_VERSION

PAHO_2 = int(PAHO_VERSION.split(".")[0]) >= 2

# MQTT 3.1.1 CONNACK codes 4 (bad user name or password) and 5 (not authorised); paho 2.x
# maps them to the MQTT 5 reason codes 134 and 135.
_AUTH_CODES = frozenset({4, 5, 134, 135})


@attrs.frozen
class ConnectResult:
    """The broker's answer to CONNECT, the same on either paho version."""

    ok: bool
    auth_refused: bool
    """The broker refused the credentials: retrying with the same ones cannot help."""
    text: str
    """What the broker said, for logs (never holds the credentials)."""


OnConnect = Callable[[ConnectResult], None]
OnDisconnect = Callable[[str, bool], None]
"""``(text, unexpected)``: unexpected is False only after our own ``disconnect()``."""
OnPublish = Callable[[int], None]
OnSubscribe = Callable[[int], None]
"""Gets the mid of the SUBSCRIBE the broker acknowledged (SUBACK)."""
OnMessage = Callable[[Any], None]
"""Gets paho's ``MQTTMessage`` (``.topic``, ``.payload``, ``.qos``, ``.retain``)."""


def _code(reason: Any) -> int:
    value = getattr(reason, "value", reason)
    return int(value) if isinstance(value, int) else -1


def make_client(
    client_id: str,
    *,
    clean_session: bool = True,
    reconnect: bool = False,
    on_connect: OnConnect | None = None,
    on_disconnect: OnDisconnect | None = None,
    on_publish: OnPublish | None = None,
    on_message: OnMessage | None = None,
    on_subscribe: OnSubscribe | None = None,
) -> mqtt.Client:
    """An MQTT 3.1.1 client with version-neutral callbacks.

    ``reconnect=False`` stops paho's network thread from reconnecting by itself, for a
    caller (the sink) that decides when to reconnect; the source lets paho reconnect.
    """
    kwargs: dict[str, Any] = {
        "client_id": client_id,
        "clean_session": clean_session,
        "protocol": mqtt.MQTTv311,
        "reconnect_on_failure": reconnect,
    }
    if PAHO_2:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    else:  # pragma: no cover - exercised in the paho-mqtt 1.6 virtual environment
        client = mqtt.Client(**kwargs)

    if on_connect is not None:
        connect_cb = on_connect

        def _on_connect(_c: Any, _u: Any, _flags: Any, reason: Any, *_props: Any) -> None:
            code = _code(reason)
            text = str(reason) if PAHO_2 else mqtt.connack_string(code)
            connect_cb(ConnectResult(code == 0, code in _AUTH_CODES, f"{text} (code {code})"))

        client.on_connect = _on_connect

    if on_disconnect is not None:
        disconnect_cb = on_disconnect

        def _on_disconnect(_c: Any, _u: Any, *args: Any) -> None:
            # 2.x: (flags, reason_code, properties); 1.6: (rc) or (rc, properties).
            code = _code(args[1] if PAHO_2 else args[0])
            text = f"{args[1]}" if PAHO_2 else mqtt.error_string(code)
            disconnect_cb(f"{text} (code {code})", code != 0)

        client.on_disconnect = _on_disconnect

    if on_publish is not None:
        publish_cb = on_publish

        def _on_publish(_c: Any, _u: Any, mid: int, *_rest: Any) -> None:
            publish_cb(mid)

        client.on_publish = _on_publish

    if on_subscribe is not None:
        subscribe_cb = on_subscribe

        def _on_subscribe(_c: Any, _u: Any, mid: int, *_rest: Any) -> None:
            subscribe_cb(mid)

        client.on_subscribe = _on_subscribe

    if on_message is not None:
        message_cb = on_message

        def _on_message(_c: Any, _u: Any, message: Any) -> None:
            message_cb(message)

        client.on_message = _on_message
    return client


def set_tls(client: mqtt.Client, context: ssl.SSLContext) -> None:
    """Use ``context`` for the client's connection (same call on both paho versions)."""
    client.tls_set_context(context)


def set_connect_timeout(client: mqtt.Client, seconds: float) -> None:
    """Bound the TCP connect (2.x has a property; 1.6 keeps it in ``_connect_timeout``)."""
    if PAHO_2:
        client.connect_timeout = seconds
    else:  # pragma: no cover - paho-mqtt 1.6
        client._connect_timeout = seconds


def publish_ok(info: Any) -> bool:
    """True if paho accepted a publish for sending (``MQTTMessageInfo.rc`` is success)."""
    return _code(info.rc) == 0
