"""Browser tests for event day and after: the bundled web font on every page, every page
checked by axe-core, the take-home results page and the phone's share card.

This machine has no CJK system fonts, so Korean on a screenshot proves the web font.
axe-core comes from web/node_modules (a dev dependency) and is evaluated in the page.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import PIL.Image
import PIL.ImageChops
import PIL.ImageStat
import pytest
from playwright.sync_api import Page, Response, expect

from tests.documents import REVEAL
from tests.pages_support import (
    ARTIFACTS,
    BIG_SCREEN,
    LAPTOP,
    WEB,
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

pytestmark = page_test_marks(timeout=420)

AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"
FONT = "Noto Sans KR Variable"
CARD_SIZE = (1200, 630)


@dataclass
class Contest:
    """Who drew what: ranked players (Korean names), and three who must never show."""

    ranked: dict[str, str]  # nickname -> prompt
    staff: str
    banned: str
    hidden: str
    prompts: list[str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    build_pages()
    with running_site(tmp_path_factory.mktemp("event-site")) as url:
        yield url


@pytest.fixture(scope="module")
def contest(site: str) -> Contest:
    """Five ranked players with Korean names, and a staff member, a banned player and a
    hidden drawing that no public page may show."""
    ranked = {unique(name): f"{unique('prompt')} {name}의 오리" for name in
              ("오리", "백조", "김민준", "이서연", "박지호")}  # fmt: skip
    for nickname, prompt in ranked.items():
        seed_drawing(site, nickname, prompt)
    token = organiser_token(site)
    staff, banned, hidden = unique("staff"), unique("banned"), unique("hidden")
    prompts = [*ranked.values()]
    for nickname, mutation, target in (
        (staff, "setStaff(id: $id, staff: true) { id }", "participantId"),
        (banned, "banParticipant(id: $id) { id }", "participantId"),
        (hidden, "hideSubmission(id: $id) { id }", "submissionId"),
    ):
        prompt = f"{unique('prompt')} by {nickname}"
        seeded = seed_drawing(site, nickname, prompt)
        graphql(site, f"mutation($id: ID!) {{ {mutation} }}", {"id": seeded[target]}, token)
        prompts.append(prompt)
    return Contest(ranked, staff, banned, hidden, prompts)


def axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page at rest: with reduced
    motion (the pages honour it), once every animation has run out; a contrast measured
    mid-fade is no contrast anyone reads."""
    page.emulate_media(reduced_motion="reduce")
    page.evaluate("Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)))")
    # Evaluated, not added as a <script>: the pages' CSP forbids inline scripts.
    page.evaluate(AXE.read_text() + "\n;true")
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, { resultTypes: ['violations'] })).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(f"{node['target']}: {node['failureSummary']}" for node in v["nodes"][:5])
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def uses_web_font(page: Page, text: str) -> bool:
    """The page's body is set in the bundled font, and its faces for ``text`` have loaded."""
    result: bool = page.evaluate(
        """async ([family, text]) => {
            // Text just rendered may not have asked for its slices yet: ask, and wait.
            const loaded = await document.fonts.load(`16px "${family}"`, text);
            const body = getComputedStyle(document.body).fontFamily;
            return body.startsWith(`"${family}"`) && loaded.length > 0
                && document.fonts.check(`16px "${family}"`, text);
        }""",
        [FONT, text],
    )
    return result


def test_korean_names_on_the_board_in_the_bundled_font(
    open_page: PageOpener, site: str, contest: Contest
) -> None:
    board = open_page("/board?top=20", viewport=BIG_SCREEN, goto=False)
    fonts: list[str] = []
    board.on("request", lambda r: fonts.append(r.url) if r.resource_type == "font" else None)
    board.goto("/board?top=20")
    expect_live(board)
    for nickname in contest.ranked:
        expect(board.locator(".entry", has_text=nickname)).to_be_visible()
    assert uses_web_font(board, "".join(contest.ranked))
    # From our own origin, and only the slices the page needs (unicode-range).
    assert fonts and all(url.startswith(f"{site}/assets/") for url in fonts), fonts
    slices = len(list((WEB / "dist" / "assets").glob("noto-sans-kr-*.woff2")))
    assert len(set(fonts)) < slices / 4, (len(set(fonts)), slices)
    screenshot(board, "board-korean")


@pytest.mark.parametrize("path", ["/play", "/admin", "/results"])
def test_every_page_uses_the_bundled_font(
    open_page: PageOpener, contest: Contest, path: str
) -> None:
    page = open_page(path, locale="ko-KR")
    expect(page.locator("#app > *").first).to_be_visible()
    assert uses_web_font(page, page.locator("body").inner_text()[:200])


def test_play_page_is_accessible_and_announces_progress(
    open_page: PageOpener, contest: Contest
) -> None:
    phone = open_page("/play")
    expect(phone.get_by_role("button", name="Join")).to_be_visible()
    assert axe_violations(phone) == []

    join(phone, unique("screenreader"))
    phone.get_by_role("button", name="Draw it!").click()  # nothing written: an error note
    expect(phone.get_by_role("alert")).to_have_text("Please write something first.")
    assert axe_violations(phone) == []
    announcer = phone.get_by_role("status").and_(phone.get_by_test_id("announcer"))
    score = draw(phone, f"{unique('prompt')} a duck read aloud")
    expect(announcer).to_contain_text(f"Drawn. Similarity {score}.")
    expect(announcer).to_contain_text(re.compile(r"You're now number \d+ of \d+\."))
    assert axe_violations(phone) == []


