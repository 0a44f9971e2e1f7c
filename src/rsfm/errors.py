"""Exceptions with messages that name the problem and the fix.

Every error a user can cause (config, input data, downloads) derives from RsfmError, so the CLI and Snakemake scripts
can print the message alone instead of a traceback.
"""

from __future__ import annotations


class RsfmError(Exception):
    """Base class: an error whose message tells the user what is wrong and what to do."""


class ConfigError(RsfmError):
    """The pipeline config is invalid (unknown key, wrong type, inconsistent values)."""


class DataError(RsfmError):
    """Input data is missing, unreadable or not in the expected layout."""


class DownloadError(RsfmError):
    """A download failed (network, HTTP status, truncated transfer)."""


class ChecksumError(DownloadError):
    """A file's size or checksum does not match the registry."""


class ManualDownloadRequired(RsfmError):
    """A dataset host needs registration or a form: the user must fetch the files and place them as told."""
