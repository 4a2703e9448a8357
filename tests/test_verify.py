"""`lookalike verify`: a stored score is re-checked by drawing and scoring again with the
recorded prompt, seed and models (tiny ones here, loaded as a worker loads them)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest

from pipelines.settings import Settings as WorkerSettings
from pipelines.verify import Claim, NotVerifiable, verify
from server.cli import verification_claim
from server.organiser.audit import Actor
from server.organiser.console import Console
from server.state import keys
from server.state.connection import async_client
from server.state.pictures import ImageStore
from server.state.store import Store
from tests.client import gql
from tests.documents import SUBMIT
from tests.organiser_api import join, play, running

pytestmark = pytest.mark.timeout(120)


async def claim_of(app: Any, submission_id: str) -> Claim:
    """What ``lookalike verify`` reads from the contest state for a submission."""
    client = async_client(app.settings.redis_url)
    try:
        images = ImageStore(app.settings.images_dir)
        console = Console(Store(client), images, app.settings, Actor("cli", "test"))
        return await verification_claim(console, submission_id)
    finally:
        await client.aclose()


def worker_settings(app: Any) -> WorkerSettings:
    return WorkerSettings(data_dir=app.settings.data_dir, models="tiny", device="cpu")


def lookalike_verify(app: Any, submission_id: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LOOKALIKE_REDIS_URL": app.settings.redis_url,
        "LOOKALIKE_DATA_DIR": str(app.settings.data_dir),
        "LOOKALIKE_MODELS": "tiny",
        "LOOKALIKE_DEVICE": "cpu",
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "verify", submission_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


async def test_a_real_score_verifies_and_a_forged_one_does_not(live: Any) -> None:
    async with running(live) as (app, http):
        _, token = await join(http, "alice")
        drawn = await play(app, http, token, "a yellow duck on a blue pond")
        claim = await claim_of(app, drawn["id"])
        verdict = await asyncio.to_thread(verify, worker_settings(app), claim)
        assert verdict.matches and verdict.same_models, verdict.report()
        # One drawing alone in its batch, same machine: the worker's 8-bit copy and the
        # WebP bytes are the re-drawn picture's.
        assert verdict.same_picture, verdict.report()
        assert verdict.stored_score == drawn["score"]
        assert verdict.difference <= worker_settings(app).verify_tolerance
        assert verdict.report().endswith("MATCH")

        forged = min(drawn["score"] + 0.05, 1.0) if drawn["score"] < 0.9 else 0.5
        client = async_client(app.settings.redis_url)
        try:
            await client.hset(keys.submission(drawn["id"]), "score", repr(forged))
        finally:
            await client.aclose()
        tampered = await claim_of(app, drawn["id"])
        verdict = await asyncio.to_thread(verify, worker_settings(app), tampered)
        assert not verdict.matches and verdict.report().endswith("MISMATCH")
        done = await asyncio.to_thread(lookalike_verify, app, drawn["id"])
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"stored score {forged!r}" in done.stdout
        assert done.stdout.strip().endswith("MISMATCH")


async def test_only_scored_submissions_can_be_verified(live: Any) -> None:
    async with running(live, worker=False) as (app, http):
        _, token = await join(http, "bob")
        queued = (await gql(http, SUBMIT, {"p": "a swan"}, token))["submitPrompt"]
        with pytest.raises(NotVerifiable, match="QUEUED"):
            await claim_of(app, queued["id"])
        missing = lookalike_verify(app, "0190d6a4-0000-7000-8000-000000000000")
        assert missing.returncode == 1 and "no such submission" in missing.stderr
        not_drawn = lookalike_verify(app, queued["id"])
        assert not_drawn.returncode == 2 and "expected DONE" in not_drawn.stderr
