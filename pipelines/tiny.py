"""Tiny, seeded, randomly initialised stand-ins for the real models.

They let tests and offline rehearsals run the real generation and scoring code
on a CPU in milliseconds. They are saved to disk in the same formats the real
models are published in and are loaded back through :meth:`Generator.load` and
:meth:`Scorer.load`, so the tiny models exercise the production loading path.

Layout under ``models_dir``::

    tiny-generator/              a diffusers StableDiffusionPipeline (save_pretrained)
    open_clip/lookalike-tiny.json an open_clip architecture config
    tiny-scorer.pt               the open_clip state dict for that architecture
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import open_clip
import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

GENERATOR_DIR = "tiny-generator"
OPEN_CLIP_CONFIG_DIR = "open_clip"  # extra open_clip architectures; Scorer.load registers them
SCORER_NAME = "lookalike-tiny"
SCORER_CHECKPOINT = "tiny-scorer.pt"
# The VAE below halves the resolution once and the UNet's sample_size is 32, so the
# pipeline's native output is 64x64.
IMAGE_SIZE = 64

_SEED = 0
_CONTEXT_LENGTH = 77  # CLIP's; the pipeline pads every prompt to this many tokens
_BOS = "<|startoftext|>"
_EOS = "<|endoftext|>"

# Like diffusers' get_dummy_components, but small enough for a generation to take
# milliseconds on a laptop CPU.
_SCORER_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}

# stabilityai/sd-turbo's scheduler_config.json: one-step generation needs "trailing"
# spacing so the single timestep is the noisiest one.
_SD_TURBO_SCHEDULER: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "interpolation_type": "linear",
    "timestep_spacing": "trailing",
    "timestep_type": "discrete",
    "steps_offset": 1,
    "use_karras_sigmas": False,
    "rescale_betas_zero_snr": False,
}


def build_tiny_models(models_dir: Path) -> None:
    """Build the tiny generator and scorer under ``models_dir`` unless they are there.

    Idempotent and safe when several processes call it at once: everything is
    built in a private temporary directory and moved into place with atomic
    renames, so a reader sees each model either complete or not at all.
    """
    models_dir = Path(models_dir)
    if _is_built(models_dir):
        return
    models_dir.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=".tiny-build-", dir=models_dir))
    try:
        # Seeding is global; leave the caller's random state as it was.
        with torch.random.fork_rng(devices=[]):
            _save_generator(build / GENERATOR_DIR)
            _save_scorer(build / OPEN_CLIP_CONFIG_DIR, build / SCORER_CHECKPOINT)
        _publish(build, models_dir)
    finally:
        shutil.rmtree(build, ignore_errors=True)


def _is_built(models_dir: Path) -> bool:
    return all(
        path.exists()
        for path in (
            models_dir / GENERATOR_DIR / "model_index.json",
            models_dir / OPEN_CLIP_CONFIG_DIR / f"{SCORER_NAME}.json",
            models_dir / SCORER_CHECKPOINT,
        )
    )


def _publish(build: Path, models_dir: Path) -> None:
    """Move the built files into ``models_dir``; a racing builder may have won already."""
    try:
        os.rename(build / GENERATOR_DIR, models_dir / GENERATOR_DIR)
    except OSError:
        # rename(2) refuses to replace a non-empty directory: another process put an
        # identical (same seed) generator there first.
        if not (models_dir / GENERATOR_DIR / "model_index.json").exists():
            raise
    config_dir = models_dir / OPEN_CLIP_CONFIG_DIR
    config_dir.mkdir(exist_ok=True)
    # Files are replaced atomically, so the loser of a race just rewrites the same bytes.
    config = f"{SCORER_NAME}.json"
    os.replace(build / OPEN_CLIP_CONFIG_DIR / config, config_dir / config)
    os.replace(build / SCORER_CHECKPOINT, models_dir / SCORER_CHECKPOINT)


def _save_generator(path: Path) -> None:
    tokenizer = byte_level_tokenizer(path.parent / "tokenizer-src")
    torch.manual_seed(_SEED)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=IMAGE_SIZE // 2,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=2,
        norm_num_groups=2,
    )
    torch.manual_seed(_SEED)
    vae = AutoencoderKL(
        block_out_channels=[4, 8],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=2,
    )
    torch.manual_seed(_SEED)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            hidden_size=32,
            intermediate_size=64,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=_CONTEXT_LENGTH,
            vocab_size=len(tokenizer),
        )
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=EulerDiscreteScheduler(**_SD_TURBO_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(path)


def byte_level_tokenizer(source: Path) -> CLIPTokenizer:
    """A byte-level CLIP tokenizer made from scratch: no hub download needed.

    Every byte and its end-of-word variant is in the vocabulary, so any prompt (Korean
    included) tokenizes without unknown tokens; there are no merges, so each byte is
    one token.
    """
    source.mkdir(parents=True)
    chars = _byte_level_alphabet()
    tokens = [*chars, *(c + "</w>" for c in chars), _BOS, _EOS]
    vocab = {token: index for index, token in enumerate(tokens)}
    (source / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (source / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer: CLIPTokenizer = CLIPTokenizer.from_pretrained(
        source, model_max_length=_CONTEXT_LENGTH
    )
    shutil.rmtree(source)
    return tokenizer


def _byte_level_alphabet() -> list[str]:
    """GPT-2's printable stand-in character for each of the 256 bytes, in byte order."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    shifted = 0
    alphabet: list[str] = []
    for byte in range(256):
        if byte in printable:
            alphabet.append(chr(byte))
        else:
            alphabet.append(chr(256 + shifted))
            shifted += 1
    return alphabet


def _save_scorer(config_dir: Path, checkpoint: Path) -> None:
    config_dir.mkdir(parents=True)
    config_file = config_dir / f"{SCORER_NAME}.json"
    config_file.write_text(json.dumps(_SCORER_CONFIG, indent=2), encoding="utf-8")
    torch.manual_seed(_SEED)
    # Built from the dict rather than through open_clip's config registry: registering
    # this temporary directory would leave a stale path in open_clip's global list.
    model = open_clip.CLIP(**_SCORER_CONFIG)
    torch.save(model.state_dict(), checkpoint)
