"""Issue 9 item 6: no English left in the French UI.

The dock is built once in English and once under the French translator; every text a user sees in
each tab (labels, buttons, check boxes, group titles, combo items, placeholders, tooltips, table
headers, tab titles) is compared: a text identical in both languages is English left untranslated
(or never wrapped in ``tr()``), unless it is a non-word (numbers, units, proper nouns, URLs).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from qgis.PyQt.QtCore import QSettings
from qgis.PyQt.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTabWidget,
    QWidget,
)

import idf_hr_plugin
from idf_hr_plugin.gis.i18n import install_translator, remove_translator
from idf_hr_plugin.gui.opendata_tab import COMMON_THEMES

# the same in both languages: proper nouns, acronyms, formats
ALLOWED = {
    "IdF HR",
    "ONNX Runtime",
    "STAC",
    "EPT",
    "MGP",
    "FttH",
    "Fibre (FttH)",
    "CSV",
    "GeoPackage",
    "data.gouv.fr",
    "Paris",
    "Paris Data",
    "Métropole du Grand Paris",
    "IGN",
    "IoU",
    "URL",
    # the same word in French and English
    "Analyse",
    "Collection",
    "Source",
    "Zones",
}
# names that are data, shown as their owners spell them: the portals' own theme values (sent to
# the portal as filters), the built-in catalog sources and portals
DATA_NAMES = {
    *COMMON_THEMES,
    "IGN Géoplateforme – orthophotos (WMTS)",
    "Région de démonstration (synthétique)",
    "Paris Data (Ville de Paris)",
}
NON_WORD = re.compile(r"^[\s\d.,:;%°×/()+\-–—…'’\"«»|<>=*#&;]*(km²|m²|cm|px|m|s|Wh|Mo|MB|ha)?[\s\d.,()%]*$")
URL = re.compile(r"^(https?://|www\.)\S+$|^\S+\.(csv|gpkg|onnx|json|tif)$", re.IGNORECASE)
# QGIS's own widgets carry QGIS's strings (translated by QGIS, not by this plugin)
QGIS_OWN = (
    "QgsAuthConfigSelect",
    "QgsFileWidget",
    "QgsMapLayerComboBox",
    "QgsFieldComboBox",
    "QgsFilterLineEdit",
    "QgsDateTimeEdit",
)


def _own(widget: QWidget, stop: QWidget) -> bool:
    w = widget.parentWidget()
    while w is not None and w is not stop:
        if type(w).__name__ in QGIS_OWN:
            return False
        w = w.parentWidget()
    return True


def _texts(widget: QWidget) -> list[tuple[str, str]]:
    """(kind, text) a user can read on ``widget`` itself."""
    out = []
    if isinstance(widget, QLabel):
        out.append(("label", widget.text()))
    elif isinstance(widget, QAbstractButton):
        out.append(("button", widget.text()))
    elif isinstance(widget, QGroupBox):
        out.append(("group", widget.title()))
    if isinstance(widget, QLineEdit):
        out.append(("placeholder", widget.placeholderText()))
    if isinstance(widget, QComboBox) and type(widget).__name__ not in QGIS_OWN:
        out += [("combo item", widget.itemText(i)) for i in range(widget.count())]
        out.append(("placeholder", widget.placeholderText()))
    if isinstance(widget, QTableWidget):
        for c in range(widget.columnCount()):
            item = widget.horizontalHeaderItem(c)
            out.append(("header", item.text() if item else ""))
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        out.append(("suffix", widget.suffix()))
    if isinstance(widget, QTabWidget):
        out += [("tab", widget.tabText(i)) for i in range(widget.count())]
    out.append(("tooltip", widget.toolTip()))
    return out


def _rows(where: str, w: QWidget) -> list[tuple[str, str, str, str]]:
    """Non-empty texts only: empty ones (and scroll bars shown in one language only) say nothing."""
    return [(where, type(w).__name__, k, _words(t)) for k, t in _texts(w) if _words(t)]


def _words(text: str) -> str:
    text = re.sub(r"<[^>]+>", " ", text)  # rich text: the words only
    return " ".join(text.split())


def _walk(dock) -> list[tuple[str, str, str, str]]:
    """(tab, widget class, kind, text) of every visible widget of every tab, in a stable order."""
    rows = _rows("dock", dock.tabs)
    for i in range(dock.tabs.count()):
        page = dock.tabs.widget(i)
        dock.tabs.setCurrentIndex(i)
        for w in [page, *page.findChildren(QWidget)]:
            if not (w is page or w.isVisibleTo(page)) or not _own(w, page):
                continue
            rows += _rows(type(page).__name__, w)
    return rows


@contextmanager
def ui_language(lang: str):
    """QGIS in ``lang``: its locale setting (numbers, theme names) and the plugin's translator."""
    settings = QSettings()
    before = settings.value("locale/userLocale", None)
    settings.setValue("locale/userLocale", lang)
    translator = install_translator(lang) if not lang.startswith("en") else None
    if not lang.startswith("en"):
        assert translator is not None, "i18n/idf_hr_fr.qm missing: run `make i18n`"
    try:
        yield
    finally:
        remove_translator(translator)
        if before is None:
            settings.remove("locale/userLocale")
        else:
            settings.setValue("locale/userLocale", before)


def _build(plugin_iface, lang: str):
    """The texts of the dock's tabs, then of the options page, in ``lang``."""
    from idf_hr_plugin.gui.options import IdfHrOptionsPage

    with ui_language(lang):
        plugin = idf_hr_plugin.classFactory(plugin_iface)
        plugin.initGui()
        plugin.dock.show()
        try:
            rows = _walk(plugin.dock)
        finally:
            plugin.unload()
        page = IdfHrOptionsPage()
        page.show()
        try:
            for w in [page, *page.findChildren(QWidget)]:
                if (w is page or w.isVisibleTo(page)) and _own(w, page):
                    rows += _rows("options", w)
        finally:
            page.close()
            page.deleteLater()
        return rows


