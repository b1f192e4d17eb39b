"""The browser app over HTTP (Starlette's TestClient, no browser): pages, forms, escaping, security.

The library is the fixture of tests/app/conftest.py: a few pictures captioned by the trained fixture
model, a file that fails, and file names that must render as text.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from app_kit import BASE_URL, BROKEN, HOSTILE_CAPTION, HOSTILE_NAME, NON_UTF8_NAME, PORT, photo_ref, png_bytes
from click.testing import CliRunner
from PIL import Image
from starlette.testclient import TestClient

from alttext.app import create_app
from alttext.app.security import bind_problem, is_loopback
from alttext.library import Library

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py, app_library)

Client = Any  # TestClient; its methods are untyped enough that Any reads better here
CsrfOf = Callable[[Any, str], str]
PAGES = ["/library", "/review", "/caption", "/status"]


def file_id(library: Library, name: str) -> int:
    page = library.browse(limit=100)
    return next(card.file_id for card in page.items if os.path.basename(card.path) == name)


def ref_of(library: Library, name: str) -> str:
    """The photo's reference in the app's addresses."""
    return photo_ref(library, file_id(library, name))


def path_of(library: Library, name: str) -> str:
    path = library.path_of(file_id(library, name))
    assert path is not None
    return path


# -- pages ----------------------------------------------------------------------------------------------


def test_every_page_answers(app_client: Client, app_library: Library) -> None:
    red = ref_of(app_library, "red-circle.jpg")
    for path in [*PAGES, f"/photo/{red}", f"/photo/{ref_of(app_library, BROKEN)}", "/status.json",
                 "/static/app.css", "/static/app.js", "/library?q=circle&mode=words", "/library?only=failed",
                 "/library?status=generated", "/library?only=missing-alt"]:
        response = app_client.get(path)
        assert response.status_code == 200, path
    home = app_client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/library"
    page = app_client.get("/library").text
    assert page.count("<h1") == 1 and '<main id="main"' in page and 'href="#main"' in page
    assert '<script src="/static/app.js" defer></script>' in page


def test_the_library_lists_photos_with_their_alt_text(app_client: Client, app_library: Library) -> None:
    page = app_client.get("/library").text
    red = ref_of(app_library, "red-circle.jpg")
    assert f'<img src="/thumb/{red}" alt="A red circle on a white background."' in page
    assert "failed" in page and BROKEN in page  # the failed file is listed, with a text badge
    assert f'href="/photo/{red}"' in page


def test_next_page_carries_the_cursor(app_client: Client, app_library: Library, monkeypatch: pytest.MonkeyPatch
                                      ) -> None:
    import alttext.app.server as server

    monkeypatch.setattr(server, "PAGE_SIZE", 2)
    first = app_client.get("/library").text
    match = re.search(r'href="(/library\?[^"]*after=[0-9a-f]+[^"]*)" rel="next"', first)
    assert match, "no next page link"
    second = app_client.get(match.group(1).replace("&amp;", "&")).text
    names = lambda page: set(re.findall(r'<span class="name">([^<]*)</span>', page))  # noqa: E731
    assert names(first) and names(second) and not names(first) & names(second)


def test_search_finds_the_red_circle(app_client: Client) -> None:
    page = app_client.get("/library", params={"q": "red circle", "mode": "words"}).text
    assert "red-circle.jpg" in page
    assert "blue-square.png" not in page
    assert app_client.get("/library", params={"q": "red circle", "mode": "nonsense"}).status_code == 200


def test_photo_page_shows_everything(app_client: Client, app_library: Library) -> None:
    red = ref_of(app_library, "red-circle.jpg")
    page = app_client.get(f"/photo/{red}").text
    assert f'<img src="/image/{red}" alt="A red circle on a white background."' in page
    assert 'aria-live="polite"' in page and '<label for="alt_text">' in page
    assert "History" in page and "Not embedded" in page
    broken = app_client.get(f"/photo/{ref_of(app_library, BROKEN)}").text
    assert "Why it failed" in broken and "Retry this file" in broken


def test_photo_page_shows_the_long_description_and_the_text_in_the_image(
    app_client: Client, app_library: Library
) -> None:
    from sqlalchemy import select

    from alttext.index.captions import add_caption
    from alttext.index.models import SOURCE_MODEL, files

    red = ref_of(app_library, "red-circle.jpg")
    assert "Text in the image" not in app_client.get(f"/photo/{red}").text
    with app_library.index.write() as connection:
        image_id = connection.execute(select(files.c.image_id).where(
            files.c.id == file_id(app_library, "red-circle.jpg"))).scalar_one()
        add_caption(connection, image_id, text="A red circle.", raw_text="a red circle", source=SOURCE_MODEL,
                    description="A red disc centred on white, like a <b>flag</b>.", image_text="STOP <script>")
    page = app_client.get(f"/photo/{red}").text
    assert "<h2>Long description</h2>" in page and "like a &lt;b&gt;flag&lt;/b&gt;." in page
    assert "<h2>Text in the image</h2>" in page and "<p>STOP &lt;script&gt;</p>" in page


# -- changing alt text through the forms -------------------------------------------------------------


def test_edit_through_the_form_changes_the_index_and_search(app_client: Client, app_library: Library,
                                                            csrf_of: CsrfOf) -> None:
    red = ref_of(app_library, "red-circle.jpg")
    token = csrf_of(app_client, f"/photo/{red}")
    text = "A crimson disc floating on snow."
    response = app_client.post(f"/photo/{red}/edit", data={"csrf": token, "alt_text": text}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/photo/{red}"
    after = app_client.get(f"/photo/{red}").text
    assert "Alt text saved" in after and text in after
    assert "Alt text saved" not in app_client.get(f"/photo/{red}").text  # a flash shows once
    info = app_library.show(path_of(app_library, "red-circle.jpg"))
    assert info is not None and info["alt_text"] == text and info["status"] == "edited"
    assert "red-circle.jpg" in app_client.get("/library", params={"q": "crimson", "mode": "words"}).text


def test_approve_then_undo(app_client: Client, app_library: Library, csrf_of: CsrfOf) -> None:
    blue = ref_of(app_library, "blue-square.png")
    path = path_of(app_library, "blue-square.png")
    token = csrf_of(app_client, f"/photo/{blue}")
    assert "approved" in app_client.post(f"/photo/{blue}/approve", data={"csrf": token}).text
    assert app_library.show(path)["status"] == "approved"  # type: ignore[index]
    page = app_client.post(f"/photo/{blue}/undo", data={"csrf": token}).text
    assert "Undone" in page
    assert app_library.show(path)["status"] == "generated"  # type: ignore[index]
    assert "Nothing to undo" in app_client.post(f"/photo/{blue}/undo", data={"csrf": token}).text


def test_retry_a_failed_file(app_client: Client, app_library: Library, csrf_of: CsrfOf) -> None:
    broken = ref_of(app_library, BROKEN)
    token = csrf_of(app_client, f"/photo/{broken}")
    assert "Queued again" in app_client.post(f"/photo/{broken}/retry", data={"csrf": token}).text
    red = ref_of(app_library, "red-circle.jpg")
    assert "nothing to retry" in app_client.post(f"/photo/{red}/retry", data={"csrf": token}).text


def test_embed_says_what_happened(app_client: Client, app_library: Library, csrf_of: CsrfOf) -> None:
    red = ref_of(app_library, "red-circle.jpg")
    token = csrf_of(app_client, f"/photo/{red}")
    response = app_client.post(f"/photo/{red}/embed", data={"csrf": token})
    assert response.status_code == 200
    assert re.search(r"Embed: written into|Embedding failed|Cannot embed", response.text), "no embed outcome shown"


def test_an_empty_edit_is_refused_with_a_message(app_client: Client, app_library: Library, csrf_of: CsrfOf) -> None:
    red = ref_of(app_library, "red-circle.jpg")
    token = csrf_of(app_client, f"/photo/{red}")
    page = app_client.post(f"/photo/{red}/edit", data={"csrf": token, "alt_text": "  "}).text
    assert "Not saved" in page
    assert app_library.show(path_of(app_library, "red-circle.jpg"))["status"] == "generated"  # type: ignore[index]


def test_review_accept_skip_and_undo(app_client: Client, app_library: Library, csrf_of: CsrfOf) -> None:
    page = app_client.get("/review").text
    first = re.search(r'name="photo" value="([0-9a-f]{8}-\d+)"', page).group(1)  # type: ignore[union-attr]
    assert 'data-key="a"' in page and 'data-key="s"' in page and "Enter" in page
    token = csrf_of(app_client, "/review")
    response = app_client.post("/review/accept", data={"csrf": token, "photo": first}, follow_redirects=False)
    assert response.status_code == 303 and f"last={first}" in response.headers["location"]
    path = app_library.path_of(int(first.split("-")[1]))
    assert path is not None and app_library.show(path)["status"] == "approved"  # type: ignore[index]
    next_page = app_client.get(response.headers["location"]).text
    second = re.search(r'name="photo" value="([0-9a-f]{8}-\d+)"', next_page).group(1)  # type: ignore[union-attr]
    assert second != first and "approved" in next_page
    skip = re.search(r'href="(/review\?[^"]*)" data-key="s"', next_page).group(1)  # type: ignore[union-attr]
    after_skip = app_client.get(skip.replace("&amp;", "&")).text
    assert f'name="photo" value="{second}"' not in after_skip
    undo = app_client.post("/review/undo", data={"csrf": token, "photo": first})
    assert "Undone" in undo.text and f'name="photo" value="{first}"' in undo.text
    assert app_library.show(path)["status"] == "generated"  # type: ignore[index]


def test_review_over_a_search_walks_only_its_matches(app_client: Client, app_library: Library, csrf_of: CsrfOf
                                                     ) -> None:
    circles = {ref_of(app_library, "red-circle.jpg"), ref_of(app_library, HOSTILE_NAME)}  # the two circles
    token = csrf_of(app_client, "/review")
    seen = []
    location = "/review?q=circle"
    for _ in range(len(circles)):
        page = app_client.get(location).text
        shown = re.search(r'name="photo" value="([0-9a-f]{8}-\d+)"', page).group(1)  # type: ignore[union-attr]
        assert shown in circles and shown not in seen
        seen.append(shown)
        assert 'name="q" value="circle"' in page  # the forms keep the queue's search
        response = app_client.post("/review/accept", data={"csrf": token, "photo": shown, "q": "circle"},
                                   follow_redirects=False)
        location = response.headers["location"]
        assert "q=circle" in location
    done = app_client.get(location).text
    assert "Nothing left to review" in done and "circle" in done
    assert app_library.show(path_of(app_library, "blue-square.png"))["status"] == "generated"  # type: ignore[index]
    skipped = app_client.get("/review?q=square").text  # skip moves through the results by position
    first = re.search(r'name="photo" value="([0-9a-f]{8}-\d+)"', skipped).group(1)  # type: ignore[union-attr]
    skip = re.search(r'href="(/review\?[^"]*)" data-key="s"', skipped).group(1)  # type: ignore[union-attr]
    assert first not in app_client.get(skip.replace("&amp;", "&")).text.split('data-key="s"')[0]


def test_review_edit(app_client: Client, app_library: Library, csrf_of: CsrfOf) -> None:
    token = csrf_of(app_client, "/review")
    blue = ref_of(app_library, "blue-square.png")
    app_client.post("/review/edit", data={"csrf": token, "photo": blue, "alt_text": "A navy tile."})
    assert app_library.show(path_of(app_library, "blue-square.png"))["alt_text"] == "A navy tile."  # type: ignore[index]


# -- security ------------------------------------------------------------------------------------------


def test_post_without_csrf_is_refused(app_client: Client, app_library: Library, csrf_of: CsrfOf) -> None:
    red = ref_of(app_library, "red-circle.jpg")
    path = path_of(app_library, "red-circle.jpg")
    app_client.get(f"/photo/{red}")  # the browser has its cookie, but the form has no token
    assert app_client.post(f"/photo/{red}/edit", data={"alt_text": "pwned"}).status_code == 403
    assert app_client.post(f"/photo/{red}/edit", data={"alt_text": "pwned", "csrf": "forged"}).status_code == 403
    assert app_client.post(f"/photo/{red}/approve").status_code == 403
    assert app_client.post("/review/accept", data={"photo": red}).status_code == 403
    # a token from another browser (another cookie) is no good either
    token = csrf_of(app_client, f"/photo/{red}")
    with TestClient(app_client.app, base_url=BASE_URL) as other:
        assert other.post(f"/photo/{red}/edit", data={"alt_text": "pwned", "csrf": token}).status_code == 403
    info = app_library.show(path)
    assert info is not None and info["alt_text"] != "pwned" and info["status"] == "generated"


def test_hostile_caption_and_file_name_render_as_text(app_client: Client, app_library: Library) -> None:
    app_library.edit(path_of(app_library, "red-circle.jpg"), HOSTILE_CAPTION)
    red = ref_of(app_library, "red-circle.jpg")
    hostile = ref_of(app_library, HOSTILE_NAME)
    for path in ("/library", f"/photo/{red}", f"/photo/{hostile}", "/library?q=alert&mode=words", "/review",
                 f"/review?photo={hostile}"):
        page = app_client.get(path).text
        assert "<script>alert" not in page, path
        assert "<img src=x" not in page, path
        assert '"><img' not in page, path
    library_page = app_client.get("/library").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in library_page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;.png" in library_page


def test_a_file_name_that_is_not_utf8_renders(app_client: Client, app_library: Library) -> None:
    page = app_client.get("/library")
    assert page.status_code == 200 and "caf\ufffd-square.png" in page.text
    assert app_client.get(f"/photo/{ref_of(app_library, NON_UTF8_NAME)}").status_code == 200


@pytest.mark.parametrize("path", ["/thumb/999999", "/thumb/-1", "/thumb/..%2F..%2Fetc%2Fpasswd", "/photo/abc",
                                  "/photo/0", "/image/999999", "/thumb/99999999999999999999999999", "/photo/1.5",
                                  "/image/..%2F..%2Fetc%2Fpasswd", "/nowhere"])
def test_unknown_or_bad_ids_are_404(app_client: Client, path: str) -> None:
    response = app_client.get(path)
    assert response.status_code == 404
    assert "root:" not in response.text


def test_ids_of_another_index_negative_ids_and_dot_dot_are_refused(app_client: Client, app_library: Library,
                                                                  csrf_of: CsrfOf, tmp_path: Path) -> None:
    red_id = file_id(app_library, "red-circle.jpg")
    red = photo_ref(app_library, red_id)
    with Library(tmp_path / "another.sqlite3", settings=app_library.settings) as another:
        assert another.uid != app_library.uid
        elsewhere = photo_ref(another, red_id)  # the same number, in another library's address
    for path in (f"/photo/{elsewhere}", f"/thumb/{elsewhere}", f"/image/{elsewhere}"):
        response = app_client.get(path)
        assert response.status_code == 404, path
        assert "another alttext index" in response.text, path
    token = csrf_of(app_client, f"/photo/{red}")
    before = app_library.show(path_of(app_library, "red-circle.jpg"))
    assert app_client.post(f"/photo/{elsewhere}/edit", data={"csrf": token, "alt_text": "pwned"}).status_code == 404
    assert app_client.post("/review/accept", data={"csrf": token, "photo": elsewhere}).status_code == 404
    assert app_library.show(path_of(app_library, "red-circle.jpg")) == before
    prefix = red.split("-")[0]
    for path in (f"/photo/{prefix}--{red_id}", f"/photo/{prefix}-0", f"/thumb/{prefix}--1", f"/image/-{red_id}",
                 f"/photo/{prefix}-{red_id}%2F..%2F..%2Fetc%2Fpasswd", f"/thumb/{prefix}-..%2F..%2Fetc%2Fpasswd",
                 f"/photo/{prefix}-{red_id}/../../../etc/passwd", f"/photo/{prefix}-{2**63}", f"/photo/{red}x"):
        response = app_client.get(path)
        assert response.status_code == 404, path
        assert "root:" not in response.text
    assert app_client.post(f"/photo/{prefix}--{red_id}/edit", data={"csrf": token, "alt_text": "x"}).status_code == 404
    assert app_client.post("/review/accept", data={"csrf": token, "photo": "../../etc"}).status_code == 404
    assert app_client.get(f"/photo/{red}").status_code == 200  # the real address still works


def test_a_failed_file_has_no_thumbnail(app_client: Client, app_library: Library) -> None:
    assert app_client.get(f"/thumb/{ref_of(app_library, BROKEN)}").status_code == 404


def test_thumbnails_and_large_images(app_client: Client, app_library: Library) -> None:
    red = ref_of(app_library, "red-circle.jpg")
    for path, biggest in ((f"/thumb/{red}", 320), (f"/thumb/{red}?size=10", 64), (f"/thumb/{red}?size=99999", 640),
                          (f"/thumb/{red}?size=x", 320), (f"/image/{red}", 1600)):
        response = app_client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "image/jpeg"
        assert response.headers["cache-control"] == "private, max-age=3600"
        with Image.open(io.BytesIO(response.content)) as image:
            assert max(image.size) <= biggest, path  # the fixture is 160 x 128: never scaled up


def test_security_headers_on_every_response(app_client: Client, app_library: Library) -> None:
    red = ref_of(app_library, "red-circle.jpg")
    for path in [*PAGES, f"/photo/{red}", f"/thumb/{red}", "/static/app.css", "/nowhere", "/", "/status.json"]:
        response = app_client.get(path, follow_redirects=False)
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"  # never to another site
    for path in [*PAGES, f"/photo/{red}"]:
        assert inline_code(app_client.get(path).text) == [], path


def inline_code(page: str) -> list[str]:
    """What a CSP without 'unsafe-inline' would block: inline scripts, style attributes or elements, on*=."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Finder(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            names = [name for name, _ in attrs]
            if (tag == "script" and "src" not in names) or tag == "style":
                found.append(tag)
            found.extend(f"{tag} {name}" for name in names if name == "style" or name.startswith("on"))

    Finder().feed(page)
    return found


