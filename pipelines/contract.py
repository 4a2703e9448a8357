"""The GPU service's contract: two Redis streams, the messages on them, and two keys.

Anything that speaks this contract can feed the pipelines or stand in for them (a
TensorRT server, say); this module is plain Python, so the web server imports it too.

* **Jobs in.** Whoever takes a prompt XADDs a :class:`Job` to :data:`JOBS`. Workers
  read it through the consumer group :data:`JOBS_GROUP`, one consumer per worker. A job
  left pending by a dead worker is claimed (XAUTOCLAIM) by another after the claim idle
  time; one delivered :data:`MAX_DELIVERIES` times is answered with a :class:`Failure`.
* **Results out.** A worker XADDs a :class:`Started` entry when a batch goes to the GPU
  (so players see their prompt drawn), then one :class:`Result` or :class:`Failure` per
  job to :data:`RESULTS`, and only once those entries are written does it XACK and XDEL
  the jobs. A worker dying in between leaves a job to be run again: whoever applies
  results must make a result applied twice change nothing.
* **Applying results.** The web server reads :data:`RESULTS` through the consumer group
  :data:`RESULTS_GROUP`, one consumer per server process, so any number of them share
  the work, applies each entry, then XACKs and XDELs it.
* **Pictures.** A :class:`Result` carries the drawing itself, WebP-encoded; its name
  where it is stored is :func:`picture_key` of those bytes, computed here once for all.
  The target picture a job names by ``target_key`` (its :func:`picture_key`) is read by
  workers from :func:`target`: the WebP bytes in base64 (so a client that decodes
  replies as text reads it too), no expiry, written by the server when an event gets
  its target, before any job names it. A content key never changes meaning, so a worker
  embeds each target once and keeps the embedding for as long as it runs. No volume is
  shared between the server and the GPU nodes.
* **Liveness.** Each worker refreshes its score (unix seconds) in the sorted set
  :data:`WORKERS` every few seconds; servers count the fresh ones for waiting times.

Stream fields are flat strings (a picture: bytes). A message's ``to_fields`` gives
them; :meth:`Job.from_fields` and :func:`read_outcome` read them back, raising
:class:`MessageError` for an entry that is not what it claims to be.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

ROOT = "lk"
JOBS = f"{ROOT}:jobs"  # stream of Job
JOBS_GROUP = "workers"
RESULTS = f"{ROOT}:results"  # stream of Started, Result and Failure
RESULTS_GROUP = "servers"
WORKERS = f"{ROOT}:workers"  # sorted set: worker name -> last heartbeat (unix seconds)
MAX_DELIVERIES = 3  # a job that killed this many workers is failed, not retried forever
_KEY_LENGTH = 32


def target(target_key: str) -> str:
    """String: the base64 of the target picture whose :func:`picture_key` is
    ``target_key``; written by the server, read by workers."""
    return f"{ROOT}:target:{target_key}"


def picture_key(data: bytes) -> str:
    """The content key of an encoded picture: 32 hex digits of its SHA-256."""
    return hashlib.sha256(data).hexdigest()[:_KEY_LENGTH]


Fields = Mapping[str, str] | Mapping[bytes, bytes]


class MessageError(ValueError):
    """A stream entry does not have the fields of the message it claims to be."""


@dataclass(frozen=True)
class Job:
    """Draw ``prompt`` with ``seed`` and score it against the event's target picture."""

    submission_id: str
    event_id: str
    prompt: str  # the normalised prompt: what is drawn
    seed: int
    target_key: str  # picture_key of the target picture (see target())
    kind: Literal["job"] = "job"

    def to_fields(self) -> dict[str, str]:
        # Not dataclasses.asdict, which deep-copies: this runs for every submission.
        return {name: str(getattr(self, name)) for name in _JOB_FIELDS}

    @classmethod
    def from_fields(cls, data: Fields) -> Job:
        """The job of a :data:`JOBS` entry.

        Raises:
            MessageError: the entry is not a job or lacks a field.
        """
        text = _texts(data)
        try:
            _expect_kind(text, "job")
            return cls(
                submission_id=text["submission_id"],
                event_id=text["event_id"],
                prompt=text["prompt"],
                seed=int(text["seed"]),
                target_key=text["target_key"],
            )
        except (KeyError, ValueError) as exc:
            raise _bad(cls, text, exc) from exc


