"""``Library``: everything alttext does, as one Python API over one index.

The command line (``alttext.cli``) and any other face are thin shells over this class: they parse, call
one method, and print. The index is opened on first use, so captioning files (``caption``) never
touches it. Heavy imports (torch, the sentence encoder, exiv2) happen inside the methods that need them:
``alttext status`` and ``alttext search`` start without loading a model.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from alttext.config import Settings, load_settings
from alttext.library.results import (
    BrowsePage,
    CaptionResult,
    EmbedRun,
    PhotoCard,
    PhotoUnavailable,
    Progress,
    ScanResult,
    SearchMode,
    SearchResults,
    SearchUnavailable,
    VariantsReport,
)

if TYPE_CHECKING:
    from alttext.captioning.protocols import Captioning
    from alttext.index.db import Index
    from alttext.index.ingest import ExistingReader
    from alttext.index.review import Change, ReviewItem
    from alttext.index.writeback import Target
    from alttext.lint import Finding, Problem
    from alttext.metadata import EmbedResult
    from alttext.search.dates import DateRange
    from alttext.search.fts import SearchHit
    from alttext.sources import Source
    from alttext.variants import DryRunPlan
    from alttext.web.html_alt import SitePage

logger = logging.getLogger(__name__)

class Library:
    """A photo library's index and everything done with it.

    ``Library()`` uses the settings (config file, ``ALTTEXT_*`` environment); ``Library("index.sqlite3")``
    names the index; keyword overrides replace single settings (``model=``, ``batch_size=`` ...).
    Use it as a context manager, or call ``close()``.
    """

    def __init__(self, db: str | os.PathLike[str] | None = None, *, settings: Settings | None = None,
                 create_index: bool = True, **overrides: Any) -> None:
        base = settings if settings is not None else load_settings()
        self.settings = base.replace(db=os.fspath(db) if db is not None else None, **overrides)
        self.create_index = create_index  # False: reading an index that isn't there raises IndexMissing
        self._index: Index | None = None
        self._captioner: Captioning | None = None
        self._thumbnails: Any = None
        self._uid: str | None = None

    # -- the index ---------------------------------------------------------------------------------
    @property
    def index(self) -> Index:
        """The index, opened (upgraded if needed; created unless ``create_index`` is False) on first use.
        Raises ``IndexUnavailable``, or its ``IndexMissing`` when there is none to read."""
        return self.open_index(create=self.create_index)

    def open_index(self, *, create: bool = False) -> Index:
        """Open the index now (``index`` does it on first use). Without ``create``, only an index that
        exists: ``IndexMissing`` names the path, and no file or folder is made."""
        if self._index is None:
            from alttext.index.db import Index

            self._index = Index(self.settings.db, create=create)
        return self._index

    @property
    def uid(self) -> str:
        """This index's random id (32 hex digits), made when it was created: a file id means a file only
        together with it (every index numbers its files from 1)."""
        if self._uid is None:
            from alttext.index.identity import index_uid

            self._uid = index_uid(self.index)
        return self._uid

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load_captioner(self) -> Captioning:
        """The model the settings name, loaded once per library. Raises ``ModelLoadError``, or
        ``ModelSettingsError`` for unusable settings."""
        if self._captioner is None:
            from alttext.captioning.factory import build_captioner

            self._captioner = build_captioner(self.settings)
        return self._captioner

    def fetch_model(self, model: str | None = None) -> str:
        """Download a hub model (the settings' when ``model`` is None) into the local Hugging Face cache, so
        that it loads without the network from then on; where it is. Raises ``ModelLoadError``."""
        from alttext.captioning.loading import fetch_model

        return fetch_model(model or self.settings.model)

    # -- captioning without the index --------------------------------------------------------------
    def caption(self, inputs: Iterable[str]) -> Iterator[CaptionResult]:
        """Caption files, folders (recursively) and http(s) URLs, in order; a failing item is a result
        with an ``error``, never an exception. The model is loaded before this returns."""
        from alttext.sources import expand_sources

        captioner = self.load_captioner()
        return self._caption_stream(captioner, expand_sources(inputs))

    def _caption_stream(self, captioner: Captioning, sources: Iterator[Source]) -> Iterator[CaptionResult]:
        from PIL import Image as PILImage

        from alttext.fetch import fetch_image_bytes
        from alttext.images import ImageError, open_image

        settings = self.settings
        draft = _draft_size(captioner)

        def load(source: Source) -> PILImage.Image:
            if source.error:
                raise ImageError(source.error)
            if source.is_url:
                body = fetch_image_bytes(source.location, timeout=settings.url_timeout,
                                         max_bytes=settings.url_max_bytes)
                return open_image(body, max_pixels=settings.max_image_pixels, draft_size=draft)
            return open_image(source.location, max_pixels=settings.max_image_pixels, draft_size=draft)

        for outcome in captioner.caption_stream(sources, load, workers=settings.decode_threads):
            yield CaptionResult(outcome.item.location, outcome.item.is_url, outcome.alt_text, outcome.raw_caption,
                                captioner.model_id, outcome.error, description=outcome.description,
                                image_text=outcome.image_text)

    # -- indexing ----------------------------------------------------------------------------------
    def scan(self, folders: Iterable[str], *, embed: bool = False, import_metadata: bool = True,
             progress: Progress | None = None) -> ScanResult:
        """Bring the index in step with ``folders`` and caption what is new, then what follows indexing
        (vectors; with ``embed``, write-back below the folders). Ctrl-C (KeyboardInterrupt) loses nothing
        already captioned; running it again continues."""
        from alttext.index.scan import scan as run_scan
        from alttext.library.after_index import AfterIndexing

        folders = [os.path.abspath(os.path.expanduser(folder)) for folder in folders]  # "~/Pictures" too
        write_back = self._embed_options() if embed else None  # bad embed settings fail before any work
        self.open_index(create=True)  # scanning is how an index comes to be
        summary = run_scan(
            self.index, folders, self.load_captioner, batch_size=self.settings.batch_size,
            max_pixels=self.settings.max_image_pixels, progress=progress, decode_threads=self.settings.decode_threads,
            read_existing=self._existing_caption_reader() if import_metadata else None,
        )
        after = AfterIndexing(self.index, roots=folders, write_back=write_back, progress=progress).run()
        return ScanResult(summary, after)

    def watch(self, folders: Iterable[str], *, embed: bool = False, variants: bool = False, poll: bool = False,
              poll_interval: float = 5.0, caption: bool | None = None) -> int:
        """Watch ``folders`` and caption whatever arrives until SIGTERM/SIGINT; returns the exit status
        (0 after a requested stop, 2 when the model can't be loaded). What follows indexing runs after
        every round: write-back (``embed``), vectors, and with ``variants`` creative variants. ``caption``
        False (default: the ``watch_caption`` setting): find and queue only, and leave captioning to
        ``alttext worker`` processes (docs/architecture.md §16); what follows indexing still runs here."""
        from alttext.index.writeback import existing_caption_reader
        from alttext.library.after_index import AfterIndexing
        from alttext.watch.daemon import FatalError, WatchDaemon, WatchOptions, distinct_roots

        # Idle OpenMP threads sleep instead of spinning: a background daemon shares the machine. Measured on
        # 2 busy cores: 0.06 s per batch instead of 0.6-1 s. Set before torch is imported (the model loads
        # lazily, later).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        settings = self.settings
        roots = distinct_roots([os.path.expanduser(folder) for folder in folders])
        write_back = self._embed_options() if embed else None
        self.open_index(create=True)  # watching is how an index comes to be
        after = AfterIndexing(self.index, roots=roots, write_back=write_back, variants=self._variants_client_or_none()
                              if variants else None, background=True, on_embedded=_log_embedded)
        options = WatchOptions(
            roots=roots, settle_seconds=settings.settle_seconds, scan_interval=settings.scan_interval, poll=poll,
            poll_interval=poll_interval, batch_size=settings.batch_size, max_pixels=settings.max_image_pixels,
            decode_threads=settings.decode_threads, read_existing=existing_caption_reader(settings.lang),
            caption=settings.watch_caption if caption is None else caption,
        )

        def load_model() -> Captioning:
            from alttext.captioning import ModelLoadError
            from alttext.captioning.factory import ModelSettingsError

            try:
                return self.load_captioner()
            except ModelLoadError as exc:
                raise FatalError(f"cannot load the model: {exc}", exit_code=2) from exc
            except ModelSettingsError as exc:
                raise FatalError(f"cannot use the model settings: {exc}", exit_code=2) from exc

        return WatchDaemon(self.index, options, load_model, after_index=after).run()

    def worker(self, *, import_metadata: bool = True, poll: float = 5.0, until_empty: bool = False,
               stop: Any = None, kinds: Iterable[str] | None = None, variants: bool = False) -> Any:
        """Caption pending files of a shared index beside any number of other workers, on this machine or others
        that see the photos (under the same paths, or the ``path_map`` setting's), until ``stop`` (a
        ``threading.Event``) is set or, with ``until_empty``, nothing is pending. Claims are leased (the
        ``worker_lease`` setting): a worker that dies or stalls loses them to the others. Without ``stop``,
        SIGTERM and SIGINT end it after the batch in progress. Returns the totals (``WorkerTotals``).

        ``kinds``: the work it takes, of ``captions``, ``vectors`` (sentence vectors for new captions, with the
        `semantic` extra) and ``variants`` (queued variants jobs, with a chat endpoint configured); by default
        every kind it can do. ``variants``: as ``watch --variants``, variants are wanted (an error without a
        chat endpoint). A kind that can't be done is a ValueError before anything is claimed.
        docs/architecture.md §16."""
        import socket
        import threading

        from alttext.index.db import Index
        from alttext.index.leases import CAPTIONS, VARIANTS, VECTORS, WorkerIdentity
        from alttext.library.worker import CaptionWorker, WorkerOptions, stop_on_signals, worker_kinds
        from alttext.paths import PathMap
        from alttext.search.encoder import semantic_available

        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as for watch: idle threads sleep
        settings = self.settings
        path_map = PathMap(settings.path_map)  # a malformed map is a ValueError before any work
        chat = self.chat_configured()
        if kinds is None:  # every kind it can do
            kinds = [CAPTIONS] + ([VECTORS] if semantic_available() else []) + ([VARIANTS] if chat else [])
        chosen = worker_kinds([*kinds, *([VARIANTS] if variants else [])])
        if VECTORS in chosen and not semantic_available():
            raise ValueError("vectors need the optional `semantic` extra (pip install 'alttext[semantic]')")
        client = None
        if VARIANTS in chosen:
            from alttext.variants import MissingCredentials, VariantClient

            try:
                client = VariantClient.from_settings(settings)
            except MissingCredentials as exc:
                raise ValueError(f"variants: {exc}") from exc
        load_encoder = None
        if VECTORS in chosen:
            from alttext.search.encoder import default_encoder

            load_encoder = default_encoder
        # Model errors before registering: nothing is claimed by a worker.
        captioner = self.load_captioner() if CAPTIONS in chosen else None
        lease_ms = int(settings.worker_lease * 1000)  # a session stalled mid-transaction ends with the lease
        host = socket.gethostname()
        with Index(settings.db, idle_in_transaction_ms=max(1000, lease_ms),
                   application_name=f"alttext worker {host}:{os.getpid()}"[:63]) as index:
            options = WorkerOptions(
                lease=settings.worker_lease, poll=poll, batch_size=settings.batch_size,
                max_pixels=settings.max_image_pixels, decode_threads=settings.decode_threads, until_empty=until_empty,
                read_existing=self._existing_caption_reader() if import_metadata else None,
                local_path=path_map.local if path_map else None, kinds=tuple(chosen),
            )
            identity = WorkerIdentity(host, os.getpid(), captioner.model_id if captioner is not None else None)
            if stop is None:
                stop = threading.Event()
                stop_on_signals(stop)
            try:
                return CaptionWorker(index, options, lambda: captioner, identity, stop, load_encoder=load_encoder,
                                     variants=client).run()
            finally:
                if client is not None:
                    client.close()

    # -- looking things up -------------------------------------------------------------------------
    def search(self, query: str, *, limit: int = 20, under: str | None = None, status: str | None = None,
               mode: SearchMode = "auto") -> SearchResults:
        """Photos by what they show, where they are filed and when they were taken. ``words``: full text
        (bm25) over alt texts and file and folder names; ``meaning``: sentence vectors (needs the `semantic`
        extra; raises ``SearchUnavailable``); ``auto``: both fused when vectors exist, else words. A date in
        the query ("2024", "june 2023", "2023-06-14") keeps the photos taken then (docs/architecture.md §11)."""
        from alttext.search.dates import parse_dated_query

        dated = parse_dated_query(query)
        if dated.dates is None:
            return self._search_by_mode(query, limit, under, status, mode, None)
        from alttext.search.by_date import dated_search

        searched: list[SearchResults] = []

        def search_words(words: str, taken: DateRange, depth: int) -> list[SearchHit]:
            searched.append(self._search_by_mode(words, depth, under, status, mode, taken))
            return list(searched[-1].hits)

        hits = dated_search(self.index, dated, search_words, limit=limit, under=under, status=status)
        how = searched[0] if searched else SearchResults([], "words")
        return SearchResults(hits, how.mode, how.notes)

    def _search_by_mode(self, query: str, limit: int, under: str | None, status: str | None, mode: SearchMode,
                        taken: DateRange | None) -> SearchResults:
        from alttext.search.fts import search as word_search

        if mode == "meaning":
            return self._meaning_search(query, limit, under, status, taken)
        if mode == "auto":
            fused = self._fused_search_if_available(query, limit, under, status, taken)
            if fused is not None:
                return SearchResults(fused, "both")
        return SearchResults(word_search(self.index, query, limit=limit, under=under, status=status, taken=taken),
                             "words")

    def _meaning_search(self, query: str, limit: int, under: str | None, status: str | None,
                        taken: DateRange | None) -> SearchResults:
        from alttext.search.encoder import EncoderUnavailable, default_encoder, model_dir
        from alttext.search.semantic import semantic_search
        from alttext.search.vectors import has_vectors, vectors_pending

        try:
            model_dir()  # says how to install the extra when it is missing
            encoder = default_encoder()
        except EncoderUnavailable as exc:
            raise SearchUnavailable(str(exc)) from exc
        if not has_vectors(self.index, encoder.name):
            raise SearchUnavailable("the index has no caption embeddings (sentence vectors) yet:"
                                    " run alttext scan on your folders")
        notes = []
        missing = vectors_pending(self.index, encoder.name, encoder.dim)
        if missing:
            notes.append(f"{missing} caption(s) have no vectors yet and can't be found by meaning;"
                         " alttext scan computes them")
        hits = semantic_search(self.index, query, encoder, limit=limit, under=under, status=status, taken=taken)
        return SearchResults(hits, "meaning", notes)

    def _fused_search_if_available(self, query: str, limit: int, under: str | None,
                                   status: str | None, taken: DateRange | None) -> list[SearchHit] | None:
        """Fused results, or None to fall back to words (no extra, no vectors, or a failure: search must
        keep working whatever happens to the optional part)."""
        from alttext.search.encoder import MODEL_NAME, semantic_available

        if not semantic_available():
            return None
        from alttext.search.vectors import has_vectors

        if not has_vectors(self.index, MODEL_NAME):
            return None
        try:
            from alttext.search.encoder import default_encoder
            from alttext.search.semantic import hybrid_search

            return hybrid_search(self.index, query, default_encoder(), limit=limit, under=under, status=status,
                                 taken=taken)
        except Exception as exc:
            logger.warning("semantic search failed (%s); showing full-text results only", exc)
            return None

    def show(self, path: str) -> dict[str, Any] | None:
        """Everything known about one file (alt text, provenance, history, copies, variants, write-back);
        None when the index has never seen it."""
        from alttext.index.overview import describe_file

        return describe_file(self.index, path)

    def status(self) -> dict[str, Any]:
        """Counts by state, folders, models, the index's size, and the write-back queue (``embed_waiting``:
        files whose alt text is not written into them yet; ``embed_held``: of those, held back after a
        failure or a skip), and the caption workers (``workers``: active ones and those seen in the last day;
        ``claimed``: pending files they hold now; docs/architecture.md §16)."""
        from alttext.index.overview import claimed_count, index_status, worker_rows

        info = index_status(self.index)
        info["workers"] = [row.as_dict() for row in worker_rows(self.index)]
        info["claimed"] = claimed_count(self.index)
        return info

    # -- people reviewing alt text ------------------------------------------------------------------
    def edit(self, path: str, alt_text: str) -> Change:
        """A person's alt text for the file's picture (every copy): no model run will replace it. Search by
        meaning is updated at once. Raises ``ReviewError``."""
        from alttext.index.review import edit

        change = edit(self.index, path, alt_text)
        self._refresh_vectors([change.caption_id])
        return change

    def approve(self, path: str) -> Change:
        """Sign off the file's current alt text: no model run will replace it. Raises ``ReviewError``."""
        from alttext.index.review import approve

        change = approve(self.index, path)
        self._refresh_vectors([change.caption_id], missing_only=True)
        return change

    def undo(self, change: Change) -> None:
        """Reverse an edit or approval made through this library."""
        from alttext.index.review import undo

        undo(self.index, change)

    def review_queue(self, *, under: str | None = None) -> Iterator[ReviewItem]:
        """Pictures whose alt text nobody has reviewed yet, one file each, in path order."""
        from alttext.index.review import review_queue

        return review_queue(self.index, under=under)

    def still_unreviewed(self, item: ReviewItem) -> bool:
        """Nobody edited or approved this picture since the queue listed it."""
        from alttext.index.review import is_unreviewed

        return is_unreviewed(self.index, item)

    def _refresh_vectors(self, caption_ids: list[int], *, missing_only: bool = False) -> None:
        """Keep search by meaning in step with an edit (a new caption) or an approval (a caption that may
        never have had a vector). A failure must not lose the change, which is already committed: the
        next scan computes whatever is missing."""
        from alttext.search.encoder import semantic_available

        if not caption_ids or not semantic_available():
            return
        try:
            from alttext.search.vectors import compute_vectors

            compute_vectors(self.index, caption_ids, missing_only=missing_only)
        except Exception as exc:
            logger.warning("could not compute the vector of the new alt text (%s); alttext scan will retry", exc)

    @staticmethod
    def check_alt_text(alt_text: str | None, file_name: str | None = None) -> list[Problem]:
        """What an accessibility review would say about one alt text."""
        from alttext.lint import lint_alt

        return lint_alt(alt_text, file_name=file_name)

    def lint(self, *, under: str | None = None, errors_only: bool = False) -> Iterator[Finding]:
        """Every problem with the alt text of the files below ``under``, in path order."""
        from alttext.index.selection import iter_entries
        from alttext.lint import duplicate_keys, lint_entries

        duplicates = duplicate_keys(iter_entries(self.index, under=under, captioned_only=True))
        return lint_entries(iter_entries(self.index, under=under, include_failed=True), duplicates,
                            errors_only=errors_only)

    # -- writing alt text out ------------------------------------------------------------------------
    def _embed_options(self, **flags: Any) -> Any:
        from alttext.index.writeback import embed_options

        return embed_options(self.settings, **flags)

    def _existing_caption_reader(self) -> ExistingReader:
        from alttext.index.writeback import existing_caption_reader

        return existing_caption_reader(self.settings.lang)

    def embed(self, paths: Iterable[str] | None = None, *, fields: str | None = None, lang: str | None = None,
              sidecar: bool = False, sidecar_name: str | None = None, force: bool = False, backup: bool = False,
              dry_run: bool = False) -> EmbedRun:
        """Write alt text into the photos' metadata: the named files and folders, or (none named) every
        indexed file whose current alt text isn't in it yet. ``fields``: comma list of
        alt,description,exif,iptc,extdescr (ValueError for others). Nothing outside the paths named (none named:
        the scanned folders) is written: a file that links out is a failed result saying so."""
        from alttext.index.writeback import embed_targets, select_targets, write_roots

        options = self._embed_options(fields=fields, lang=lang, force_sidecar=sidecar, sidecar_name=sidecar_name,
                                      force=force, backup=backup, dry_run=dry_run)
        named = list(paths or []) or None
        targets, unknown = select_targets(self.index, named)
        return EmbedRun(unknown, embed_targets(self.index, targets, options, within=write_roots(self.index, named)),
                        len(targets))

    def export(self, fmt: str = "csv", *, under: str | None = None, status: str | None = None,
               relative_to: str | None = None, base_url: str | None = None) -> Iterator[str]:
        """Alt text of every captioned file, in path order, as csv, json, jsonl, html or md text chunks."""
        from alttext.web.export import export_rows, render

        if relative_to is None:
            relative_to = under
        if base_url and relative_to is None:
            raise ValueError("--base-url needs --relative-to DIR (or --under FOLDER) to know each file's URL path")
        rows = export_rows(self.index, under=under, status=status, relative_to=relative_to, base_url=base_url)
        return render(fmt, rows)

    def export_to_file(self, path: str, fmt: str = "csv", **filters: Any) -> None:
        """``export`` into ``path``, replaced atomically (readers never see half a file)."""
        from alttext.atomic_write import write_atomically

        write_atomically(path, (chunk.encode("utf-8") for chunk in self.export(fmt, **filters)))

    def apply_html(self, site_dir: str, *, site_root: str | None = None, fill_empty: bool = False,
                   replace: bool = False, reviewed_only: bool = False, dry_run: bool = False) -> Iterator[SitePage]:
        """Fill missing alt attributes in a static site's pages (only the alt attributes change). An empty
        ``alt=""`` marks a decorative picture on purpose: filled only with ``fill_empty``."""
        from alttext.web.html_alt import apply_to_site
        from alttext.web.site_images import CaptionLookup

        lookup = CaptionLookup(self.index, max_pixels=self.settings.max_image_pixels)
        return apply_to_site(site_dir, lookup, site_root=site_root, fill_empty=fill_empty, replace=replace,
                             reviewed_only=reviewed_only, dry_run=dry_run)

    # -- for a browser: photos by id, pages, thumbnails, uploads --------------------------------------
    def browse(self, query: str | None = None, *, mode: SearchMode = "auto", under: str | None = None,
               status: str | None = None, only: str | None = None, after: str | None = None, limit: int = 60
               ) -> BrowsePage:
        """A page of photos in path order (``after``: the previous page's cursor), or with a ``query`` the
        best matches. ``status`` filters by review status; ``only`` is "failed" or "missing-alt"."""
        if query and query.strip():
            results = self.search(query, limit=limit, under=under, status=status, mode=mode)
            return BrowsePage([PhotoCard(hit.file_id, hit.path, os.path.basename(hit.path), hit.alt_text, hit.status,
                                         hit.source, None) for hit in results], None)
        from alttext.index.selection import entries_page

        try:
            cursor = bytes.fromhex(after) if after else b""
        except ValueError:
            cursor = b""
        entries = entries_page(self.index, after=cursor, limit=limit, under=under, status=status,
                               include_failed=only is None and status is None, only=only)
        cards = [PhotoCard(e.file_id, e.path, e.name, e.alt_text, e.status, e.source, e.error) for e in entries]
        next_after = os.fsencode(entries[-1].path).hex() if len(entries) == limit else None
        return BrowsePage(cards, next_after)

    def path_of(self, file_id: int) -> str | None:
        from alttext.index.queries import file_identity

        found = file_identity(self.index, file_id) if file_id > 0 else None
        return found.path if found else None

    def file_id_of(self, path: str) -> int | None:
        """The id a browser knows this file by (None when the index has never seen it)."""
        from alttext.index.queries import file_id_of

        return file_id_of(self.index, path)

    def photo(self, file_id: int) -> dict[str, Any] | None:
        """``show()`` for the file with this id, plus its ``file_id`` and the ``lint`` problems of its alt text."""
        path = self.path_of(file_id)
        info = self.show(path) if path is not None else None
        if info is None:
            return None
        info["file_id"] = file_id
        info["lint"] = self.check_alt_text(info["alt_text"], os.path.basename(path or "")) if info["alt_text"] else []
        return info

    def thumbnail(self, file_id: int, size: int = 320) -> bytes:
        """A JPEG of the photo that fits ``size`` x ``size``, from the bounded thumbnail cache. Raises
        ``PhotoUnavailable``."""
        from alttext.images import ImageError, open_image
        from alttext.index.queries import file_identity
        from alttext.thumbnails import ThumbnailCache

        found = file_identity(self.index, file_id) if file_id > 0 else None
        if found is None:
            raise PhotoUnavailable(f"no photo with id {file_id}")
        if found.pixel_hash is None:
            raise PhotoUnavailable(f"{found.path}: not decoded yet ({found.state})")
        if self._thumbnails is None:
            self._thumbnails = ThumbnailCache(os.path.join(self.settings.cache_dir, "thumbnails"),
                                              self.settings.thumbnail_cache_mb * 1024 * 1024)
        try:
            return self._thumbnails.get(found.pixel_hash, size, lambda: open_image(
                found.path, max_pixels=self.settings.max_image_pixels, draft_size=size))
        except ImageError as exc:
            raise PhotoUnavailable(f"{found.path}: {exc}") from exc

    def undo_last(self, path: str) -> str | None:
        """Reverse the newest edit or approval of the file's picture, without a session's history (a
        browser); returns what was undone ("edit", "approve") or None. Raises ``ReviewError``."""
        from alttext.index.review import undo_last

        return undo_last(self.index, path)

    def retry(self, path: str) -> bool:
        """Try a failed file again (the daemon or the next scan reads it); False if it isn't failed."""
        from alttext.index.file_retries import retry_now

        return retry_now(self.index, path)

    def caption_uploads(self, uploads: Iterable[tuple[str, bytes]]) -> list[CaptionResult]:
        """Caption images sent as bytes (a browser's uploads), each on its own and timed; nothing is kept.
        A corrupt, oversized or bomb image is a result with an ``error``."""
        import time

        from PIL import Image as PILImage

        from alttext.images import ImageError, open_image

        captioner = self.load_captioner()
        draft = _draft_size(captioner)
        limit = self.settings.url_max_bytes

        def load(data: bytes) -> PILImage.Image:
            if len(data) > limit:
                raise ImageError(f"larger than {limit} bytes")
            return open_image(data, max_pixels=self.settings.max_image_pixels, draft_size=draft)

        results = []
        for name, data in uploads:  # one at a time, so each gets its own time
            started = time.monotonic()
            outcome = next(iter(captioner.caption_stream([data], load)))
            results.append(CaptionResult(name, False, outcome.alt_text, outcome.raw_caption, captioner.model_id,
                                         outcome.error, round(time.monotonic() - started, 3) if outcome.ok else None))
        return results

    def add_upload(self, name: str, data: bytes) -> str:
        """Keep an upload a person asked to add: written (never over another file) into the upload
        folder, then indexed like any scanned photo. Returns its path."""
        from alttext.atomic_write import write_atomically

        folder = os.path.abspath(os.path.expanduser(self.settings.upload_folder))
        os.makedirs(folder, exist_ok=True)
        stem, ext = os.path.splitext(os.path.basename(name.replace("\\", "/")) or "upload")
        stem = "".join(c if c.isalnum() or c in "-_ ." else "_" for c in stem).strip(". ") or "upload"
        path = os.path.join(folder, f"{stem}{ext.lower()}")
        counter = 1
        while os.path.lexists(path):
            counter += 1
            path = os.path.join(folder, f"{stem}-{counter}{ext.lower()}")
        write_atomically(path, [data])
        self.scan([folder])
        return path

    def activity(self) -> dict[str, Any]:
        """The daemon's (or a scan's) recent work: queue length, captions in the last hour and the rate
        per minute over the last 10 minutes, and the newest failures."""
        from datetime import UTC, datetime, timedelta

        from alttext.index.queries import file_state_counts, recent_activity

        now = datetime.now(UTC)
        hour = recent_activity(self.index, now - timedelta(hours=1))
        recent = recent_activity(self.index, now - timedelta(minutes=10), failures=0)
        return {"pending": file_state_counts(self.index).get("pending", 0), "captioned_last_hour": hour["captioned"],
                "rate_per_minute": round(recent["captioned"] / 10, 2), "recent_failures": hour["recent_failures"]}

    # -- creative variants ---------------------------------------------------------------------------
    def chat_configured(self) -> bool:
        """Is a chat endpoint (or key) configured for creative variants?"""
        return bool(self.settings.openai_base_url or self.settings.openai_api_key)

    def creative_variants(self, text: str, n: int = 3, style: str = "catchy") -> list[str]:
        """Variants of one text, not stored (a caption of an upload). Raises ``MissingCredentials``, or
        ``VariantError`` with the reason when the chat model gave none."""
        from alttext.variants import VariantClient, VariantError

        client = VariantClient.from_settings(self.settings)
        try:
            result = client.generate_variants(text, n, self.normalise_style(style))
        finally:
            client.close()
        if not result.texts:
            raise VariantError(result.error or "the chat model gave no variants")
        return list(result.texts)

    def _variants_client_or_none(self) -> Any:
        from alttext.variants import MissingCredentials, VariantClient

        try:
            return VariantClient.from_settings(self.settings)
        except MissingCredentials as exc:
            logger.warning("--variants: %s; running without variants", exc)
            return None

    @staticmethod
    def normalise_style(style: str) -> str:
        """A variants style as stored (``Catchy `` -> ``catchy``); ValueError for one that can't be a style."""
        from alttext.variants import normalise_style

        return normalise_style(style)

    def plan_variants(self, paths: Iterable[str], *, n: int = 3, style: str = "catchy", force: bool = False
                      ) -> tuple[DryRunPlan, list[tuple[str, str]]]:
        """The prompts ``variants`` would send and how many calls, without sending anything."""
        from alttext.library.variants_flow import plan_variants

        return plan_variants(self.index, paths, n=n, style=style, force=force)

    def variants(self, paths: Iterable[str], *, n: int = 3, style: str = "catchy", force: bool = False,
                 chat_model: str | None = None, progress: Progress | None = None) -> VariantsReport:
        """Ask the chat model for ``n`` creative variants of each named file's caption and store them.
        Raises ``MissingCredentials`` when no endpoint is configured. Failed requests stay queued."""
        from alttext.library.variants_flow import ask_for_variants
        from alttext.variants import VariantClient

        # The client first: missing credentials are reported before the index is opened (or created).
        client = VariantClient.from_settings(self.settings.replace(openai_model=chat_model))
        try:
            return ask_for_variants(self.index, client, paths, n=n, style=style, force=force, progress=progress)
        finally:
            client.close()


def _draft_size(captioner: Captioning) -> int | None:
    """Let JPEG decoding shrink big photos to twice the model's input side (never below it); a remote
    model's images are sent at most ``input_side`` pixels on a side."""
    remote_side = getattr(captioner, "input_side", None)
    if isinstance(remote_side, int):
        return remote_side
    processor = getattr(getattr(captioner, "loaded", None), "image_processor", None)
    size = getattr(processor, "size", None) or {}
    side = max((value for key, value in dict(size).items() if isinstance(value, int)), default=0)
    return side * 2 if side else None


def _log_embedded(target: Target, result: EmbedResult) -> None:
    logger = logging.getLogger("alttext.watch.embed")  # the daemon's log shows it at its default level
    if result.ok:
        logger.info("embedded alt text: %s (%s)", target.path, result.status)
    else:
        logger.warning("cannot embed alt text into %s: %s", target.path, result.error)
