"""The web app in a real browser: headless Debian chromium, driven by Playwright, against ``live_server``.

What only a browser shows: pages render and pass axe-core (no serious or critical violation, light and dark
colour scheme), the forms work end to end (search, edit, review by keys, upload), alt text with markup stays
text, and the keyboard reaches everything with a visible focus. Each page is also saved as light and dark
screenshots (build/screenshots, or $ALTTEXT_SCREENSHOTS) for a person to look at.

Everything is read back through ``Library`` on the same index file, never trusted from the page alone.
Without chromium these tests are skipped, under CI=true they fail (browser_kit.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from app_kit import HOSTILE_NAME, draw, photo_ref, serving
from browser_kit import axe_violations, describe, launch_browser, open_page, screenshot

from alttext.library import Library

SEARCH_LABEL = "Search alt text and file names"
XSS = '<script>window.pwned=1</script><img src=x onerror="window.pwned=1">'


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    yield from launch_browser()


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    """A fresh page whose relative addresses go to the live server; fails on uncaught script errors."""
    yield from open_page(browser, base_url=live_server)


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def reader(library: Library) -> Library:
    """A second Library on the app's index file: what was stored, not what the server's object caches."""
    return Library(library.settings.db, settings=library.settings)


def file_ids(library: Library) -> dict[str, int]:
    """File name -> id of every file of the test library."""
    return {card.name: card.file_id for card in library.browse(limit=100).items}


def refs(library: Library) -> dict[str, str]:
    """File name -> the photo's reference in the app's addresses."""
    return {name: photo_ref(library, file_id) for name, file_id in file_ids(library).items()}


def path_of(library: Library, name: str) -> str:
    path = library.path_of(file_ids(library)[name])
    assert path is not None
    return path


def assert_accessible(page: Any, what: str) -> None:
    """No serious or critical axe violation in the light and in the dark colour scheme."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        found = axe_violations(page)
        assert not found, f"{what} ({scheme}):\n{describe(found)}"
    page.emulate_media(color_scheme="light")


def assert_no_script_errors(page: Any) -> None:
    assert not page.js_errors, page.js_errors
    assert not page.dialogs, page.dialogs


# -- every page: loads, accessible, screenshots -------------------------------------------------------


