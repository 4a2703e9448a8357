"""The contest pipeline: the generator and the scorer, loaded together, drawing a batch
of prompts and scoring each drawing against its target.

Workers and ``verify`` both load and run it, so a score re-checked later is computed
the way it was first computed, and :attr:`Pipeline.version` names both models in one
string, built here only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from pipelines.generator import Generator
from pipelines.images import decode_image, to_uint8
from pipelines.models import model_settings
from pipelines.scorer import Scorer
from pipelines.settings import Settings


@dataclass(frozen=True)
class Drawn:
    """A batch drawn and scored: 8-bit pictures on the CPU, one score each."""

    pictures: torch.Tensor  # (B, 3, H, W) uint8
    scores: list[float]


class Pipeline:
    """Draw prompts and score the drawings; :meth:`load` builds one from settings."""

    def __init__(self, settings: Settings, generator: Generator, scorer: Scorer) -> None:
        self.settings = settings
        self.generator = generator
        self.scorer = scorer
        self.version = f"{generator.version} | {scorer.version}"
        """Identifies what drew and scored a picture, recorded with every result."""

    @classmethod
    def load(cls, settings: Settings) -> Pipeline:
        """Load both models (building the tiny ones first in tiny mode).

        Raises:
            pipelines.models.ModelUnavailable: a model cannot be loaded.
        """
        resolved = model_settings(settings)
        return cls(resolved, Generator.load(resolved), Scorer.load(resolved))

    def embed_target(self, picture: bytes) -> torch.Tensor:
        """The ``(D,)`` embedding of an encoded target picture."""
        return self.scorer.embed_pil(decode_image(picture)).float()

    def __call__(
        self, prompts: Sequence[str], seeds: Sequence[int], targets: torch.Tensor
    ) -> Drawn:
        """Draw ``prompts[i]`` with ``seeds[i]`` and score it against ``targets[i]``."""
        # 1. Draw every prompt of the batch in one pipeline call.
        images = self.generator(prompts, seeds)
        # 2. Score the drawings on the device with the one score function.
        scores = self.scorer.score(images, targets)
        # 3. One copy of the whole batch to the CPU, for the encoders, in 8 bits: made on
        #    the device, it is a quarter of the float copy and spares the CPU the rounding.
        return Drawn(to_uint8(images).cpu(), scores)
