"""Resolve and validate the hrefs found in catalogs (assets, links).

Rules: http(s) URLs are always allowed. Local paths (absolute, relative or ``file://``) are
allowed only when the document that holds them is itself local (a catalog on this computer,
such as the demo catalog). A remote catalog may use relative hrefs, but they must not climb
above the catalog root with ``..``. Every other scheme (``s3://``, ``gs://``, ``ftp://``…) is
refused with a message saying what to do.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urljoin, urlsplit

from ..errors import UserInputError
from ..i18n import tr

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_WINDOWS_DRIVE_RE = re.compile(r"^[A-Za-z]:[\\/]")


def scheme_of(href: str) -> str:
    """Lower-case URL scheme of ``href`` ('' for a plain path, including Windows drive paths)."""
    if _WINDOWS_DRIVE_RE.match(href):
        return ""
    m = _SCHEME_RE.match(href)
    return m.group(1).lower() if m else ""


def is_remote(location: str) -> bool:
    """True when ``location`` is an http(s) URL."""
    return scheme_of(location) in ("http", "https")


def file_url_to_path(href: str) -> str:
    """Turn ``file:///a/b`` (or ``file://localhost/a/b``) into ``/a/b``."""
    parts = urlsplit(href)
    path = unquote(parts.path)
    if re.match(r"^/[A-Za-z]:/", path):  # file:///C:/x on Windows
        path = path[1:]
    return os.path.normpath(path)


def local_location(location: str) -> str:
    """Absolute local path of a document given as a path or ``file://`` URL."""
    if scheme_of(location) == "file":
        return file_url_to_path(location)
    return os.path.abspath(os.path.expanduser(location))


def _url_dir(url: str) -> str:
    return urljoin(url, ".")


def _unsupported(href: str, scheme: str) -> UserInputError:
    return UserInputError(
        tr(
            "The catalog refers to {href}, which uses the '{scheme}://' scheme: IdF HR only opens "
            "http(s) addresses and files of local catalogs. Ask the catalog provider for an "
            "http(s) link to this file, or download it and use a local catalog."
        ).format(href=href, scheme=scheme)
    )


def resolve_href(href: str, base: Optional[str], root: Optional[str] = None) -> str:
    """Resolve ``href`` against the location of its document ``base`` and validate it.

    ``base`` is the URL or absolute local path of the document holding the href (``None`` when
    unknown: then only absolute http(s) URLs are accepted). ``root`` is the location of the
    catalog root: a relative href of a remote catalog must stay below the root's folder.
    Returns an absolute http(s) URL or an absolute local path; raises :class:`UserInputError`.
    """
    href = (href or "").strip()
    if not href:
        raise UserInputError(tr("The catalog contains an empty link; the catalog is malformed."))
    scheme = scheme_of(href)
    if scheme in ("http", "https"):
        return href
    base_remote = base is not None and is_remote(base)
    base_local = base is not None and not base_remote
    if scheme == "file" or (scheme == "" and (_WINDOWS_DRIVE_RE.match(href) or href.startswith("\\\\"))):
        if not base_local:
            raise UserInputError(
                tr(
                    "The remote catalog at {base} points to the local file {href}. A remote catalog "
                    "may not open files on this computer, so this link was refused. Ask the "
                    "catalog provider to publish the file over http(s)."
                ).format(base=base or "?", href=href)
            )
        return file_url_to_path(href) if scheme == "file" else os.path.normpath(href)
    if scheme:
        raise _unsupported(href, scheme)
    # relative reference (or an absolute path)
    if base is None:
        raise UserInputError(
            tr(
                "The link {href} is relative but the location of its catalog is unknown, so it "
                "cannot be opened. Open the catalog from its URL or file path."
            ).format(href=href)
        )
    if base_local:
        if os.path.isabs(href):
            return os.path.normpath(href)
        base_path = local_location(base)
        return os.path.normpath(os.path.join(os.path.dirname(base_path), unquote(href)))
    # remote document
    resolved = urljoin(base, href)
    segments = href.replace("\\", "/").split("/")
    if ".." in segments:
        root_dir = _url_dir(root or base)
        parts = urlsplit(resolved)
        clean = parts._replace(path=posixpath.normpath(parts.path or "/")).geturl()
        if not clean.startswith(root_dir):
            raise UserInputError(
                tr(
                    "The link {href} of the remote catalog at {base} leads outside the catalog "
                    "(above {root}) and was refused. The catalog is malformed or unsafe: contact "
                    "its provider."
                ).format(href=href, base=base, root=root_dir)
            )
    return resolved


def href_to_local_path(href: str) -> Optional[Path]:
    """The local path of an already-resolved href, or ``None`` for an http(s) URL."""
    if is_remote(href):
        return None
    if scheme_of(href) == "file":
        return Path(file_url_to_path(href))
    return Path(href)
