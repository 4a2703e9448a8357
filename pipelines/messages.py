"""Messages between the server and the workers, defined once and imported by both sides.

A :class:`Job` travels on the Redis stream ``keys.JOBS`` as flat string fields;
a :class:`Result` is what a worker records for it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal


class MessageError(ValueError):
    """A stream entry does not have the fields of the message it claims to be."""


@dataclass(frozen=True)
class Job:
    """Draw ``prompt`` with ``seed`` and score it against the event's target image."""

    submission_id: str
    event_id: str
    prompt: str  # the normalised prompt: what is drawn
    seed: int
    target_key: str  # content key of the target image under the images dir
    kind: Literal["job"] = "job"

    def to_fields(self) -> dict[str, str]:
        # Not dataclasses.asdict, which deep-copies: this runs for every submission.
        return {name: str(getattr(self, name)) for name in _JOB_FIELDS}

    @classmethod
    def from_fields(cls, data: dict[str, str]) -> Job:
        try:
            if data.get("kind") != "job":
                raise MessageError(f"expected kind 'job', got {data.get('kind')!r}")
            return cls(
                submission_id=data["submission_id"],
                event_id=data["event_id"],
                prompt=data["prompt"],
                seed=int(data["seed"]),
                target_key=data["target_key"],
            )
        except (KeyError, ValueError) as exc:
            expected = ", ".join(f.name for f in fields(cls))
            raise MessageError(f"bad job entry {data!r}; expected fields {expected}") from exc


_JOB_FIELDS = tuple(f.name for f in fields(Job))


@dataclass(frozen=True)
class Result:
    """A drawn and scored job: the image's content key and its similarity to the target."""

    submission_id: str
    image_key: str
    score: float  # cosine similarity of CLIP image embeddings, clamped to [0, 1]
    model_version: str  # generator and scorer identities, for `lookalike verify`
    kind: Literal["result"] = "result"


@dataclass(frozen=True)
class Failure:
    """A job that could not be drawn (bad target, model error); the submission ends FAILED."""

    submission_id: str
    reason: str
    kind: Literal["failure"] = "failure"