_JOB_FIELDS = tuple(f.name for f in fields(Job))


@dataclass(frozen=True)
class Started:
    """A batch of jobs went to the GPU."""

    submission_ids: tuple[str, ...]
    kind: Literal["started"] = "started"

    def to_fields(self) -> dict[str, str]:
        return {"kind": self.kind, "submission_ids": ",".join(self.submission_ids)}


@dataclass(frozen=True)
class Result:
    """A drawn and scored job: the encoded picture and its similarity to the target."""

    submission_id: str
    score: float  # cosine similarity of CLIP image embeddings, clamped to [0, 1]
    picture: bytes  # WebP
    model_version: str  # generator and scorer identities, for `lookalike verify`
    gpu_seconds: float  # GPU time per job of its batch: what waiting-time estimates use
    started_at: float  # unix seconds: its batch went to the GPU
    finished_at: float  # unix seconds: its picture was encoded
    kind: Literal["result"] = "result"

    @property
    def picture_key(self) -> str:
        return picture_key(self.picture)

    def to_fields(self) -> dict[str, str | bytes]:
        return {
            "kind": self.kind,
            "submission_id": self.submission_id,
            "score": repr(self.score),
            "picture": self.picture,
            "model_version": self.model_version,
            "gpu_seconds": repr(self.gpu_seconds),
            "started_at": repr(self.started_at),
            "finished_at": repr(self.finished_at),
        }


@dataclass(frozen=True)
class Failure:
    """A job that could not be drawn (bad target, model error); the submission ends FAILED.

    ``submission_id`` is empty for an entry that was not a readable job."""

    submission_id: str
    reason: str
    kind: Literal["failure"] = "failure"

    def to_fields(self) -> dict[str, str]:
        return {"kind": self.kind, "submission_id": self.submission_id, "reason": self.reason}


Outcome = Started | Result | Failure


def read_outcome(data: Fields) -> Outcome:
    """The message of a :data:`RESULTS` entry.

    Raises:
        MessageError: the entry is none of Started, Result, Failure, or lacks a field.
    """
    raw = {_text(k): v for k, v in data.items()}
    text = {k: _text(v) for k, v in raw.items() if k != "picture"}
    kind = text.get("kind")
    message: type[Outcome] = {"started": Started, "failure": Failure}.get(kind or "", Result)
    try:
        if kind == "started":
            return Started(tuple(filter(None, text["submission_ids"].split(","))))
        if kind == "failure":
            return Failure(text["submission_id"], text["reason"])
        _expect_kind(text, "result")
        picture = raw["picture"]
        return Result(
            submission_id=text["submission_id"],
            score=float(text["score"]),
            picture=picture if isinstance(picture, bytes) else picture.encode(),
            model_version=text["model_version"],
            gpu_seconds=float(text["gpu_seconds"]),
            started_at=float(text["started_at"]),
            finished_at=float(text["finished_at"]),
        )
    except (KeyError, ValueError) as exc:
        raise _bad(message, text, exc) from exc


def _expect_kind(text: Mapping[str, str], kind: str) -> None:
    if text.get("kind") != kind:
        raise ValueError(f"expected kind {kind!r}, got {text.get('kind')!r}")


def _bad(message: type[object], text: Mapping[str, str], exc: Exception) -> MessageError:
    expected = ", ".join(f.name for f in fields(message))  # type: ignore[arg-type]
    return MessageError(
        f"bad {message.__name__} entry {dict(text)!r} ({exc}); expected fields {expected}"
    )


def _texts(data: Fields) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in data.items()}


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
