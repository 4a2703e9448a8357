"""The text-to-image pipeline: prompts and seeds in, pictures out.

Any diffusers text-to-image pipeline loads, by hub id or local path
(``LOOKALIKE_GENERATOR_MODEL``); the default is stabilityai/sd-turbo, which draws
a 512x512 picture in one step.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoPipelineForText2Image

from pipelines.models import ModelUnavailable, resolve_device
from pipelines.seeds import seed_for
from server.settings import Settings

# Re-exported: the web server computes seeds without importing torch, and both sides
# must agree on them.
__all__ = ["Generator", "seed_for"]


class Generator:
    """A loaded text-to-image pipeline; call it with prompts and seeds."""

    def __init__(
        self, pipeline: Any, settings: Settings, device: torch.device, dtype: torch.dtype
    ) -> None:
        self._pipeline = pipeline
        self._device = device
        self._steps = settings.generator_steps
        self._guidance = settings.generator_guidance
        self._size = settings.generator_size
        self.version = (
            f"{_model_name(settings.generator_model)}"
            f" steps={self._steps} size={self._size} dtype={str(dtype).removeprefix('torch.')}"
        )
        """Identifies what drew a picture, recorded with every result for audits."""

    @classmethod
    def load(cls, settings: Settings) -> Generator:
        """Load ``settings.generator_model`` onto the configured device.

        Raises:
            ModelUnavailable: the model is neither a local pipeline directory nor
                in the hub cache (or downloadable).
        """
        device, dtype = resolve_device(settings)
        model = settings.generator_model
        try:
            pipeline = AutoPipelineForText2Image.from_pretrained(model, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(
                f"cannot load the generator {model!r} (LOOKALIKE_GENERATOR_MODEL): {exc}. "
                "Expected a diffusers pipeline directory or a hub id that is cached or "
                "downloadable; for an offline rehearsal set LOOKALIKE_MODELS=tiny."
            ) from exc
        pipeline.to(device)
        pipeline.set_progress_bar_config(disable=True)
        return cls(pipeline, settings, device, dtype)

    @torch.inference_mode()
    def __call__(self, prompts: Sequence[str], seeds: Sequence[int]) -> torch.Tensor:
        """Draw ``prompts[i]`` with ``seeds[i]``, all in one batch.

        Returns:
            A ``(B, 3, H, W)`` float tensor in ``[0, 1]`` on the model's device.
        """
        # 1. Check the batch: a prompt without its seed would draw an unrepeatable picture.
        if not prompts or len(prompts) != len(seeds):
            raise ValueError(
                f"expected as many seeds as prompts (at least one), "
                f"got {len(prompts)} prompts and {len(seeds)} seeds"
            )

        # 2. One random generator per image: diffusers draws each image's starting
        #    noise from its own generator, so a picture depends only on its prompt
        #    and seed, never on what else shares the batch.
        generators = [torch.Generator(self._device).manual_seed(seed) for seed in seeds]

        # 3. Denoise the whole batch in one pipeline call.
        output = self._pipeline(
            prompt=list(prompts),
            generator=generators,
            num_inference_steps=self._steps,
            guidance_scale=self._guidance,
            height=self._size,
            width=self._size,
            output_type="pt",
        )

        # 4. Hand back float pictures; the pipeline already mapped them to [0, 1].
        images: torch.Tensor = output.images
        return images.float().clamp_(0.0, 1.0)


def _model_name(model: str) -> str:
    """A hub id as is; a local directory by its name, not its machine-specific path."""
    path = Path(model)
    return path.name if path.is_dir() else model
