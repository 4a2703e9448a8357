"""Pictures between tensors, files and bytes."""

from __future__ import annotations

import io
from os import PathLike
from typing import IO

import PIL.Image
import PIL.ImageOps
import torch

WEBP_QUALITY = 90  # visually lossless on a phone screen at a fifth of a PNG's size
# libwebp's effort, 0-6 (Pillow's default 4). On two 512x512 photographs, 2 took half the
# CPU time of 4 (13 and 11 ms against 25 and 22) for 1-2% more bytes and the same PSNR
# within 0.2 dB: the encoders must keep up with the GPU, at ~100 pictures a second.
WEBP_METHOD = 2


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """8-bit pixels of float pictures in ``[0, 1]`` (any shape, any device); uint8 as is.

    On the GPU this is one small kernel, and the copy to the CPU shrinks fourfold; the
    rounding is exact in float32, so the bytes are the same on any device."""
    if images.dtype == torch.uint8:
        return images
    return images.detach().float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)


def to_pil(image: torch.Tensor) -> PIL.Image.Image:
    """An RGB picture from a ``(3, H, W)`` tensor, float in ``[0, 1]`` or uint8, on any
    device."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an image of shape (3, H, W), got {tuple(image.shape)}")
    return PIL.Image.fromarray(to_uint8(image).permute(1, 2, 0).cpu().numpy())


def encode_webp(image: torch.Tensor) -> bytes:
    """Lossy WebP bytes of a ``(3, H, W)`` tensor, float in ``[0, 1]`` or uint8."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    return buffer.getvalue()


def decode_image(data: bytes) -> PIL.Image.Image:
    """An encoded picture (WebP, PNG, JPEG...) as RGB, upright; see :func:`load_image`."""
    return load_image(io.BytesIO(data))


def load_image(path: str | PathLike[str] | IO[bytes]) -> PIL.Image.Image:
    """Read a picture file as RGB, upright.

    Raises:
        FileNotFoundError: there is no such file.
        PIL.UnidentifiedImageError: the file is not a picture Pillow can read.
    """
    with PIL.Image.open(path) as image:
        # Phone photos store their rotation in EXIF instead of rotating the pixels.
        upright = PIL.ImageOps.exif_transpose(image)
        return upright.convert("RGB")
