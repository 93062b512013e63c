"""Extract the plugin's translatable strings into ``i18n/idf_hr_fr.ts``, keeping existing translations.

Strings are the literal first argument of ``tr(...)``/``self.tr(...)`` calls (context ``core`` for
files under ``idf_hr_plugin/core``, ``IdfHr`` elsewhere) and of ``QCoreApplication.translate(ctx, ...)``.
Run ``python scripts/update_ts.py`` after adding UI text, translate the new entries, then ``make i18n``.
``--check`` exits 1 when the .ts is missing strings or has unfinished translations.
"""

from __future__ import annotations

import argparse
import ast
import sys
import xml.etree.ElementTree as ET  # noqa: S405 (our own file)
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "idf_hr_plugin"
TS = ROOT / "i18n" / "idf_hr_fr.ts"


def extract() -> dict[tuple[str, str], tuple[str, int]]:
    """(context, source) -> (relative file, line) for every translatable string in the package."""
    found: dict[tuple[str, str], tuple[str, int]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        default_ctx = "core" if "/core/" in f"/{rel}" else "IdfHr"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else None
            )
            if (
                name == "tr"
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.setdefault((default_ctx, node.args[0].value), (rel, node.lineno))
            elif (
                name == "translate"
                and len(node.args) >= 2
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args[:2])
            ):
                found.setdefault((node.args[0].value, node.args[1].value), (rel, node.lineno))
    return found


def read_ts(path: Path) -> dict[tuple[str, str], str]:
    """(context, source) -> translation ('' when unfinished)."""
    if not path.exists():
        return {}
    out = {}
    root = ET.parse(path).getroot()  # noqa: S314 (our own file)
    for ctx in root.findall("context"):
        cname = ctx.findtext("name") or ""
        for msg in ctx.findall("message"):
            tr_el = msg.find("translation")
            done = tr_el is not None and tr_el.get("type") not in ("unfinished", "obsolete")
            out[(cname, msg.findtext("source") or "")] = (tr_el.text or "") if done else ""
    return out


def write_ts(path: Path, strings: dict, translations: dict) -> None:
    root = ET.Element("TS", version="2.1", language="fr_FR", sourcelanguage="en")
    by_ctx: dict[str, list] = {}
    for (ctx, src), loc in sorted(strings.items()):
        by_ctx.setdefault(ctx, []).append((src, loc))
    for ctx, msgs in sorted(by_ctx.items()):
        c = ET.SubElement(root, "context")
        ET.SubElement(c, "name").text = ctx
        for src, (rel, line) in msgs:
            m = ET.SubElement(c, "message")
            ET.SubElement(m, "location", filename="../" + rel, line=str(line))
            ET.SubElement(m, "source").text = src
            text = translations.get((ctx, src), "")
            t = ET.SubElement(m, "translation")
            if text:
                t.text = text
            else:
                t.set("type", "unfinished")
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n' + body + "\n", encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report missing/unfinished entries")
    args = parser.parse_args(argv)
    strings = extract()
    translations = read_ts(TS)
    missing = [k for k in strings if not translations.get(k)]
    if args.check:
        for ctx, src in missing:
            print(f"untranslated [{ctx}] {src!r}")
        return 1 if missing else 0
    write_ts(TS, strings, translations)
    print(f"{TS.relative_to(ROOT)}: {len(strings)} strings, {len(missing)} to translate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
