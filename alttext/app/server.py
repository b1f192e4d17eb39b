"""The browser app's routes: server-rendered pages over ``Library``, plain forms, one small script.

Every page works without JavaScript; ``static/app.js`` adds the keyboard keys of the review page, the
character counter, copy buttons, drag and drop, and the live numbers of the status page. Library calls
run in the thread pool (they read SQLite, decode pictures, run the model), one model call at a time.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

import alttext.library as api
from alttext import __version__
from alttext.app.photo_refs import PhotoRefs
from alttext.app.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    BodyTooLarge,
    Guard,
    Secrets,
    allowed_hosts,
    public_origin,
    secure_cookies,
)
from alttext.app.uploads import UploadStore
from alttext.library import REVIEW_STATUSES, Library, PhotoUnavailable, SearchMode, display_path

HERE = Path(__file__).parent
THUMB_DEFAULT, THUMB_MIN, THUMB_MAX = 320, 64, 640
LARGE = 1600
PAGE_SIZE = 60
MAX_UPLOAD_FILES = 20
MAX_URLS = 20
ALT_TARGET, ALT_MAX = 125, 250
MODES: tuple[SearchMode, ...] = ("auto", "words", "meaning")
ONLY = {"failed": "failed", "missing-alt": "missing alt text"}
IMAGE_HEADERS = {"Cache-Control": "private, max-age=3600"}
WHERE = {"file": " into the file's own metadata", "sidecar": " into an XMP sidecar beside the file",
         "exiftool": " into the file's own metadata (through exiftool)"}

T = TypeVar("T")


@dataclass
class AppState:
    library: Library
    secrets: Secrets
    templates: Jinja2Templates
    uploads: UploadStore
    refs: PhotoRefs
    port: int
    secure_cookies: bool = False
    model_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def flash_cookie(self) -> str:
        return f"alttext_flash_{self.port}"


def create_app(library: Library, *, token: str | None = None, host: str = "127.0.0.1", port: int = 8765,
               public_url: str | None = None) -> Starlette:
    """The app over ``library``. Call ``security.bind_problem(host, token)`` first: this doesn't refuse."""
    secrets_ = Secrets()
    uploads = UploadStore()
    origin = public_origin(public_url)
    state = AppState(library, secrets_, _templates(), uploads, PhotoRefs(library.uid), port, secure_cookies(origin))
    limit = library.settings.url_max_bytes
    max_body = max(limit, min(limit * MAX_UPLOAD_FILES, 256 * 1024 * 1024)) + 1024 * 1024

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            uploads.close()

    def bound(handler: Callable[[AppState, Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Any:
            return await handler(state, request)

        endpoint.__name__ = handler.__name__
        return endpoint

    routes = [
        Route("/", bound(home)),
        Route("/library", bound(library_page)),
        Route("/photo/{ref:str}", bound(photo_page)),
        Route("/photo/{ref:str}/{action:str}", bound(photo_action), methods=["POST"]),
        Route("/review", bound(review_page)),
        Route("/review/{action:str}", bound(review_action), methods=["POST"]),
        Route("/caption", bound(caption_page), methods=["GET", "POST"]),
        Route("/caption/add", bound(caption_add), methods=["POST"]),
        Route("/caption/variants", bound(caption_variants), methods=["POST"]),
        Route("/status", bound(status_page)),
        Route("/status.json", bound(status_json)),
        Route("/thumb/{ref:str}", bound(thumb)),
        Route("/image/{ref:str}", bound(large_image)),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code)
        return _render(state, request, "error.html", {"code": exc.status_code, "detail": exc.detail},
                       status=exc.status_code)

    return Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error},
        middleware=[Middleware(Guard, secrets_=secrets_, token=token, hosts=allowed_hosts(host, port),
                               max_body=max_body, port=port, public_origin=origin)],
    )


# -- rendering --------------------------------------------------------------------------------------


def _finalize(value: Any) -> Any:
    # Markup (already escaped) is a str too; display_path() keeps its type when nothing needs replacing.
    return display_path(value) if isinstance(value, str) else value


def _when(value: str | None) -> str:
    """An ISO timestamp as ``2026-05-01 14:03 UTC``."""
    if not value:
        return ""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.utcoffset() is not None else "")


