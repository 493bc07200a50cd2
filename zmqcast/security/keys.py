"""CURVE key files: writing keypairs, and reading public and secret keys safely.

Keys are stored in pyzmq's ``zmq.auth`` certificate format: ``NAME.key`` holds
the public key, ``NAME.key_secret`` both keys. A secret key file must be
readable by its owner alone (mode ``0600``); one that the group or others may
read or write is refused, as ssh refuses such a private key.

This module knows nothing of cluster configs: its errors are
:class:`KeyFileError` with a plain message, which the config loader and the
node turn into a :class:`~zmqcast.config.ConfigError` naming the field.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import tempfile
from pathlib import Path

import zmq
import zmq.auth
from zmq.utils import z85

from zmqcast.fsutil import write_atomic

PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
_Z85_KEY = re.compile(r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}")
"""A 32-byte key in Z85: 40 characters of the Z85 alphabet."""


class KeyFileError(ValueError):
    """A key file or key text that cannot be used; the message says why."""


def check_z85_key(text: object) -> bytes:
    """``text`` as a Z85 key (``bytes``), if it is one; :class:`KeyFileError` otherwise."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if not isinstance(text, str) or not _Z85_KEY.fullmatch(text):
        raise KeyFileError("must be a CURVE key: 40 characters of Z85 text")
    try:
        raw = z85.decode(text.encode("ascii"))
    except (ValueError, struct.error, KeyError, IndexError) as exc:  # pragma: no cover
        raise KeyFileError(f"not valid Z85: {exc}") from None
    if len(raw) != 32:  # pragma: no cover - 40 characters always decode to 32 bytes
        raise KeyFileError("must decode to 32 bytes")
    return text.encode("ascii")


def _load_certificate(path: Path) -> tuple[bytes, bytes | None]:
    """pyzmq's reading of a certificate file, with its errors as :class:`KeyFileError`."""
    try:
        return zmq.auth.load_certificate(path)
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise KeyFileError(f"{path} holds no public key") from None


def read_public_key(path: Path) -> bytes:
    """The public key (Z85) in the certificate file ``path``."""
    public, _secret = _load_certificate(path)
    try:
        return check_z85_key(public)
    except KeyFileError as exc:
        raise KeyFileError(f"{path}: public key {exc}") from None


def read_secret_key(path: Path) -> tuple[bytes, bytes]:
    """``(public, secret)`` (Z85) from the secret key file ``path``.

    Refused: a file the group or others may access (its mode must be
    ``0600`` or stricter), one that is not a regular file, one without a
    secret key, and one whose public key does not belong to its secret key.
    """
    try:
        info = path.stat()
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(f"{path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"{path} is open to others (mode {mode:04o}); "
            f"a secret key must be readable by its owner alone: chmod 600 {path}"
        )
    public, secret = _load_certificate(path)
    if secret is None:
        raise KeyFileError(f"{path} holds no secret key (is it the public .key file?)")
    try:
        public, secret = check_z85_key(public), check_z85_key(secret)
    except KeyFileError as exc:
        raise KeyFileError(f"{path}: {exc}") from None
    if zmq.curve_public(secret) != public:
        raise KeyFileError(f"{path}: its public key does not belong to its secret key")
    return public, secret


def write_keypair(directory: Path, name: str, *, overwrite: bool = False) -> tuple[Path, Path]:
    """A new keypair as ``directory/NAME.key`` (mode 0644) and ``NAME.key_secret`` (0600).

    pyzmq writes the certificates, in a private temporary directory, so the
    secret never sits in a file that others may read, not even for a moment;
    each file is then moved into place atomically. :class:`KeyFileError` if a
    file exists already and ``overwrite`` is off.
    """
    public_path = directory / f"{name}{PUBLIC_SUFFIX}"
    secret_path = directory / f"{name}{SECRET_SUFFIX}"
    if not overwrite:
        for path in (public_path, secret_path):
            if path.exists():
                raise KeyFileError(f"{path} exists already (--force replaces it)")
    with tempfile.TemporaryDirectory(prefix=".zmqcast-keys-") as scratch:
        # TemporaryDirectory is created with mode 0700.
        made_public, made_secret = zmq.auth.create_certificates(scratch, name)
        public_text = Path(made_public).read_bytes()
        secret_text = Path(made_secret).read_bytes()
    # write_atomic creates its file with mkstemp, mode 0600, before a byte is written.
    write_atomic(secret_path, secret_text)
    os.chmod(secret_path, 0o600)
    write_atomic(public_path, public_text)
    os.chmod(public_path, 0o644)
    return public_path, secret_path
