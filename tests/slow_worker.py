"""``python tests/slow_worker.py SECONDS ALTTEXT-ARGS...``: the real ``alttext`` command, with the captioner's
``generate`` taking SECONDS longer per image, as a bigger model would. The fault tests use it so that there
is a batch in flight to kill or stop; everything else (claims, leases, signals, reconnecting) is the product's.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def main() -> None:
    delay = float(sys.argv.pop(1))
    from alttext.captioning import engine

    generate = engine.Captioner.generate

    def slow_generate(self: Any, batch: Any) -> list[str]:
        time.sleep(delay * len(batch))
        return generate(self, batch)

    engine.Captioner.generate = slow_generate  # type: ignore[method-assign]
    from alttext.cli import main as alttext_main

    sys.argv[0] = "alttext"
    alttext_main()


if __name__ == "__main__":
    main()
