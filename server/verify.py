"""``lookalike verify``: re-run a submission's drawing and scoring and compare the score.

The same normalised prompt and seed draw the same picture, and the worker records which
models drew and scored it, so a score can be re-checked by anyone with the models: the
models are loaded through :func:`pipelines.models.model_settings` exactly as a worker
loads them, and the score is computed as the worker computes it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pipelines.generator import Generator
from pipelines.images import encode_webp, load_image
from pipelines.models import model_settings
from pipelines.scorer import Scorer
from server.settings import Settings
from server.state.pictures import ImageStore
from server.state.submissions import SubmissionRecord


class NotVerifiable(ValueError):
    """The submission has no score to check (not DONE) or its target picture is gone."""


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


def verify(settings: Settings, record: SubmissionRecord, target_key: str) -> Verdict:
    """Draw and score ``record`` again (blocking: loads both models).

    ``target_key`` is the target picture it was scored against.

    Raises:
        NotVerifiable: the submission has no score, or the target picture is missing.
        pipelines.models.ModelUnavailable: the models cannot be loaded.
    """
    # 1. Check there is something to verify.
    images = ImageStore(settings.images_dir)
    if record.status != "DONE" or record.score is None:
        raise NotVerifiable(f"submission {record.id} is {record.status}, expected DONE")
    if not images.exists(target_key):
        raise NotVerifiable(f"the target picture {target_key} is not in {images.root}")

    # 2. Load the models the way a worker does.
    resolved = model_settings(settings)
    generator, scorer = Generator.load(resolved), Scorer.load(resolved)

    # 3. Draw the normalised prompt with its seed.
    picture = generator([record.normalised], [record.seed])

    # 4. Score it against the target as the worker does: dot product of unit embeddings.
    target = scorer.embed_pil(load_image(images.path(target_key))).float()
    embedding = scorer.embed_images(picture)
    score = float((embedding * target.to(embedding)).sum(dim=-1).clamp(0.0, 1.0)[0])

    # 5. Compare.
    key = hashlib.sha256(encode_webp(picture[0].float().cpu())).hexdigest()[:32]
    return Verdict(
        submission_id=record.id,
        prompt=record.normalised,
        seed=record.seed,
        stored_score=record.score,
        score=score,
        stored_models=record.model_version,
        models=f"{generator.version} | {scorer.version}",
        tolerance=settings.verify_tolerance,
        same_picture=key == record.image_key,
    )

