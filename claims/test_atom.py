"""Atom scale: crystals of word-pair differences, sharpened by LDA and tested on held-out pairs."""

import pytest

from harness.geometry.atom import measure_lda_sharpens, measure_length_distractor, measure_parallelograms, measure_relation_clusters


@pytest.mark.claim("atom.relation-clusters")
def test_relation_clusters(atom_statistics, record_measurement):
    measurement = record_measurement(measure_relation_clusters(atom_statistics))
    assert measurement.holds, measurement.message


@pytest.mark.claim("atom.lda-sharpens")
def test_lda_sharpens(atom_statistics, record_measurement):
    measurement = record_measurement(measure_lda_sharpens(atom_statistics))
    assert measurement.holds, measurement.message


@pytest.mark.claim("atom.length-distractor")
def test_length_distractor(atom_statistics, record_measurement):
    measurement = record_measurement(measure_length_distractor(atom_statistics))
    assert measurement.holds, measurement.message


@pytest.mark.claim("atom.parallelograms")
def test_parallelograms(atom_statistics, record_measurement):
    measurement = record_measurement(measure_parallelograms(atom_statistics))
    assert measurement.holds, measurement.message
