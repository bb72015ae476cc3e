"""The size-limited cache of images fetched for cases left in an archive: LRU by size."""

from __future__ import annotations

import os

import pytest

from markit_core.annotation.navigation import upcoming
from markit_core.annotation.queue import Queue
from markit_core.config import Settings
from markit_core.errors import ImageError
from markit_core.imaging.archive_cache import ArchiveCache
from markit_core.imaging.archive_images import image_ready, is_archive_path, reference_path


def _blob(n: int, fill: int) -> bytes:
    return bytes([fill]) * n


def test_evicts_least_recently_used_past_the_size_limit(tmp_path):
    cache = ArchiveCache(tmp_path / "c", max_bytes=2500)
    for key, fill in (("a", 1), ("b", 2)):
        assert cache.put(key, _blob(1000, fill))
    assert cache.get("a") == _blob(1000, 1)  # a is now more recent than b
    assert cache.put("c", _blob(1000, 3))
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.usage().files == 2 and cache.usage().bytes == 2000
    assert cache.get("b") is None
    assert cache.put("d", _blob(1600, 4))  # needs two evictions: a (older), then c
    assert cache.usage().bytes <= 2500
    assert "d" in cache and "a" not in cache and "c" not in cache


def test_an_entry_larger_than_the_limit_is_not_kept(tmp_path):
    cache = ArchiveCache(tmp_path / "c", max_bytes=1000)
    assert cache.put("small", _blob(600, 1))
    assert not cache.put("huge", _blob(1001, 2))
    assert "huge" not in cache and cache.get("small") == _blob(600, 1)


def test_replacing_an_entry_counts_it_once(tmp_path):
    cache = ArchiveCache(tmp_path / "c", max_bytes=2000)
    cache.put("a", _blob(900, 1))
    cache.put("a", _blob(900, 9))
    cache.put("b", _blob(900, 2))
    assert cache.usage().files == 2 and cache.get("a") == _blob(900, 9)


def test_two_processes_sharing_the_folder_keep_it_bounded(tmp_path):
    """A second cache object (as another app process) sees and evicts the same files."""
    one = ArchiveCache(tmp_path / "c", max_bytes=3000)
    two = ArchiveCache(tmp_path / "c", max_bytes=3000)
    one.put("a", _blob(1000, 1))
    two.put("b", _blob(1000, 2))
    assert two.get("a") == _blob(1000, 1) and one.get("b") == _blob(1000, 2)
    one.put("c", _blob(1000, 3))
    two.put("d", _blob(1000, 4))  # a was used before b: a goes
    assert one.usage().bytes == 3000
    assert "a" not in one and {"b", "c", "d"} == {k for k in "abcd" if k in two}


def test_leftover_temporary_files_are_not_entries(tmp_path):
    cache = ArchiveCache(tmp_path / "c", max_bytes=5000)
    cache.put("a", _blob(100, 1))
    shard = cache.path_for("a").parent
    (shard / ".tmp-crashed").write_bytes(b"x" * 4000)
    assert cache.usage().files == 1 and cache.usage().bytes == 100


def test_clear_empties_the_cache(tmp_path):
    cache = ArchiveCache(tmp_path / "c", max_bytes=5000)
    cache.put("a", _blob(100, 1))
    cache.put("b", _blob(100, 2))
    assert cache.clear() == 2 and cache.usage().files == 0 and cache.get("a") is None


def test_keys_are_hashed_into_the_folder(tmp_path):
    cache = ArchiveCache(tmp_path / "c", max_bytes=5000)
    path = cache.path_for("../../etc/passwd")
    assert path.parent.parent == tmp_path / "c" and ".." not in path.name


def test_size_comes_from_markit_archive_cache_mb(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKIT_ARCHIVE_CACHE_MB", "3")
    settings = Settings(data_dir=tmp_path)
    cache = ArchiveCache.from_settings(settings)
    assert cache.max_bytes == 3 << 20 and cache.root == tmp_path / "cache" / "archive"
    assert cache.put("x", _blob(2 << 20, 1)) and cache.put("y", _blob(2 << 20, 2))
    assert cache.usage().files == 1 and "y" in cache
    path = reference_path(1, 1, "2.25.12345")
    assert is_archive_path(path) and not image_ready(settings, path)
    cache.put(path, b"DICM")
    assert image_ready(settings, path) and image_ready(settings, "ab/" + "c" * 62)
    assert os.path.isfile(cache.path_for(path))


def test_reference_paths_carry_only_ids_and_the_pseudonym():
    assert reference_path(3, 7, "2.25.99") == "archive/3/7/2.25.99"
    with pytest.raises(ImageError):
        reference_path(3, 7, "1.2/../../x")
    assert not is_archive_path("ab/" + "c" * 62)


def test_upcoming_cases_nearest_first():
    queue = Queue((1, 2, 3, 4, 5), frozenset({3}))
    assert upcoming(queue, 2, 3) == [4, 5, 1]  # not done after 2 (wrapping), skipping 3
    assert upcoming(queue, 5, 2) == [1, 2]
    done = Queue((1, 2, 3), frozenset({1, 2, 3}))
    assert upcoming(done, 1, 5) == [2, 3]  # all done: the list order, as Next walks it
    assert upcoming(queue, 2, 0) == []
