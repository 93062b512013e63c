"""Write into a static STAC catalog folder (e.g. on a shared network drive), shared by every publisher.

Each file is written to a temporary name and moved into place; the read-modify-write of the
root ``catalog.json`` is serialised between publishers (on any computer of the share) by a lock
file. Used by the model catalog (:mod:`.mlm.write`) and the results catalog (:mod:`.sharing`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .errors import UserInputError
from .i18n import tr
from .tempfiles import temp_path

LOCK_WAIT_S = 30.0
LOCK_STALE_S = 120.0


def write_json(dest: Path, doc: dict) -> None:
    """Write ``doc`` as indented UTF-8 JSON to ``dest`` (temporary file, then moved into place)."""
    tmp = temp_path(dest)
    try:
        tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def copy_file(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` (temporary file, then moved into place)."""
    tmp = temp_path(dest)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_only_error(folder: Path, exc: OSError) -> UserInputError:
    """The refusal for a catalog folder that cannot be written."""
    return UserInputError(
        tr(
            "The catalog folder {folder} cannot be written ({err}), so nothing was published: "
            "choose a folder you can write to, or ask its owner for write access."
        ).format(folder=folder, err=exc.strerror or exc)
    )


@contextmanager
def catalog_lock(folder: Path, wait_s: float = LOCK_WAIT_S, stale_s: float = LOCK_STALE_S) -> Iterator[None]:
    """Serialise the read-modify-write of ``catalog.json`` between publishers, on any computer of the share.

    A lock file older than ``stale_s`` was left by a killed publisher and is taken over.
    """
    lock = folder / ".catalog.json.lock"
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                age = time.time() - lock.stat().st_mtime
            except OSError:
                continue  # released meanwhile
            if age > stale_s:
                lock.unlink(missing_ok=True)
                continue
            if time.monotonic() > deadline:
                raise UserInputError(
                    tr(
                        "Another publisher has been updating {folder} for too long; try again later. "
                        "If nobody is publishing there, delete {lock}."
                    ).format(folder=folder, lock=lock)
                ) from None
            time.sleep(0.05)
    try:
        os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def root_catalog(path: Path, new: dict) -> dict:
    """The root catalog at ``path``, or ``new`` (a fresh catalog) when there is none yet.

    An existing file that is not a STAC catalog is refused (nothing is written over it).
    """
    if not path.exists():
        return new
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserInputError(
            tr("{path} exists but is not a readable STAC catalog ({err}); choose another folder.").format(
                path=path, err=exc
            )
        ) from exc
    if not isinstance(doc, dict) or doc.get("type") not in ("Catalog", "Collection"):
        raise UserInputError(
            tr("{path} exists but is not a STAC catalog; choose another folder.").format(path=path)
        )
    return doc


def link_item(root_path: Path, new: dict, href: str, title: str, lock: Iterator[None]) -> None:
    """Add (once) an ``item`` link to ``href`` in the root catalog, under ``lock``.

    The catalog is read again inside the lock: another publisher may have added an item meanwhile.
    """
    with lock:
        root = root_catalog(root_path, new)
        links = [
            ln for ln in root.get("links") or [] if not (ln.get("rel") == "item" and ln.get("href") == href)
        ]
        links.append({"rel": "item", "href": href, "type": "application/geo+json", "title": title})
        root["links"] = links
        write_json(root_path, root)


def publish_item(
    folder: Path,
    item: dict,
    title: str,
    new_root: dict,
    write_assets: Callable[[Path], None],
    lock: Iterator[None],
) -> Path:
    """Write ``<folder>/<id>/``: the assets (``write_assets(item_dir)``), then the item, then link it
    from ``catalog.json`` (under ``lock``); returns the item path.

    The folder is created when absent. A folder that cannot be written, or whose ``catalog.json``
    is not a catalog, is refused; on any failure an item folder created here is removed again (an
    earlier version of the item is kept).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise read_only_error(folder, exc) from exc
    root_catalog(folder / "catalog.json", new_root)
    item_dir = folder / item["id"]
    created = not item_dir.exists()
    try:
        item_dir.mkdir(exist_ok=True)
        write_assets(item_dir)
        item_path = item_dir / f"{item['id']}.json"
        write_json(item_path, item)
        link_item(folder / "catalog.json", new_root, f"./{item['id']}/{item['id']}.json", title, lock)
    except OSError as exc:
        if created:
            shutil.rmtree(item_dir, ignore_errors=True)
        raise read_only_error(folder, exc) from exc
    except BaseException:
        if created:
            shutil.rmtree(item_dir, ignore_errors=True)
        raise
    return item_path
