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
from diffusers import AutoencoderTiny, AutoPipelineForText2Image

from pipelines.models import ModelUnavailable, resolve_device
from pipelines.settings import Settings

__all__ = ["Generator"]


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
        # Static shapes for compiled graphs: batches are padded up to one of these sizes.
        self._pad_sizes = sorted(set(settings.batch_pad_sizes)) if settings.compile != "off" else []
        # Both change the pixels a little, so an audit must know about them.
        decoder = f" decoder={_model_name(settings.taesd_model)}" if settings.taesd_model else ""
        compiled = f" compile={settings.compile}" if settings.compile != "off" else ""
        self.version = (
            f"{_model_name(settings.generator_model)}"
            f" steps={self._steps} size={self._size} dtype={str(dtype).removeprefix('torch.')}"
            f"{decoder}{compiled}"
        )
        """Identifies what drew a picture, recorded with every result for audits."""

    @classmethod
    def load(cls, settings: Settings) -> Generator:
        """Load ``settings.generator_model`` onto the configured device.

        Raises:
            ModelUnavailable: the model (or the tiny autoencoder) is neither a local
                pipeline directory nor in the hub cache (or downloadable).
        """
        _, dtype = resolve_device(settings)
        model = settings.generator_model
        try:
            pipeline = AutoPipelineForText2Image.from_pretrained(model, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(
                f"cannot load the generator {model!r} (LOOKALIKE_GENERATOR_MODEL): {exc}. "
                "Expected a diffusers pipeline directory or a hub id that is cached or "
                "downloadable; for an offline rehearsal set LOOKALIKE_MODELS=tiny."
            ) from exc
        return cls.prepare(pipeline, settings)

    @classmethod
    def prepare(cls, pipeline: Any, settings: Settings) -> Generator:
        """Put a loaded pipeline on the configured device with the performance levers on.

        Attention already runs through PyTorch's scaled-dot-product attention (diffusers'
        default processor on PyTorch 2); the rest is configured in settings.
        """
        device, dtype = resolve_device(settings)
        # 1. Optionally decode with a tiny autoencoder: the full VAE decoder costs about as
        #    much as a one-step UNet at 512x512.
        if settings.taesd_model:
            pipeline.vae = _tiny_autoencoder(settings.taesd_model, dtype)
        # 2. Weights on the device (loaded in the working precision: bfloat16 on a GPU).
        pipeline.to(device)
        pipeline.set_progress_bar_config(disable=True)
        # 3. NHWC memory layout: tensor-core convolutions without layout transposes.
        if settings.channels_last and device.type == "cuda":
            pipeline.unet.to(memory_format=torch.channels_last)
            pipeline.vae.to(memory_format=torch.channels_last)
        # 4. Compiled graphs for the two big networks, one per padded batch size;
        #    "reduce-overhead" also replays them as CUDA graphs.
        if settings.compile != "off":
            pipeline.unet = torch.compile(pipeline.unet, mode=settings.compile, dynamic=False)
            pipeline.vae.decode = torch.compile(
                pipeline.vae.decode, mode=settings.compile, dynamic=False
            )
        return cls(pipeline, settings, device, dtype)

    def padded_size(self, count: int) -> int:
        """The batch size a call with ``count`` prompts really runs at."""
        return next((size for size in self._pad_sizes if size >= count), count)

    def warm_up_sizes(self, batch_size: int) -> list[int]:
        """The batch sizes to run once before serving, so no compile happens mid-event."""
        if not self._pad_sizes:
            return [1]
        return sorted({self.padded_size(n) for n in range(1, batch_size + 1)})

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

        # 2. Pad to a static batch size when compiled; the padding is cut off at the end.
        count = len(prompts)
        padding = self.padded_size(count) - count
        prompts = [*prompts, *[prompts[-1]] * padding]
        seeds = [*seeds, *[0] * padding]

        # 3. One random generator per image: diffusers draws each image's starting
        #    noise from its own generator, so a picture depends only on its prompt
        #    and seed, never on what else shares the batch.
        generators = [torch.Generator(self._device).manual_seed(seed) for seed in seeds]

        # 4. Denoise the whole batch in one pipeline call.
        output = self._pipeline(
            prompt=list(prompts),
            generator=generators,
            num_inference_steps=self._steps,
            guidance_scale=self._guidance,
            height=self._size,
            width=self._size,
            output_type="pt",
        )

        # 5. Hand back float pictures; the pipeline already mapped them to [0, 1].
        images: torch.Tensor = output.images[:count]
        return images.float().clamp_(0.0, 1.0)


def _tiny_autoencoder(model: str, dtype: torch.dtype) -> Any:
    """TAESD (``AutoencoderTiny``) by hub id or local directory."""
    try:
        return AutoencoderTiny.from_pretrained(model, torch_dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(
            f"cannot load the tiny autoencoder {model!r} (LOOKALIKE_TAESD_MODEL): {exc}. "
            "Expected a diffusers AutoencoderTiny directory or a cached hub id, "
            "or leave it empty to decode with the pipeline's own VAE."
        ) from exc


def _model_name(model: str) -> str:
    """A hub id as is; a local directory by its name, not its machine-specific path."""
    path = Path(model)
    return path.name if path.is_dir() else model
