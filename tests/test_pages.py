"""Browser tests of the pages (/play, /board) against a real `lookalike up`.

Headless Chromium (Debian's package) driven by Playwright; a tiny-model worker draws and
scores for real. Screenshots of every page go to test-artifacts/. The organiser console
(/admin) has its own module, test_admin_pages.py, with its own site.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Page,
    Route,
    WebSocketRoute,
    expect,
)

from tests.documents import JOIN_CAPTCHA, REVEAL
from tests.pages_support import (
    BIG_SCREEN,
    DRAWN_MS,
    LAPTOP,
    SCORE,
    PageOpener,
    build_pages,
    draw,
    expect_live,
    graphql,
    graphql_error,
    join,
    log_in_organiser,
    organiser_token,
    page_test_marks,
    running_site,
    screenshot,
    seed_drawing,
    unique,
)

pytestmark = page_test_marks(timeout=420)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    build_pages()
    with running_site(tmp_path_factory.mktemp("site")) as url:
        yield url


@pytest.fixture(scope="module")
def altcha_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second site that asks for the ALTCHA captcha (small work, to keep the test quick)."""
    build_pages()
    with running_site(
        tmp_path_factory.mktemp("altcha-site"),
        captcha_provider="altcha",
        captcha_max_number="5000",
    ) as url:
        yield url


def test_phone_joins_submits_and_the_board_shows_it_live(open_page: PageOpener) -> None:
    board = open_page("/board", viewport=BIG_SCREEN)
    expect_live(board)
    board.evaluate("window.__notReloaded = true")
    phone = open_page("/play")
    nickname = unique("duck")

    expect(phone.get_by_role("button", name="Join")).to_be_visible()
    expect(phone.locator(".target .picture--loaded")).to_be_visible()
    screenshot(phone, "play-join")
    join(phone, nickname)
    # The code a winner shows booth staff, on the player's card.
    expect(phone.get_by_test_id("claim-code")).to_have_text(re.compile(r"^[A-Z0-9]{6}$"))
    screenshot(phone, "play-joined")

    phone.get_by_label("Your prompt").fill("a yellow rubber duck next to a white swan")
    phone.get_by_role("button", name="Draw it!").click()
    expect(phone.locator(".result")).to_be_visible()
    score = phone.get_by_test_id("score")
    expect(score).to_have_text(SCORE, timeout=DRAWN_MS)
    shown = score.inner_text()
    expect(phone.get_by_test_id("best-score")).to_have_text(shown)
    expect(phone.get_by_test_id("rank")).to_contain_text("#")
    expect(phone.locator(".history__item")).to_contain_text(
        ["a yellow rubber duck next to a white swan"]
    )
    expect(phone.locator(".result__drawing.picture--loaded")).to_be_visible()
    screenshot(phone, "play-result", full_page=True)

    # The board, never reloaded, shows the new entry with the same score.
    entry = board.locator(".entry", has_text=nickname)
    expect(entry).to_be_visible()
    expect(entry.locator(".entry__score")).to_have_text(shown)
    expect(board.locator(".latest__item", has_text=nickname).first).to_be_visible()
    expect(board.get_by_test_id("submission-count")).not_to_have_text("0")
    assert board.evaluate("window.__notReloaded") is True
    expect(board.locator(".celebration")).to_have_count(0, timeout=15_000)
    screenshot(board, "board")


def test_board_shows_the_servers_qr_code(open_page: PageOpener) -> None:
    board = open_page("/board", viewport=BIG_SCREEN)
    expect(board.locator(".qr-panel__url")).to_contain_text("/play")
    # The QR code (drawn by the server) must decode as a picture, not a broken image.
    expect(
        board.locator(".qr-panel__code"), "GET /api/qr.svg must render as an image"
    ).to_have_class(re.compile(r"\bpicture--loaded\b"), timeout=15_000)


