"""Which models to load and where to run them.

:func:`model_settings` turns ``LOOKALIKE_MODELS=tiny`` into ordinary model
settings that point at the tiny models on disk, so everything downstream loads
models only through :meth:`Generator.load` and :meth:`Scorer.load`, whatever the
mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from pipelines import tiny
from pipelines.settings import Settings

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelUnavailable(RuntimeError):
    """A model's weights or config cannot be found or loaded; the message names the setting."""


@dataclass(frozen=True)
class Accelerators:
    """What torch reports about this machine's accelerators."""

    cuda_count: int = 0
    cuda_bf16: bool = False  # bfloat16 on the first CUDA GPU (Ampere and newer)
    mps: bool = False  # Apple Silicon's Metal backend

    @classmethod
    def probe(cls) -> Accelerators:
        cuda = torch.cuda.is_available()
        return cls(
            cuda_count=torch.cuda.device_count() if cuda else 0,
            cuda_bf16=cuda and torch.cuda.is_bf16_supported(),
            mps=torch.backends.mps.is_available(),
        )


def choose_device(device: str, dtype: str, found: Accelerators) -> tuple[str, str]:
    """The device and floating-point type (by name) for ``LOOKALIKE_DEVICE`` and
    ``LOOKALIKE_DTYPE`` on a machine with ``found``.

    ``auto`` device: CUDA, then Apple's MPS, then the CPU. ``auto`` dtype: bfloat16 on a
    GPU that has it, else float16 on CUDA; float32 on MPS (diffusers' documented set-up
    there) and on the CPU (half precision on a CPU is slow and poorly supported).

    Raises:
        ValueError: either setting names something this machine cannot use.
    """
    if device == "auto":
        device = "cuda" if found.cuda_count else "mps" if found.mps else "cpu"
    kind, _, index = device.partition(":")
    expected = "expected auto, cpu, mps, cuda or cuda:N"
    if kind not in ("cpu", "cuda", "mps") or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"LOOKALIKE_DEVICE={device!r}: {expected}")
    if kind == "cuda" and int(index or 0) >= found.cuda_count:
        raise ValueError(
            f"LOOKALIKE_DEVICE={device!r}: this machine has {found.cuda_count} CUDA device(s)"
        )
    if kind == "mps" and not found.mps:
        raise ValueError(f"LOOKALIKE_DEVICE={device!r}: this machine has no MPS (Apple) GPU")
    if dtype == "auto":
        dtype = {"cuda": "bfloat16" if found.cuda_bf16 else "float16"}.get(kind, "float32")
    if dtype not in _DTYPES:
        raise ValueError(f"LOOKALIKE_DTYPE={dtype!r}: expected auto, {', '.join(_DTYPES)}")
    return device, dtype


def resolve_device(settings: Settings) -> tuple[torch.device, torch.dtype]:
    """The device and floating-point type the models run in (see :func:`choose_device`).

    Raises:
        ValueError: ``LOOKALIKE_DEVICE`` or ``LOOKALIKE_DTYPE`` names something unusable.
    """
    device, dtype = choose_device(settings.device, settings.dtype, Accelerators.probe())
    return torch.device(device), _DTYPES[dtype]


def model_settings(settings: Settings) -> Settings:
    """Settings whose model fields name what to load.

    In ``tiny`` mode the tiny models are built under ``settings.models_dir`` (once)
    and the generator and scorer fields point at them; in ``real`` mode the settings
    are returned unchanged.
    """
    if settings.models != "tiny":
        return settings
    models_dir = settings.models_dir.resolve()
    tiny.build_tiny_models(models_dir)
    return settings.model_copy(
        update={
            "generator_model": str(models_dir / tiny.GENERATOR_DIR),
            "generator_size": tiny.IMAGE_SIZE,
            "scorer_model": tiny.SCORER_NAME,
            "scorer_pretrained": str(models_dir / tiny.SCORER_CHECKPOINT),
        }
    )


def open_clip_config_dir(settings: Settings) -> Path:
    """Where extra open_clip architecture configs (``<name>.json``) live."""
    return settings.models_dir / tiny.OPEN_CLIP_CONFIG_DIR
