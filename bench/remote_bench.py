"""The remote captioner (``--model openai:NAME``, docs/architecture.md §14): throughput against a server of
fixed latency, by ``caption_concurrency``, and what each photo costs the machine that sends it.

A stand-in for a GPU server runs on 127.0.0.1 in this process: it answers every chat request after
``--latency`` seconds (any number at once, like vLLM's batching or a fleet behind a load balancer) with a
short caption, after decoding the JPEG it was sent (so a bad request fails the run). Photos are camera-size
JPEGs (scikit-image's bundled photos upscaled with noise, ``--megapixels``). Each run goes through
``Library.caption``, the path of ``alttext caption``: decode at draft scale, shrink to 1024 px, JPEG, send.

Reported per concurrency: images/s and its ratio to concurrency 1 (the baseline, same run, same photos),
and client CPU seconds per photo (decode + encode + HTTP: what a small NAS pays). The ideal ratio is the
concurrency itself, while the client's CPU keeps up.

    python bench/remote_bench.py                         # 24 photos of 12 MP, latency 0.5 s, 1/2/4/8
    python bench/remote_bench.py --quick                 # 8 photos of 2 MP, latency 0.2 s, 1/4
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alttext.config import load_settings
from alttext.library import Library


def make_photos(folder: Path, count: int, megapixels: float) -> list[Path]:
    from skimage import data

    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = width * 3 // 4
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        base = Image.fromarray(sources[index % len(sources)]).resize((width, height), Image.Resampling.BICUBIC)
        noisy = np.asarray(base, dtype=np.int16) + rng.integers(-12, 13, (height, width, 3), dtype=np.int16)
        path = folder / f"photo-{index:03d}.jpg"
        Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(path, quality=92)
        paths.append(path)
    return paths


def start_server(latency: float) -> tuple[ThreadingHTTPServer, list[tuple[int, int]]]:
    sizes: list[tuple[int, int]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._send(404, b'{"error": {"message": "no models here"}}')

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            url = body["messages"][0]["content"][1]["image_url"]["url"]
            with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as picture:
                sizes.append(picture.size)
            time.sleep(latency)  # the model's time
            reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": "A photo on a table."}}]}
            self._send(200, json.dumps(reply).encode())

        def _send(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, sizes


def run(photos: list[Path], endpoint: str, concurrency: int) -> dict[str, float]:
    settings = load_settings(environ={"ALTTEXT_CAPTION_ENDPOINT": endpoint}, path=Path(os.devnull + ".toml"))
    with tempfile.TemporaryDirectory() as home, Library(Path(home) / "index.sqlite3", settings=settings,
                                                        model="openai:bench", caption_concurrency=concurrency,
                                                        batch_size=concurrency) as library:
        library.load_captioner()  # the endpoint check is not part of the figure
        cpu, wall = time.process_time(), time.perf_counter()
        results = list(library.caption(map(str, photos)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    failed = [result.error for result in results if not result.ok]
    if failed:
        raise SystemExit(f"concurrency {concurrency}: {len(failed)} failed, e.g. {failed[0]}")
    return {"images_per_s": len(photos) / wall, "cpu_s_per_image": cpu / len(photos)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds the server takes per request")
    parser.add_argument("--concurrency", default="1,2,4,8")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.photos, args.megapixels, args.latency, args.concurrency = 8, 2.0, 0.2, "1,4"
    levels = [int(level) for level in args.concurrency.split(",")]
    server, sizes = start_server(args.latency)
    try:
        with tempfile.TemporaryDirectory() as folder:
            photos = make_photos(Path(folder), args.photos, args.megapixels)
            figures = {level: run(photos, f"http://127.0.0.1:{server.server_address[1]}/v1", level)
                       for level in levels}
    finally:
        server.shutdown()
    base = figures[levels[0]]["images_per_s"]
    print(f"{args.photos} photos of {args.megapixels:g} MP, server latency {args.latency:g} s;"
          f" sent at most {max(max(size) for size in sizes)} px; load {os.getloadavg()[0]:.2f}")
    print(f"{'concurrency':>11}  {'images/s':>8}  {'ratio':>6}  {'client CPU s/image':>18}")
    for level, figure in figures.items():
        print(f"{level:>11}  {figure['images_per_s']:>8.2f}  {figure['images_per_s'] / base:>6.2f}"
              f"  {figure['cpu_s_per_image']:>18.3f}")
    if args.json:
        args.json.write_text(json.dumps({str(level): figure for level, figure in figures.items()}, indent=2))


if __name__ == "__main__":
    main()
