"""Offline validation of an MLM item against the extension's JSON Schema.

The MLM schema ``$ref``s the classification, processing and raster extension schemas by URL;
they are registered in a local store under exactly those URLs, so nothing is fetched. Needs
``jsonschema`` (imported here only: the plugin itself runs without it).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..errors import UserInputError
from ..i18n import tr

_EXT_URL = re.compile(r"^https://stac-extensions\.github\.io/([a-z0-9-]+)/(v[0-9.]+)/schema\.json$")


def _external_refs(node: Any, out: set) -> set:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("http"):
            out.add(ref.split("#", 1)[0])
        for v in node.values():
            _external_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _external_refs(v, out)
    return out


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserInputError(
            tr("The schema file {path} cannot be read ({err}).").format(path=path, err=exc)
        ) from exc


def load_validator(schema_dir: str | os.PathLike, schema_file: str = "mlm-v1.5.2-schema.json"):
    """A draft-07 validator of the MLM schema in ``schema_dir``, its ``$ref``s served from that folder.

    A schema referenced as ``https://stac-extensions.github.io/<ext>/<ver>/schema.json`` is read
    from ``<ext>-<ver>-schema.json`` (whatever ``$id`` that file declares).
    """
    import jsonschema

    folder = Path(schema_dir)
    main = _load(folder / schema_file)
    store = {main["$id"]: main}
    for url in sorted(_external_refs(main, set())):
        m = _EXT_URL.match(url)
        path = folder / f"{m.group(1)}-{m.group(2)}-schema.json" if m else None
        if path is None or not path.is_file():
            raise UserInputError(
                tr("The MLM schema refers to {url}, which has no local copy in {folder}.").format(
                    url=url, folder=folder
                )
            )
        doc = _load(path)
        store[url] = doc
        store[url + "#"] = doc
    resolver = jsonschema.RefResolver.from_schema(main, store=store)
    return jsonschema.Draft7Validator(main, resolver=resolver)


def validation_errors(item: dict, schema_dir: str | os.PathLike) -> list:
    """Every violation of the MLM schema by ``item``, as ``path: message`` lines (empty when valid)."""
    validator = load_validator(schema_dir)
    out = []
    for err in sorted(validator.iter_errors(item), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in err.absolute_path) or "(item)"
        out.append(f"{where}: {err.message}")
    return out
