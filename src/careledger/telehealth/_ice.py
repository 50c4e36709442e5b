"""ICE servers for a visit's browsers: STUN to learn their public addresses, TURN (the operator's coturn) to relay
their media when no direct path exists. TURN credentials are coturn's REST-API kind (`use-auth-secret`): a
username that carries its own expiry and a password that is its HMAC-SHA1 under the secret the node and coturn
share, so no static password ever reaches a browser and a leaked one stops working by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from careledger.errors import ConfigError

# How long a TURN credential lasts at most (coturn checks it at allocation); never past its room's closing.
TURN_CREDENTIAL_SECONDS = 4 * 3600
STUN_SCHEMES = ("stun:", "stuns:")
TURN_SCHEMES = ("turn:", "turns:")


def ice_servers(
    urls: Sequence[str], turn_secret: str, user: str, now: float, until: float | None = None
) -> list[dict[str, Any]]:
    """The RTCIceServer list for `user` at `now`: the STUN URLs as they are, and, for one admitted to a room that
    stays open `until`, the TURN URLs with a credential valid until then, `TURN_CREDENTIAL_SECONDS` at most (without
    `until`, none: the operator's relay is for visits, not for anyone signed in). `ConfigError` if TURN URLs are
    configured without `turn_secret`."""
    stun = [url for url in urls if url.startswith(STUN_SCHEMES)]
    turn = [url for url in urls if url.startswith(TURN_SCHEMES)]
    servers: list[dict[str, Any]] = [{"urls": stun}] if stun else []
    if turn and until is not None:
        if not turn_secret:
            raise ConfigError(
                "ice_servers names TURN servers but turn_secret is empty: set coturn's static-auth-secret"
            )
        username = f"{int(min(now + TURN_CREDENTIAL_SECONDS, until))}:{user}"
        servers.append({"urls": turn, "username": username, "credential": turn_password(turn_secret, username)})
    return servers


def turn_password(secret: str, username: str) -> str:
    """coturn's REST-API password of `username`: base64(HMAC-SHA1(static-auth-secret, username))."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
