"""The picture store: content-addressed files written whole and durably."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.state.pictures import ImageStore

pytestmark = pytest.mark.timeout(30)


def test_a_picture_is_written_whole_and_durably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fsync of the file before the rename and of the directory after it: a power cut
    cannot leave a record pointing at a truncated file that is served as immutable."""
    synced: list[tuple[int, int, bool]] = []  # (device, inode, is a directory)
    fsync = os.fsync

    def recording(fd: int) -> None:
        info = os.fstat(fd)
        synced.append((info.st_dev, info.st_ino, os.path.isdir(f"/proc/self/fd/{fd}")))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    store = ImageStore(tmp_path / "images")
    data = os.urandom(300_000)
    key = store.put(data)
    path = store.path(key)
    assert path.read_bytes() == data
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    file, directory = path.stat(), path.parent.stat()
    assert synced == [
        (file.st_dev, file.st_ino, False),  # the data, under its temporary name
        (directory.st_dev, directory.st_ino, True),  # then the rename
    ]
    assert store.put(data) == key and len(synced) == 2  # there already: nothing written


def test_a_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    store = ImageStore(tmp_path / "images")
    with pytest.raises(OSError):
        store.put(b"a picture")
    assert list(store.root.iterdir()) == []
