"""The similarity pipeline: how close a drawing is to the target picture.

Both pictures are embedded with an open_clip image tower
(``LOOKALIKE_SCORER_MODEL`` + ``LOOKALIKE_SCORER_PRETRAINED``) and the score is
the cosine similarity of the embeddings, clamped to ``[0, 1]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import open_clip
import PIL.Image
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from pipelines.models import ModelUnavailable, open_clip_config_dir, resolve_device
from pipelines.settings import Settings

_INTERPOLATIONS = {
    "bicubic": TF.InterpolationMode.BICUBIC,
    "bilinear": TF.InterpolationMode.BILINEAR,
}


class Scorer:
    """A loaded open_clip model that embeds and compares pictures."""

    def __init__(self, model: Any, settings: Settings, device: torch.device) -> None:
        self._model = model
        self._device = device
        cfg = open_clip.get_model_preprocess_cfg(model)
        size = cfg["size"]
        self._size: tuple[int, int] = (size, size) if isinstance(size, int) else tuple(size)
        self._resize_mode: str = cfg.get("resize_mode", "shortest")
        if self._resize_mode not in ("shortest", "squash"):
            raise ModelUnavailable(
                f"scorer {settings.scorer_model!r} wants resize_mode {self._resize_mode!r}; "
                "expected 'shortest' or 'squash'"
            )
        self._interpolation = _INTERPOLATIONS.get(
            cfg.get("interpolation", "bicubic"), TF.InterpolationMode.BICUBIC
        )
        self._mean = [float(m) for m in cfg["mean"]]
        self._std = [float(s) for s in cfg["std"]]
        self.version = f"{settings.scorer_model} pretrained={_pretrained_name(settings)}"
        """Identifies what scored a picture, recorded with every result for audits."""

    @classmethod
    def load(cls, settings: Settings) -> Scorer:
        """Load ``settings.scorer_model`` with weights ``settings.scorer_pretrained``.

        Architectures open_clip does not ship are looked up in
        ``<models_dir>/open_clip/<name>.json``. The scorer always runs in float32: it
        costs little next to the generator, and scores are shown to two decimals
        and re-checked later, so they should not move with the hardware's precision.

        Raises:
            ModelUnavailable: the architecture is unknown or its weights are neither
                a cached or downloadable tag nor a readable checkpoint file.
        """
        device, _ = resolve_device(settings)
        _register_extra_configs(settings)
        try:
            model, _, _ = open_clip.create_model_and_transforms(
                settings.scorer_model, pretrained=settings.scorer_pretrained, device=device
            )
        except torch.OutOfMemoryError:
            raise  # a full GPU is not a missing model; let it say so itself
        except (RuntimeError, OSError) as exc:
            raise ModelUnavailable(
                f"cannot load the scorer {settings.scorer_model!r} with weights "
                f"{settings.scorer_pretrained!r} (LOOKALIKE_SCORER_MODEL, "
                f"LOOKALIKE_SCORER_PRETRAINED): {exc}. Expected an open_clip model name and "
                "a cached or downloadable pretrained tag or a checkpoint path; for an "
                "offline rehearsal set LOOKALIKE_MODELS=tiny."
            ) from exc
        model.eval()
        return cls(model, settings, device)

    @torch.inference_mode()
    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Embed a ``(B, 3, H, W)`` batch in ``[0, 1]``: ``(B, D)`` float32, unit length.

        CLIP's preprocessing runs on the tensor on its device; a PIL round trip would
        cost a GPU-to-CPU copy and a PNG encode per picture.
        """
        # 1. Check the input, where a wrong layout would otherwise embed garbage.
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")

        # 2. Resize and crop to the model's input size, as open_clip's own transform does.
        pixels = images.to(self._device, torch.float32)
        height, width = self._size
        if self._resize_mode == "squash":
            pixels = TF.resize(pixels, [height, width], self._interpolation, antialias=True)
        else:
            # Scale so the picture covers the input size, then cut the middle out.
            scale = max(height / pixels.shape[-2], width / pixels.shape[-1])
            cover = [round(pixels.shape[-2] * scale), round(pixels.shape[-1] * scale)]
            pixels = TF.resize(pixels, cover, self._interpolation, antialias=True)
            pixels = TF.center_crop(pixels, [height, width])
        # Bicubic overshoots; the reference transform works on 8-bit pictures, which clip.
        pixels = pixels.clamp_(0.0, 1.0)

        # 3. Normalise with the statistics the model was trained with.
        pixels = TF.normalize(pixels, self._mean, self._std)

        # 4. Embed and scale to unit length, so a dot product is the cosine similarity.
        features: torch.Tensor = self._model.encode_image(pixels)
        return F.normalize(features.float(), dim=-1)

    def embed_pil(self, image: PIL.Image.Image) -> torch.Tensor:
        """Embed one picture (e.g. the target): ``(D,)`` float32, unit length."""
        pixels = TF.pil_to_tensor(image.convert("RGB")).float().div_(255.0)
        return self.embed_images(pixels.unsqueeze(0))[0]

    def score(self, images: torch.Tensor, targets: torch.Tensor) -> list[float]:
        """The contest score: how close each picture of a ``(B, 3, H, W)`` batch is to
        its target. The one score function: workers and ``verify`` both run it.

        ``targets`` are embeddings from :meth:`embed_pil` or :meth:`embed_images`:
        ``(B, D)``, one per picture (a batch mixes events), or one ``(D,)`` for all.
        Scores are cosine similarities clamped to ``[0, 1]``: a negative similarity
        means as unlike as it gets.
        """
        embeddings = self.embed_images(images)
        targets = F.normalize(targets.to(embeddings.device, torch.float32), dim=-1)
        similarity = (embeddings * targets.expand_as(embeddings)).sum(dim=-1).clamp_(0.0, 1.0)
        return [float(s) for s in similarity.tolist()]


def _register_extra_configs(settings: Settings) -> None:
    """Make open_clip aware of architectures kept beside the weights (the tiny one too)."""
    config_dir = open_clip_config_dir(settings)
    if config_dir.is_dir() and settings.scorer_model not in open_clip.list_models():
        open_clip.add_model_config(config_dir)


def _pretrained_name(settings: Settings) -> str:
    """A tag as is; a checkpoint file by its name, not its machine-specific path."""
    return Path(settings.scorer_pretrained).name
