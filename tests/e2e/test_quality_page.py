"""The editors' page, view #quality (api/static/quality.js), in a real browser (Debian's Chromium via Playwright).

One service of our own (Rasa off: the chat answers through the answerer directly, as in test_editor_page.py).
Visitors' questions the bot cannot answer are sent through the real chat API and kept as misses; an editor
opens Quality and sees the charts drawn (Chart.js under the page's real CSP) with the same figures in
tables, the questions grouped, turns a group into a draft with one button (the draft is in the store),
marks another group out of scope and undoes it; axe-core finds nothing serious in the view.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import start_server
from tests.e2e.browser import axe_violations, screenshot
from tests.e2e.test_editor_page import DESKTOP, EXPECTED_HTTP_ERRORS, api, chat, open_page, sign_in
from tests.e2e.test_staff_page import create_user

pytestmark = pytest.mark.e2e

# Questions the collection has no answer for (kept as misses: a fallback or a "did you mean").
DIET = ["what's the best diet for ms", "is there a special diet for multiple sclerosis"]
BREAD = ["what is a good recipe for banana bread", "how do I bake banana bread at home"]
# A "did you mean" whose group the page offers to add as alternates of the pair it leads to.
NHS = "can I have the zamboni operation on the national health service"
CHARTS = ("q-fig-days", "q-fig-rates", "q-fig-clusters")

# True when Chart.js drew on the canvas: the instance exists and some pixel is not transparent.
DRAWN = """id => {
  const canvas = document.querySelector('#' + id + ' canvas');
  if (!canvas || !window.Chart || !window.Chart.getChart(canvas) || !canvas.width || !canvas.height) return false;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) return true; }
  return false;
}"""
# The view loaded its lists again since `loaded` (its data-loaded counter) and is not loading now.
RELOADED = """loaded => {
  const view = document.getElementById('view-quality');
  return view.dataset.loaded !== loaded && !view.hasAttribute('aria-busy');
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(
        tmp_path_factory.mktemp("quality-page") / "data",
        wait_for_bot=False,
        FAQBOT_BOT__ENABLED="false",
        FAQBOT_WEB__SIGNIN_MAX_ATTEMPTS_PER_CLIENT="500",
    )
    try:
        create_user(s, "erin", "editor")
        yield s
    finally:
        s.stop()


@pytest.fixture
def context(browser, server):
    ctx = browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="Europe/London")
    yield ctx
    ctx.close()


def cluster_with(page: Any, question: str) -> Any:
    return page.locator("#q-clusters > li.qcluster").filter(has_text=question)


