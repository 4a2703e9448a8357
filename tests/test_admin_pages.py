"""Browser tests of the organiser console (/admin) against a real `lookalike up`.

The console works on the real organiser API: login, the live moderation feed with Hide
and Ban (and the big screen beside it following without a reload), events with an
uploaded target, freezing the public board, the raffle, exports and claim codes.

These tests change what the public sees (freeze, current event), so they run against a
site of their own; each puts back what it changed. Data is made through the public API
where the phone page is not what is being tested. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import PIL.Image
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.documents import SET_CURRENT
from tests.pages_support import (
    BIG_SCREEN,
    LAPTOP,
    ORGANISER_PASSWORD,
    PageOpener,
    build_pages,
    draw,
    expect_live,
    graphql,
    join,
    log_in_organiser,
    organiser_token,
    page_test_marks,
    running_site,
    screenshot,
    seed_drawing,
    unique,
)

pytestmark = page_test_marks(timeout=300)

# The board shows the top 20, so every entry these tests make is on it.
BOARD = "/board?top=20"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    build_pages()
    # Every test logs in from 127.0.0.1: lift the per-address login limit.
    with running_site(tmp_path_factory.mktemp("admin-site"), organiser_login_burst="100") as url:
        yield url


@pytest.fixture
def admin(open_page: PageOpener) -> Page:
    """The console on a laptop, logged in, on the moderation screen."""
    page = open_page("/admin", viewport=LAPTOP)
    log_in_organiser(page)
    expect(page.get_by_role("heading", name="Live moderation feed")).to_be_visible()
    return page


def open_tab(admin: Page, name: str) -> None:
    admin.get_by_role("tab", name=name).click()
    expect(admin.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")


def confirm(admin: Page, button: str, *, reason: str | None = None) -> None:
    """Answer the console's confirmation dialog."""
    dialog = admin.get_by_role("dialog")
    expect(dialog).to_be_visible()
    if reason is not None:
        dialog.get_by_label("Reason (optional, for the audit log)").fill(reason)
    dialog.get_by_role("button", name=button, exact=True).click()
    expect(dialog).to_be_hidden()


def card(admin: Page, nickname: str) -> Locator:
    """The feed's card of ``nickname``'s drawing (not one that lists them as a copier)."""
    name = admin.locator(".mod-card__name", has_text=nickname)
    return admin.get_by_test_id("moderation-feed").locator(".mod-card", has=name)


def fetch_text(page: Page, href: str) -> dict[str, Any]:
    """GET `href` from inside the page (its cookies), as the browser would download it."""
    result: dict[str, Any] = page.evaluate(
        """async (href) => {
            const response = await fetch(href, { credentials: "same-origin" });
            return { status: response.status, type: response.headers.get("content-type"),
                     text: await response.text() };
        }""",
        href,
    )
    return result


def test_organiser_logs_in(open_page: PageOpener) -> None:
    admin = open_page("/admin", viewport=LAPTOP)
    admin.get_by_label("Your name").fill("Booth Ada")
    admin.get_by_label("Organiser password").fill("not the password")
    admin.get_by_role("button", name="Log in").click()
    expect(admin.get_by_role("alert")).to_have_text("Wrong password. Try again.")
    expect(admin.get_by_role("tab")).to_have_count(0)
    screenshot(admin, "admin-login")

    log_in_organiser(admin)
    expect(admin.get_by_role("tab", name="Moderation")).to_have_attribute("aria-selected", "true")
    expect(admin.locator(".admin-head__who")).to_have_text("Booth Ada")
    expect_live(admin)

    # The login cookie keeps the session over a reload (the token is never stored).
    admin.reload()
    expect(admin.get_by_role("button", name="Log out")).to_be_visible()
    assert admin.evaluate("Object.keys(localStorage).filter(k => /token/i.test(k))") == []

    admin.get_by_role("button", name="Log out").click()
    expect(admin.get_by_label("Organiser password")).to_be_visible()
    admin.reload()
    expect(admin.get_by_label("Organiser password")).to_be_visible()


def test_console_speaks_korean(open_page: PageOpener) -> None:
    admin = open_page("/admin", viewport=LAPTOP, locale="ko-KR")
    admin.get_by_label("운영자 비밀번호").fill(ORGANISER_PASSWORD)
    admin.get_by_role("button", name="로그인").click()
    expect(admin.get_by_role("heading", name="실시간 검수 목록")).to_be_visible()
    expect(admin.get_by_role("tab", name="추첨")).to_be_visible()
    expect(admin.get_by_test_id("public-board-state")).to_contain_text("공개 순위표: 실시간")
    screenshot(admin, "admin-ko")