def _templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      finalize=_finalize, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(version=__version__, alt_target=ALT_TARGET, alt_max=ALT_MAX, csrf_field=CSRF_FIELD)
    env.filters["basename"] = lambda path: os.path.basename(str(path or ""))
    env.filters["when"] = _when
    return Jinja2Templates(env=env)


def _render(state: AppState, request: Request, name: str, context: Mapping[str, Any], *, status: int = 200
            ) -> Response:
    seed = request.scope.get("state", {}).get("csrf", "")
    flash_value = request.cookies.get(state.flash_cookie)
    flash = state.secrets.unseal(flash_value) if flash_value else None
    kind, _, text = (flash or "").partition("\t")
    full = {"request": request, "csrf": state.secrets.csrf_token(seed) if seed else "",
            "flash": text or None, "flash_kind": kind, "nav": request.url.path.split("/")[1] or "library",
            "ref": state.refs.ref,
            **context}
    response = state.templates.TemplateResponse(request, name, full, status_code=status,
                                                headers={"Cache-Control": "no-store"})
    if flash_value:
        response.delete_cookie(state.flash_cookie, path="/")
    return response


def _redirect(state: AppState, url: str, message: str | None = None, *, error: bool = False) -> Response:
    response = RedirectResponse(url, status_code=303)
    if message:
        response.set_cookie(state.flash_cookie, state.secrets.seal(f"{'error' if error else 'ok'}\t{message}"),
                            path="/", httponly=True, samesite="strict", secure=state.secure_cookies)
    return response


def _url(path: str, **params: Any) -> str:
    clean = [(key, display_path(str(value))) for key, value in params.items() if value not in (None, "")]
    return f"{path}?{urlencode(clean)}" if clean else path


async def _call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await run_in_threadpool(function, *args, **kwargs)


async def _form(state: AppState, request: Request, *, max_files: int = 0) -> FormData:
    """The POSTed form, after the CSRF check (403 without a valid token)."""
    try:
        form = await request.form(max_files=max_files, max_fields=100)
    except BodyTooLarge as exc:
        raise HTTPException(413, "The request is too large.") from exc
    given = form.get(CSRF_FIELD)
    if not isinstance(given, str):
        given = request.headers.get(CSRF_HEADER)
    scope_state = request.scope.get("state", {})
    if not state.secrets.csrf_ok(scope_state.get("csrf"), given, bool(scope_state.get("csrf_cookie_known"))):
        raise HTTPException(403, "This form has expired or didn't come from this app (CSRF check failed):"
                                 " reload the page and try again.")
    return form


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _path_or_404(state: AppState, file_id: int) -> str:
    path = await _call(state.library.path_of, file_id)
    if path is None:
        raise HTTPException(404, "No such photo.")
    return path


# -- pages --------------------------------------------------------------------------------------------


async def home(state: AppState, request: Request) -> Response:
    return RedirectResponse("/library", status_code=303)


async def library_page(state: AppState, request: Request) -> Response:
    params = request.query_params
    query = params.get("q", "").strip()[:500]
    mode: SearchMode = "auto"
    for choice in MODES:
        if params.get("mode") == choice:
            mode = choice
    under = params.get("under", "").strip() or None
    status = params.get("status") if params.get("status") in REVIEW_STATUSES else None
    only = params.get("only") if params.get("only") in ONLY else None
    after = params.get("after") or None
    problem = None
    try:
        page = await _call(state.library.browse, query or None, mode=mode, under=under, status=status,
                           only=only, after=after, limit=PAGE_SIZE)
    except api.SearchUnavailable as exc:
        page, problem = api.BrowsePage([], None), str(exc)
    next_url = (_url("/library", q=query, mode=mode, under=under, status=status, only=only, after=page.next_after)
                if page.next_after else None)
    return _render(state, request, "library.html", {
        "title": f"Search: {query}" if query else "Library", "q": query, "mode": mode, "modes": MODES,
        "under": under or "", "status": status or "", "statuses": REVIEW_STATUSES, "only": only or "",
        "onlies": ONLY, "cards": page.items, "next_url": next_url, "problem": problem, "searched": bool(query),
    })