PAGES = {
    "library": lambda ids: "/library",
    "search": lambda ids: "/library?q=circle",
    "photo": lambda ids: f"/photo/{ids['red-circle.jpg']}",
    "photo-failed": lambda ids: f"/photo/{ids['broken.jpg']}",
    "review": lambda ids: "/review",
    "caption": lambda ids: "/caption",
    "status": lambda ids: "/status",
    "not-found": lambda ids: "/photo/" + ids["red-circle.jpg"].split("-")[0] + "-999999",
}


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_is_accessible_and_is_photographed(page: Any, app_library: Library, name: str) -> None:
    response = page.goto(PAGES[name](refs(app_library)))
    assert response is not None
    assert response.status == (404 if name == "not-found" else 200), response.status
    assert response.headers.get("content-security-policy", "").startswith("default-src 'none'")
    expect(page).to_have_title(re.compile(r"· alttext$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    assert_accessible(page, name)
    screenshot(page, name)
    assert_no_script_errors(page)


def test_addresses_of_another_index_negative_ids_and_dot_dot_are_refused(page: Any, app_library: Library,
                                                                         tmp_path: Path) -> None:
    red = refs(app_library)["red-circle.jpg"]
    prefix, number = red.split("-")
    with Library(tmp_path / "another.sqlite3", settings=app_library.settings) as another:
        elsewhere = photo_ref(another, int(number))  # the red circle's number, in another library's address
    response = page.goto(f"/photo/{elsewhere}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("main")).to_contain_text("another alttext index")
    assert_accessible(page, "not-found, another index")
    for address in (f"/photo/{prefix}--{number}", f"/image/{prefix}--1", f"/thumb/{elsewhere}",
                    f"/photo/{prefix}-{number}%2F..%2F..%2Fetc%2Fpasswd", "/photo/../../etc/passwd"):
        response = page.goto(address)
        assert response is not None and response.status == 404, address
        assert "root:" not in page.content(), address
    assert_no_script_errors(page)


# -- search, open, edit, save ---------------------------------------------------------------------------


def test_search_open_edit_save_and_find_it_again(page: Any, app_library: Library) -> None:
    page.goto("/library")
    page.get_by_role("searchbox", name=SEARCH_LABEL).fill("circle")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Photos matching “circle”")
    page.get_by_role("link", name=re.compile(r"red-circle\.jpg")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("red-circle.jpg")

    new_text = "A red disc on white paper, drawn beside a lighthouse."
    editor = page.get_by_role("textbox", name="Alt text", exact=True)
    expect(editor).to_have_value(re.compile(r"red circle", re.IGNORECASE))
    editor.fill(new_text)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Alt text saved")
    expect(page.get_by_role("textbox", name="Alt text", exact=True)).to_have_value(new_text)

    with reader(app_library) as library:
        info = library.show(path_of(library, "red-circle.jpg"))
    assert info is not None
    assert (info["alt_text"], info["status"], info["source"]) == (new_text, "edited", "human")

    page.get_by_role("link", name="Library", exact=True).click()
    page.get_by_role("searchbox", name=SEARCH_LABEL).fill("lighthouse")
    page.get_by_role("searchbox", name=SEARCH_LABEL).press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Photos matching “lighthouse”")
    results = page.locator("ul.grid > li")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text(new_text)
    photo_id = refs(app_library)["red-circle.jpg"]
    expect(results.first.get_by_role("link")).to_have_attribute("href", f"/photo/{photo_id}")
    assert_no_script_errors(page)


# -- write the alt text into the photo ----------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool (the independent reader) is not installed")
def test_embed_from_the_photo_page_writes_what_exiftool_reads(page: Any, app_library: Library) -> None:
    photo_id = refs(app_library)["yellow-triangle.jpg"]
    page.goto(f"/photo/{photo_id}")
    text = "A yellow triangle, point up, on plain white."
    page.get_by_role("textbox", name="Alt text", exact=True).fill(text)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Alt text saved")
    page.get_by_role("button", name="Embed into the file").click()
    expect(page.get_by_role("status")).to_contain_text("Embed: written")

    path = path_of(app_library, "yellow-triangle.jpg")
    found = subprocess.run(["exiftool", "-j", "-XMP-iptcCore:AltTextAccessibility", path], capture_output=True,
                           text=True, check=True)
    assert json.loads(found.stdout)[0]["AltTextAccessibility"] == text
    with reader(app_library) as library:
        info = library.show(path)
    assert info is not None and info["embedded"] is not None
    assert_no_script_errors(page)


# -- review by keyboard alone ------------------------------------------------------------------------------


def test_review_by_keys_enter_alone_does_not_approve_a_does(page: Any, app_library: Library) -> None:
    first = app_library.browse(None, status="generated", limit=1).items[0]
    page.goto("/review")
    heading = page.get_by_role("heading", level=2).first
    expect(heading).to_have_text(first.name)
    assert page.evaluate("document.activeElement === document.body")  # the keys go to the page itself

    page.keyboard.press("Enter")
    page.wait_for_timeout(500)  # long enough for a form post and its redirect, had Enter sent one
    assert page.url.endswith("/review")
    with reader(app_library) as library:
        assert library.show(first.path)["status"] == "generated"  # type: ignore[index]

    with page.expect_navigation():
        page.keyboard.press("a")
    expect(page.get_by_role("status")).to_contain_text("approved")
    with reader(app_library) as library:
        assert library.show(first.path)["status"] == "approved"  # type: ignore[index]
    expect(page.get_by_role("heading", level=2).first).not_to_have_text(first.name)  # the next picture

    with page.expect_navigation():
        page.keyboard.press("u")  # undo brings the same picture back, unapproved
    expect(page.get_by_role("status")).to_contain_text("Undone")
    expect(page.get_by_role("heading", level=2).first).to_have_text(first.name)
    with reader(app_library) as library:
        assert library.show(first.path)["status"] == "generated"  # type: ignore[index]
    assert_no_script_errors(page)


# -- creative variants of an upload's caption, through a fake chat server -----------------------------------


def test_creative_variants_of_an_upload_come_from_the_chat_model(browser: Any, app_library: Library,
                                                                tmp_path: Path) -> None:
    from variants.fake_llm_server import TEST_API_KEY, FakeLLMServer, Reply

    picture = tmp_path / "for-variants.png"
    draw(picture, [("blue", "square")], "black")
    with FakeLLMServer() as chat:
        chat.script(Reply.ok("1. A bold blue block\n2. Square and proud on black\n3. Blue on the night shift"))
        settings = app_library.settings.replace(openai_base_url=chat.base_url, openai_api_key=TEST_API_KEY)
        with Library(settings.db, settings=settings) as library, serving(library) as url:
            for page in open_page(browser, base_url=url):
                page.goto("/caption")
                page.locator("input[type=file]").set_input_files(str(picture))
                page.get_by_role("button", name="Caption", exact=True).click()
                expect(page.get_by_text(re.compile(r"blue square", re.IGNORECASE)).first).to_be_visible()
                page.get_by_role("button", name="Creative variants").click()
                expect(page.get_by_role("heading", level=1)).to_have_text("Creative variants")
                for text in ("A bold blue block", "Square and proud on black", "Blue on the night shift"):
                    expect(page.get_by_text(text)).to_be_visible()
                assert TEST_API_KEY not in page.content()  # the key never reaches a page
                assert_no_script_errors(page)
        sent = chat.chat_requests
        assert len(sent) == 1 and "blue square" in json.dumps(sent[0].json).lower()  # the caption was asked about


# -- upload on /caption -----------------------------------------------------------------------------------------


def test_upload_a_picture_and_get_its_caption(page: Any, app_library: Library, tmp_path: Path) -> None:
    picture = tmp_path / "my-upload.png"
    draw(picture, [("red", "circle")], "white")
    page.goto("/caption")
    page.get_by_label(re.compile(r"^Pictures \(")).set_input_files(str(picture))
    expect(page.locator("[data-chosen]")).to_have_text("1 picture chosen")  # app.js saw the choice
    page.get_by_role("button", name="Caption", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Captions")
    result = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="my-upload.png"))
    expect(result.locator("p.alt")).to_have_text(re.compile(r"^A red circle on a white background\.?$"))
    assert_accessible(page, "caption results")
    screenshot(page, "caption-results")

    result.get_by_role("button", name="Add to the library").click()
    expect(page.get_by_role("status")).to_contain_text("Added to the library")
    expect(page.get_by_role("heading", level=1)).to_have_text("my-upload.png")
    added = re.sub(r"^.*Added to the library as (.*)\.$", r"\1", page.get_by_role("status").inner_text().strip())
    with reader(app_library) as library:
        info = library.show(added)
    assert info is not None and "red circle" in (info["alt_text"] or "").lower(), info
    assert_no_script_errors(page)


# -- markup in alt text stays text ---------------------------------------------------------------------------------


def test_markup_in_alt_text_and_file_names_renders_as_text(browser: Any, live_server: str,
                                                          app_library: Library) -> None:
    with reader(app_library) as library:
        library.edit(path_of(library, "red-circle.jpg"), XSS)
    photo_id = refs(app_library)["red-circle.jpg"]
    # Without the CSP, so that escaping alone must keep the script from running (the CSP is a second wall).
    for page in open_page(browser, base_url=live_server, bypass_csp=True):
        for address in (f"/photo/{photo_id}", "/library", "/review", f"/photo/{refs(app_library)[HOSTILE_NAME]}"):
            page.goto(address, wait_until="load")
            page.wait_for_timeout(200)  # an onerror handler would have run by now
            assert page.evaluate("typeof window.pwned") == "undefined", address
            assert page.locator('img[src="x"], script:not([src])').count() == 0, address
        page.goto(f"/photo/{photo_id}")
        expect(page.get_by_role("textbox", name="Alt text", exact=True)).to_have_value(XSS)
        expect(page.get_by_role("cell", name=XSS, exact=True)).to_be_visible()  # the history table
        page.goto("/library")
        expect(page.get_by_text(XSS, exact=True)).to_be_visible()
        expect(page.get_by_text(HOSTILE_NAME, exact=True)).to_be_visible()
        assert_no_script_errors(page)


# -- keyboard: skip link first, focus visible ------------------------------------------------------------------------


def outline_of_focused(page: Any) -> dict[str, str]:
    return page.evaluate("""() => {
        const style = getComputedStyle(document.activeElement);
        return {style: style.outlineStyle, width: style.outlineWidth, tag: document.activeElement.tagName};
    }""")


def test_tab_reaches_the_skip_link_first_with_a_visible_focus(page: Any) -> None:
    page.goto("/library")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # shown when focused, not left off-screen
    outline = outline_of_focused(page)
    assert outline["style"] != "none" and outline["width"] not in ("0px", ""), outline

    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")  # from the content's start: its first control, past the header's links
    expect(page.get_by_role("searchbox", name=SEARCH_LABEL)).to_be_focused()
    outline = outline_of_focused(page)
    assert outline["style"] != "none" and outline["width"] not in ("0px", ""), outline
    screenshot(page, "focus-search")
    assert_no_script_errors(page)