def test_korean_and_english_render_and_switch(open_page: PageOpener) -> None:
    phone = open_page("/play", locale="ko-KR")
    expect(phone.get_by_role("button", name="참가하기")).to_be_visible()
    expect(phone.get_by_text("목표 그림")).to_be_visible()
    expect(phone.locator("html")).to_have_attribute("lang", "ko")
    screenshot(phone, "play-ko")

    phone.get_by_role("button", name="영어로 바꾸기").click()
    expect(phone.get_by_role("button", name="Join")).to_be_visible()
    expect(phone.locator("html")).to_have_attribute("lang", "en")
    phone.reload()  # the choice is remembered over the browser's language
    expect(phone.get_by_role("button", name="Join")).to_be_visible()

    board = open_page("/board?lang=ko", viewport=BIG_SCREEN)
    expect(board.get_by_text("방금 그린 그림")).to_be_visible()
    expect(board.locator(".qr-panel__scan")).to_contain_text("QR 코드로 참여하세요")
    expect(board.locator(".qr-panel__scan")).to_contain_text("Scan to play")
    screenshot(board, "board-ko")


def test_taken_nickname_says_so(open_page: PageOpener) -> None:
    nickname = unique("twin")
    first = open_page("/play")
    join(first, nickname)
    second = open_page("/play")
    second.get_by_label("Nickname").fill(nickname)
    second.get_by_role("button", name="Join").click()
    expect(second.get_by_role("alert")).to_have_text(
        "That nickname is taken. Please pick another one."
    )
    expect(second.get_by_role("alert")).to_have_attribute("data-code", "NICKNAME_TAKEN")


def test_empty_prompt_is_caught_before_sending(open_page: PageOpener) -> None:
    phone = open_page("/play")
    join(phone, unique("blank"))
    phone.get_by_label("Your prompt").fill("   ")
    phone.get_by_role("button", name="Draw it!").click()
    expect(phone.get_by_role("alert")).to_have_text("Please write something first.")


ERRORS = {
    "RATE_LIMITED": (
        graphql_error("RATE_LIMITED", "slow down", retryAfter=42.5),
        re.compile(r"^Whoa, slow down! You can send again in (4[0-3]) s\.$"),
        re.compile(r"^Wait (4[0-3]) s$"),
    ),
    "BUSY": (
        graphql_error("BUSY", "queue full", retryAfter=20),
        re.compile(r"^The drawing machine is very busy\. Please try again in (1[89]|20) s\.$"),
        re.compile(r"^Wait (1[89]|20) s$"),
    ),
    "blocked word": (
        graphql_error("INVALID_INPUT", "not allowed", reason="blocked", field="prompt"),
        re.compile(r"^That contains a word we can't accept\. Please use different words\.$"),
        re.compile(r"^Draw it!$"),
    ),
    "EVENT_CLOSED": (
        graphql_error("EVENT_CLOSED", "closed"),
        re.compile(r"^The contest has ended\. Thanks for playing!$"),
        re.compile(r"^Contest closed$"),
    ),
}


def answer_with(page: Page, operation: str, body: dict[str, Any]) -> None:
    """Answer the page's GraphQL ``operation`` with ``body``; the rest reaches the server."""

    def answer(route: Route) -> None:
        if f"mutation {operation}(" in (route.request.post_data or ""):
            route.fulfill(status=200, content_type="application/json", body=json.dumps(body))
        else:
            route.fallback()

    page.route("**/graphql", answer)


@pytest.mark.parametrize("case", list(ERRORS))
def test_submit_errors_show_friendly_messages(open_page: PageOpener, case: str) -> None:
    body, message, button = ERRORS[case]
    phone = open_page("/play")
    join(phone, unique("oops"))
    answer_with(phone, "SubmitPrompt", body)
    phone.get_by_label("Your prompt").fill("a duck in a bowtie")
    phone.get_by_role("button", name="Draw it!").click()
    alert = phone.get_by_role("alert").first
    expect(alert).to_have_text(message)
    expect(phone.locator("form.prompt button[type=submit]")).to_have_text(button)
    if case in ("RATE_LIMITED", "EVENT_CLOSED"):
        expect(phone.locator("form.prompt button[type=submit]")).to_be_disabled()
    if case == "RATE_LIMITED":
        screenshot(phone, "play-error-rate-limited")


def test_join_limit_says_so_and_counts_down(open_page: PageOpener) -> None:
    phone = open_page("/play")
    body = graphql_error("RATE_LIMITED", "too many joins at once; try again in 30 s", retryAfter=30)
    answer_with(phone, "Join", body)
    phone.get_by_label("Nickname").fill(unique("crowd"))
    phone.get_by_role("button", name="Join").click()
    expect(phone.get_by_role("alert")).to_have_text(
        re.compile(
            r"^Too many people joined from this network just now\. "
            r"Please try again in (29|30) s\.$"
        )
    )
    button = phone.locator("form.join button[type=submit]")
    expect(button).to_have_text(re.compile(r"^Wait (29|30) s$"))
    expect(button).to_be_disabled()
    screenshot(phone, "play-join-rate-limited")


