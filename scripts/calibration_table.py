"""Print the size and power table of every claim test (the README's calibration table).

Usage: `.venv/bin/python scripts/calibration_table.py [--null-draws 200] [--planted-draws 20]`.
Each scale's claims are measured on that many small Gaussian-null draws and
planted draws (fixtures/calibration.py); the run takes about 10 minutes on
two cores.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures.calibration import SCALES, calibrate, calibration_table  # noqa: E402

logger = logging.getLogger("calibration")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null-draws", type=int, default=200, help="null draws per scale (default: 200)")
    parser.add_argument("--planted-draws", type=int, default=20, help="planted draws per scale (default: 20)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default: 2)")
    parser.add_argument("--scales", default=",".join(SCALES), help="comma-separated scales (default: all)")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    scales = tuple(scale.strip() for scale in options.scales.split(","))
    rows = calibrate(scales, options.null_draws, options.planted_draws, options.processes, progress=lambda items, total: tqdm(items, total=total, desc="calibration draws"))
    sys.stdout.write(calibration_table(rows) + "\n")


if __name__ == "__main__":
    main()
