"""The generator on the tiny model, loaded the way production loads any model."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from pipelines.generator import Generator
from pipelines.images import encode_webp, load_image, to_pil, to_uint8
from pipelines.models import ModelUnavailable, model_settings, resolve_device
from pipelines.settings import Settings

pytestmark = pytest.mark.timeout(60)

MakeSettings = Callable[..., Settings]


@pytest.fixture
def generator(make_worker_settings: MakeSettings) -> Generator:
    return Generator.load(model_settings(make_worker_settings()))


def test_same_prompt_and_seed_draw_the_same_picture(generator: Generator) -> None:
    first = generator(["a duck and a swan"], [1234])
    again = generator(["a duck and a swan"], [1234])
    assert torch.equal(first, again)


def test_a_picture_does_not_depend_on_the_rest_of_the_batch(generator: Generator) -> None:
    alone = generator(["a yellow duck"], [7])
    batch = generator(["a red fox", "a yellow duck", "오리와 백조"], [1, 7, 3])
    torch.testing.assert_close(batch[1], alone[0], atol=1e-4, rtol=0)


def test_different_seeds_draw_different_pictures(generator: Generator) -> None:
    images = generator(["a duck", "a duck"], [1, 2])
    assert (images[0] - images[1]).abs().max() > 0.05


def test_pictures_are_float_rgb_in_unit_range(generator: Generator) -> None:
    images = generator(["a duck", "a swan"], [1, 2])
    assert images.shape == (2, 3, 64, 64)
    assert images.dtype == torch.float32
    assert images.device.type == "cpu"
    assert images.min() >= 0.0
    assert images.max() <= 1.0


def test_prompts_and_seeds_must_pair_up(generator: Generator) -> None:
    with pytest.raises(ValueError, match="2 prompts and 1 seeds"):
        generator(["a duck", "a swan"], [1])
    with pytest.raises(ValueError, match="at least one"):
        generator([], [])


def test_version_names_model_steps_size_and_dtype(generator: Generator) -> None:
    assert generator.version == "tiny-generator steps=1 size=64 dtype=float32"


def test_missing_local_model_is_unavailable(
    make_worker_settings: MakeSettings, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-model"
    settings = make_worker_settings(models="real", generator_model=str(missing))
    with pytest.raises(ModelUnavailable) as caught:
        Generator.load(model_settings(settings))
    message = str(caught.value)
    assert str(missing) in message
    assert "LOOKALIKE_GENERATOR_MODEL" in message
    assert "LOOKALIKE_MODELS=tiny" in message
    assert isinstance(caught.value.__cause__, OSError)


def test_uncached_hub_model_is_unavailable_offline(make_worker_settings: MakeSettings) -> None:
    settings = make_worker_settings(models="real", generator_model="lookalike-tests/no-such-model")
    with pytest.raises(ModelUnavailable, match="lookalike-tests/no-such-model"):
        Generator.load(model_settings(settings))


def test_resolve_device_honours_explicit_settings(make_worker_settings: MakeSettings) -> None:
    assert resolve_device(make_worker_settings(device="cpu", dtype="bfloat16")) == (
        torch.device("cpu"),
        torch.bfloat16,
    )
    assert resolve_device(make_worker_settings(device="cpu", dtype="auto")) == (
        torch.device("cpu"),
        torch.float32,
    )


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"device": "tpu"}, "LOOKALIKE_DEVICE"),
        ({"device": "not a device"}, "LOOKALIKE_DEVICE"),
        ({"device": "cuda:99"}, "LOOKALIKE_DEVICE"),
        ({"dtype": "float8"}, "LOOKALIKE_DTYPE"),
    ],
)
def test_resolve_device_rejects_bad_values(
    make_worker_settings: MakeSettings, overrides: dict[str, str], variable: str
) -> None:
    with pytest.raises(ValueError, match=variable):
        resolve_device(make_worker_settings(**overrides))


def test_a_picture_round_trips_through_webp(generator: Generator, tmp_path: Path) -> None:
    data = encode_webp(generator(["a duck"], [1])[0])
    assert (data[:4], data[8:12]) == (b"RIFF", b"WEBP")
    path = tmp_path / "duck.webp"
    path.write_bytes(data)
    loaded = load_image(path)
    assert (loaded.mode, loaded.size) == ("RGB", (64, 64))


def test_webp_is_lossy_but_close() -> None:
    # A smooth picture: the tiny model draws noise, which no lossy codec keeps.
    ramp = torch.linspace(0.0, 1.0, 48)
    image = torch.stack(
        [ramp.expand(32, 48), ramp.flip(0).expand(32, 48), torch.full((32, 48), 0.5)]
    )
    decoded = PIL.Image.open(io.BytesIO(encode_webp(image))).convert("RGB")
    assert decoded.size == (48, 32)
    error = np.abs(np.array(decoded, dtype=np.float32) - np.array(to_pil(image), dtype=np.float32))
    assert error.mean() < 3


def test_to_pil_rejects_a_batch() -> None:
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        to_pil(torch.zeros(1, 3, 8, 8))


def test_load_image_converts_to_rgb(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    PIL.Image.new("L", (5, 4), color=128).save(path)
    image = load_image(path)
    assert (image.mode, image.size) == ("RGB", (5, 4))


def test_compiled_batches_are_padded_to_static_sizes(
    make_worker_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Compiling is a GPU's business and takes minutes; the padding around it is ours.
    monkeypatch.setattr(torch, "compile", lambda module, **_: module)
    settings = model_settings(make_worker_settings(compile="default", batch_pad_sizes=(1, 4)))
    padded = Generator.load(settings)
    plain = Generator.load(settings.model_copy(update={"compile": "off"}))
    assert [padded.padded_size(n) for n in (1, 2, 4, 5)] == [1, 4, 4, 5]
    assert padded.warm_up_sizes(4) == [1, 4] and plain.warm_up_sizes(4) == [1]
    images = padded(["a duck", "a swan"], [1, 2])
    assert images.shape == (2, 3, 64, 64)
    torch.testing.assert_close(images, plain(["a duck", "a swan"], [1, 2]), atol=1e-4, rtol=0)


def test_a_tiny_autoencoder_decodes_when_configured(
    make_worker_settings: MakeSettings, tmp_path: Path
) -> None:
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    # Halves the resolution once, like the tiny pipeline's own VAE.
    AutoencoderTiny(
        encoder_block_out_channels=(8, 8),
        decoder_block_out_channels=(8, 8),
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
    ).save_pretrained(tmp_path / "taesd")
    settings = model_settings(make_worker_settings(taesd_model=str(tmp_path / "taesd")))
    generator = Generator.load(settings)
    images = generator(["a duck", "a swan"], [1, 2])
    assert images.shape == (2, 3, 64, 64) and 0.0 <= images.min() <= images.max() <= 1.0
    assert generator.version.endswith("decoder=taesd")


def test_a_missing_tiny_autoencoder_is_unavailable(
    make_worker_settings: MakeSettings, tmp_path: Path
) -> None:
    settings = model_settings(make_worker_settings(taesd_model=str(tmp_path / "nothing-here")))
    with pytest.raises(ModelUnavailable, match="LOOKALIKE_TAESD_MODEL"):
        Generator.load(settings)


def test_eight_bit_pixels_are_the_float_pictures_rounded() -> None:
    """The worker rounds to 8 bits on the device before the copy to the CPU; the pixels,
    and so the WebP bytes that name a stored picture, are those of the float picture."""
    torch.manual_seed(0)
    image = torch.rand(3, 16, 16) * 1.2 - 0.1  # a little out of range, clamped
    pixels = to_uint8(image)
    assert pixels.dtype == torch.uint8 and pixels.shape == image.shape
    expected = np.round(np.clip(image.numpy(), 0.0, 1.0) * 255.0).astype(np.uint8)
    assert np.array_equal(pixels.numpy(), expected)
    assert to_uint8(pixels) is pixels
    assert encode_webp(pixels) == encode_webp(image)
    assert np.array_equal(np.array(to_pil(pixels)), expected.transpose(1, 2, 0))
