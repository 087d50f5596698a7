"""The keys of a ``plugin = "nats"`` sink table (README.md explains each one)."""

from __future__ import annotations

from typing import Any

import attrs

from wattbridge_plugins.common.nats_keys import NatsKeys, check_subject_filter, subject_token


def _check_template(instance: Any, _attribute: Any, template: str) -> None:
    try:
        sample = template.format(prefix=instance.prefix, site=instance.site, stream="s")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"subject {template!r}: use {{prefix}}, {{site}} and {{stream}} only ({exc})"
        ) from None
    check_subject_filter(sample)
    if "*" in sample.split(".") or ">" in sample.split("."):
        raise ValueError(f"subject {template!r}: a subject to publish to has no wildcards")


def _check_token(_instance: Any, attribute: Any, text: str) -> None:
    if subject_token(text) != text:
        raise ValueError(
            f"{attribute.name} {text!r}: use letters, digits and - _ / : = + @ only "
            "(it is one token of a NATS subject)"
        )


def _check_prefix(_instance: Any, _attribute: Any, prefix: str) -> None:
    for token in prefix.split("."):
        if not token or subject_token(token) != token:
            raise ValueError(
                f"prefix {prefix!r}: dot-separated tokens of letters, digits and - _ / : = + @"
            )


@attrs.frozen(kw_only=True)
class NatsSinkConfig(NatsKeys):
    """Keys of a ``plugin = "nats"`` sink table (and the connection and TLS keys)."""

    site: str = attrs.field(validator=_check_token)
    """This collector's site: the subject's middle token, what uplinks partition by."""
    prefix: str = attrs.field(default="wattbridge", validator=_check_prefix)
    """The subjects' first token(s); the stream's subjects must cover them."""
    subject: str = attrs.field(default="{prefix}.{site}.{stream}", validator=_check_template)
    """The subject of a reading: {prefix}, {site} and {stream} (percent-encoded)."""
    batch: int = attrs.field(default=1000, validator=attrs.validators.ge(1))
    """Readings one send takes from the outbox."""
    message_readings: int = attrs.field(
        default=500, validator=[attrs.validators.ge(1), attrs.validators.le(10_000)]
    )
    """Most readings in one message (a message's readings share a subject)."""
