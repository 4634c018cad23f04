"""The careers page end to end in Debian's Chromium (Playwright, no browser download): every mode, the same cents."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _careers import PROFILE

import _services
from mldeploy.examples.careers import MODES

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

CHROMIUM = "/usr/bin/chromium"
# Flags checked on this kind of machine (shared/INFRA-NOTES.md): root needs --no-sandbox; nothing phones home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
READY_TIMEOUT_MS = 600_000  # the first visit of a mode may start a server or score the whole form


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium (scripts/chromium.sh installs it), driven by Playwright."""
    import os

    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        _services.run_script(str(_services.REPO / "scripts" / "chromium.sh"), "install", timeout_s=900)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium) -> Iterator:
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    yield context.new_page()
    context.close()


def open_in(page, url: str, mode: str) -> None:
    page.goto(f"{url}/?mode={mode}")
    page.wait_for_selector('#mode-status[data-ready="true"]', timeout=READY_TIMEOUT_MS)


def fill(page, profile: dict) -> None:
    for name, value in profile.items():
        page.select_option(f"#f-{name}", value)


def submit_and_read(page, count: int = 1) -> dict:
    page.click("#submit")
    page.wait_for_selector(f'#answer[data-count="{count}"]', timeout=60_000)
    return page.eval_on_selector("#answer", "node => ({...node.dataset, text: node.textContent})")


def test_every_mode_gives_the_same_estimate_to_the_cent(careers_site, page, tmp_path):
    answers = {}
    for mode in MODES:
        open_in(page, careers_site, mode)
        fill(page, PROFILE)
        answers[mode] = submit_and_read(page)
        page.screenshot(path=str(tmp_path / f"careers-{mode}.png"), full_page=True)
    cents = {mode: f"{float(a['estimate']):.2f}" for mode, a in answers.items()}
    assert len(set(cents.values())) == 1, cents
    assert len({(a["low"], a["high"]) for a in answers.values()}) == 1
    for mode, answer in answers.items():
        assert answer["mode"] == mode and answer["modelVersion"] == "1"
        assert answer["text"].startswith("About $") and "most offers between $" in answer["text"]
    assert (tmp_path / "careers-browser.png").stat().st_size > 10_000


def test_browser_mode_sends_no_request_after_the_page_has_loaded(careers_site, page):
    open_in(page, careers_site, "browser")
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    fill(page, PROFILE)
    first = submit_and_read(page)
    fill(page, {**PROFILE, "city": "austin", "level": "junior"})
    second = submit_and_read(page, count=2)
    assert requests == []
    assert first["mode"] == second["mode"] == "browser" and first["estimate"] != second["estimate"]


@pytest.mark.parametrize("mode", ["browser", "embedded", "offline"])
def test_bad_input_shows_a_message_next_to_the_field(careers_site, page, mode):
    open_in(page, careers_site, mode)
    fill(page, PROFILE)
    # A select offers only good values; a tampered page (or an old one) can still send these.
    page.evaluate("""() => {
        const put = (name, value) => { const s = document.getElementById('f-' + name);
                                       s.add(new Option(value, value)); s.value = value; };
        put('city', 'atlantis'); put('years_experience', '-2'); put('certifications', 'ten');
        document.getElementById('f-level').value = '';
    }""")
    page.click("#submit")
    page.wait_for_selector("#e-city:not([hidden])", timeout=60_000)
    messages = {name: page.text_content(f"#e-{name}") for name in ("city", "years_experience", "certifications", "level")}
    assert messages["city"].endswith('got "atlantis"') and messages["city"].startswith("expected one of [atlanta")
    assert messages["years_experience"] == 'expected a whole number in [0, 3], got "-2"'
    assert messages["certifications"] == 'expected a whole number in [0, 1], got "ten"'
    assert messages["level"].endswith("got nothing")
    assert page.get_attribute("#f-city", "aria-invalid") == "true" and page.is_hidden("#e-education")
    assert page.is_hidden("#answer") and "Traceback" not in page.content()


def test_stream_mode_shows_a_notice_when_a_new_version_is_swapped_in(careers_registry, ort_dist, chromium, tmp_path):
    from mldeploy.registry import Registry
    from mldeploy.stream import publish

    topic = f"local://{tmp_path / 'topic' / 'models'}"
    with Registry(root=careers_registry) as registry:
        publish(registry.get("salary:production"), topic)
    server = _services.start_api_server("--registry", str(careers_registry), "example", "careers-site", "--mode", "stream",
                                        "--topic", topic, "--workdir", str(tmp_path / "site"), "--js-dir", str(ort_dist),
                                        "--max-years", "3", "--max-certifications", "1")
    context = chromium.new_context()
    try:
        _services.wait_ready(server, "/api/form")
        page = context.new_page()
        open_in(page, server.url, "stream")
        fill(page, PROFILE)
        assert submit_and_read(page)["modelVersion"] == "1"
        with Registry(root=careers_registry) as registry:
            bundle = registry.get("salary@1")
            newer = registry.register(bundle, parent=bundle.ref)
            publish(registry.get(newer), topic)
        page.wait_for_selector("#notice:not([hidden])", timeout=120_000)
        assert f"salary@{newer.version} is serving (was salary@1)" in page.text_content("#notice")
        assert submit_and_read(page, count=2)["modelVersion"] == str(newer.version)
    finally:
        context.close()
        _services.stop_process(server.process, timeout_s=60)
