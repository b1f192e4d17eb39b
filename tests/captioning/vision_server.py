"""A fake OpenAI-compatible *vision* server: the variants' fake chat server (tests/variants/fake_llm_server.py,
real sockets on 127.0.0.1) answering each request from the picture it carries.

Every chat request is checked as it arrives (``check``): one user message with the prompt as text and the
picture as a ``data:image/jpeg;base64,`` URL that decodes to a JPEG no larger than 1024 px, the model
name, and a Bearer key. A request that breaks a rule is answered 400 and recorded in ``violations``, so a
test sees it even where the captioner would turn the 400 into an image's error.

The picture says what happens: ``behaviours`` maps a colour name (the nearest of ``COLOURS`` to the
picture's mean colour) to a list of replies, played in order for that colour, the last one repeated;
a colour not in the map is answered "A {colour} square." So under concurrency each image still gets
its own answers, and a test can tell which image a request was for.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PIL import Image
from variants.fake_llm_server import FakeLLMServer, RecordedRequest, Reply

COLOURS = {
    "red": (220, 30, 30), "green": (30, 180, 60), "blue": (30, 60, 220), "yellow": (240, 220, 40),
    "purple": (140, 40, 160), "orange": (250, 140, 20), "white": (250, 250, 250), "black": (5, 5, 5),
    "grey": (128, 128, 128), "cyan": (30, 200, 210), "pink": (250, 160, 190), "brown": (120, 70, 30),
}
MODEL = "vision-test"


@dataclass
class Seen:
    """One chat request as the vision server understood it."""

    colour: str
    prompt: str
    size: tuple[int, int]
    jpeg_bytes: int
    request: RecordedRequest


@dataclass
class VisionServer:
    chat: FakeLLMServer
    behaviours: dict[str, Sequence[Reply | Callable[[RecordedRequest], Reply]]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    hold: float = 0.1  # seconds each request is held before its reply is chosen
    in_flight: int = 0
    most_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._played: dict[str, int] = defaultdict(int)
        self.chat.default = self._answer

    @property
    def base_url(self) -> str:
        return self.chat.base_url

    def requests_for(self, colour: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.colour == colour]

    def _answer(self, request: RecordedRequest) -> Reply:
        try:
            seen = check(request)
        except AssertionError as exc:
            with self._lock:
                self.violations.append(str(exc))
            return Reply.error(400, f"fake vision server: {exc}")
        with self._lock:
            self.seen.append(seen)
            replies = self.behaviours.get(seen.colour)
            index = self._played[seen.colour]
            self._played[seen.colour] += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.hold)  # so that concurrent requests overlap, and are counted
            if not replies:
                return Reply.ok(f"A {seen.colour} square.")
            reply = replies[min(index, len(replies) - 1)]
            return reply(request) if callable(reply) else reply
        finally:
            with self._lock:
                self.in_flight -= 1


def check(request: RecordedRequest) -> Seen:
    """The request's picture and prompt; AssertionError when it is not what a vision request must be."""
    body = request.json
    assert isinstance(body, dict), "the body is not JSON"
    assert body.get("model") == MODEL, f"model {body.get('model')!r}"
    assert body.get("stream") is False, "not a non-streaming request"
    assert request.headers.get("authorization", "").startswith("Bearer "), "no Bearer key"
    messages = body.get("messages")
    assert isinstance(messages, list) and len(messages) == 1 and messages[0].get("role") == "user", "one user turn"
    parts = messages[0].get("content")
    assert isinstance(parts, list), "content is not a list of parts"
    texts = [part["text"] for part in parts if part.get("type") == "text"]
    urls = [part["image_url"]["url"] for part in parts if part.get("type") == "image_url"]
    assert len(texts) == 1 and texts[0].strip(), "one text part: the prompt"
    assert len(urls) == 1, "one image part"
    prefix = "data:image/jpeg;base64,"
    assert urls[0].startswith(prefix), f"not a JPEG data URL: {urls[0][:40]!r}"
    data = base64.b64decode(urls[0][len(prefix):], validate=True)
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == "JPEG", picture.format
        assert max(picture.size) <= 1024, f"{picture.size} is over 1024 px"
        size = picture.size
        mean = picture.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    colour = min(COLOURS, key=lambda name: sum((a - b) ** 2 for a, b in zip(COLOURS[name], mean, strict=True)))
    return Seen(colour, texts[0], size, len(data), request)


def solid(colour: str, size: tuple[int, int] = (64, 64)) -> Image.Image:
    return Image.new("RGB", size, COLOURS[colour])
