"""The French translation is complete, keeps every placeholder, and the shipped .qm matches the .ts."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _update_ts():
    spec = importlib.util.spec_from_file_location("update_ts", ROOT / "scripts" / "update_ts.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_ui_string_has_a_french_translation():
    mod = _update_ts()
    strings = mod.extract()
    translations = mod.read_ts(mod.TS)
    missing = sorted(src for key, src in [(k, k[1]) for k in strings] if not translations.get(key))
    assert not missing, (
        f"{len(missing)} strings without French translation (run scripts/update_ts.py): {missing[:10]}"
    )


def test_translations_keep_placeholders():
    mod = _update_ts()
    bad = []
    for (ctx, src), fr in mod.read_ts(mod.TS).items():
        if fr and set(re.findall(r"\{[^}]*\}", src)) != set(re.findall(r"\{[^}]*\}", fr)):
            bad.append((src, fr))
    assert not bad, bad[:5]


def test_shipped_qm_is_compiled_from_the_ts(tmp_path):
    lrelease = shutil.which("lrelease")
    if lrelease is None:
        pytest.fail("lrelease missing: `make test` installs qttools5-dev-tools")
    out = tmp_path / "fr.qm"
    subprocess.run([lrelease, "-silent", str(ROOT / "i18n" / "idf_hr_fr.ts"), "-qm", str(out)], check=True)
    assert out.read_bytes() == (ROOT / "i18n" / "idf_hr_fr.qm").read_bytes(), "run `make i18n`"


def test_numbers_follow_the_reader_locale():
    """Issue 9 item 6: "1.000 km²" reads as a thousand in French; numbers take the UI locale's format."""
    from idf_hr_plugin.core.i18n import format_number

    assert format_number(1.0, 3, "fr_FR") == "1,000"
    assert format_number(41.5, 1, "fr") == "41,5"
    assert format_number(0.0497, 4, "fr_FR") == "0,0497"
    assert format_number(1484108, 0, "fr") == "1\u202f484\u202f108"
    assert format_number(1484108.25, 1, "en") == "1,484,108.2"
    assert format_number(41.5, 1, "en_GB") == "41.5"
