"""monitor.crypto: key files, encryption at rest, rotation, fingerprints."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from monitor.crypto import Vault, VaultError, create_key_file, fingerprint


def key_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    assert create_key_file(path)
    return path


def test_create_key_file_is_0600_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "secret.key"
    assert create_key_file(path) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_bytes()
    Fernet(content.strip())
    assert create_key_file(path) is False
    assert path.read_bytes() == content


def test_round_trip_and_ciphertext_hides_the_secret(tmp_path: Path) -> None:
    vault = Vault([key_file(tmp_path, "k")])
    secret = "THQWJ-secret-round-trip"
    first, second = vault.encrypt(secret), vault.encrypt(secret)
    assert first != second  # random IV: equal tokens are not recognisable in the database
    assert secret not in first and vault.decrypt(first) == secret and vault.decrypt(second) == secret
    assert vault.decrypt(vault.encrypt("zoë-東京")) == "zoë-東京"


def test_wrong_key_gives_a_clear_error_without_the_ciphertext(tmp_path: Path) -> None:
    ciphertext = Vault([key_file(tmp_path, "a")]).encrypt("THQWJ-x")
    with pytest.raises(VaultError, match=r"cannot be decrypted with the configured key\(s\)") as info:
        Vault([key_file(tmp_path, "b")]).decrypt(ciphertext)
    assert ciphertext not in str(info.value)
    with pytest.raises(VaultError, match="cannot be decrypted"):
        Vault([key_file(tmp_path, "c")]).decrypt("not-a-fernet-token")


def test_missing_unreadable_and_malformed_key_files(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match=f"key file {tmp_path / 'nope'} does not exist .*init"):
        Vault([tmp_path / "nope"])
    with pytest.raises(VaultError, match="cannot be read"):
        Vault([tmp_path])
    bad = tmp_path / "bad"
    bad.write_text("short\n")
    with pytest.raises(VaultError, match=f"key file {bad} does not hold a valid Fernet key"):
        Vault([bad])
    with pytest.raises(VaultError, match="no key file configured"):
        Vault([])


def test_rotation_newest_first(tmp_path: Path) -> None:
    old, new = key_file(tmp_path, "old"), key_file(tmp_path, "new")
    old_vault, both = Vault([old]), Vault([new, old])
    legacy = old_vault.encrypt("THQWJ-legacy")
    assert both.decrypt(legacy) == "THQWJ-legacy"  # old keys still decrypt
    assert both.needs_rotation(legacy)
    fresh = both.encrypt("THQWJ-fresh")  # the newest key encrypts
    assert not both.needs_rotation(fresh) and Vault([new]).decrypt(fresh) == "THQWJ-fresh"
    rotated = both.rotate(legacy)
    assert not both.needs_rotation(rotated)
    assert Vault([new]).decrypt(rotated) == "THQWJ-legacy"
    with pytest.raises(VaultError):
        old_vault.decrypt(rotated)
    with pytest.raises(VaultError, match="any configured key"):
        Vault([key_file(tmp_path, "other")]).rotate(legacy)


def test_from_keys() -> None:
    key = Fernet.generate_key()
    assert Vault.from_keys([key]).decrypt(Fernet(key).encrypt(b"x").decode()) == "x"


def test_fingerprint() -> None:
    assert fingerprint("THQWJ-abc") == hashlib.sha256(b"THQWJ-abc").hexdigest()[:12]
    assert len(fingerprint("x")) == 12 and fingerprint("x") != fingerprint("y")


def test_a_key_file_others_can_read_is_refused_not_used_silently(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    assert create_key_file(path)
    path.chmod(0o644)
    with pytest.raises(VaultError, match=r"can be read by other users \(mode 0644\): run `chmod 600"):
        Vault([path])
    path.chmod(0o600)
    assert Vault([path]).decrypt(Vault([path]).encrypt("x")) == "x"


def test_a_new_sqlite_database_is_private_whatever_the_umask(tmp_path: Path) -> None:
    import os

    from monitor.db.session import make_engine

    old = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'db' / 'monitor.sqlite3'}")
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        engine.dispose()
    finally:
        os.umask(old)
    assert (tmp_path / "db" / "monitor.sqlite3").stat().st_mode & 0o777 == 0o600