def test_board_admin_and_results_are_accessible(open_page: PageOpener, contest: Contest) -> None:
    board = open_page("/board?top=20", viewport=BIG_SCREEN)
    expect(board.locator(".entry").first).to_be_visible()
    assert axe_violations(board) == []

    admin = open_page("/admin", viewport=LAPTOP)
    expect(admin.get_by_label("Organiser password")).to_be_visible()
    assert axe_violations(admin) == []
    log_in_organiser(admin)
    expect(admin.get_by_role("heading", name="Live moderation feed")).to_be_visible()
    # At rest: every card's player flags loaded (until then its buttons are disabled).
    expect(admin.locator(".mod-card").first).to_be_visible()
    expect(admin.locator(".mod-card button:disabled")).to_have_count(0)
    assert axe_violations(admin) == []
    for tab in ("Players", "Events", "Raffle", "Exports"):
        admin.get_by_role("tab", name=tab).click()
        expect(admin.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
        assert axe_violations(admin) == [], tab

    results = open_page("/results")
    expect(results.get_by_test_id("place").first).to_be_visible()
    assert axe_violations(results) == []


def test_results_show_the_podium_and_keep_the_prompts_secret(
    open_page: PageOpener, contest: Contest
) -> None:
    page = open_page("/results", goto=False)
    answers: list[Response] = []
    page.on("response", lambda r: answers.append(r) if "/graphql" in r.url else None)
    page.goto("/results")
    places = page.get_by_test_id("place")
    expect(places.first).to_be_visible()
    podium = page.locator(".results-podium [data-testid=place]")
    expect(podium).to_have_count(3)
    expect(podium.first).to_have_attribute("data-rank", "1")
    for nickname in contest.ranked:
        expect(page.locator("[data-testid=place]", has_text=nickname)).to_be_visible()
    expect(page.get_by_test_id("prompts-hidden")).to_be_visible()
    expect(page.get_by_test_id("prompt")).to_have_count(0)
    screenshot(page, "results")

    # Not on the page, not in what the page was sent: no prompt before the reveal, and
    # never the staff member, the banned player or the hidden drawing.
    sent = page.content() + "".join(json.dumps(r.json()) for r in answers)
    assert answers
    for secret in (*contest.prompts, contest.staff, contest.banned, contest.hidden):
        assert secret not in sent, secret


def test_share_card_is_a_png_of_the_drawing_beside_the_target(
    open_page: PageOpener, site: str, contest: Contest
) -> None:
    phone = open_page("/play")
    join(phone, unique("카드"))
    prompt = f"{unique('prompt')} a duck on a card"
    draw(phone, prompt)
    drawing_url = phone.locator(".result__drawing img").get_attribute("src")
    assert drawing_url is not None
    with phone.expect_download() as download_info:
        phone.get_by_role("button", name="Save a share card").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".png")
    saved = ARTIFACTS / "share-card.png"
    download.save_as(saved)
    card = PIL.Image.open(saved)
    assert card.format == "PNG"
    assert card.size == CARD_SIZE
    screenshot(phone, "play-share")

    # The drawing is on the card where it belongs (left square, 380 px at 50, 110).
    drawing = PIL.Image.open(io.BytesIO(httpx.get(site + drawing_url).content)).convert("RGB")
    placed = card.convert("RGB").crop((50, 110, 430, 490)).resize(drawing.size)
    difference = PIL.ImageStat.Stat(PIL.ImageChops.difference(placed, drawing)).mean
    assert max(difference) < 12, difference


def test_results_show_the_prompts_once_revealed(
    open_page: PageOpener, site: str, contest: Contest
) -> None:
    """Last in the module: the reveal is public; it is taken back at the end."""
    token = organiser_token(site)
    assert graphql(site, REVEAL, {"top": 3}, token)["revealPrompts"]["promptsRevealed"]
    try:
        board = graphql(site, "{ leaderboard(first: 10) { submissions { id prompt } } }")
        revealed = [e["prompt"] for e in board["leaderboard"]["submissions"][:3]]
        assert all(revealed) and not any(
            e["prompt"] for e in board["leaderboard"]["submissions"][3:]
        )
        page = open_page("/results")
        podium = page.locator(".results-podium [data-testid=place]")
        expect(podium).to_have_count(3)
        for place, prompt in zip(podium.all(), revealed, strict=True):
            expect(place.get_by_test_id("prompt")).to_contain_text(prompt)
        expect(page.get_by_test_id("prompt")).to_have_count(3)  # only the top 3 revealed
        expect(page.get_by_test_id("prompts-hidden")).to_have_count(0)
        for nickname, prompt in contest.ranked.items():
            if prompt in revealed:
                expect(page.locator("[data-testid=place]", has_text=nickname)).to_contain_text(
                    prompt
                )
        screenshot(page, "results-revealed")
        content = page.content()
        for secret in (contest.staff, contest.banned, contest.hidden, *contest.prompts[5:]):
            assert secret not in content, secret
    finally:
        graphql(site, REVEAL, {"top": 0}, token)
