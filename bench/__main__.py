"""python -m bench [suite|latency|load|scaling|realtext|report] [options]: the benchmarks, run from the repository root.

    suite     (the default) speed, memory and quality of the shipped checkpoints side by side
    latency   the app's own figures: start-up, first frame, every tab's handler, memory
    load      many visitors at once against one app process
    scaling   quality against training compute; --throughput: cost per step and data-parallel scaling
    realtext  the checkpoints trained on the shipped free-form English corpus, each through `evaluate`
    report    rewrite docs/benchmarks.md from bench/results/ (--check: fail if it is stale)
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {"suite": "bench.suite", "latency": "bench.latency", "load": "bench.load", "scaling": "bench.scaling",
            "realtext": "bench.realtext", "report": "bench.report"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    name = argv.pop(0) if argv and argv[0] in COMMANDS else "suite"
    return importlib.import_module(COMMANDS[name]).main(argv)


if __name__ == "__main__":
    sys.exit(main())
