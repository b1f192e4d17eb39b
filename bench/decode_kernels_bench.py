"""The matrix products of vit-gpt2 decoding, per kernel, against plain ``addmm`` in the same run.

    python bench/decode_kernels_bench.py              # 1 thread, CPU time per call (robust on a busy machine)
    python bench/decode_kernels_bench.py --threads 2

For each shape (rows × in × out: 32 rows = 8 images × 4 beams; 1576 rows = 8 images × 197 ViT tokens):
fp32 ``addmm`` with GPT-2's (in, out) weight (what transformers runs), fp32 oneDNN with a prepacked weight
(``packed_linear.PackedLinear``), and dynamic int8 packed for the fbgemm and for the oneDNN quantized engine.
Each figure is the median of ``--repeats`` timings of ``--calls`` calls; the ratios are against ``addmm``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
import warnings
from collections.abc import Callable

SHAPES = ((32, 768, 2304), (32, 768, 768), (32, 768, 3072), (32, 3072, 768), (32, 768, 50257), (8, 768, 50257),
          (1576, 768, 3072), (1576, 3072, 768))


def _time(call: Callable[[], object], calls: int, repeats: int, clock: Callable[[], float]) -> float:
    for _ in range(3):
        call()
    runs = []
    for _ in range(repeats):
        started = clock()
        for _ in range(calls):
            call()
        runs.append((clock() - started) / calls)
    return statistics.median(runs)


def _figures(
    rows: int, inputs: int, outputs: int, engines: list[str], timed: Callable[[Callable[[], object]], float]
) -> dict[str, float]:
    """Seconds per call of each kernel for one shape."""
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear
    from torch.ao.quantization import default_dynamic_qconfig

    from alttext.captioning.packed_linear import PackedLinear, available

    x = torch.randn(rows, inputs)
    linear = torch.nn.Linear(inputs, outputs)
    weight_in_out = linear.weight.t().contiguous()  # GPT-2's Conv1D layout
    bias = linear.bias
    figures = {"addmm": timed(lambda: torch.addmm(bias, x, weight_in_out))}
    if available():
        packed = PackedLinear(linear.weight, bias)
        figures["onednn fp32"] = timed(lambda: packed(x))
    for engine in engines:
        torch.backends.quantized.engine = engine
        linear.qconfig = default_dynamic_qconfig  # type: ignore[assignment]
        figures[f"int8 {engine}"] = timed(functools.partial(DynamicInt8Linear.from_float(linear), x))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import torch

    warnings.simplefilter("ignore")  # torch.ao deprecation notices
    torch.set_num_threads(args.threads)
    # One thread: CPU time is the work done, whatever else runs. Several: wall time (they wait for each other).
    clock = time.process_time if args.threads == 1 else time.perf_counter
    torch.manual_seed(0)
    engines = [engine for engine in ("fbgemm", "onednn") if engine in torch.backends.quantized.supported_engines]
    print(f"{args.threads} thread(s), ms per call (× addmm's speed)")
    with torch.inference_mode():
        for rows, inputs, outputs in SHAPES:
            figures = _figures(rows, inputs, outputs, engines,
                               functools.partial(_time, calls=args.calls, repeats=args.repeats, clock=clock))
            base = figures["addmm"]
            cells = "  ".join(f"{name} {value * 1e3:.2f} ({base / value:.2f}×)" for name, value in figures.items())
            print(f"{rows:>5}×{inputs}×{outputs:<6} {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
