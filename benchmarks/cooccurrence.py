"""Time the sparse co-occurrence count against the dense per-chunk reference on random firing.

Each feature fires in a chunk with its own probability, drawn from a
Beta(0.5, 0.5 (1 - f) / f) distribution of mean f (the firing fraction). Most
features are thus rare and a few are common, as SAE features are. Both
methods count the same firing matrix in one process, and the script exits with
status 1 if their counts differ. It logs the wall and CPU time of each method,
the speed ratios, the tracemalloc peak above the memory held before each
method, and the process's max RSS after each. The fast path runs 3 times by
default and its median times are used. CPU time is the steadier measure on a shared machine.

The reference adds one dense 16,384 x 16,384 outer product per chunk, which
took 0.3 to 0.6 s per chunk on a shared 2-core AMD EPYC machine. The default of
200 chunks therefore keeps a run at 16,384 features near 2 minutes there. The
fast path's cost is mostly one dense pass over the count matrix per 4096
chunks, so its lead grows with the number of chunks.

Usage: .venv/bin/python benchmarks/cooccurrence.py [--features 16384] [--chunks 200]
       [--firing-fraction 0.02] [--batch-chunks 64] [--fast-repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.geometry.cooccurrence import CooccurrenceCounts, count_cooccurrence, count_cooccurrence_reference

logger = logging.getLogger(__name__)

_MIB = 2**20


def random_firing(n_chunks: int, n_features: int, firing_fraction: float, seed: int) -> np.ndarray:
    """Draw a boolean firing matrix in which each feature has its own firing probability of mean `firing_fraction`."""
    rng = np.random.default_rng(seed)
    probabilities = rng.beta(0.5, 0.5 * (1 - firing_fraction) / firing_fraction, size=n_features)
    return rng.random((n_chunks, n_features), dtype=np.float32) < probabilities


@dataclass(frozen=True)
class Run:
    """Cost of one run of a counting method."""

    wall_seconds: float
    cpu_seconds: float
    traced_peak_bytes: int
    max_rss_bytes: int


def measure(method: Callable[[], CooccurrenceCounts]) -> tuple[CooccurrenceCounts, Run]:
    """Run `method` and return its counts and cost.

    The tracemalloc peak is taken above the memory traced before the run. Max
    RSS is the whole process's high-water mark so far, not this run's alone.
    """
    held_before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()

    wall_start = time.perf_counter()
    cpu_start = time.process_time()
    counts = method()
    cpu_seconds = time.process_time() - cpu_start
    wall_seconds = time.perf_counter() - wall_start

    _, peak = tracemalloc.get_traced_memory()
    # ru_maxrss is in KiB on Linux.
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return counts, Run(wall_seconds, cpu_seconds, peak - held_before, max_rss)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=16384, help="number of SAE features (default 16384)")
    parser.add_argument("--chunks", type=int, default=200, help="number of 256-token chunks (default 200)")
    parser.add_argument(
        "--firing-fraction",
        type=float,
        default=0.02,
        help="mean probability that a feature fires in a chunk, in (0, 1) (default 0.02)",
    )
    parser.add_argument(
        "--batch-chunks", type=int, default=64, help="chunks per batch passed to the fast path (default 64)"
    )
    parser.add_argument(
        "--fast-repeats", type=int, default=3, help="runs of the fast path; its median time is reported (default 3)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the firing matrix (default 0)")
    arguments = parser.parse_args()

    if not 0 < arguments.firing_fraction < 1:
        parser.error(f"--firing-fraction is {arguments.firing_fraction}; pass a probability strictly between 0 and 1")
    for name in ("features", "chunks", "batch_chunks", "fast_repeats"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name.replace('_', '-')} is {getattr(arguments, name)}; pass a positive integer")
    return arguments


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    arguments = parse_arguments()

    firing = random_firing(arguments.chunks, arguments.features, arguments.firing_fraction, arguments.seed)
    logger.info(
        "firing: %d chunks x %d features, %.4f of entries fire (target mean %.4f)",
        arguments.chunks,
        arguments.features,
        firing.mean(),
        arguments.firing_fraction,
    )
    batches = [firing[start : start + arguments.batch_chunks] for start in range(0, len(firing), arguments.batch_chunks)]

    # The fast path runs first, so that the max RSS after it is its own. It is
    # repeated and its median kept, because a run of about a second swings by
    # a factor of 2 or more on a shared machine.
    tracemalloc.start()
    fast_runs = []
    for _ in range(arguments.fast_repeats):
        fast = None  # frees the previous run's counts before this run allocates its own
        fast, run = measure(lambda: count_cooccurrence(batches, arguments.features))
        fast_runs.append(run)
    reference, reference_run = measure(lambda: count_cooccurrence_reference(firing, progress=True))
    tracemalloc.stop()

    identical = (
        fast.n_chunks == reference.n_chunks
        and np.array_equal(fast.fire_counts, reference.fire_counts)
        and np.array_equal(fast.pair_counts, reference.pair_counts)
    )
    if not identical:
        logger.error("counts differ between the fast path and the reference")
        return 1
    logger.info("counts identical (pair counts %s)", fast.pair_counts.dtype)

    fast_wall = float(np.median([run.wall_seconds for run in fast_runs]))
    fast_cpu = float(np.median([run.cpu_seconds for run in fast_runs]))
    logger.info(
        "time of the fast path: %.3f s wall, %.3f s CPU (medians of %d runs; wall %s)",
        fast_wall,
        fast_cpu,
        len(fast_runs),
        ", ".join(f"{run.wall_seconds:.3f}" for run in fast_runs),
    )
    logger.info(
        "time of the reference: %.3f s wall, %.3f s CPU", reference_run.wall_seconds, reference_run.cpu_seconds
    )
    logger.info(
        "speed ratio (reference / fast): %.1f wall, %.1f CPU",
        reference_run.wall_seconds / fast_wall,
        reference_run.cpu_seconds / fast_cpu,
    )
    logger.info(
        "tracemalloc peak: fast %.0f MiB, reference %.0f MiB",
        max(run.traced_peak_bytes for run in fast_runs) / _MIB,
        reference_run.traced_peak_bytes / _MIB,
    )
    logger.info(
        "max RSS of the process: %.0f MiB after the fast path, %.0f MiB after the reference",
        fast_runs[-1].max_rss_bytes / _MIB,
        reference_run.max_rss_bytes / _MIB,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
