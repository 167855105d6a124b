"""Encryption at rest for token strings and inspector credentials, and fingerprints for display.

Secrets are encrypted with Fernet (AES-128-CBC + HMAC-SHA256). Several key files may be configured, newest
first: the newest encrypts, every key decrypts, so keys can be rotated without downtime
(`threads-token-monitor keys rotate` re-encrypts every stored secret with the newest key).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class VaultError(Exception):
    """A key file is missing or malformed, or a stored secret cannot be decrypted with any configured key."""


def fingerprint(secret: str) -> str:
    """A short, stable, non-reversible identifier for a secret: 12 hex chars of its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def new_key() -> bytes:
    """A new random key in the format a key file holds: 32 bytes, url-safe base64 (Fernet)."""
    return Fernet.generate_key()


def create_key_file(path: Path) -> bool:
    """Write a new Fernet key to `path` with mode 0600 unless the file exists. True when a key was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(new_key() + b"\n")
    return True


def _read_key(path: Path) -> Fernet:
    try:
        raw = path.read_bytes().strip()
    except FileNotFoundError:
        raise VaultError(f"key file {path} does not exist (run `threads-token-monitor init`)") from None
    except OSError as exc:
        raise VaultError(f"key file {path} cannot be read: {exc.strerror}") from None
    try:
        key = Fernet(raw)
    except (ValueError, TypeError):
        raise VaultError(
            f"key file {path} does not hold a valid Fernet key (32 url-safe base64 bytes)"
        ) from None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise VaultError(
            f"key file {path} can be read by other users (mode {mode:04o}): run `chmod 600 {path}`; "
            "whoever reads it can decrypt every stored token"
        )
    return key


class Vault:
    """Encrypts and decrypts secrets with the configured keys (newest first)."""

    def __init__(self, key_files: Sequence[Path]) -> None:
        if not key_files:
            raise VaultError("no key file configured ([security] key_file)")
        self.key_files = tuple(key_files)
        self._fernets = [_read_key(p) for p in self.key_files]
        self._multi = MultiFernet(self._fernets)

    @classmethod
    def from_keys(cls, keys: Sequence[bytes]) -> Vault:
        """A vault over in-memory keys (tests, benchmarks)."""
        vault = cls.__new__(cls)
        vault.key_files = ()
        vault._fernets = [Fernet(k) for k in keys]
        vault._multi = MultiFernet(vault._fernets)
        return vault

    def encrypt(self, secret: str) -> str:
        return self._multi.encrypt(secret.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._multi.decrypt(ciphertext.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise VaultError(
                "a stored secret cannot be decrypted with the configured key(s): "
                "is [security] key_file the key this database was written with?"
            ) from None

    def needs_rotation(self, ciphertext: str) -> bool:
        """True when `ciphertext` was not written by the newest key."""
        try:
            self._fernets[0].decrypt(ciphertext.encode("ascii"))
        except InvalidToken:
            return True
        return False

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt `ciphertext` with the newest key (keeps its original timestamp)."""
        try:
            return self._multi.rotate(ciphertext.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise VaultError("a stored secret cannot be decrypted with any configured key") from None
