"""Which models to load and where to run them.

:func:`model_settings` turns ``LOOKALIKE_MODELS=tiny`` into ordinary model
settings that point at the tiny models on disk, so everything downstream loads
models only through :meth:`Generator.load` and :meth:`Scorer.load`, whatever the
mode.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from pipelines import tiny
from server.settings import Settings

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelUnavailable(RuntimeError):
    """A model's weights or config cannot be found or loaded; the message names the setting."""


def resolve_device(settings: Settings) -> tuple[torch.device, torch.dtype]:
    """The device and floating-point type the models run in.

    ``auto`` picks the first CUDA GPU with bfloat16 when there is one, else the CPU
    with float32 (half precision on a CPU is slow and poorly supported).

    Raises:
        ValueError: ``LOOKALIKE_DEVICE`` or ``LOOKALIKE_DTYPE`` names something unusable.
    """
    device = _device(settings.device)
    if settings.dtype == "auto":
        return device, torch.bfloat16 if device.type == "cuda" else torch.float32
    if settings.dtype not in _DTYPES:
        raise ValueError(f"LOOKALIKE_DTYPE={settings.dtype!r}: expected auto, {', '.join(_DTYPES)}")
    return device, _DTYPES[settings.dtype]


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    expected = "expected auto, cpu, cuda or cuda:N"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"LOOKALIKE_DEVICE={name!r}: {expected}") from exc
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ValueError(f"LOOKALIKE_DEVICE={name!r}: {expected}")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if (device.index or 0) >= count:
        raise ValueError(f"LOOKALIKE_DEVICE={name!r}: this machine has {count} CUDA device(s)")
    return device


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
    return dataclasses.replace(
        settings,
        generator_model=str(models_dir / tiny.GENERATOR_DIR),
        generator_size=tiny.IMAGE_SIZE,
        scorer_model=tiny.SCORER_NAME,
        scorer_pretrained=str(models_dir / tiny.SCORER_CHECKPOINT),
    )


def open_clip_config_dir(settings: Settings) -> Path:
    """Where extra open_clip architecture configs (``<name>.json``) live."""
    return settings.models_dir / tiny.OPEN_CLIP_CONFIG_DIR
