"""Exports of an event: its winners, all its submissions, the audit log; CSV or JSON.

Winners are the live board of the event (organisers' view, never the frozen one), so
hidden and unapproved drawings, banned participants and staff are not in it, and ties
are in board order: whoever submitted the winning prompt first ranks first. Only the
winners export has the contact a participant gave with consent at join.

CSV cells that a spreadsheet would run as a formula (text starting with ``=``, ``+``,
``-``, ``@``, tab or carriage return) get a leading apostrophe, as OWASP recommends, and
so does such text after a ``;`` inside a cell, for spreadsheets in locales that split
lines at semicolons (most of Europe); JSON has every value as it is.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from server.organiser.audit import AuditEntry
from server.state.events import EventRecord
from server.state.participants import ParticipantRecord
from server.state.pictures import ImageStore, image_url
from server.state.store import Store
from server.state.submissions import SubmissionRecord

Format = Literal["csv", "json"]
Row = dict[str, Any]

WINNER_COLUMNS = (
    "rank",
    "nickname",
    "score",
    "score_display",
    "prompt",
    "image_url",
    "reached_at",
    "reached_at_iso",
    "submissions",
    "participant_id",
    "submission_id",
    "claim_code",
    "contact",
)
SUBMISSION_COLUMNS = (
    "id",
    "created_at",
    "created_at_iso",
    "participant_id",
    "nickname",
    "prompt",
    "normalised",
    "status",
    "score",
    "score_display",
    "image_url",
    "deduplicated",
    "canonical_id",
    "seed",
    "model_version",
    "finished_at",
    "hidden",
    "review",
    "staff",
    "banned",
    "error",
)
DRAWING_COLUMNS = ("file", *SUBMISSION_COLUMNS)
AUDIT_COLUMNS = ("id", "at", "at_iso", "who", "source", "action", "event_id", "target",
                 "before", "after")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_AFTER_SEMICOLON = re.compile(r';(?=[\s"]*[=+\-@])')


def display_score(score: float | None) -> str:
    """A score as the pages show it: a percentage with two decimals (0.5910… → 59.11%)."""
    return "" if score is None else f"{min(max(score, 0.0), 1.0) * 100:.2f}%"


def iso(seconds: float | None) -> str:
    return "" if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


async def winner_rows(
    store: Store, event_id: str, *, top: int | None = None, base_url: str = ""
) -> list[Row]:
    """One row per ranked participant, best first (``top``: only the first ones)."""
    entries = await store.leaderboard(event_id, top, live=True)
    records = {r.id: r for r in await store.submissions([e.submission_id for e in entries])}
    rows: list[Row] = []
    for entry in entries:
        participant = await store.participant(entry.participant_id)
        record = records.get(entry.submission_id)
        if participant is None or record is None or not _rankable(participant, record):
            continue  # the board never holds these; belt and braces for an export
        rows.append(
            {
                "rank": len(rows) + 1,
                "nickname": participant.nickname,
                "score": entry.score,
                "score_display": display_score(entry.score),
                "prompt": record.prompt,
                "image_url": base_url + image_url(entry.image_key),
                "reached_at": record.created_at,
                "reached_at_iso": iso(record.created_at),
                "submissions": await store.submission_count(participant.id),
                "participant_id": participant.id,
                "submission_id": record.id,
                "claim_code": participant.claim_code,
                "contact": participant.contact,
            }
        )
    return rows


def _rankable(participant: ParticipantRecord, record: SubmissionRecord) -> bool:
    return not (participant.staff or participant.banned) and record.shown


async def submission_rows(store: Store, event_id: str, *, base_url: str = "") -> list[Row]:
    """One row per submission of the event, oldest first (no contact details)."""
    participants = {p.id: p for p in await store.participants(event_id)}
    return [
        submission_row(record, participants.get(record.participant_id), base_url)
        for record in await store.event_submissions(event_id)
    ]


def submission_row(
    record: SubmissionRecord, participant: ParticipantRecord | None, base_url: str
) -> Row:
    return {
        "id": record.id,
        "created_at": record.created_at,
        "created_at_iso": iso(record.created_at),
        "participant_id": record.participant_id,
        "nickname": record.nickname,
        "prompt": record.prompt,
        "normalised": record.normalised,
        "status": record.status,
        "score": record.score,
        "score_display": display_score(record.score),
        "image_url": base_url + image_url(record.image_key) if record.image_key else "",
        "deduplicated": record.deduplicated,
        "canonical_id": record.canonical_id,
        "seed": record.seed,
        "model_version": record.model_version,
        "finished_at": record.finished_at,
        "hidden": record.hidden,
        "review": record.review,
        "staff": participant.staff if participant else False,
        "banned": participant.banned if participant else False,
        "error": record.error,
    }


async def drawing_rows(
    store: Store, images: ImageStore, event_id: str, *, base_url: str = ""
) -> tuple[list[Row], dict[str, Path]]:
    """The manifest of the drawings archive: one row per drawn submission, oldest first,
    naming the file that holds its picture; and those files. A repeated prompt shares the
    first one's picture, so the archive holds each picture once; a hidden picture is not
    in it (its row stays, with no file), as it is served to no one."""
    participants = {p.id: p for p in await store.participants(event_id)}
    rows: list[Row] = []
    files: dict[str, Path] = {}
    for record in await store.event_submissions(event_id):
        key = record.image_key
        if not key or not images.exists(key):
            continue
        name = "" if await store.image_hidden(key) else f"drawings/{key}.webp"
        if name:
            files[name] = images.path(key)
        participant = participants.get(record.participant_id)
        rows.append({"file": name, **submission_row(record, participant, base_url)})
    return rows, files


class _Pipe:
    """A write-only stream whose bytes are taken out as they come: ZipFile writes a
    stream it cannot seek with data descriptors, so nothing written is ever rewritten."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        taken = b"".join(self.chunks)
        self.chunks.clear()
        return taken


def zip_stream(manifest: str, files: Mapping[str, Path]) -> Iterator[bytes]:
    """A zip of ``manifest.csv`` and ``files`` (name in the zip to path), made one file at
    a time: the whole archive is never in memory. Pictures are WebP, so stored as they are."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("manifest.csv", manifest, compress_type=zipfile.ZIP_DEFLATED)
        yield pipe.take()
        for name, path in files.items():
            archive.write(path, name)
            yield pipe.take()
    yield pipe.take()


def audit_rows(entries: Sequence[AuditEntry]) -> list[Row]:
    return [{**entry.as_dict(), "at_iso": iso(entry.at)} for entry in entries]


def event_info(event: EventRecord) -> Row:
    return {"id": event.id, "title": event.title, "status": event.status}


def render(
    kind: str, rows: list[Row], columns: Sequence[str], fmt: Format, event: Row | None
) -> str:
    """The rows as CSV (a header line, then one line per row) or as a JSON document."""
    if fmt == "json":
        document = {"kind": kind, "event": event, "exportedAt": iso(_now()), kind: rows}
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def csv_cell(value: Any) -> str:
    """A value as CSV text: floats at full precision, booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = str(value)
    if text.startswith(_FORMULA_STARTS):
        text = "'" + text
    # A spreadsheet in a locale whose list separator is ";" splits every line at each
    # ";" (quoting does not help mid-line): what follows one must not start a formula.
    return _FORMULA_AFTER_SEMICOLON.sub(";'", text)


def _now() -> float:
    return datetime.now(UTC).timestamp()
