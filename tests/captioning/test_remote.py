"""The remote captioner (``--model openai:NAME``) against a fake OpenAI-compatible vision server on
127.0.0.1 (tests/captioning/vision_server.py): what arrives, and what 429, 500, silence, a slow drip,
garbage, huge and refusing replies come to. Every image ends captioned or with its own error; the
deadline holds; the key is nowhere but in the Authorization header."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from variants.fake_llm_server import TEST_API_KEY, FakeLLMServer, Reply, echo_authorization
from vision_server import MODEL, VisionServer, solid

from alttext.captioning.protocols import CaptionFailure
from alttext.captioning.remote import RemoteCaptioner, public_endpoint
from alttext.captioning.remote.breaker import Breaker
from alttext.captioning.remote.replies import ReplyUnusable, reply_text
from alttext.chat import Completion
from alttext.config import load_settings
from alttext.library import Library


@pytest.fixture
def vision() -> Iterator[VisionServer]:
    with FakeLLMServer() as chat:
        yield VisionServer(chat)


def captioner(server: VisionServer, **options: object) -> RemoteCaptioner:
    settings: dict[str, object] = {"endpoint": server.base_url, "api_key": TEST_API_KEY, "backoff_base": 0.01,
                                   "backoff_max": 0.05}
    settings.update(options)
    return RemoteCaptioner(f"openai:{MODEL}", **settings)  # type: ignore[arg-type]


def run(remote: RemoteCaptioner, *colours: str, size: tuple[int, int] = (64, 64)) -> list[str | CaptionFailure]:
    return list(remote.generate([remote.preprocess(solid(colour, size)) for colour in colours]))


def library(tmp_path: Path, server: VisionServer | FakeLLMServer, **overrides: object) -> Library:
    environ = {"ALTTEXT_CAPTION_ENDPOINT": server.base_url, "ALTTEXT_CAPTION_API_KEY": TEST_API_KEY}
    settings = load_settings(environ=environ, path=tmp_path / "none.toml")
    return Library(tmp_path / "index.sqlite3", settings=settings, model=f"openai:{MODEL}", **overrides)


# -- what arrives ---------------------------------------------------------------------------------------


def test_the_library_sends_an_upright_jpeg_of_at_most_1024_px_with_the_prompt_and_the_key(
        vision: VisionServer, tmp_path: Path) -> None:
    photo = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90°: upright it is 2000 x 3000
    solid("green", (3000, 2000)).save(photo, exif=exif.tobytes())

    with library(tmp_path, vision) as lib:
        [result] = list(lib.caption([str(photo)]))

    assert (result.ok, result.alt_text, result.model) == (True, "A green square.", f"openai:{MODEL}")
    assert vision.violations == []
    [seen] = vision.seen
    assert seen.size == (683, 1024)  # upright (portrait), longer side 1024
    assert seen.prompt.startswith("Write alt text for this image")
    assert seen.request.headers["authorization"] == f"Bearer {TEST_API_KEY}"
    assert seen.request.json["max_tokens"] == 60


def test_caption_prompt_and_max_tokens_settings_are_what_is_sent(vision: VisionServer, tmp_path: Path) -> None:
    photo = tmp_path / "red.png"
    solid("red").save(photo)
    with library(tmp_path, vision, caption_prompt="Say what you see, briefly.", max_tokens=12) as lib:
        [result] = list(lib.caption([str(photo)]))
    assert result.ok
    [seen] = vision.seen
    assert (seen.prompt, seen.request.json["max_tokens"]) == ("Say what you see, briefly.", 12)
    assert seen.size == (64, 64)  # never enlarged


def test_provenance_names_the_model_the_endpoint_and_the_prompts_never_the_key(vision: VisionServer) -> None:
    endpoint = f"http://user:s3cret-pass@127.0.0.1:{vision.chat.port}/v1?key=abc"
    remote = RemoteCaptioner(f"openai:{MODEL}", endpoint=endpoint, api_key=TEST_API_KEY, describe=True)
    assert remote.model_id == f"openai:{MODEL}"
    params = remote.generation_params
    assert params["endpoint"] == f"http://127.0.0.1:{vision.chat.port}/v1"
    assert params["prompt"].startswith("Write alt text") and params["description_prompt"].startswith("Describe")
    assert (params["max_tokens"], params["description_max_tokens"], params["image_max_side"]) == (60, 256, 1024)
    assert "s3cret" not in json.dumps(params) and TEST_API_KEY not in json.dumps(params) and "abc" not in repr(remote)
    assert public_endpoint("https://TOKEN123@[::1]:8443/v1/#frag") == "https://[::1]:8443/v1"


def test_the_served_model_name_is_the_revision(vision: VisionServer) -> None:
    vision.behaviours["red"] = [Reply.ok("A red square.", model=f"{MODEL}-2024-08-06")]
    remote = captioner(vision)
    assert run(remote, "red") == ["A red square."]
    assert remote.revision == f"{MODEL}-2024-08-06"


# -- concurrency and order ---------------------------------------------------------------------------------


def test_a_batch_runs_caption_concurrency_images_at_once_and_each_gets_its_own_caption(vision: VisionServer) -> None:
    vision.hold = 0.4
    colours = ["red", "green", "blue", "yellow", "purple", "orange", "cyan", "pink"]
    remote = captioner(vision, concurrency=4)
    started = time.monotonic()
    captions = run(remote, *colours)
    elapsed = time.monotonic() - started

    assert captions == [f"A {colour} square." for colour in colours]
    assert vision.most_in_flight == 4
    assert elapsed < 8 * 0.4  # not one at a time
    assert remote.batch_size == 8


# -- what goes wrong, per image -------------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out_then_captioned(vision: VisionServer) -> None:
    vision.behaviours["red"] = [Reply.error(429, "slow down", headers={"Retry-After": "1"}),
                                Reply.ok("A red square.")]
    assert run(captioner(vision), "red") == ["A red square."]
    first, second = vision.requests_for("red")
    assert 0.95 <= second.request.received_at - first.request.received_at < 3


def test_500s_until_the_retries_run_out_fail_that_image_only(vision: VisionServer) -> None:
    vision.behaviours["green"] = [Reply.error(500, "boom")]
    red, green, blue = run(captioner(vision, max_retries=3), "red", "green", "blue")

    assert (red, blue) == ("A red square.", "A blue square.")
    assert isinstance(green, CaptionFailure)
    assert green.message.startswith("HTTP 500 from http://127.0.0.1:") and "boom" in green.message
    assert green.message.endswith("(4 requests)")
    assert len(vision.requests_for("green")) == 4


@pytest.mark.parametrize("reply, expected", [
    (Reply(200, body=b"{not json"), "malformed reply"),
    (Reply(200, body={"id": "x", "object": "chat.completion", "created": 0, "model": MODEL, "choices": []}),
     "no choices[0].message.content"),
    (Reply.ok(""), "the model gave an empty reply"),
    (Reply.ok("I'm sorry, but I can't help with identifying people in images."), "the model declined"),
    (Reply.ok("**Alt text:** I cannot see the image."), "the model declined"),
    (Reply.error(404, 'model "vision-test" not found, try pulling it first'), "HTTP 404"),
])
def test_a_reply_without_alt_text_is_that_images_error(vision: VisionServer, reply: Reply, expected: str) -> None:
    vision.behaviours["red"] = [reply]
    red, blue = run(captioner(vision), "red", "blue")
    assert blue == "A blue square."
    assert isinstance(red, CaptionFailure) and expected in red.message, red
    assert len(vision.requests_for("red")) == 1  # none of these gets better by asking again


@pytest.mark.timeout(60)
@pytest.mark.parametrize("reply", [Reply.ok("A red square.").dripping(0.2), Reply.silent()],
                         ids=["slow-drip", "silent"])
def test_the_deadline_holds_per_image_across_retries(vision: VisionServer, reply: Reply) -> None:
    vision.behaviours["red"] = [reply]
    remote = captioner(vision, deadline=1.5)
    started = time.monotonic()
    red, blue = run(remote, "red", "blue")
    elapsed = time.monotonic() - started

    assert blue == "A blue square."
    assert isinstance(red, CaptionFailure)
    assert red.message.startswith("no complete reply from http://127.0.0.1:")
    assert "within 1.5 s (setting caption_deadline)" in red.message
    assert elapsed < 1.5 + 1.0, elapsed


@pytest.mark.timeout(60)
def test_the_deadline_covers_the_description_too(vision: VisionServer) -> None:
    def by_prompt(request):  # the alt text at once; the description drips past the deadline
        prompt = request.json["messages"][0]["content"][0]["text"]
        if prompt.startswith("Describe"):
            return Reply.ok("A long description.").dripping(0.2)
        return Reply.ok("A red square.", delay=0.8)

    vision.behaviours["red"] = [by_prompt]
    remote = captioner(vision, deadline=1.5, describe=True)
    started = time.monotonic()
    prepared = [remote.preprocess(solid("red"))]
    assert remote.generate(prepared) == ["A red square."]
    assert remote.describe(prepared) == [None]  # cut off at the image's deadline; the alt text stands
    assert time.monotonic() - started < 1.5 + 1.0


@pytest.mark.timeout(60)
def test_cancel_ends_a_batch_at_once_instead_of_waiting_out_the_deadline(vision: VisionServer) -> None:
    import threading

    vision.behaviours.update({colour: [Reply.silent()] for colour in ("red", "green", "blue")})
    remote = captioner(vision, deadline=60, concurrency=2)
    prepared = [remote.preprocess(solid(colour)) for colour in ("red", "green", "blue")]
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.extend(remote.generate(prepared)))
    worker.start()
    assert _wait_until(lambda: len(vision.seen) == 2), vision.seen  # two in flight, one waiting
    started = time.monotonic()
    remote.cancel()  # what generate does itself on Ctrl-C
    worker.join(10)
    assert not worker.is_alive() and time.monotonic() - started < 2
    assert all(isinstance(item, CaptionFailure) for item in outcome) and len(vision.seen) == 2
    assert outcome[2] == CaptionFailure("not asked: captioning was stopped")


def _wait_until(predicate, timeout: float = 10) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_a_huge_reply_stops_being_read_at_the_cap(vision: VisionServer) -> None:
    vision.behaviours["red"] = [Reply.huge(200 * 1024 * 1024)]
    started = time.monotonic()
    [red] = run(captioner(vision, max_reply_bytes=64 * 1024), "red")
    assert isinstance(red, CaptionFailure)
    assert "is larger than 65536 bytes" in red.message and "caption_max_reply_bytes" in red.message
    assert vision.chat.bytes_sent < 20 * 1024 * 1024  # reading stopped long before the 200 MB
    assert time.monotonic() - started < 10


def test_the_request_cap_counts_every_request_of_the_run(vision: VisionServer) -> None:
    vision.behaviours["red"] = [Reply.error(503, "busy"), Reply.ok("A red square.")]
    remote = captioner(vision, max_requests=3, concurrency=1)
    red, green, blue = run(remote, "red", "green", "blue")
    assert (red, green) == ("A red square.", "A green square.")
    assert isinstance(blue, CaptionFailure)
    assert blue.message == "request cap reached: 3 chat requests this run (setting caption_max_requests)"
    assert len(vision.seen) == 3


def test_an_endpoint_that_cannot_be_reached_is_asked_no_more_for_a_while(tmp_path: Path) -> None:
    with FakeLLMServer() as gone:
        url = gone.base_url
    remote = RemoteCaptioner(f"openai:{MODEL}", endpoint=url, concurrency=1, backoff_base=0.01, backoff_max=0.02)
    started = time.monotonic()
    outcomes = run(remote, *(["red"] * 6))
    assert all(isinstance(outcome, CaptionFailure) for outcome in outcomes)
    messages = [outcome.message for outcome in outcomes if isinstance(outcome, CaptionFailure)]
    assert all(message.startswith("cannot reach http://127.0.0.1:") for message in messages[:2])
    assert all(message.startswith("not asked: the endpoint could not be reached") for message in messages[2:])
    assert time.monotonic() - started < 10


def test_the_breaker_lets_one_image_try_after_the_cooldown() -> None:
    now = [0.0]
    breaker = Breaker(threshold=2, cooldown=30, clock=lambda: now[0])
    breaker.record("cannot reach x")
    assert breaker.refusal() is None  # one failure: still asking
    breaker.record("cannot reach x")
    assert breaker.refusal() == "cannot reach x"
    now[0] = 31
    assert breaker.refusal() is None  # the trial
    assert breaker.refusal() == "cannot reach x"  # only one at a time
    breaker.record(None)
    assert breaker.refusal() is None


# -- the key --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 401])
def test_a_server_that_echoes_the_key_gets_it_back_redacted(
        vision: VisionServer, status: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    vision.behaviours["red"] = [echo_authorization(status)]
    remote = captioner(vision)
    [red] = run(remote, "red")
    shown = red.message if isinstance(red, CaptionFailure) else red
    assert TEST_API_KEY not in shown and "[redacted]" in shown
    assert TEST_API_KEY not in caplog.text
    assert TEST_API_KEY not in json.dumps(remote.generation_params) + repr(remote) + str(remote.revision)


# -- two lengths of text ----------------------------------------------------------------------------------------


def test_describe_asks_a_second_prompt_and_keeps_each_images_description(vision: VisionServer, tmp_path: Path) -> None:
    def by_prompt(colour: str):
        def reply(request):
            prompt = request.json["messages"][0]["content"][0]["text"]
            if prompt.startswith("Describe"):
                return Reply.ok(f"A {colour} square fills\n the frame. " + "It is flat. " * 400)
            return Reply.ok(f"A {colour} square.")
        return reply

    for colour in ("red", "blue"):
        vision.behaviours[colour] = [by_prompt(colour)]
    for colour in ("red", "blue"):
        solid(colour).save(tmp_path / f"{colour}.png")
    with library(tmp_path, vision, describe=True) as lib:
        photos = [str(tmp_path / "red.png"), str(tmp_path / "blue.png")]
        results = {Path(result.location).stem: result for result in lib.caption(photos)}

    for colour in ("red", "blue"):
        result = results[colour]
        assert result.alt_text == f"A {colour} square."
        assert result.description and result.description.startswith(f"A {colour} square fills the frame. It is flat.")
        assert len(result.description) <= 2001  # the description's cap (and its ellipsis)
    prompts = sorted(seen.prompt.split()[0] for seen in vision.seen)
    assert prompts == ["Describe", "Describe", "Write", "Write"]
    described = [seen for seen in vision.seen if seen.prompt.startswith("Describe")]
    assert all(seen.request.json["max_tokens"] == 256 for seen in described)


def test_read_text_asks_for_the_text_and_folds_a_signs_words_into_its_alt_text(
        vision: VisionServer, tmp_path: Path) -> None:
    def by_prompt(alt: str, text: Reply) -> object:
        def reply(request):
            prompt = request.json["messages"][0]["content"][0]["text"]
            return text if prompt.startswith("Copy out") else Reply.ok(alt)
        return reply

    vision.behaviours["red"] = [by_prompt("A red sign on a pole.", Reply.ok('"NO\n PARKING"'))]
    vision.behaviours["blue"] = [by_prompt("A blue square.", Reply.ok("None."))]  # the prompt's "no text" answer
    vision.behaviours["green"] = [by_prompt("A green square.", Reply.error(400, "no"))]  # alt text stands
    vision.behaviours["yellow"] = [by_prompt("A yellow sign.", Reply.ok("I'm sorry, I can't read that."))]
    colours = ("red", "blue", "green", "yellow")
    for colour in colours:
        solid(colour).save(tmp_path / f"{colour}.png")
    with library(tmp_path, vision, read_text=True) as lib:
        results = {Path(result.location).stem: result for result in lib.caption(
            [str(tmp_path / f"{colour}.png") for colour in colours])}

    assert vision.violations == []
    assert (results["red"].alt_text, results["red"].image_text) == ('A red sign on a pole, reading "NO PARKING".',
                                                                   "NO PARKING")
    assert (results["blue"].alt_text, results["blue"].image_text) == ("A blue square.", None)
    assert (results["green"].ok, results["green"].alt_text, results["green"].image_text) == (
        True, "A green square.", None)
    assert (results["yellow"].alt_text, results["yellow"].image_text) == ("A yellow sign.", None)  # a refusal
    asked = [seen for seen in vision.seen if seen.prompt.startswith("Copy out")]
    assert sorted(seen.colour for seen in asked if seen.colour != "green") == ["blue", "red", "yellow"]
    assert all(seen.request.json["max_tokens"] == 128 for seen in asked)


def test_read_text_is_off_unless_asked_and_its_prompt_is_stored(vision: VisionServer) -> None:
    plain = captioner(vision)
    assert plain.read_text([plain.preprocess(solid("red"))]) is None
    assert "text_prompt" not in plain.generation_params
    reading = captioner(vision, read_text=True)
    prepared = [reading.preprocess(solid("red"))]
    assert reading.read_text(prepared) == ["A red square."]  # asked now: generate never saw this image
    assert reading.generation_params["text_prompt"].startswith("Copy out all legible text")
    assert [seen.prompt.split()[0] for seen in vision.seen] == ["Copy"]


# -- pieces ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, text", [
    ("Alt text: A dog on a beach.", "A dog on a beach."),
    ("**Caption:** A dog on a beach.", "A dog on a beach."),
    ("  A dog\n on a *beach*.  ", "A dog on a *beach*."),
    ("Image of a red bus", "Image of a red bus"),  # the lead-in is to_alt_text's to remove
    ("Sorry Not Sorry, a neon sign above a bar.", "Sorry Not Sorry, a neon sign above a bar."),
])
def test_reply_text_keeps_the_answer(raw: str, text: str) -> None:
    assert reply_text(Completion(raw, MODEL, "stop", 1)) == text


@pytest.mark.parametrize("completion, reason", [
    (Completion("I am unable to describe this image.", MODEL, "stop", 1), "the model declined"),
    (Completion("As an AI, I cannot see images.", MODEL, "stop", 1), "the model declined"),
    (Completion("A dog.", MODEL, "content_filter", 1), "content filter"),
    (Completion(None, MODEL, "stop", 1, refusal="I can't help with that."), "the model declined"),
    (Completion("  \n ", MODEL, "stop", 1), "empty reply"),
])
def test_reply_text_refuses(completion: Completion, reason: str) -> None:
    with pytest.raises(ReplyUnusable, match=reason):
        reply_text(completion)


def test_an_image_is_never_sent_above_1024_px_nor_enlarged() -> None:
    remote = RemoteCaptioner(f"openai:{MODEL}", endpoint="http://127.0.0.1:9/v1")
    big = remote.preprocess(solid("red", (4000, 1000)))
    small = remote.preprocess(solid("red", (300, 200)))
    assert (big.width, big.height) == (1024, 256) and (small.width, small.height) == (300, 200)
    assert Image.open(io.BytesIO(__import__("base64").b64decode(big.data_url.split(",", 1)[1]))).format == "JPEG"


# -- settings ------------------------------------------------------------------------------------------------


def test_the_key_is_read_from_the_environment_only_and_never_shown(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from alttext.cli import cli

    config = tmp_path / "config.toml"
    config.write_text('caption_api_key = "from-the-file-123"\ncaption_endpoint = "http://gpu:8000/v1"\n')
    settings = load_settings(environ={}, path=config)
    assert settings.caption_api_key is None and settings.caption_endpoint == "http://gpu:8000/v1"
    assert any("caption_api_key is read only from ALTTEXT_CAPTION_API_KEY" in w for w in settings.warnings)

    from_env = load_settings(environ={"ALTTEXT_CAPTION_API_KEY": TEST_API_KEY}, path=config)
    assert from_env.caption_api_key == TEST_API_KEY
    assert (from_env.caption_concurrency, from_env.caption_deadline, from_env.caption_max_requests) == (4, 120.0, None)

    result = CliRunner().invoke(cli, ["config", "--json"], env={"ALTTEXT_CONFIG": str(config),
                                                               "ALTTEXT_CAPTION_API_KEY": TEST_API_KEY})
    assert result.exit_code == 0, result.output
    assert TEST_API_KEY not in result.output
    shown = json.loads(result.stdout)["settings"]["caption_api_key"]
    assert shown == {"value": "set (hidden)", "source": "environment ALTTEXT_CAPTION_API_KEY"}


@pytest.mark.parametrize("name, value", [("caption_concurrency", "0"), ("caption_deadline", "-1"),
                                         ("caption_max_reply_bytes", "0")])
def test_unusable_limits_are_refused(tmp_path: Path, name: str, value: str) -> None:
    from alttext.config import ConfigError

    with pytest.raises(ConfigError, match=name):
        load_settings(environ={f"ALTTEXT_{name.upper()}": value}, path=tmp_path / "none.toml")


def test_an_openai_model_never_touches_the_hub(monkeypatch: pytest.MonkeyPatch, vision: VisionServer,
                                               tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from alttext.captioning import loading
    from alttext.captioning.factory import ModelSettingsError, build_captioner

    def no_hub(*args: object, **kwargs: object) -> bool:
        raise AssertionError("the hub was asked about a remote model")

    monkeypatch.setattr(loading, "hub_reachable", no_hub)
    monkeypatch.setattr(loading, "in_cache", no_hub)
    with pytest.raises(loading.ModelLoadError, match="nothing to fetch"):
        loading.fetch_model("openai:llava")
    with pytest.raises(loading.ModelLoadError, match="model behind caption_endpoint"):
        loading.load_model("openai:llava")
    settings = load_settings(environ={"ALTTEXT_CAPTION_ENDPOINT": vision.base_url}, path=tmp_path / "none.toml")
    vision.chat.script()  # GET /models is answered 404 by the fake: nothing to learn, no warning
    with caplog.at_level(logging.WARNING):
        remote = build_captioner(settings.replace(model="openai:llava", quantize="int8"))
    assert isinstance(remote, RemoteCaptioner) and remote.model_id == "openai:llava"
    assert "quantize apply to local models only" in caplog.text
    with pytest.raises(ModelSettingsError, match="needs the endpoint's model name"):
        build_captioner(settings.replace(model="openai:"))


def test_a_model_the_endpoint_does_not_list_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    listing = json.dumps({"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": "x"} for name in ("llava:latest", "qwen2.5vl:7b")
    ]}).encode()

    class Models(BaseHTTPRequestHandler):  # Ollama's GET /v1/models, and nothing else
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(listing)))
            self.end_headers()
            self.wfile.write(listing)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1"
        with caplog.at_level(logging.WARNING):
            RemoteCaptioner("openai:llava", endpoint=endpoint).check_endpoint()  # llava:latest is llava
            assert caplog.text == ""
            RemoteCaptioner("openai:moondream", endpoint=endpoint).check_endpoint()
    finally:
        server.shutdown()
        server.server_close()
    assert "does not list model 'moondream' (it lists: llava:latest, qwen2.5vl:7b)" in caplog.text
