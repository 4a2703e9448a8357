"""``lookalike verify``: draw a recorded prompt again and compare the score.

The same normalised prompt and seed draw the same picture, and every result records
which models drew and scored it, so anyone with the models can re-check a score: the
:class:`~pipelines.pipeline.Pipeline` is loaded and run exactly as a worker runs it,
with the one score function. What to check comes in as plain data (:class:`Claim`);
the web server reads it from the contest state. Importing this module loads no model
library: :func:`verify` does, when called.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.contract import picture_key
from pipelines.settings import Settings


class NotVerifiable(ValueError):
    """There is no score to check (not drawn yet) or no target picture to check against."""


@dataclass(frozen=True)
class Claim:
    """A recorded score and what it was computed from."""

    submission_id: str
    prompt: str  # the normalised prompt: what was drawn
    seed: int
    target: bytes  # the encoded target picture it was scored against
    score: float
    model_version: str
    picture_key: str  # picture_key of the recorded drawing


@dataclass(frozen=True)
class Verdict:
    """A stored score next to the score the models give again."""

    submission_id: str
    prompt: str
    seed: int
    stored_score: float
    score: float
    stored_models: str
    models: str
    tolerance: float
    same_picture: bool  # byte-identical WebP; informative, as encoders may differ

    @property
    def difference(self) -> float:
        return abs(self.score - self.stored_score)

    @property
    def same_models(self) -> bool:
        return self.models == self.stored_models

    @property
    def matches(self) -> bool:
        return self.same_models and self.difference <= self.tolerance

    def report(self) -> str:
        """Lines for people, ending with MATCH or MISMATCH."""
        return "\n".join(
            [
                f"submission   {self.submission_id}",
                f"prompt       {self.prompt!r} (seed {self.seed})",
                f"models       {self.models}"
                + ("" if self.same_models else f"  (recorded: {self.stored_models})"),
                f"stored score {self.stored_score!r}",
                f"re-run score {self.score!r}",
                f"difference   {self.difference:.3g} (tolerance {self.tolerance:g})",
                f"same picture {'yes' if self.same_picture else 'no'}",
                "MATCH" if self.matches else "MISMATCH",
            ]
        )


def verify(settings: Settings, claim: Claim) -> Verdict:
    """Draw and score ``claim`` again (blocking: loads both models).

    Raises:
        pipelines.models.ModelUnavailable: the models cannot be loaded.
    """
    from pipelines.images import encode_webp
    from pipelines.pipeline import Pipeline

    # 1. Load the models the way a worker does.
    pipeline = Pipeline.load(settings)

    # 2. Draw the normalised prompt with its seed and score it as the worker does.
    target = pipeline.embed_target(claim.target)
    drawn = pipeline([claim.prompt], [claim.seed], target)

    # 3. Compare.
    return Verdict(
        submission_id=claim.submission_id,
        prompt=claim.prompt,
        seed=claim.seed,
        stored_score=claim.score,
        score=drawn.scores[0],
        stored_models=claim.model_version,
        models=pipeline.version,
        tolerance=settings.verify_tolerance,
        same_picture=picture_key(encode_webp(drawn.pictures[0])) == claim.picture_key,
    )
