"""``lookalike doctor`` beside a running ``lookalike up``: go, and each planted fault a
named no-go."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from server.cli import main
from server.ops.doctor import expected_wait
from server.state.connection import free_port
from tests.pages_support import ORGANISER_PASSWORD, Site, running_site

SECRET = "doctor-test-secret-0123456789abcdef"
ROWS = {
    "settings", "secret key", "organiser password", "captcha", "redis", "persistence",
    "clock", "models", "throughput", "assumption", "wait at 100", "wait at 400",
    "wait at 1000", "disk", "public url", "pages", "restarts",
}  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("doctor-site")
    with running_site(data_dir, secret_key=SECRET, captcha_provider="altcha") as url:
        yield Site(url, data_dir)


@pytest.fixture
def doctor_env(site: Site, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment of an organiser who set everything up for the event."""
    for name, value in {
        "DATA_DIR": str(site.data_dir),
        "MODELS": "tiny",
        "DEVICE": "cpu",
        "SECRET_KEY": SECRET,
        "ORGANISER_PASSWORD": ORGANISER_PASSWORD,
        "CAPTCHA_PROVIDER": "altcha",
        "PUBLIC_URL": site.url,
        "MODE": "development",
    }.items():
        monkeypatch.setenv(f"LOOKALIKE_{name}", value)
    monkeypatch.delenv("LOOKALIKE_REDIS_URL", raising=False)
    return monkeypatch


def run_doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str]]:
    code = main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    statuses = {row["name"]: row["status"] for row in report["checks"]}
    assert report["go"] is (code == 0)
    return code, statuses


@pytest.mark.timeout(300)
def test_a_healthy_embedded_set_up_is_a_go(
    doctor_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, statuses = run_doctor(capsys)
    assert set(statuses) == ROWS
    assert code == 0, statuses
    assert {status for status in statuses.values()} == {"go", "info"}
    assert statuses["wait at 100"] == "info"

    assert main(["doctor"]) == 0  # the table, for people
    assert capsys.readouterr().out.splitlines()[-1] == "GO: ready for the event"


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("planted", "no_go"),
    [
        ("redis without persistence", {"persistence"}),
        ("production without a password", {"settings", "organiser password"}),
        ("an unreachable public url", {"public url"}),
        ("too little disk", {"disk"}),
    ],
)
def test_a_planted_fault_is_a_named_no_go(
    doctor_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    planted: str,
    no_go: set[str],
) -> None:
    env = doctor_env
    if planted == "redis without persistence":
        env.setenv("LOOKALIKE_REDIS_URL", redis_url)  # the tests' Redis keeps nothing
    elif planted == "production without a password":
        env.setenv("LOOKALIKE_MODE", "production")
        env.delenv("LOOKALIKE_ORGANISER_PASSWORD")
    elif planted == "an unreachable public url":
        env.setenv("LOOKALIKE_PUBLIC_URL", f"http://127.0.0.1:{free_port()}")
    else:
        env.setenv("LOOKALIKE_DOCTOR_EXPECTED_DRAWINGS", str(10**13))
    code, statuses = run_doctor(capsys)
    assert code == 1
    assert {name for name, status in statuses.items() if status == "no-go"} == no_go


def test_the_predicted_wait_grows_with_the_crowd_and_overflows() -> None:
    assert expected_wait(0.0, 0.5) == 0.5  # nobody queues: the drawing itself
    light, heavy = expected_wait(0.2, 0.5), expected_wait(1.8, 0.5)
    assert 0.5 < light < heavy
    assert heavy == pytest.approx(0.5 + 0.9 * 0.5 / (2 * 0.1))
    assert expected_wait(2.0, 0.5) == float("inf")  # arrivals outrun the worker