def _needs_translation(text: str) -> bool:
    if not text or text in ALLOWED or text in DATA_NAMES or NON_WORD.match(text) or URL.match(text):
        return False
    return bool(re.search(r"[A-Za-z]{2,}", text))


@pytest.fixture
def both_languages(plugin_iface):
    english = _build(plugin_iface, "en_GB")
    french = _build(plugin_iface, "fr_FR")
    return english, french


def test_every_visible_text_of_the_dock_is_french(both_languages):
    english, french = both_languages
    assert [r[:3] for r in english] == [r[:3] for r in french], "the dock differs between languages"
    assert len(english) > 150, "too few texts found: the walk misses the widgets"
    untranslated = sorted(
        {
            f"{tab} {cls} {kind}: {fr!r}"
            for (tab, cls, kind, en), (*_, fr) in zip(english, french)
            if en == fr and _needs_translation(fr)
        }
    )
    assert untranslated == [], (
        f"{len(untranslated)} texts identical in French and English (not translated, or not wrapped "
        "in tr()):\n" + "\n".join(untranslated)
    )


def test_numbers_in_the_ui_locale_format(qgis_app):
    """ "sur 1.000 km²" read as a thousand km²: French text gets a decimal comma and grouped thousands."""
    from idf_hr_plugin.gui.detection_tab import summary_text

    report = SimpleNamespace(
        features=1234,
        km2=1.0,
        counts={"building": 1200, "car": 34},
        areas_m2={"building": 15250.5, "car": 340.0},
        duration_s=41.5,
        cpu_s=80.25,
        energy_wh=0.0497,
        energy_method="TDP",
        notes=[],
    )
    with ui_language("fr_FR"):
        text = summary_text(report, {"building": "Bâtiment", "car": "Voiture"})
    assert "1\u202f234" in text and "1,000 km²" in text, text
    assert "41,5 s" in text and "0,0497 Wh" in text and "15\u202f250,5 m²" in text, text
    assert "• Bâtiment : 1\u202f200" in text and "building" not in text, text
    assert "1.000" not in text and "41.5" not in text
    with ui_language("en_GB"):
        text = summary_text(report)
    assert "1,234 object(s) found on 1.000 km²" in text and "41.5 s" in text, text


def test_core_messages_write_numbers_in_the_ui_locale_and_the_cli_keeps_c(qgis_app):
    """Core texts that reach the dock (energy method, kit sizes, resampling notes) follow the UI."""
    from idf_hr_plugin.core.inference.report import energy_estimate
    from idf_hr_plugin.core.offline_kit import human_size

    with ui_language("fr_FR"):
        method = energy_estimate(41.5, 12.5)[1]
        size = human_size(1_234_567)
    assert "(41,5 s, tous fils d'exécution confondus) x 12,5 W" in method, method
    assert size == "1,2 Mo"
    assert human_size(1_234_567) == "1.2 MB"  # no translator (CLI): C locale, English units
    assert "(41.5 s, all threads) x 12.5 W" in energy_estimate(41.5, 12.5)[1]


def test_model_card_and_detection_layer_name_classes_in_french(qgis_app, tmp_path):
    """Class names: French in the card and the layer's legend/attribute table; stored values stay English."""
    from qgis.core import QgsFeature, QgsVectorFileWriter, QgsVectorLayer

    from idf_hr_plugin.core.inference.models_registry import ModelRegistry
    from idf_hr_plugin.gis import detection as det
    from idf_hr_plugin.gui.model_card_view import card_html

    entry = next(e for e in ModelRegistry(user_dir=tmp_path / "models").entries() if e.origin == "bundled")
    with ui_language("fr_FR"):
        html = card_html(entry.model_card())
        assert "Bâtiment" in html and "Piscine" in html and "Panneau solaire" in html
        assert ">building<" not in html and "building" not in html.split("Classes")[1].split("</p>")[0]
        assert "détection" in html and "canaux" in html and "thread(s)" not in html
        # the accuracy rows: class and metric names in French, decimal commas
        assert "Bâtiment : précision 0,98, rappel 0,97, score F1 0,98" in html, html
        accuracy = html.split("Précision mesurée")[1].split("Limites connues")[0]
        assert "recall" not in accuracy and "swimming_pool" not in accuracy, accuracy

        mem = QgsVectorLayer("Polygon?crs=EPSG:2154&field=label:string", "d", "memory")
        f = QgsFeature(mem.fields())
        f.setAttribute("label", "swimming_pool")
        mem.dataProvider().addFeatures([f])
        gpkg = tmp_path / "run.gpkg"
        opts = QgsVectorFileWriter.SaveVectorOptions()
        opts.layerName = "detections"
        QgsVectorFileWriter.writeAsVectorFormatV2(mem, str(gpkg), mem.transformContext(), opts)
        layer = det.add_result_layer(str(gpkg), "detections", entry.spec)
    legend = {c.value(): c.label() for c in layer.renderer().categories()}
    assert legend["swimming_pool"] == "Piscine" and legend["building"] == "Bâtiment"
    assert next(layer.getFeatures())["label"] == "swimming_pool"  # the stored value is stable
    setup = layer.editorWidgetSetup(layer.fields().indexOf("label"))
    assert setup.type() == "ValueMap" and {"Piscine": "swimming_pool"} in setup.config()["map"]
