"""Href resolution and validation rules."""

from __future__ import annotations

import pytest

from idf_hr_plugin.core.catalog.hrefs import resolve_href
from idf_hr_plugin.core.errors import UserInputError

REMOTE = "https://stac.example.org/cat/2024/items/a.json"
ROOT = "https://stac.example.org/cat/catalog.json"


def test_http_urls_pass_and_relative_hrefs_resolve():
    assert resolve_href("https://cdn.example.org/x.tif", REMOTE, ROOT) == "https://cdn.example.org/x.tif"
    assert resolve_href("./b.tif", REMOTE, ROOT) == "https://stac.example.org/cat/2024/items/b.tif"
    assert resolve_href("../../data/b.tif", REMOTE, ROOT) == "https://stac.example.org/cat/data/b.tif"
    assert resolve_href("b%20c.tif", REMOTE, ROOT) == "https://stac.example.org/cat/2024/items/b%20c.tif"


def test_remote_catalog_cannot_escape_or_reach_local_files():
    with pytest.raises(UserInputError, match="outside the catalog"):
        resolve_href("../../../etc/passwd", REMOTE, ROOT)
    with pytest.raises(UserInputError, match="local file"):
        resolve_href("file:///etc/passwd", REMOTE, ROOT)
    with pytest.raises(UserInputError, match="local file"):
        resolve_href("C:\\data\\x.tif", REMOTE, ROOT)


@pytest.mark.parametrize(
    "href", ["s3://bucket/x.tif", "gs://bucket/x.tif", "ftp://host/x.tif", "azure://c/x.tif"]
)
def test_other_schemes_are_refused_with_advice(href):
    with pytest.raises(UserInputError) as err:
        resolve_href(href, REMOTE, ROOT)
    msg = str(err.value)
    assert href.split(":")[0] + "://" in msg and "http(s)" in msg


def test_local_catalog_may_use_local_paths(tmp_path):
    doc = str(tmp_path / "cat" / "items" / "a.json")
    assert resolve_href("../data/a.tif", doc) == str(tmp_path / "cat" / "data" / "a.tif")
    assert resolve_href("/srv/x.tif", doc) == "/srv/x.tif"
    assert resolve_href("file:///srv/y%20z.tif", doc) == "/srv/y z.tif"
    assert resolve_href("https://h/x.tif", doc) == "https://h/x.tif"
    with pytest.raises(UserInputError, match="s3"):
        resolve_href("s3://b/x.tif", doc)


def test_relative_without_base_and_empty():
    with pytest.raises(UserInputError, match="relative"):
        resolve_href("a.tif", None)
    with pytest.raises(UserInputError, match="empty"):
        resolve_href("  ", REMOTE)