REVEAL_BOARD = "/board?top=20"  # every entry this module makes is on it


def test_board_shows_the_top_prompts_only_after_the_reveal(
    open_page: PageOpener, site: str
) -> None:
    nickname = unique("reveal")
    # Markup in a prompt is text, and a long one stops after two lines.
    prompt = (
        f"<b>bold</b> duck {nickname} " + "wearing a tiny golden crown and a velvet cape " * 5
    ).strip()
    seed_drawing(site, nickname, prompt)
    board = open_page(REVEAL_BOARD, viewport=BIG_SCREEN)
    expect_live(board)
    entry = board.locator(".entry", has_text=nickname)
    expect(entry).to_be_visible()
    # Before the reveal the prompt is nowhere in the board (nor in what it was sent).
    expect(board.locator(".entry__prompt")).to_have_count(0)
    assert "velvet cape" not in board.content()

    token = organiser_token(site)
    try:
        assert graphql(site, REVEAL, {"top": 20}, token)["revealPrompts"]["promptsRevealed"]
        # The subscription pushes the reveal: no reload.
        shown = entry.locator(".entry__prompt")
        shown.wait_for(timeout=15_000)
        expect(shown).to_have_text(f"“{prompt}”")
        assert board.locator(".entry__prompt b").count() == 0
        lines = shown.evaluate(
            """(el) => ({ height: el.clientHeight, full: el.scrollHeight,
                         line: parseFloat(getComputedStyle(el).lineHeight) })"""
        )
        assert lines["full"] > lines["height"], lines  # clamped ...
        assert lines["height"] <= 2 * lines["line"] + 1, lines  # ... to two lines
        screenshot(board, "board-prompts-revealed")
    finally:
        graphql(site, REVEAL, {"top": 0}, token)
    # Taken back: gone from the board again, live.
    expect(board.locator(".entry__prompt")).to_have_count(0)


def test_user_content_is_shown_as_text_everywhere(open_page: PageOpener) -> None:
    nickname = "<svg onload=alert(1)>"  # the nickname limit is 24 characters
    prompt = "<img src=x onerror=alert(1)> duck"
    phone = open_page("/play")
    join(phone, nickname)
    expect(phone.locator(".me-card__name")).to_have_text(nickname)
    draw(phone, prompt)
    expect(phone.locator(".history__prompt").first).to_have_text(prompt)
    expect(phone.locator(".result__prompt")).to_have_text(f"“{prompt}”")

    board = open_page("/board", viewport=BIG_SCREEN)
    expect(board.locator(".latest__name", has_text=nickname).first).to_have_text(nickname)
    admin = open_page("/admin", viewport=LAPTOP)
    log_in_organiser(admin)
    card = admin.locator(".mod-card", has_text=prompt).first
    expect(card.locator(".mod-card__name")).to_have_text(nickname)
    expect(card.locator(".mod-card__prompt")).to_have_text(prompt)

    for page in (phone, board, admin):
        assert page.locator("img[src='x'], svg[onload]").count() == 0, page.url


def test_board_reconnects_and_says_when_it_is_behind(open_page: PageOpener) -> None:
    board = open_page("/board", viewport=BIG_SCREEN, goto=False)
    state = {"refuse": False}
    sockets: list[WebSocketRoute] = []

    def proxy(socket: WebSocketRoute) -> None:
        if state["refuse"]:
            socket.close(code=1012, reason="test: server restarting")
            return
        socket.connect_to_server()
        sockets.append(socket)

    board.route_web_socket(re.compile(r"/graphql/screen$"), proxy)  # the board's endpoint
    board.goto("/board")
    expect_live(board)

    state["refuse"] = True
    for socket in sockets:
        socket.close(code=1012, reason="test: server restarting")
    expect(board.locator(".conn")).to_have_attribute("data-status", "reconnecting")
    expect(board.locator(".conn")).to_contain_text("Reconnecting")
    stale = board.get_by_role("alert")
    expect(stale).to_contain_text("Connection lost. This is the board as of", timeout=15_000)
    expect(board.locator(".board-app")).to_have_attribute("data-stale", "true")
    screenshot(board, "board-stale")

    # Something happens while the board is cut off ...
    phone = open_page("/play")
    nickname = unique("offline")
    join(phone, nickname)
    score = draw(phone, "a swan wearing sunglasses")

    # ... and after it reconnects by itself it shows it, without a reload.
    state["refuse"] = False
    expect_live(board)
    expect(board.locator(".board-app")).to_have_attribute("data-stale", "false")
    entry = board.locator(".latest__item", has_text=nickname).first
    expect(entry).to_be_visible()
    expect(entry.locator(".latest__score")).to_have_text(score)


