"""The big screen while Redis is away: the board keeps the last known standings and says
it is reconnecting, then goes live again on its own (a page test against `lookalike up`
with a Redis this test stops and starts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from server.state.connection import EmbeddedRedis, free_port
from tests.pages_support import (
    BIG_SCREEN,
    PageOpener,
    build_pages,
    expect_live,
    page_test_marks,
    running_site,
    screenshot,
)

pytestmark = page_test_marks(timeout=420)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    directory: Path = tmp_path_factory.mktemp("outage-redis")
    with EmbeddedRedis(directory, persistent=True, port=free_port()) as server:
        yield server


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, redis_server: EmbeddedRedis) -> Iterator[str]:
    build_pages()
    with running_site(tmp_path_factory.mktemp("outage-site"), redis_url=redis_server.url) as url:
        yield url


def test_the_board_says_it_is_reconnecting_while_redis_is_away(
    open_page: PageOpener, redis_server: EmbeddedRedis
) -> None:
    board = open_page("/board", viewport=BIG_SCREEN)
    expect_live(board)
    root = board.locator(".board-app")
    expect(root).to_have_attribute("data-stale", "false")

    redis_server.stop()
    expect(board.locator(".conn")).to_have_attribute("data-status", "reconnecting", timeout=30_000)
    expect(root).to_have_attribute("data-stale", "true")
    expect(board.locator(".stale-banner")).to_be_visible()
    screenshot(board, "board-redis-away")

    redis_server.start()
    expect_live(board)
    expect(root).to_have_attribute("data-stale", "false", timeout=30_000)
    assert open_page.close() == []
