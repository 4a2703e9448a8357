"""The GPU service's settings: one typed object read from ``LOOKALIKE_*`` variables.

A pydantic-settings model, as the web server's (which has settings of its own): field
``foo_bar`` is read from ``LOOKALIKE_FOO_BAR``, and a ``.env`` file in the working
directory supplies the variables the environment does not set. Entry points build one
with :meth:`Settings.from_env`, whose errors name the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BeforeValidator, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PREFIX = "LOOKALIKE_"

ModelsMode = Literal["real", "tiny"]
CompileMode = Literal["off", "default", "reduce-overhead", "max-autotune"]


# pydantic reads 1/0, true/false, yes/no, on/off; an empty variable is off.
Flag = Annotated[bool, BeforeValidator(lambda value: False if value == "" else value)]


class SettingsError(ValueError):
    """A setting is missing or does not parse; the message names the variable."""


def variable(field: str) -> str:
    """The environment variable a field is read from: ``batch_size`` -> ``LOOKALIKE_BATCH_SIZE``."""
    return PREFIX + field.upper()


class EnvSettings(BaseSettings):
    """How every Lookalike process reads its settings (this service's and the web
    server's): from an environment mapping, then ``.env``, then the defaults."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_file=".env", extra="ignore", frozen=True
    )
    # Never echoed in an error message (leave them out of the repr with Field(repr=False)).
    secret_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment arrives as from_env's mapping (os.environ at the entry points,
        # a dict in tests), so a test never picks up the shell's LOOKALIKE_* variables.
        return init_settings, dotenv_settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Self:
        """Settings from an environment mapping, then ``.env``, then the defaults;
        ``overrides`` (field names) win over all.

        Raises:
            SettingsError: a variable does not parse; the message names it.
            TypeError: an override names no setting.
        """
        unknown = overrides.keys() - cls.model_fields.keys()
        if unknown:
            raise TypeError(f"no such setting: {', '.join(sorted(unknown))}")
        given = {
            name: environ[variable(name)] for name in cls.model_fields if variable(name) in environ
        }
        try:
            return cls(**(given | overrides))
        except ValidationError as exc:
            raise SettingsError("; ".join(cls._describe(e) for e in exc.errors())) from exc

    @classmethod
    def _describe(cls, error: Mapping[str, Any]) -> str:
        """``LOOKALIKE_BATCH_SIZE='eight' does not parse: Input should be a valid integer...``"""
        field = str(error["loc"][0]) if error["loc"] else "?"
        if field in cls.secret_fields:
            return f"{variable(field)} does not parse: {error['msg']}"
        return f"{variable(field)}={error['input']!r} does not parse: {error['msg']}"


class Settings(EnvSettings):
    """What a worker (and ``verify``) loads and how it runs."""

    # --- where
    data_dir: Path = Path("var")  # the models live under data_dir/models
    redis_url: str = ""
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # --- models
    models: ModelsMode = "real"
    device: str = "auto"  # auto (cuda, then mps, then cpu) | cpu | mps | cuda | cuda:N
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16
    generator_model: str = "stabilityai/sd-turbo"
    generator_size: int = 512
    generator_steps: int = 1
    generator_guidance: float = 0.0
    # ViT-B-32 on LAION-2B: the most widely used open_clip checkpoint, about 4 GFLOPs
    # per image (negligible next to the generator) and good image-image similarity.
    scorer_model: str = "ViT-B-32"
    scorer_pretrained: str = "laion2b_s34b_b79k"  # a tag, or a path to a checkpoint

    # --- the worker loop
    batch_size: int = 8
    batch_wait_ms: int = 15
    job_claim_idle_ms: int = 30_000  # a job pending this long under a worker is claimed
    worker_heartbeat_s: float = 2.0
    encode_threads: int = 8  # WebP encoders per worker, overlapping the next GPU batch
    # > 0: a worker serves its own Prometheus metrics (job times, batch sizes, GPU) here.
    worker_metrics_port: int = 0
    worker_metrics_host: str = "127.0.0.1"  # 0.0.0.0 in containers

    # --- GPU levers (pipelines/generator.py); on a CPU only padding and compile apply.
    # torch.compile of the UNet and VAE decoder: off, default, reduce-overhead (adds CUDA
    # graphs) or max-autotune. Compiling takes minutes; the worker does it before ready.
    compile: CompileMode = "off"
    # With compile on, batches are padded to the next of these sizes (static shapes: one
    # compiled graph per size, all built during warm-up). Comma-separated.
    batch_pad_sizes: Annotated[tuple[int, ...], NoDecode] = (1, 2, 4, 8, 16, 32)
    channels_last: Flag = True  # NHWC convolutions on CUDA
    # A tiny autoencoder for decoding (e.g. madebyollin/taesd): much faster than the full
    # VAE decoder, slightly different pictures (the model version records it).
    taesd_model: str = ""

    # --- `lookalike verify`: the largest difference between a stored and a re-run score
    # that still counts as a match (different hardware may differ in the last digits).
    verify_tolerance: float = 1e-4

    @field_validator("batch_pad_sizes", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(int(part) for part in value.split(",") if part.strip())
        return value

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"
