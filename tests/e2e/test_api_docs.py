"""The API documentation page (/docs) in a real browser: Swagger UI from our own files, under the same
Content-Security-Policy as every page, listing every operation, nothing loaded from elsewhere."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.browser import Watch, screenshot

pytestmark = pytest.mark.e2e


def test_the_docs_page_lists_every_operation_under_the_page_policy(browser, live_server):
    spec = httpx.get(live_server.base_url + "/openapi.json", timeout=10).json()
    operations = sum(len(item) for item in spec["paths"].values())
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watch = Watch({live_server.base_url})
    watch.attach(page)
    try:
        page.goto(live_server.base_url + "/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        assert page.locator(".opblock").count() == operations
        # Open the chat's operation: its error answers are listed with their meaning.
        page.locator(".opblock-summary", has_text="/api/chat").first.click()
        page.wait_for_selector(".responses-table")
        codes = page.locator(".opblock.is-open .response-col_status").all_inner_texts()
        assert {"200", "413", "415", "422", "429"} <= {c.strip() for c in codes}
        screenshot(page, "api-docs")
        assert watch.problems(page) == {}
    finally:
        context.close()
