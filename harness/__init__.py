"""concept-geometry: the claims of "The Geometry of Concepts: Sparse Autoencoder
Feature Structure" (Li et al., arXiv 2410.19750) as tests against nulls.

The pipeline runs from a subject (a model, its SAEs and a corpus) through
activations and SAE decoder point clouds to one measurement per claim; see
README.md for the layout.
"""

__version__ = "0.1.0"