def test_an_editor_sees_the_misses_plotted_and_grouped_and_acts_on_them(context, server):
    for q in [*DIET, *BREAD, NHS]:
        assert chat(server, q)["replies"][0]["kind"] in ("fallback", "clarify"), q
    page, watch = open_page(context, server)
    sign_in(page, server, watch)
    page.click("#views-nav a[href='#quality']")
    page.wait_for_selector("#view-quality[data-loaded]:not([aria-busy])")
    assert page.locator("#q-from").input_value() and page.locator("#q-to").input_value()

    # The charts are drawn, each canvas an image with a description; the tables hold the service's figures.
    for fig in CHARTS:
        page.wait_for_function(DRAWN, arg=fig)
        canvas = page.locator(f"#{fig} canvas")
        assert canvas.get_attribute("role") == "img" and len(canvas.get_attribute("aria-label") or "") > 20
        assert page.locator(f"#{fig} table caption").count() == 1
    with api(server) as c:
        board = c.get("/api/quality/dashboard").json()
    totals = page.locator("#q-fig-days tbody tr").filter(has=page.locator("th", has_text="All days"))
    cells = [t.strip() for t in totals.locator("td").all_text_contents()]
    counts = board["totals"]["counts"]
    assert cells == [str(counts[k]) for k in ("answer", "clarify", "fallback", "none_of_these")] + [
        str(board["totals"]["questions"])
    ]
    assert board["totals"]["questions"] >= 5
    sizes = page.locator("#q-fig-clusters tbody td:nth-child(2)").all_text_contents()
    assert sum(int(s) for s in sizes) == board["misses"]["open"] == 5

    # The groups: each with its size, examples, trend and the buttons.
    diet = cluster_with(page, DIET[0])
    diet.wait_for()
    assert "questions in this group" in diet.text_content() and "Trend:" in diet.text_content()
    assert diet.get_by_role("button", name="Start a draft").count() == 1
    found = axe_violations(page, include="#view-quality")
    screenshot(page, "editor-quality")
    assert found == []

    # "Out of scope…" asks for the reason; the mark is listed with Undo, which opens the group again.
    bread = cluster_with(page, BREAD[0])
    bread.get_by_role("button", name="Out of scope…").click()
    bread.get_by_label("Why the chat does not answer this").fill("We can't help with baking.")
    bread.get_by_role("button", name="Mark out of scope").click()
    page.locator("#quality-status").filter(has_text="Marked out of scope").wait_for()
    mark = page.locator("#q-marks li").filter(has_text="baking")
    mark.wait_for()
    assert cluster_with(page, BREAD[0]).count() == 0
    mark.get_by_role("button", name="Undo the mark").click()
    page.locator("#quality-status").filter(has_text="Undone").wait_for()
    cluster_with(page, BREAD[0]).wait_for()
    assert page.locator("#q-marks li").count() == 0

    # "Start a draft", from the keyboard: the draft is in the store, the page links to it.
    draft_button = diet.get_by_role("button", name="Start a draft")
    draft_button.focus()
    page.keyboard.press("Enter")
    link = page.locator("#q-result-link")
    link.wait_for()
    pair_id = (link.get_attribute("href") or "").removeprefix("#edit/")
    with api(server) as c:
        pair = c.get(f"/api/qa/{pair_id}")
    assert pair.status_code == 200 and pair.json()["status"] == "draft"
    assert {pair.json()["question"], *pair.json()["alternates"]} >= set(DIET)
    assert cluster_with(page, DIET[0]).count() == 0 and cluster_with(page, DIET[1]).count() == 0

    # The link opens the draft in the editor.
    link.click()
    page.wait_for_function("() => document.getElementById('e-question').value !== ''")
    assert page.locator("#e-question").input_value() == pair.json()["question"]

    # "Add as alternates of …" with the pair's ETag: stale after someone else's edit (412, said plainly, the
    # list loaded again), then added on the second try.
    loaded = page.get_attribute("#view-quality", "data-loaded")
    page.click("#views-nav a[href='#quality']")
    page.wait_for_function(RELOADED, arg=loaded)
    nhs = cluster_with(page, NHS)
    nhs.wait_for()
    with api(server) as c:
        found = c.get("/api/quality/clusters").json()["clusters"]
        cluster = next(cl for cl in found if NHS in [e["question"] for e in cl["examples"]])
        target = next(s["pair_id"] for s in cluster["suggestions"] if s["action"] == "alternate")
        r = c.get(f"/api/qa/{target}")
        edited = {**r.json(), "tags": [*r.json()["tags"], "checked"]}
        assert c.put(f"/api/qa/{target}", json=edited, headers={"If-Match": r.headers["ETag"]}).status_code == 200
    add = re.compile("^Add as alternates of")
    loaded = page.get_attribute("#view-quality", "data-loaded")
    nhs.get_by_role("button", name=add).first.click()
    page.locator("#quality-error").filter(has_text="changed by someone else").wait_for()
    page.wait_for_function(RELOADED, arg=loaded)
    cluster_with(page, NHS).get_by_role("button", name=add).first.click()
    page.locator("#quality-status").filter(has_text="Added 1 question").wait_for()
    with api(server) as c:
        assert NHS in c.get(f"/api/qa/{target}").json()["alternates"]
    assert cluster_with(page, NHS).count() == 0
    assert watch.problems(page, ignore_console=EXPECTED_HTTP_ERRORS) == {}
