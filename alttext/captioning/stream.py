"""Captioning a stream of items with any ``CaptionModel``: decoding runs ahead of the model.

``caption_stream`` takes any sequence of items plus a function that decodes one item into an image; a
small thread pool decodes and preprocesses the next batches while the model works on the current one
(Pillow releases the GIL), and a bounded window keeps memory flat however many items come through.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from alttext.alt_text import to_alt_text
from alttext.captioning.protocols import CaptionFailure
from alttext.images import ImageError
from alttext.text_in_image import fold_image_text

if TYPE_CHECKING:
    from PIL import Image

    from alttext.captioning.protocols import CaptionModel

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class CaptionOutcome(Generic[T]):
    """What happened to one input item: a caption, or an error message (never both)."""

    item: T
    raw_caption: str | None = None
    alt_text: str | None = None
    error: str | None = None
    description: str | None = None  # the long description, where asked for and the model gives one
    image_text: str | None = None  # text read in the picture, where asked for (folded into alt_text if mostly text)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def caption_stream(
    model: CaptionModel,
    items: Iterable[T],
    load: Callable[[T], Image.Image],
    *,
    workers: int = 2,
) -> Iterator[CaptionOutcome[T]]:
    """Caption every item, in input order; a failing item yields an outcome with ``error`` set.

    Decoding runs up to two batches ahead of the model in ``workers`` threads.
    """

    def prepare(item: T) -> Any:
        return model.preprocess(load(item))

    batch_size = model.batch_size
    window = batch_size * 2
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alttext-decode") as pool:
        pending: deque[tuple[T, Future[Any]]] = deque()
        iterator = iter(items)
        exhausted = False
        while True:
            while not exhausted and len(pending) < window + batch_size:
                try:
                    item = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                pending.append((item, pool.submit(prepare, item)))
            if not pending:
                return
            batch_items: list[tuple[T, Any]] = []
            failed: list[CaptionOutcome[T]] = []
            order: list[tuple[T, int | None]] = []
            while pending and len(batch_items) < batch_size:
                item, future = pending.popleft()
                try:
                    pixels = future.result()
                except ImageError as exc:
                    failed.append(CaptionOutcome(item, error=str(exc)))
                    order.append((item, None))
                    continue
                except Exception as exc:  # a decoder bug must not stop the batch
                    logger.debug("unexpected error preparing %r", item, exc_info=True)
                    failed.append(CaptionOutcome(item, error=f"cannot prepare image: {exc}"))
                    order.append((item, None))
                    continue
                order.append((item, len(batch_items)))
                batch_items.append((item, pixels))
            captions: list[str | CaptionFailure] = []
            descriptions: list[str | None] | None = None
            image_texts: list[str | None] | None = None
            if batch_items:
                prepared = [pixels for _, pixels in batch_items]
                captions = list(model.generate(prepared))
                try:
                    descriptions = model.describe(prepared)
                except Exception:  # the alt text is made: a failed description must not cost it
                    logger.exception("describing a batch failed; its alt text is kept")
                try:
                    image_texts = model.read_text(prepared)
                except Exception:  # nor a failed reading of the text
                    logger.exception("reading the text of a batch failed; its alt text is kept")
            failures = iter(failed)
            for item, index in order:
                if index is None:
                    yield next(failures)
                    continue
                raw = captions[index]
                if isinstance(raw, CaptionFailure):
                    yield CaptionOutcome(item, error=raw.message)
                    continue
                alt = to_alt_text(raw)
                if alt:
                    described = descriptions[index] if descriptions is not None else None
                    read = image_texts[index] if image_texts is not None else None
                    yield CaptionOutcome(item, raw_caption=raw, alt_text=fold_image_text(alt, read),
                                         description=described, image_text=read)
                else:
                    yield CaptionOutcome(item, raw_caption=raw, error="the model produced no caption")
