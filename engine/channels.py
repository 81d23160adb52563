"""The channels an offer can be served on."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["CHANNELS", "Channel"]

Channel = Literal["web", "mobile_app", "email", "push", "sms", "call_center", "in_store", "social"]
CHANNELS: tuple[str, ...] = get_args(Channel)