async def photo_page(state: AppState, request: Request) -> Response:
    file_id = state.refs.file_id(request.path_params["ref"])
    photo = await _call(state.library.photo, file_id)
    if photo is None:
        raise HTTPException(404, "No such photo.")
    return _render(state, request, "photo.html", {
        "title": os.path.basename(photo["path"]), "photo": photo, "file_id": file_id,
        "name": os.path.basename(photo["path"]), "lint": photo.get("lint", []),
    })


PHOTO_ACTIONS = ("edit", "approve", "undo", "embed", "retry")


async def photo_action(state: AppState, request: Request) -> Response:
    action = request.path_params["action"]
    if action not in PHOTO_ACTIONS:
        raise HTTPException(404, "No such action.")
    file_id = state.refs.file_id(request.path_params["ref"])
    form = await _form(state, request)
    path = await _path_or_404(state, file_id)
    message, error = await _review_action(state, action, path, _text(form, "alt_text"))
    return _redirect(state, f"/photo/{state.refs.ref(file_id)}", message, error=error)


async def _review_action(state: AppState, action: str, path: str, text: str) -> tuple[str, bool]:
    """(what happened, whether it failed) for one edit/approve/undo/embed/retry of the file at ``path``."""
    library = state.library
    try:
        if action == "edit":
            if not text.strip():
                return "Not saved: the alt text is empty.", True
            change = await _call(library.edit, path, text)
            return f"Alt text saved{api.same_picture_note(change.other_files)}.", False
        if action == "approve":
            change = await _call(library.approve, path)
            if change.previous_status == "approved":
                return "This alt text was already approved.", False
            return f"Alt text approved{api.same_picture_note(change.other_files)}.", False
        if action == "undo":
            undone = await _call(library.undo_last, path)
            return ({"edit": "Undone: the edit is removed.", "approve": "Undone: the approval is withdrawn."}
                    .get(undone or "", "Nothing to undo."), False)
        if action == "retry":
            retried = await _call(library.retry, path)
            return (("Queued again: the daemon or the next scan will try this file.", False) if retried
                    else ("This file hasn't failed; nothing to retry.", True))
        return await _call(_embed_one, library, path)
    except api.ReviewError as exc:
        return str(exc), True
    except api.EmbedSettingsError as exc:
        return f"Cannot embed: {exc}", True


def _embed_one(library: Library, path: str) -> tuple[str, bool]:
    run = library.embed([path])
    if run.unknown:
        return "Not embedded: the index doesn't know this file.", True
    outcomes = list(run.results)
    if not outcomes:
        return "Nothing to embed: the file's metadata already has this alt text, or it has none yet.", False
    lines = []
    failed = False
    for _target, result in outcomes:
        if result.ok:
            where = WHERE.get(str(result.where), "") if result.where else ""
            lines.append(f"Embed: {result.status}{where}.")
        else:
            failed = True
            lines.append(f"Embedding failed: {result.error}")
    return " ".join(lines), failed


def _review_queue(values: Mapping[str, Any]) -> dict[str, str]:
    """Where a review queue stands: its folder (``under``), its search (``q``), and how far it has
    skipped (``after``: a path cursor, or with a search the position in its results)."""
    found = {key: values.get(key) for key in ("under", "q", "after")}
    return {key: value.strip()[:500] if isinstance(value, str) else "" for key, value in found.items()}


