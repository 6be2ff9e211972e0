"""The app benchmark's own arithmetic: spreads of repeats, resident memory read from /proc."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_latency", ROOT / "bench" / "latency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spread_is_median_min_max(bench):
    assert bench.spread([3.0, 1.0, 2.0, 10.0]) == {"median": 2.5, "min": 1.0, "max": 10.0, "repeats": 4}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_rss_of_this_process_is_plausible(bench):
    import resource

    import psutil

    own = psutil.Process().memory_info().rss / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    assert 10 < own <= peak + 1
    # the whole tree: this process and its children (the session's Chromium, once a browser test has started it)
    children = sum(c.memory_info().rss for c in psutil.Process().children(recursive=True)) / 2**20
    assert bench.rss_mb(os.getpid()) == pytest.approx(own + children, abs=20)
    assert bench.rss_mb(2**22 + 12345) == 0  # no such process


def test_machine_names_the_cpu_and_torch(bench):
    info = bench.machine()
    assert info["cores"] == os.cpu_count() and info["torch"].startswith("2.13") and info["cpu"]
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
