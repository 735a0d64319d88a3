"""Where the master key comes from: a named file, the environment, or the store folder's own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from databright.store import BlobStore, StoreError
from databright.store.lib.keys import ENV_KEY, ENV_KEY_FILE, KEY_FILE, master_key, write_new_key


@pytest.fixture(autouse=True)
def no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_KEY_FILE, raising=False)


def test_two_stores_given_one_key_file_read_each_others_blobs(tmp_path: Path) -> None:
    key = write_new_key(tmp_path / "shared.key")
    assert (tmp_path / "shared.key").stat().st_mode & 0o777 == 0o600
    one = BlobStore(tmp_path / "one", master=master_key(tmp_path / "one", tmp_path / "shared.key"))
    cid = one.put_bytes(b"shared")
    two = BlobStore(tmp_path / "two", backend=one.backend, master=master_key(tmp_path / "two", tmp_path / "shared.key"))
    assert two.get_bytes(cid) == b"shared"
    assert repr(key) == repr(master_key(tmp_path, tmp_path / "shared.key"))
    assert not (tmp_path / "one" / KEY_FILE).exists()  # no key of its own was made


def test_the_environment_names_the_key_file_or_holds_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_new_key(tmp_path / "k")
    monkeypatch.setenv(ENV_KEY_FILE, str(tmp_path / "k"))
    cid = BlobStore(tmp_path / "a").put_bytes(b"x")
    monkeypatch.delenv(ENV_KEY_FILE)
    monkeypatch.setenv(ENV_KEY, (tmp_path / "k").read_bytes().hex())
    assert BlobStore(tmp_path / "b", backend=BlobStore(tmp_path / "a").backend).get_bytes(cid) == b"x"
    monkeypatch.delenv(ENV_KEY)
    with pytest.raises(StoreError, match="encrypted under another master key"):  # the folder's own key
        BlobStore(tmp_path / "c", backend=BlobStore(tmp_path / "a").backend).get_bytes(cid)


@pytest.mark.parametrize(("value", "error"), [("zz", "not hex"), ("00" * 31, "holds 31 bytes")])
def test_a_bad_key_in_the_environment_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 value: str, error: str) -> None:
    monkeypatch.setenv(ENV_KEY, value)
    with pytest.raises(StoreError, match=error):
        BlobStore(tmp_path)


def test_a_missing_or_readable_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no master key file"):
        master_key(tmp_path, tmp_path / "absent")
    write_new_key(tmp_path / "k")
    os.chmod(tmp_path / "k", 0o644)
    with pytest.raises(StoreError, match="accessible by other users"):
        master_key(tmp_path, tmp_path / "k")
    with pytest.raises(FileExistsError):
        write_new_key(tmp_path / "k")  # never overwrites a key
    os.mkfifo(tmp_path / "fifo", 0o600)
    with pytest.raises(StoreError, match="not a regular file"):
        master_key(tmp_path, tmp_path / "fifo")  # refused at once, never waiting for a writer
    os.chmod(tmp_path / "k", 0o600)
    (tmp_path / "link").symlink_to(tmp_path / "k")
    with pytest.raises(OSError):
        master_key(tmp_path, tmp_path / "link")  # a symbolic link is not followed