def test_non_loopback_without_token_is_refused() -> None:
    from alttext.cli.serve import refuse_unsafe_bind

    with pytest.raises(SystemExit) as refused:
        refuse_unsafe_bind("0.0.0.0", None)
    assert refused.value.code == 2
    refuse_unsafe_bind("127.0.0.1", None)  # loopback: fine
    refuse_unsafe_bind("0.0.0.0", "a-long-enough-random-token")
    assert bind_problem("192.168.1.5", None) and bind_problem("photos.example.org", "")
    assert bind_problem("::1", None) is None and bind_problem("localhost", None) is None
    assert bind_problem("0.0.0.0", "short")  # not a token
    assert is_loopback("127.0.0.2") and is_loopback("[::1]") and not is_loopback("0.0.0.0")


def test_serve_refuses_before_opening_anything(tmp_path: Path) -> None:
    from alttext.cli import cli

    db = tmp_path / "never.sqlite3"
    result = CliRunner().invoke(cli, ["--db", str(db), "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without a token" in result.output
    assert not db.exists()


def test_foreign_host_header_is_refused(app_client: Client) -> None:
    assert app_client.get("/library", headers={"Host": "evil.example"}).status_code == 400
    assert app_client.get("/library", headers={"Host": f"evil.example:{PORT}"}).status_code == 400
    assert app_client.get("/library", headers={"Host": "127.0.0.1:9999"}).status_code == 400
    assert app_client.get("/library", headers={"Host": f"localhost:{PORT}"}).status_code == 200
    refused = app_client.get("/library", headers={"Host": "evil.example"})
    assert "content-security-policy" in refused.headers


def test_token_is_required_when_set(app_library: Library) -> None:
    token = "a-long-enough-random-token"
    app = create_app(app_library, token=token, host="127.0.0.1", port=PORT)
    with TestClient(app, base_url=BASE_URL) as client:
        assert client.get("/library").status_code == 401
        assert client.get("/static/app.css").status_code == 401
        assert client.get("/library", headers={"Authorization": "Bearer wrong-token-here"}).status_code == 401
        assert client.get("/library", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/library?token=wrong").status_code == 401
        response = client.get(f"/library?q=red&token={token}", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/library?q=red"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and token not in cookie
        assert client.get("/library").status_code == 200  # the cookie now
    with TestClient(app, base_url=BASE_URL) as stranger:
        assert stranger.get("/photo/1").status_code == 401


def test_a_change_sent_from_another_site_is_refused(app_client: Client, app_library: Library, csrf_of: CsrfOf
                                                    ) -> None:
    red = ref_of(app_library, "red-circle.jpg")
    token = csrf_of(app_client, f"/photo/{red}")
    form = {"csrf": token, "alt_text": "Changed from elsewhere."}
    for origin in ("http://evil.example", f"http://evil.example:{PORT}", "null", "http://127.0.0.1:9999",
                   "file://", "https://127.0.0.1.evil.example"):
        response = app_client.post(f"/photo/{red}/edit", data=form, headers={"Origin": origin})
        assert response.status_code == 403, origin
    assert app_library.show(path_of(app_library, "red-circle.jpg"))["status"] == "generated"  # type: ignore[index]
    assert app_client.get(f"/photo/{red}", headers={"Origin": "http://evil.example"}).status_code == 200  # reads
    own = app_client.post(f"/photo/{red}/edit", data=form, headers={"Origin": f"http://localhost:{PORT}"},
                          follow_redirects=False)
    assert own.status_code == 303
    assert app_library.show(path_of(app_library, "red-circle.jpg"))["status"] == "edited"  # type: ignore[index]


def test_behind_a_tls_proxy_the_public_origin_is_accepted_and_cookies_are_secure(app_library: Library,
                                                                                csrf_of: CsrfOf) -> None:
    app = create_app(app_library, port=PORT, public_url="https://Photos.example.org/")
    red = ref_of(app_library, "red-circle.jpg")
    # the proxy speaks TLS to the browser (the client's jar sends Secure cookies over https only)
    with TestClient(app, base_url=f"https://127.0.0.1:{PORT}") as client:
        page = client.get(f"/photo/{red}")
        assert "Secure" in page.headers["set-cookie"] and "HttpOnly" in page.headers["set-cookie"]
        token = csrf_of(client, f"/photo/{red}")
        form = {"csrf": token, "alt_text": "Through the proxy."}
        assert client.post(f"/photo/{red}/edit", data=form, headers={"Origin": "https://evil.example"}
                           ).status_code == 403
        saved = client.post(f"/photo/{red}/edit", data=form, headers={"Origin": "https://photos.example.org"},
                            follow_redirects=False)
        assert saved.status_code == 303 and "Secure" in saved.headers["set-cookie"]  # the flash cookie too
    assert app_library.show(path_of(app_library, "red-circle.jpg"))["alt_text"] == "Through the proxy."  # type: ignore[index]
    with TestClient(create_app(app_library, port=PORT), base_url=BASE_URL) as plain:
        assert "Secure" not in plain.get("/library").headers["set-cookie"]  # plain http on loopback


@pytest.mark.parametrize("url", ["ftp://photos.example.org", "https://photos.example.org/alttext/",
                                 "https://user:pw@photos.example.org", "photos.example.org"])
def test_a_public_url_that_cannot_work_is_refused(url: str, tmp_path: Path) -> None:
    from alttext.cli import cli

    db = tmp_path / "never.sqlite3"
    result = CliRunner().invoke(cli, ["--db", str(db), "serve", "--public-url", url])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "--public-url" in result.output
    assert not db.exists()


def test_oversized_request_is_refused(app_library: Library, csrf_of: CsrfOf) -> None:
    small = Library(app_library.settings.db, settings=app_library.settings.replace(url_max_bytes=1000))
    with small, TestClient(create_app(small, port=PORT), base_url=BASE_URL) as client:
        token = csrf_of(client, "/caption")
        response = client.post("/caption", data={"csrf": token},
                               files=[("files", ("big.png", b"x" * 3_000_000, "image/png"))])
        assert response.status_code == 413


# -- captioning uploads --------------------------------------------------------------------------------


def test_upload_is_captioned(app_client: Client, app_library: Library, csrf_of: CsrfOf, tmp_path: Path) -> None:
    token = csrf_of(app_client, "/caption")
    picture = png_bytes([("red", "circle")], "white", tmp_path)
    response = app_client.post("/caption", data={"csrf": token},
                               files=[("files", ("mine.png", picture, "image/png"))])
    assert response.status_code == 200
    assert "A red circle on a white background." in response.text
    assert "mine.png" in response.text and "Add to the library" in response.text and "Copy alt text" in response.text
    assert not (Path(app_library.settings.upload_folder)).exists()  # nothing kept unless asked


def test_corrupt_upload_is_a_per_file_error(app_client: Client, csrf_of: CsrfOf, tmp_path: Path) -> None:
    token = csrf_of(app_client, "/caption")
    picture = png_bytes([("blue", "square")], "black", tmp_path)
    response = app_client.post("/caption", data={"csrf": token, "urls": "/etc/passwd\nfile:///etc/hostname"},
                               files=[("files", ("bad.jpg", b"\xff\xd8\xff not a jpeg", "image/jpeg")),
                                      ("files", ("good.png", picture, "image/png"))])
    assert response.status_code == 200
    text = response.text
    assert "bad.jpg" in text and "Failed:" in text
    assert "A blue square on a black background." in text
    assert text.count("not an http(s) address") == 2 and "root:" not in text


def test_add_an_upload_to_the_library(app_client: Client, app_library: Library, csrf_of: CsrfOf,
                                      tmp_path: Path) -> None:
    token = csrf_of(app_client, "/caption")
    picture = png_bytes([("yellow", "triangle")], "white", tmp_path)
    page = app_client.post("/caption", data={"csrf": token}, files=[("files", ("tri.png", picture, "image/png"))])
    upload = re.search(r'name="upload" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = app_client.post("/caption/add", data={"csrf": token, "upload": upload}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/photo/")
    added = app_client.get(response.headers["location"]).text
    assert "Added to the library" in added and "A yellow triangle on a white background." in added
    assert (Path(app_library.settings.upload_folder) / "tri.png").read_bytes() == picture
    again = app_client.post("/caption/add", data={"csrf": token, "upload": upload}).text
    assert "no longer here" in again


def test_empty_caption_form_says_so(app_client: Client, csrf_of: CsrfOf) -> None:
    token = csrf_of(app_client, "/caption")
    page = app_client.post("/caption", data={"csrf": token}, files=[("files", ("", b"", "application/octet-stream"))])
    assert page.status_code == 200 and "Choose pictures" in page.text


def test_variants_button_only_when_chat_is_configured(app_client: Client, csrf_of: CsrfOf, tmp_path: Path) -> None:
    token = csrf_of(app_client, "/caption")
    picture = png_bytes([("red", "circle")], "white", tmp_path)
    page = app_client.post("/caption", data={"csrf": token}, files=[("files", ("a.png", picture, "image/png"))])
    assert "Creative variants" not in page.text
    refused = app_client.post("/caption/variants", data={"csrf": token, "text": "A red circle."})
    assert refused.status_code == 200 and 'role="alert"' in refused.text


# -- status --------------------------------------------------------------------------------------------


def test_status_page_and_json(app_client: Client, app_library: Library) -> None:
    page = app_client.get("/status").text
    assert 'data-status-poll="/status.json"' in page and 'aria-live="polite"' in page
    data = app_client.get("/status.json").json()
    assert data["files"] == 5 and data["failed"] == 1 and "pending" in data["activity"]
    assert any(failure["path"].endswith(BROKEN) for failure in data["activity"]["recent_failures"])
    assert data["index_path"] == app_library.index.path  # the SQLite file, or the database's address
    assert os.path.basename(data["index_path"]) == "index.sqlite3" or data["index_path"].startswith("postgresql://")
    assert data["index_path"] in page


# -- the real server -----------------------------------------------------------------------------------


def test_live_server_serves_the_pages(live_server: str) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{live_server}/library", timeout=10) as response:
        assert response.status == 200
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert "red-circle.jpg" in response.read().decode()


def test_alttext_serve_starts_and_answers(tmp_path: Path) -> None:
    import subprocess
    import sys
    import urllib.request

    command = [sys.executable, "-m", "alttext", "--db", str(tmp_path / "index.sqlite3"), "serve", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
        assert match, (line, process.stderr.read() if process.poll() is not None and process.stderr else "")
        with urllib.request.urlopen(f"{match.group(1)}status", timeout=10) as response:
            assert response.status == 200 and "Status" in response.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=10)