async def review_page(state: AppState, request: Request) -> Response:
    queue = _review_queue(request.query_params)
    under, query, after = queue["under"] or None, queue["q"] or None, queue["after"] or None
    item: api.PhotoCard | None = None
    next_after: str | None = None
    wanted = request.query_params.get("photo", "")
    if wanted:  # after an undo: that picture again, while it still needs review
        photo = await _call(state.library.photo, state.refs.file_id(wanted))
        if photo is not None and photo.get("status") == "generated":
            item = api.PhotoCard(photo["file_id"], photo["path"], os.path.basename(photo["path"]), photo["alt_text"],
                                 photo["status"], photo["source"], photo.get("error"))
            next_after = after
    if item is None and query:
        # A search's results have no path order: walk them by position; an accepted one leaves the
        # results, so the position stays; a skipped one moves it on.
        position = int(after) if after and after.isdigit() and int(after) < 10_000 else 0
        try:
            page = await _call(state.library.browse, query, mode="words", under=under, status="generated",
                               limit=position + 1)
        except api.SearchUnavailable:
            page = api.BrowsePage([], None)
        item = page.items[position] if len(page.items) > position else None
        next_after = str(position + 1)
    elif item is None:
        page = await _call(state.library.browse, None, under=under, status="generated", after=after, limit=1)
        item = page.items[0] if page.items else None
        next_after = page.next_after
    photo = await _call(state.library.photo, item.file_id) if item else None
    return _render(state, request, "review.html", {
        "title": "Review", "item": item, "photo": photo, "lint": (photo or {}).get("lint", []),
        "queue": queue, "under": queue["under"], "q": queue["q"], "last": request.query_params.get("last", ""),
        "skip_url": _url("/review", under=under, q=query, after=next_after) if item else None,
        "restart_url": _url("/review", under=under, q=query) if after else None,
    })


REVIEW_ACTIONS = ("accept", "edit", "undo")


async def review_action(state: AppState, request: Request) -> Response:
    action = request.path_params["action"]
    if action not in REVIEW_ACTIONS:
        raise HTTPException(404, "No such action.")
    form = await _form(state, request)
    queue = _review_queue(form)
    file_id = state.refs.file_id(_text(form, "photo"))
    path = await _path_or_404(state, file_id)
    message, error = await _review_action(state, {"accept": "approve"}.get(action, action), path,
                                          _text(form, "alt_text"))
    name = display_path(os.path.basename(path))
    if action == "undo" and not error:
        return _redirect(state, _url("/review", **queue, photo=state.refs.ref(file_id)), f"{name}: {message}")
    return _redirect(state, _url("/review", **queue, last=state.refs.ref(file_id)), f"{name}: {message}",
                     error=error)


@dataclass
class Captioned:
    """One row of the caption results page."""

    name: str
    alt_text: str | None
    raw_caption: str | None
    model: str | None
    seconds: float | None
    error: str | None
    upload_id: str | None = None


