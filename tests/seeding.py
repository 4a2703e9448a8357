"""Jobs for tests and benchmarks, written straight to the store."""

from __future__ import annotations

from server.abuse import dedup
from server.state.events import EventRecord
from server.state.store import Store
from server.state.submissions import SubmissionRecord


async def queue_prompt(
    store: Store, event: EventRecord, nickname: str, prompt: str
) -> SubmissionRecord:
    """A new player with one prompt, prepared and recorded as the API records it: a
    waiting job, or a duplicate of one already drawn."""
    joined = await store.join(event.id, nickname, dedup.nickname_key(nickname))
    assert joined is not None, f"the nickname {nickname!r} is taken"
    return await store.submit(
        participant=joined[0],
        prompt=dedup.prepare(prompt, 300),
    )
