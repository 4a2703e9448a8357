"""``lookalike up --lan``: phones on the local network get the machine's LAN address."""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import segno

from server.ops.lan import ALL_INTERFACES, NoLanAddress, lan_address, on_lan
from server.settings import Settings
from tests.pages_support import (
    BIG_SCREEN,
    CHROMIUM,
    PageOpener,
    build_pages,
    expect,
    running_site,
)

# A loopback alias: reachable here only if the server listens on every interface.
LAN = "127.0.0.2"


def test_the_lan_address_is_found_without_sending_anything() -> None:
    try:
        address = ipaddress.ip_address(lan_address())
    except NoLanAddress:
        pytest.skip("this machine has no route to a local network")
    assert address.version == 4 and not address.is_loopback
    assert lan_address("10.1.2.3") == "10.1.2.3"  # the override wins


def test_lan_settings_listen_everywhere_and_public_url_still_wins() -> None:
    settings = Settings.from_env({}, port=8123, lan_address="192.168.7.20")
    lan = on_lan(settings)
    assert (lan.host, lan.public_url) == (ALL_INTERFACES, "http://192.168.7.20:8123")
    assert on_lan(settings, host_given=True).host == settings.host
    configured = Settings.from_env({}, public_url="https://booth.example.org", lan_address="x")
    assert on_lan(configured).public_url == "https://booth.example.org"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    build_pages()
    data_dir: Path = tmp_path_factory.mktemp("lan-site")
    with running_site(data_dir, lan=True, lan_address=LAN) as url:
        yield url
    assert f"phones join at http://{LAN}:" in (data_dir / "lookalike.log").read_text()


@pytest.mark.browser
@pytest.mark.timeout(420)
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no chromium at {CHROMIUM}")
def test_the_board_shows_and_encodes_the_lan_address(site: str, open_page: PageOpener) -> None:
    port = site.rsplit(":", 1)[1]
    play_url = f"http://{LAN}:{port}/play"
    board = open_page("/board", viewport=BIG_SCREEN)
    expect(board.locator(".qr-panel__url")).to_have_text(f"{LAN}:{port}/play")
    expect(board.get_by_role("img", name=play_url)).to_be_visible()

    expected = io.BytesIO()
    segno.make(play_url, error="m").save(
        expected, kind="svg", scale=10, border=2, dark="#111", light="#fff"
    )
    assert httpx.get(f"{site}/api/qr.svg").content == expected.getvalue()
    assert httpx.get(play_url).status_code == 200  # listening beyond 127.0.0.1
