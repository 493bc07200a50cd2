"""The example cluster configs shipped with the package (``zmqcast config``).

This directory is the source of the shipped configs: setuptools installs its
``*.json`` as package data, so they exist wherever zmqcast is installed. The
checkout's top-level ``configs/`` holds the same files byte for byte, for the
paths README uses (``configs/local3.json``); a test keeps the two identical.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

SUFFIX = ".json"


def _directory() -> Traversable:
    return files(__name__)


def names() -> list[str]:
    """The shipped configs' names (``local3``, ...), sorted."""
    return sorted(
        entry.name.removesuffix(SUFFIX)
        for entry in _directory().iterdir()
        if entry.name.endswith(SUFFIX) and entry.is_file()
    )


def read(name: str) -> bytes:
    """The shipped config ``name`` (``local3`` or ``local3.json``), as its file's bytes.

    Raises :class:`KeyError` if no shipped config has that name.
    """
    stem = name.removesuffix(SUFFIX)
    if stem not in names():
        raise KeyError(name)
    return _directory().joinpath(stem + SUFFIX).read_bytes()
