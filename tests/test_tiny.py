"""Building the tiny models, and pointing the model settings at them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from transformers import CLIPTokenizer

from pipelines import tiny
from pipelines.models import model_settings
from pipelines.settings import Settings

pytestmark = pytest.mark.timeout(60)

MakeSettings = Callable[..., Settings]


def _built_files(models_dir: Path) -> dict[str, float]:
    return {
        str(path.relative_to(models_dir)): path.stat().st_mtime
        for path in models_dir.rglob("*")
        if path.is_file()
    }


def test_build_is_idempotent(tiny_models_dir: Path) -> None:
    models_dir = tiny_models_dir / "models"
    before = _built_files(models_dir)
    tiny.build_tiny_models(models_dir)
    assert _built_files(models_dir) == before


def test_concurrent_builds_leave_one_complete_copy(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    errors: list[BaseException] = []

    def build() -> None:
        try:
            tiny.build_tiny_models(models_dir)
        except BaseException as exc:  # collected and re-raised by the test below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(p.name for p in models_dir.iterdir()) == [
        tiny.OPEN_CLIP_CONFIG_DIR,
        tiny.GENERATOR_DIR,
        tiny.SCORER_CHECKPOINT,
    ]


def test_build_is_seeded(tiny_models_dir: Path, tmp_path: Path) -> None:
    tiny.build_tiny_models(tmp_path / "models")
    first = torch.load(tiny_models_dir / "models" / tiny.SCORER_CHECKPOINT, weights_only=True)
    second = torch.load(tmp_path / "models" / tiny.SCORER_CHECKPOINT, weights_only=True)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)


def test_tokenizer_covers_every_byte(tiny_models_dir: Path) -> None:
    path = tiny_models_dir / "models" / tiny.GENERATOR_DIR / "tokenizer"
    tokenizer = CLIPTokenizer.from_pretrained(path)
    ids = tokenizer("오리와 백조, a duck!")["input_ids"]
    # <|endoftext|> doubles as the unknown token: it may only close the prompt.
    assert ids[0] == tokenizer.bos_token_id
    assert ids[-1] == tokenizer.eos_token_id
    assert tokenizer.eos_token_id not in ids[1:-1]


def test_tiny_mode_points_the_model_settings_at_the_tiny_models(
    make_worker_settings: MakeSettings,
) -> None:
    settings = make_worker_settings()
    resolved = model_settings(settings)
    models_dir = settings.models_dir.resolve()
    assert resolved.generator_model == str(models_dir / tiny.GENERATOR_DIR)
    assert resolved.generator_size == tiny.IMAGE_SIZE
    assert resolved.scorer_model == tiny.SCORER_NAME
    assert resolved.scorer_pretrained == str(models_dir / tiny.SCORER_CHECKPOINT)


def test_real_mode_leaves_the_settings_alone(make_worker_settings: MakeSettings) -> None:
    settings = make_worker_settings(models="real")
    assert model_settings(settings) is settings
