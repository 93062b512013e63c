"""BlockCache: persistence, LRU bound, corruption detection, kill-safety, thread-safety."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from idf_hr_plugin.core.tiles.cache import BlockCache

ROOT = Path(__file__).resolve().parents[3]


def payload(key: str, size: int) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def test_entries_survive_a_restart(tmp_path):
    cache = BlockCache(tmp_path, 10_000_000)
    cache.put("a", b"hello")
    cache.put("b", payload("b", 300_000))
    cache.close()
    again = BlockCache(tmp_path, 10_000_000)
    assert again.get("a") == b"hello"
    assert again.get("b") == payload("b", 300_000)
    assert again.get("missing") is None
    st = again.stats()
    assert (st.entries, st.bytes, st.hits, st.misses) == (2, 300_005, 2, 1)


def test_lru_eviction_keeps_recently_used_and_respects_max_bytes(tmp_path):
    cache = BlockCache(tmp_path, 1000)
    for k in "abc":
        cache.put(k, payload(k, 300))
        time.sleep(0.01)
    assert cache.get("a") is not None  # a becomes most recently used
    time.sleep(0.01)
    cache.put("d", payload("d", 300))  # 1200 > 1000: the least recently used (b) goes
    assert cache.get("b") is None
    assert [cache.get(k) for k in "acd"] == [payload(k, 300) for k in "acd"]
    assert cache.stats().bytes <= 1000
    assert len(list((tmp_path / "blobs").rglob("*.bin"))) == 3  # b's file was deleted
    cache.put("huge", b"x" * 5000)  # larger than the whole budget: not stored, nothing evicted
    assert cache.get("huge") is None and cache.stats().entries == 3
    assert cache.evict_to(300) == 2
    assert cache.stats().bytes == 300 and cache.get("d") is not None


def test_a_corrupted_payload_is_a_miss_never_bad_data(tmp_path):
    cache = BlockCache(tmp_path, 10_000_000)
    for k in ("flip", "short", "gone"):
        cache.put(k, payload(k, 4096))
    files = {k: tmp_path / "blobs" / BlockCache._file_name(k) for k in ("flip", "short", "gone")}
    raw = bytearray(files["flip"].read_bytes())
    raw[1234] ^= 0xFF
    files["flip"].write_bytes(bytes(raw))
    files["short"].write_bytes(files["short"].read_bytes()[:100])
    files["gone"].unlink()
    for k in files:
        assert cache.get(k) is None
    st = cache.stats()
    assert st.entries == 0 and st.corrupt == 3 and st.bytes == 0
    assert not files["flip"].exists()  # the bad file was removed too
    cache.put("flip", payload("flip", 4096))  # and the key works again
    assert cache.get("flip") == payload("flip", 4096)


WRITER = r"""
import hashlib, sys
sys.path.insert(0, sys.argv[2])
from idf_hr_plugin.core.tiles.cache import BlockCache
def payload(key, size):
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]
cache = BlockCache(sys.argv[1], 40_000_000)
i = 0
while True:
    k = f"k{i % 25}"
    cache.put(k, payload(k, 1_000_000 + 37 * (i % 25)))
    i += 1
    if i == 3:
        print("ready", flush=True)
"""


def test_killed_mid_write_leaves_a_consistent_cache(tmp_path):
    for delay in (0.05, 0.17, 0.31):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(ROOT)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        cache = BlockCache(tmp_path, 40_000_000, stale_seconds=0)
        assert not list((tmp_path / "blobs").rglob("*.tmp"))  # temp files of the dead writer cleaned
        good = 0
        for i in range(25):
            k = f"k{i}"
            got = cache.get(k)
            assert got is None or got == payload(k, 1_000_000 + 37 * i), k
            good += got is not None
        assert good >= 3
        st = cache.stats()
        on_disk = sum(f.stat().st_size for f in (tmp_path / "blobs").rglob("*.bin"))
        assert st.bytes == on_disk and st.entries == good
        cache.close()


def test_concurrent_readers_and_writers(tmp_path):
    cache = BlockCache(tmp_path, 400_000)  # small: eviction runs while threads read and write
    errors: list[BaseException] = []
    wrong: list[str] = []

    def work(tid: int) -> None:
        try:
            for i in range(150):
                k = f"shared{i % 10}" if i % 2 else f"t{tid}-{i % 15}"
                size = 20_000 + (hash(k) % 5000)
                cache.put(k, payload(k, size))
                got = cache.get(k)
                if got is not None and got != payload(k, size):
                    wrong.append(k)
                other = cache.get(f"shared{(i + 3) % 10}")
                if other is not None and other != payload(f"shared{(i + 3) % 10}", len(other)):
                    wrong.append("shared")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and not wrong
    assert cache.stats().bytes <= 400_000
    assert cache.stats().corrupt == 0


def test_default_cache_lives_in_the_plugin_cache_dir():
    from idf_hr_plugin.core.paths import cache_dir
    from idf_hr_plugin.core.tiles.cache import default_cache

    cache = default_cache(1_000_000)
    cache.put("k", b"v")
    assert cache.root == cache_dir() / "tiles" and (cache.root / "index.sqlite").is_file()
    assert cache.get("k") == b"v"
    cache.close()
