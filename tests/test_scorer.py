"""The scorer on the tiny open_clip model, loaded the way production loads any model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch

from pipelines.images import to_pil
from pipelines.models import ModelUnavailable, model_settings
from pipelines.scorer import Scorer
from pipelines.settings import Settings

pytestmark = pytest.mark.timeout(60)

MakeSettings = Callable[..., Settings]


@pytest.fixture
def scorer(make_worker_settings: MakeSettings) -> Scorer:
    return Scorer.load(model_settings(make_worker_settings()))


def _pictures(count: int, height: int = 64, width: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(count * 1000 + height + width)
    return torch.rand(count, 3, height, width, generator=generator)


def test_a_picture_scores_one_against_itself(scorer: Scorer) -> None:
    images = _pictures(1)
    target = scorer.embed_images(images)[0]
    assert scorer.score(images, target) == [pytest.approx(1.0, abs=1e-5)]


def test_scores_are_python_floats_in_unit_range(scorer: Scorer) -> None:
    target = scorer.embed_images(_pictures(1, 48, 48))[0]
    scores = scorer.score(_pictures(3), target)
    assert len(scores) == 3
    assert all(type(s) is float and 0.0 <= s <= 1.0 for s in scores)


def test_embeddings_are_unit_length_float32(scorer: Scorer) -> None:
    embeddings = scorer.embed_images(_pictures(2))
    assert embeddings.shape == (2, 32)
    assert embeddings.dtype == torch.float32
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(2))


def test_pil_and_tensor_embeddings_agree(scorer: Scorer) -> None:
    # Quantise first so both paths see exactly the same 8-bit picture.
    picture = to_pil(_pictures(1)[0])
    from_pil = scorer.embed_pil(picture)
    pixels = torch.from_numpy(np.array(picture)).permute(2, 0, 1).float() / 255.0
    from_tensor = scorer.embed_images(pixels.unsqueeze(0))[0]
    torch.testing.assert_close(from_pil, from_tensor)


def test_any_picture_size_is_accepted(scorer: Scorer) -> None:
    wide = scorer.embed_images(_pictures(1, 40, 90))
    tall = scorer.embed_images(_pictures(1, 100, 30))
    assert wide.shape == tall.shape == (1, 32)


def test_wrong_layout_is_rejected(scorer: Scorer) -> None:
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        scorer.embed_images(torch.zeros(64, 64, 3))


def test_version_names_model_and_weights(scorer: Scorer) -> None:
    assert scorer.version == "lookalike-tiny pretrained=tiny-scorer.pt"


def test_missing_checkpoint_is_unavailable(
    make_worker_settings: MakeSettings, tmp_path: Path
) -> None:
    settings = model_settings(make_worker_settings())
    missing = tmp_path / "no-such-checkpoint.pt"
    settings = make_worker_settings(
        models="real", scorer_model=settings.scorer_model, scorer_pretrained=str(missing)
    )
    with pytest.raises(ModelUnavailable) as caught:
        Scorer.load(settings)
    message = str(caught.value)
    assert str(missing) in message
    assert "LOOKALIKE_SCORER_MODEL" in message
    assert "LOOKALIKE_SCORER_PRETRAINED" in message


def test_uncached_pretrained_tag_is_unavailable_offline(make_worker_settings: MakeSettings) -> None:
    settings = make_worker_settings(
        models="real", scorer_model="ViT-B-32", scorer_pretrained="laion2b_s34b_b79k"
    )
    with pytest.raises(ModelUnavailable, match="laion2b_s34b_b79k"):
        Scorer.load(settings)


def test_unknown_architecture_is_unavailable(make_worker_settings: MakeSettings) -> None:
    settings = make_worker_settings(models="real", scorer_model="No-Such-ViT")
    with pytest.raises(ModelUnavailable, match="No-Such-ViT"):
        Scorer.load(settings)


def test_preprocessing_matches_open_clips_own_transform(
    scorer: Scorer, make_worker_settings: MakeSettings
) -> None:
    settings = model_settings(make_worker_settings())
    model, _, preprocess = open_clip.create_model_and_transforms(
        settings.scorer_model, pretrained=settings.scorer_pretrained
    )
    picture = to_pil(_pictures(1, 50, 80)[0])
    with torch.inference_mode():
        reference = model.eval().encode_image(preprocess(picture).unsqueeze(0))[0]
    similarity = torch.dot(scorer.embed_pil(picture), reference / reference.norm())
    # Random tiny weights make unrelated pictures look alike (about 0.95), hence the bar.
    assert similarity > 0.9999
