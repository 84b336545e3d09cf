"""Galaxy scale: the shape of the SAE point cloud and its clustering across layers."""

import pytest

from harness.geometry.galaxy import measure_entropy_dip, measure_power_law, measure_sae_steeper, measure_slope_peaks_mid


@pytest.mark.claim("galaxy.power-law")
def test_power_law(galaxy_statistics, record_measurement):
    measurement = record_measurement(measure_power_law(galaxy_statistics))
    assert measurement.holds, measurement.message


@pytest.mark.claim("galaxy.slope-peaks-mid")
def test_slope_peaks_mid(galaxy_statistics, subject, record_measurement):
    measurement = record_measurement(measure_slope_peaks_mid(galaxy_statistics, subject.spec.n_layers))
    assert measurement.holds, measurement.message


@pytest.mark.claim("galaxy.sae-steeper")
def test_sae_steeper(galaxy_statistics, record_measurement):
    measurement = record_measurement(measure_sae_steeper(galaxy_statistics))
    assert measurement.holds, measurement.message


@pytest.mark.claim("galaxy.entropy-dip")
def test_entropy_dip(galaxy_statistics, subject, record_measurement):
    measurement = record_measurement(measure_entropy_dip(galaxy_statistics, subject.spec.n_layers))
    assert measurement.holds, measurement.message
