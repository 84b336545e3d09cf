"""Brain scale: lobes of co-occurring features, tested against their geometry and genres."""

import pytest

from harness.geometry.brain import measure_lobes_ami, measure_lobes_predictable, measure_math_code_lobe, measure_phi_strongest


@pytest.mark.claim("brain.lobes-ami")
def test_lobes_ami(brain_statistics, record_measurement):
    measurement = record_measurement(measure_lobes_ami(brain_statistics))
    assert measurement.holds, measurement.message


@pytest.mark.claim("brain.lobes-predictable")
def test_lobes_predictable(brain_statistics, record_measurement):
    measurement = record_measurement(measure_lobes_predictable(brain_statistics))
    assert measurement.holds, measurement.message


@pytest.mark.claim("brain.phi-strongest")
def test_phi_strongest(brain_statistics, record_measurement):
    measurement = record_measurement(measure_phi_strongest(brain_statistics))
    assert measurement.holds, measurement.message


@pytest.mark.claim("brain.math-code-lobe")
def test_math_code_lobe(brain_statistics, record_measurement):
    measurement = measure_math_code_lobe(brain_statistics)
    if measurement is None:
        pytest.skip("not evaluable: the corpus needs both code-or-math chunks and prose chunks")
    record_measurement(measurement)
    assert measurement.holds, measurement.message