async def caption_page(state: AppState, request: Request) -> Response:
    chat = state.library.chat_configured()
    if request.method == "GET":
        return _render(state, request, "caption.html", {"title": "Caption", "max_files": MAX_UPLOAD_FILES,
                                                        "max_mb": state.library.settings.url_max_bytes // 2**20})
    form = await _form(state, request, max_files=MAX_UPLOAD_FILES)
    limit = state.library.settings.url_max_bytes
    uploads: list[tuple[str, bytes]] = []
    for value in form.getlist("files"):
        if isinstance(value, UploadFile) and (value.filename or value.size):
            uploads.append((os.path.basename(value.filename or "upload"), await value.read(limit + 1)))
    lines = [line.strip() for line in _text(form, "urls").splitlines() if line.strip()]
    if len(lines) > MAX_URLS:
        raise HTTPException(413, f"At most {MAX_URLS} addresses at a time.")
    urls = [line for line in lines if line.lower().startswith(("http://", "https://"))]
    rows: list[Captioned] = [Captioned(line, None, None, None, None, "not an http(s) address")
                             for line in lines if line not in urls]
    if not uploads and not lines:
        return _redirect(state, "/caption", "Choose pictures to upload, or type addresses of pictures.", error=True)
    try:
        rows[:0] = await _call(_caption_all, state, uploads, urls)
    except (api.ModelLoadError, api.ModelSettingsError) as exc:
        raise HTTPException(503, f"The captioning model can't be loaded: {exc}") from exc
    return _render(state, request, "caption_results.html", {"title": "Captions", "rows": rows, "chat": chat})


def _caption_all(state: AppState, uploads: list[tuple[str, bytes]], urls: list[str]) -> list[Captioned]:
    rows: list[Captioned] = []
    with state.model_lock:
        if uploads:
            results = state.library.caption_uploads(uploads)
            for (name, data), result in zip(uploads, results, strict=True):
                rows.append(Captioned(name, result.alt_text, result.raw_caption, result.model, result.seconds,
                                      result.error, state.uploads.put(name, data) if result.ok else None))
        if urls:
            for result in state.library.caption(urls):
                rows.append(Captioned(result.location, result.alt_text, result.raw_caption, result.model,
                                      result.seconds, result.error))
    return rows


async def caption_add(state: AppState, request: Request) -> Response:
    form = await _form(state, request)
    upload = state.uploads.take(_text(form, "upload"))
    if upload is None:
        return _redirect(state, "/caption", "That upload is no longer here (uploads are kept for an hour):"
                                            " upload it again.", error=True)
    name, data = upload

    def add() -> str:
        with state.model_lock:
            return state.library.add_upload(name, data)

    path = await _call(add)
    file_id = await _call(state.library.file_id_of, path)
    message = f"Added to the library as {display_path(path)}."
    where = f"/photo/{state.refs.ref(file_id)}" if file_id else _url("/library", under=os.path.dirname(path))
    return _redirect(state, where, message)


async def caption_variants(state: AppState, request: Request) -> Response:
    form = await _form(state, request)
    text = _text(form, "text").strip()[:1000]
    variants: list[str] = []
    problem = None
    if not text:
        problem = "There is no caption to vary."
    else:
        try:
            variants = await _call(state.library.creative_variants, text)
        except (api.MissingCredentials, api.VariantError) as exc:
            problem = str(exc)
    return _render(state, request, "variants.html", {"title": "Creative variants", "text": text,
                                                     "variants": variants, "problem": problem})


async def status_page(state: AppState, request: Request) -> Response:
    return _render(state, request, "status.html", {"title": "Status", **await _call(_status, state.library)})


async def status_json(state: AppState, request: Request) -> Response:
    return JSONResponse(_plain_json(await _call(_status, state.library)), headers={"Cache-Control": "no-store"})


def _status(library: Library) -> dict[str, Any]:
    info = library.status()
    info["activity"] = library.activity()
    return info


def _plain_json(value: Any) -> Any:
    if isinstance(value, str):
        return display_path(value)
    if isinstance(value, Mapping):
        return {display_path(str(key)): _plain_json(item) for key, item in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, bytes):
        return [_plain_json(item) for item in value]
    return value


async def thumb(state: AppState, request: Request) -> Response:
    size_text = request.query_params.get("size", "")
    size = int(size_text) if size_text.isdigit() and len(size_text) < 6 else THUMB_DEFAULT
    return await _jpeg(state, request, max(THUMB_MIN, min(THUMB_MAX, size)))


async def large_image(state: AppState, request: Request) -> Response:
    return await _jpeg(state, request, LARGE)


async def _jpeg(state: AppState, request: Request, size: int) -> Response:
    file_id = state.refs.file_id(request.path_params["ref"])
    try:
        data = await _call(state.library.thumbnail, file_id, size)
    except PhotoUnavailable as exc:
        raise HTTPException(404, "No such picture, or it can't be read now.") from exc
    return Response(data, media_type="image/jpeg", headers=IMAGE_HEADERS)
