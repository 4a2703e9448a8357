"""The GPU service's contract (pipelines/contract.py): its messages survive a trip
through stream fields, and the pipelines stand alone, without the web server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines.contract import (
    Failure,
    Job,
    MessageError,
    Result,
    Started,
    picture_key,
    read_outcome,
)

ROOT = Path(__file__).resolve().parent.parent


def as_bytes(fields: dict[str, str] | dict[str, str | bytes]) -> dict[bytes, bytes]:
    """Fields as a bytes-mode Redis client reads them back."""
    return {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}


def test_every_message_survives_the_stream() -> None:
    job = Job("s1", "e1", "a duck", 42, "0" * 32)
    assert Job.from_fields(job.to_fields()) == job
    assert Job.from_fields(as_bytes(job.to_fields())) == job
    result = Result("s1", 0.25, b"RIFF\x00\xffWEBP", "gen | clip", 0.1, 1.5, 2.5)
    for outcome in (Started(("s1", "s2")), result, Failure("s2", "OSError: disk")):
        assert read_outcome(as_bytes(outcome.to_fields())) == outcome
    assert result.picture_key == picture_key(result.picture)
    assert len(picture_key(b"x")) == 32


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "result", "submission_id": "s1"},  # no score, no picture
        {"kind": "started"},
        {"kind": "nonsense"},
    ],
)
def test_an_entry_that_is_not_its_message_is_refused(fields: dict[str, str]) -> None:
    with pytest.raises(MessageError, match="expected fields"):
        read_outcome(as_bytes(fields))


def test_a_job_entry_of_another_kind_is_refused() -> None:
    with pytest.raises(MessageError, match="expected kind 'job'"):
        Job.from_fields({**Job("s", "e", "p", 1, "k").to_fields(), "kind": "result"})


def test_every_pipelines_module_imports_without_the_web_server() -> None:
    """A GPU node installs the pipelines alone: with ``server`` (and the web libraries)
    unimportable, every module of ``pipelines`` still imports."""
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys

        FORBIDDEN = ("server", "starlette", "strawberry", "graphql")

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in FORBIDDEN:
                    raise ImportError(f"{name} is not installed on a GPU node")
                return None

        sys.meta_path.insert(0, Blocker())
        import pipelines
        names = [m.name for m in pkgutil.iter_modules(pipelines.__path__, "pipelines.")]
        for name in names:
            importlib.import_module(name)
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
        assert not leaked, leaked
        print(len(names))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 12  # contract, worker, verify, settings, metrics...
