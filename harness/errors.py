"""Errors the harness raises for bad input, each with a one-line message."""


class HarnessError(Exception):
    """Bad input or a missing resource; the message names the input and the fix."""


class SubjectError(HarnessError):
    """An unknown subject, a malformed subject file or a layer out of range."""


class SAEFileError(HarnessError):
    """An SAE file that is corrupt, mismatched with its model, or contains NaN weights."""


class RelationFileError(HarnessError):
    """A relation word-pair file that is missing, malformed or repeats a word."""


class HubUnavailableError(HarnessError):
    """A hub model or SAE that is neither in the Hugging Face cache nor downloadable."""
