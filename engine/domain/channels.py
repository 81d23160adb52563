"""The channels an offer can be served on."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["CHANNELS", "CHANNEL_CODES", "Channel"]

Channel = Literal["web", "mobile_app", "email", "push", "sms", "call_center", "in_store", "social"]
CHANNELS: tuple[str, ...] = get_args(Channel)

# One letter per channel keeps per-customer hash fields short (memory per customer matters).
CHANNEL_CODES: dict[str, str] = {
    "web": "w",
    "mobile_app": "m",
    "email": "e",
    "push": "p",
    "sms": "s",
    "call_center": "c",
    "in_store": "i",
    "social": "o",
}