def test_moderation_feed_hides_and_bans_and_the_board_follows(
    open_page: PageOpener, admin: Page, site: str
) -> None:
    board = open_page(BOARD, viewport=BIG_SCREEN)
    expect_live(board)
    board.evaluate("window.__notReloaded = true")
    expect_live(admin)

    rude, macro = unique("rude"), unique("macro")
    seed_drawing(site, rude, f"something rude {rude}")
    banned = seed_drawing(site, macro, f"a duck again and again {macro}")

    # Both arrive in the console's live feed with their prompts, and on the big screen.
    expect(card(admin, rude).locator(".mod-card__prompt")).to_have_text(f"something rude {rude}")
    expect(card(admin, macro)).to_be_visible()
    expect(board.locator(".entry", has_text=rude)).to_be_visible()
    expect(board.locator(".entry", has_text=macro)).to_be_visible()

    # Hide: the drawing leaves the big screen at once; the console marks it hidden.
    card(admin, rude).get_by_role("button", name="Hide").click()
    expect(card(admin, rude)).to_have_attribute("data-hidden", "true")
    expect(card(admin, rude).get_by_role("button", name="Unhide")).to_be_visible()
    expect(board.locator(".entry", has_text=rude)).to_have_count(0)
    expect(board.locator(".latest__item", has_text=rude)).to_have_count(0)

    # Ban asks first (with a reason for the audit log); the player leaves the board.
    card(admin, macro).get_by_role("button", name="Ban").click()
    expect(admin.get_by_role("dialog")).to_contain_text(f"Ban {macro}?")
    screenshot(admin, "admin-ban-confirm")
    confirm(admin, "Ban", reason="macro at the booth")
    expect(card(admin, macro).locator(".badge", has_text="Banned")).to_be_visible()
    expect(card(admin, macro).get_by_role("button", name="Unban")).to_be_visible()
    expect(board.locator(".entry", has_text=macro)).to_have_count(0)
    assert board.evaluate("window.__notReloaded") is True

    # The server agrees: the banned player cannot send another prompt.
    assert submit_refusal(site, banned["token"]) == "BANNED"
    screenshot(admin, "admin-moderation")


