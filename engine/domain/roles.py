"""The roles a key may hold, apart from the key machinery so settings can name them too."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["ROLES", "Role"]

# ``client`` is for keys shipped inside a web page or a mobile app, where anyone can read them:
# decisions and events only, never a customer write or a profile read.
Role = Literal["decide", "client", "marketer", "analyst", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
