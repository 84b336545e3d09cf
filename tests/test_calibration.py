"""Size and power of every claim test: false positives on null draws, passes on planted draws.

The draws are the same for every run (seeded), and the table they give is
the one `scripts/calibration_table.py` prints for the README.
"""

import pytest

from fixtures.calibration import CalibrationRow, calibrate, calibration_table
from harness.verdicts import CLAIMS

MIN_POWER = 0.9


@pytest.fixture(scope="module")
def calibration() -> dict[str, CalibrationRow]:
    return {row.claim: row for row in calibrate()}


@pytest.mark.parametrize("claim_id", list(CLAIMS))
def test_false_positive_rate_within_alpha(calibration, claim_id):
    row = calibration[claim_id]

    assert row.null_draws >= 200
    assert row.false_positive_rate <= row.false_positive_limit, calibration_table([row])


@pytest.mark.parametrize("claim_id", list(CLAIMS))
def test_power_at_planted_effect(calibration, claim_id):
    row = calibration[claim_id]

    assert row.power >= MIN_POWER, calibration_table([row])