def submit_refusal(site: str, token: str) -> str | None:
    """The error code the server answers a new prompt from this player with."""
    body = httpx.post(
        f"{site}/graphql",
        json={"query": 'mutation { submitPrompt(prompt: "one more duck") { id } }'},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    errors = body.get("errors") or [{}]
    code: str | None = errors[0].get("extensions", {}).get("code")
    return code


def png(path: Path, colour: tuple[int, int, int]) -> Path:
    """A picture bigger than a GraphQL request may be (as a photo would be): ``colour``
    with a stripe of noise."""
    picture = PIL.Image.new("RGB", (320, 320), colour)
    picture.paste(PIL.Image.frombytes("RGB", (320, 160), os.urandom(320 * 160 * 3)))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_new_event_with_an_uploaded_target_becomes_current(
    open_page: PageOpener, admin: Page, site: str, tmp_path: Path
) -> None:
    before = graphql(site, "{ event { id title targetImageUrl } }")["event"]
    title = unique("Day two")
    open_tab(admin, "Events")
    form = admin.locator("form.new-event")
    form.get_by_label("Title").fill(title)
    form.get_by_label("Target picture").set_input_files(png(tmp_path / "target.png", (200, 30, 40)))
    expect(form.get_by_role("img", name="The new target picture")).to_be_visible()
    form.get_by_role("button", name="Create event").click()

    row = admin.locator(".event-row", has_text=title)
    expect(row).to_be_visible()
    expect(row.locator(".badge", has_text="On the big screen")).to_have_count(0)
    expect(row.locator(".event-row__target")).to_have_class(re.compile(r"picture--loaded"))
    screenshot(admin, "admin-events", full_page=True)
    try:
        row.get_by_role("button", name="Make current").click()
        confirm(admin, "Make it current")
        expect(row.locator(".badge", has_text="On the big screen")).to_be_visible()
        expect(admin.get_by_test_id("selected-event-title")).to_have_text(title)

        # The public API and the phone page follow: the new title and its own target.
        now = graphql(site, "{ event { id title targetImageUrl } }")["event"]
        assert now["title"] == title
        assert now["targetImageUrl"] != before["targetImageUrl"]
        phone = open_page("/play")
        expect(phone.locator(".topbar__title")).to_have_text(title)
    finally:
        graphql(
            site,
            SET_CURRENT,
            {"id": before["id"]},
            organiser_token(site),
        )


def test_copies_are_listed_and_the_top_prompts_revealed_from_the_console(
    open_page: PageOpener, admin: Page, site: str
) -> None:
    author, copier = unique("first"), unique("copier")
    prompt = f"a duck that everyone copies {author}"
    seed_drawing(site, author, prompt)
    seed_drawing(site, copier, prompt)  # someone else's prompt: shown at once, never ranked

    # The first drawing lists who copied it, counted.
    copies = card(admin, author).get_by_test_id("copies")
    expect(copies).to_have_text(f"1 copy copied by {copier}")
    expect(copies.locator(".badge")).to_have_text("1 copy")
    screenshot(admin, "admin-copies")

    board = open_page(BOARD, viewport=BIG_SCREEN)
    expect_live(board)
    expect(board.locator(".entry", has_text=author)).to_be_visible()
    expect(board.locator(".entry", has_text=copier)).to_have_count(0)
    expect(board.locator(".entry__prompt")).to_have_count(0)

    reveal = admin.get_by_test_id("reveal-prompts")
    expect(reveal.get_by_label("How many")).to_have_value("10")
    try:
        reveal.get_by_label("How many").fill("20")
        reveal.get_by_role("button", name="Reveal top prompts").click()
        expect(admin.get_by_role("dialog")).to_contain_text("Reveal the top 20 prompts?")
        confirm(admin, "Reveal")
        expect(reveal).to_have_attribute("data-revealed", "true")
        shown = board.locator(".entry", has_text=author).locator(".entry__prompt")
        expect(shown).to_have_text(f"“{prompt}”")
        screenshot(admin, "admin-prompts-revealed")

        reveal.get_by_role("button", name="Take back").click()
        expect(reveal).to_have_attribute("data-revealed", "false")
        expect(board.locator(".entry__prompt")).to_have_count(0)
    finally:
        graphql(site, "mutation { revealPrompts(top: 0) { id } }", token=organiser_token(site))


def test_join_captcha_is_switched_with_the_event_settings(admin: Page, site: str) -> None:
    current = "{ event { id title joinCaptcha } }"
    event = graphql(site, current)["event"]
    assert event["joinCaptcha"] is False
    open_tab(admin, "Events")
    row = admin.locator(f".event-row[data-event-id='{event['id']}']")
    try:
        row.get_by_role("button", name="Edit").click()
        row.get_by_label("Require captcha to join").check()
        row.get_by_role("button", name="Save").click()
        expect(row.locator(".badge", has_text="Captcha to join")).to_be_visible()
        assert graphql(site, current)["event"]["joinCaptcha"] is True
    finally:
        graphql(
            site,
            "mutation($id: ID!) { updateEvent(id: $id, joinCaptcha: false) { id } }",
            {"id": event["id"]},
            organiser_token(site),
        )


def test_held_drawings_wait_for_approval(admin: Page, site: str) -> None:
    """An event that holds drawings for review, moderated from the console while another
    event is on the big screen."""
    title = unique("Reviewed")
    event = graphql(
        site,
        "mutation($t: String!) { createEvent(title: $t, holdForReview: true) { id } }",
        {"t": title},
        organiser_token(site),
    )["createEvent"]
    nickname = unique("held")
    seed_drawing(site, nickname, f"a duck waiting politely {nickname}", event_id=event["id"])
    board = "query($e: ID) { leaderboard(eventId: $e, first: 20) { submissions { name } } }"
    assert graphql(site, board, {"e": event["id"]})["leaderboard"]["submissions"] == []

    admin.reload()  # the console re-reads the events every 15 s; do not wait for that
    admin.locator(".event-picker__select").select_option(label=title)
    expect(admin.get_by_test_id("selected-event-title")).to_have_text(title)
    review = admin.locator(".review")
    held = review.locator(".mod-card", has_text=nickname)
    expect(held.locator(".badge", has_text="Waiting for review")).to_be_visible()
    screenshot(admin, "admin-review")
    held.get_by_role("button", name="Approve").click()
    expect(held).to_have_count(0)
    expect(card(admin, nickname).locator(".badge", has_text="Approved")).to_be_visible()
    names = graphql(site, board, {"e": event["id"]})["leaderboard"]["submissions"]
    assert names == [{"name": nickname}]


def test_freezing_shows_final_standings_on_the_big_screen(
    open_page: PageOpener, admin: Page, site: str
) -> None:
    board = open_page(BOARD, viewport=BIG_SCREEN)
    expect_live(board)
    expect(board.get_by_test_id("frozen")).to_have_count(0)
    state = admin.get_by_test_id("public-board-state")
    try:
        state.get_by_role("button", name="Freeze board").click()
        expect(state).to_have_attribute("data-frozen", "true")
        expect(state).to_contain_text("Public board FROZEN")
        expect(board.get_by_test_id("frozen")).to_contain_text("Final standings — frozen")
        expect(board.locator(".board-app")).to_have_attribute("data-frozen", "true")
        screenshot(board, "board-frozen")
        screenshot(admin, "admin-frozen")

        # The reveal asks first.
        state.get_by_role("button", name="Unfreeze (reveal)").click()
        confirm(admin, "Reveal")
        expect(state).to_have_attribute("data-frozen", "false")
        expect(board.get_by_test_id("frozen")).to_have_count(0)
    finally:
        graphql(site, "mutation { unfreezeLeaderboard { id } }", token=organiser_token(site))


def test_raffle_shows_its_seed_before_the_draw(admin: Page, site: str) -> None:
    players = [unique("lucky"), unique("lucky")]
    for nickname in players:
        seed_drawing(site, nickname, f"a lucky duck {nickname}")
    seed = unique("called-out-by-the-audience")

    open_tab(admin, "Raffle")
    form = admin.locator("form.raffle-form")
    form.get_by_label("Winners").fill("1")
    form.get_by_label("Among the top").fill("")
    form.get_by_label("Seed").fill(seed)
    form.get_by_role("button", name="Prepare raffle").click()

    raffle = admin.locator(".raffle")
    expect(raffle).to_have_attribute("data-status", "PREPARED")
    expect(admin.get_by_test_id("raffle-seed")).to_have_text(seed)
    expect(admin.get_by_test_id("raffle-winners")).to_have_count(0)
    screenshot(admin, "admin-raffle-prepared")

    raffle.get_by_role("button", name="Draw now").click()
    expect(admin.get_by_role("dialog")).to_contain_text(seed)
    confirm(admin, "Draw")
    expect(raffle).to_have_attribute("data-status", "DRAWN")
    winners = admin.get_by_test_id("raffle-winners").locator(".winner__name")
    expect(winners).to_have_count(1)
    first = winners.first.inner_text()
    expect(admin.get_by_test_id("raffle-seed")).to_have_text(seed)
    screenshot(admin, "admin-raffle-drawn")

    # The winner is not there: strike them out, and the next in draw order wins.
    raffle.get_by_label("Absent").check()
    raffle.get_by_role("button", name="Redraw without the absent").click()
    confirm(admin, "Redraw")
    expect(raffle.locator(".raffle__struck")).to_contain_text(first)
    expect(winners).to_have_count(1)
    expect(winners.first).not_to_have_text(first)


def test_winners_csv_downloads_and_the_audit_log_shows_it(admin: Page, site: str) -> None:
    nickname = unique("csv")
    seed_drawing(site, nickname, f"a duck in a spreadsheet {nickname}")
    open_tab(admin, "Exports & audit log")
    link = admin.get_by_test_id("winners-csv")
    href = link.get_attribute("href")
    assert href is not None and re.fullmatch(r"/admin/export/[^/]+/winners\.csv\?top=10", href)

    download = fetch_text(admin, href)
    assert download["status"] == 200, download
    assert download["type"].startswith("text/csv")
    lines = download["text"].strip().splitlines()
    assert lines[0].startswith("rank,nickname,score,"), lines[0]
    assert len(lines) >= 2 and lines[1].startswith("1,"), lines

    admin.get_by_role("button", name="Refresh").click()
    expect(admin.locator(".audit__table")).to_contain_text("export.winners")
    screenshot(admin, "admin-exports", full_page=True)


def test_claim_code_on_the_phone_finds_the_player(
    open_page: PageOpener, admin: Page, site: str
) -> None:
    phone = open_page("/play")
    nickname = unique("winner")
    contact = f"{nickname}@example.org"
    phone.get_by_label("Nickname").fill(nickname)
    phone.get_by_label("Contact for prizes (optional)").fill(contact)
    consent = phone.get_by_label("Keep my contact so the organisers can reach me if I win.")
    expect(consent).not_to_be_checked()
    # A contact without the box ticked is not sent.
    phone.get_by_role("button", name="Join").click()
    expect(phone.get_by_role("alert")).to_have_attribute("data-reason", "consent_required")
    consent.check()
    screenshot(phone, "play-join-contact")
    join(phone, nickname)
    code = phone.get_by_test_id("claim-code").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{6}", code), code
    screenshot(phone, "play-claim-code")
    draw(phone, f"a duck holding a trophy {nickname}")

    open_tab(admin, "Players & claim codes")
    lookup = admin.locator(".claim")
    lookup.get_by_label("Claim code").fill("ZZZZZZ")
    lookup.get_by_role("button", name="Find").click()
    expect(admin.get_by_test_id("claim-none")).to_contain_text("ZZZZZZ")
    # Staff type it as they read it: lower case, with a space.
    lookup.get_by_label("Claim code").fill(f" {code[:3].lower()} {code[3:].lower()} ")
    lookup.get_by_role("button", name="Find").click()
    result = admin.get_by_test_id("claim-result")
    expect(result.get_by_test_id("player-name")).to_have_text(nickname)
    expect(result.locator(".player__code")).to_have_text(code)
    screenshot(admin, "admin-players")

    # The contact was kept with consent: the winners export has it.
    rows = fetch_text(admin, "/admin/export/current/winners.csv")["text"].splitlines()
    assert any(nickname in row and contact in row for row in rows), rows