def test_phone_gets_its_score_when_websockets_are_blocked(open_page: PageOpener) -> None:
    """Some venue networks break WebSockets: the phone falls back to polling over HTTP."""
    phone = open_page("/play", goto=False)
    phone.route_web_socket(
        re.compile(r"/graphql$"), lambda socket: socket.close(code=1012, reason="test: blocked")
    )
    phone.goto("/play")
    join(phone, unique("nows"))
    phone.get_by_label("Your prompt").fill("a duck riding a bicycle")
    phone.get_by_role("button", name="Draw it!").click()
    expect(phone.get_by_test_id("score")).to_have_text(SCORE, timeout=DRAWN_MS)
    expect(phone.get_by_test_id("best-score")).to_have_text(SCORE)


def test_altcha_captcha_is_solved_in_the_page(open_page: PageOpener, altcha_site: str) -> None:
    phone = open_page("/play", base_url=altcha_site)
    join(phone, unique("human"))
    expect(phone.locator("altcha-widget")).to_be_attached()
    # Typing focuses the form, which starts the proof of work in the background.
    phone.get_by_label("Your prompt").fill("a duck solving a puzzle")
    screenshot(phone, "play-captcha")
    phone.get_by_role("button", name=re.compile(r"Draw it!|Checking you're human")).click()
    expect(phone.get_by_test_id("score")).to_have_text(SCORE, timeout=DRAWN_MS)


def test_join_needs_the_captcha_where_the_organisers_ask(
    open_page: PageOpener, altcha_site: str
) -> None:
    # A phone that loaded before the organisers turned the join captcha on.
    early = open_page("/play", base_url=altcha_site)
    expect(early.get_by_role("button", name="Join")).to_be_visible()
    expect(early.locator("form.join altcha-widget")).to_have_count(0)

    token = organiser_token(altcha_site)
    event_id = graphql(altcha_site, "{ event { id } }")["event"]["id"]
    assert graphql(altcha_site, JOIN_CAPTCHA, {"id": event_id, "on": True}, token)
    try:
        # The server refuses a join without a solved captcha ...
        answer = httpx.post(
            f"{altcha_site}/graphql",
            json={"query": 'mutation { join(nickname: "no-check") { token } }'},
            timeout=30,
        ).json()
        assert answer["errors"][0]["extensions"]["code"] == "CAPTCHA_REQUIRED", answer

        # ... so the early phone is told, and shows the captcha; then its join goes through.
        early.get_by_label("Nickname").fill(unique("late"))
        early.get_by_role("button", name="Join").click()
        expect(early.get_by_role("alert")).to_have_attribute("data-code", "CAPTCHA_REQUIRED")
        expect(early.locator("form.join altcha-widget")).to_be_attached()
        early.get_by_role("button", name="Join").click()
        expect(early.get_by_label("Your prompt")).to_be_visible()

        # A phone that loads now shows it on the join form at once.
        phone = open_page("/play", base_url=altcha_site)
        expect(phone.locator("form.join altcha-widget")).to_be_attached()
        nickname = unique("human")
        phone.get_by_label("Nickname").fill(nickname)
        screenshot(phone, "play-join-captcha")
        phone.get_by_role("button", name="Join").click()
        expect(phone.locator(".me-card__name")).to_have_text(nickname)
    finally:
        graphql(altcha_site, JOIN_CAPTCHA, {"id": event_id, "on": False}, token)


def test_pages_are_served_from_dist() -> None:
    """The build writes the pages with their assets under web/dist."""
    build_pages()
    dist = Path(__file__).resolve().parent.parent / "web" / "dist"
    for page in ("play", "board", "admin", "results"):
        html = (dist / f"{page}.html").read_text()
        assert re.search(r'src="/assets/[^"]+\.js"', html), page
        assert "http://" not in html and "https://" not in html, f"{page}.html loads from a CDN"
