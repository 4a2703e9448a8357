"""No captcha at all: for development and load tests only."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


class OffVerifier:
    """Accepts every request. Says so loudly when it is built."""

    def __init__(self) -> None:
        logger.warning(
            "captcha is OFF (LOOKALIKE_CAPTCHA_PROVIDER=off): nothing stops a macro "
            "from flooding the GPU queue; use it for development and load tests only"
        )

    async def challenge(self) -> dict[str, Any] | None:
        return None

    async def verify(self, payload: str | None, *, remote_ip: str | None) -> None:
        return None

    async def check(self, payload: str | None, *, remote_ip: str | None) -> None:
        return None
