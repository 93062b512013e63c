"""Headless GUI: the fibre tab on the real ARCEP files and MGP boundaries of ../shared/data."""

from __future__ import annotations

import pytest
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFeatureRequest,
    QgsGraduatedSymbolRenderer,
    QgsVectorLayerTemporalProperties,
)

import idf_hr_plugin
from idf_hr_plugin.gis.i18n import num as ui_num
from tests.qgis.conftest import wait_until


@pytest.fixture
def plugin(plugin_iface):
    p = idf_hr_plugin.classFactory(plugin_iface)
    p.initGui()
    yield p
    p.unload()


def _wait(tab, timeout=120):
    assert wait_until(lambda: tab.task is None, timeout=timeout), "task did not finish"


def _fill(tab, shared_data):
    tab.ftth_file.setText(str(shared_data / "arcep" / "ftthCommunes_IDF.csv"))
    tab.premises_file.setText(str(shared_data / "arcep" / "communes_IDF.csv"))
    tab.boundaries_file.setText(str(shared_data / "admin" / "mgp_communes_with_ept.geojson"))


def _row(layer, insee, quarter):
    req = QgsFeatureRequest().setFilterExpression(f"\"insee\" = '{insee}' AND \"quarter\" = '{quarter}'")
    feats = list(layer.getFeatures(req))
    assert len(feats) == 1, (insee, quarter, len(feats))
    return feats[0]


def test_coverage_layers_styled_filtered_and_temporal(plugin, shared_data):
    tab = plugin.dock.fibre_tab
    assert tab.tab_title() == "Fibre (FttH)"
    _fill(tab, shared_data)
    tab.read_columns_button.click()
    _wait(tab)
    assert tab.missing_label.text() == ""
    assert tab.column_combos["ftth_insee"].currentText() == "Code commune"
    assert tab.column_combos["housing"].currentText() == "Logements"

    tab.compute_button.click()
    _wait(tab)
    communes, epts = tab.layer("commune"), tab.layer("ept")
    assert communes is not None and epts is not None, tab.status.text()
    assert communes.isValid() and epts.isValid()

    # latest quarter shown by default through a subset string
    assert tab.quarter_combo.currentData() == "T1 2018"
    assert communes.subsetString() == "\"quarter\" = 'T1 2018'"
    assert communes.featureCount() == 131 and epts.featureCount() == 12

    # the ARCEP figure for Paris, and three communes computed by hand (T1 2018):
    paris = _row(communes, "75056", "T1 2018")
    assert paris["connectable"] == 1_484_108 and paris["premises"] == 1_362_182 + 149_289
    sd = _row(communes, "93066", "T1 2018")  # Saint-Denis: 11 571 / (46 202 + 3 299)
    assert sd["coverage_pct"] == pytest.approx(100 * 11571 / 49501, abs=1e-3)
    assert sd["class_label"] == "De 10 à 25 %"
    sm = _row(communes, "94068", "T1 2018")  # Saint-Maur-des-Fossés: 23 446 / (36 962 + 2 601)
    assert sm["coverage_pct"] == pytest.approx(100 * 23446 / 39563, abs=1e-3)
    bb = _row(communes, "92012", "T1 2018")  # Boulogne-Billancourt: 70 380 > 70 134 premises → capped
    assert bb["coverage_pct"] == 100.0 and bb["class_label"] == "80 % et plus"

    # graduated choropleth with the observatory's classes and French labels
    for layer in (communes, epts):
        renderer = layer.renderer()
        assert isinstance(renderer, QgsGraduatedSymbolRenderer)
        assert renderer.classAttribute() == "coverage_pct"
        assert [r.label() for r in renderer.ranges()] == [
            "Moins de 10 %",
            "De 10 à 25 %",
            "De 25 à 50 %",
            "De 50 à 80 %",
            "80 % et plus",
        ]
        assert [(r.lowerValue(), r.upperValue()) for r in renderer.ranges()] == [
            (0, 10),
            (10, 25),
            (25, 50),
            (50, 80),
            (80, 100),
        ]
        props = layer.temporalProperties()
        assert props.isActive()
        assert props.mode() == QgsVectorLayerTemporalProperties.ModeFeatureDateTimeInstantFromField
        assert props.startField() == "quarter_date" and props.fixedDuration() == 3
    assert any("etalab" in lic.lower() for lic in communes.metadata().licenses())

    # MGP total for the chosen quarter = sums over the 131 communes
    feats = list(communes.getFeatures())
    num, den = sum(f["connectable"] for f in feats), sum(f["premises"] for f in feats)
    pct = ui_num(100 * num / den, 1)  # in the UI locale's format (issue 9 item 6)
    assert f"{pct} %" in tab.mgp_label.text() and "T1 2018" in tab.mgp_label.text()

    tab.set_quarter("T3 2017")
    assert communes.featureCount() == 131
    assert _row(communes, "94068", "T3 2017")["coverage_pct"] == pytest.approx(100 * 19767 / 39563, abs=1e-3)
    assert "T3 2017" in tab.mgp_label.text()
    tab.set_quarter(None)  # all quarters for the Temporal Controller
    assert communes.subsetString() == "" and communes.featureCount() == 131 * 3
    assert epts.featureCount() == 12 * 3


def test_missing_columns_are_named(plugin, shared_data, tmp_path):
    tab = plugin.dock.fibre_tab
    bad = tmp_path / "renamed.csv"
    bad.write_text("Identifiant;Période;Raccordables\n93066;T1 2018;10\n", encoding="utf-8")
    tab.ftth_file.setText(str(bad))
    tab.premises_file.setText(str(shared_data / "arcep" / "communes_IDF.csv"))
    tab.boundaries_file.setText(str(shared_data / "admin" / "mgp_communes_with_ept.geojson"))
    tab.read_columns_button.click()
    _wait(tab)
    missing = tab.missing_label.text()
    assert "renamed.csv" in missing and "INSEE code (looked for: Code commune" in missing
    assert "Columns present: Identifiant, Période, Raccordables" in missing
    assert "connectable premises" not in missing  # "Raccordables" is a known name
    assert tab.column_combos["quarter"].currentText() == "Période"
    assert tab.column_combos["connectable"].currentText() == "Raccordables"

    tab.compute_button.click()
    _wait(tab)
    assert tab.layer("commune") is None
    assert "INSEE code" in tab.status.text() and "Identifiant" in tab.status.text()

    # the user picks the right columns in the form: it works
    tab.column_combos["ftth_insee"].setCurrentText("Identifiant")
    tab.compute_button.click()
    _wait(tab)
    layer = tab.layer("commune")
    assert layer is not None, tab.status.text()
    assert _row(layer, "93066", "T1 2018")["connectable"] == 10


def test_ipe_buildings_styled_by_state(plugin, shared_data, tmp_path):
    tab = plugin.dock.fibre_tab
    _fill(tab, shared_data)
    ipe = tmp_path / "ipe.csv"
    ipe.write_text(
        "imb_id;imb_etat;x;y;code_insee\nIMB/1;deploye;2,3574;48,9362;93066\n"
        "IMB/2;en cours de deploiement;2,3581;48,9371;93066\nIMB/3;cible;2,3590;48,9380;93066\n",
        encoding="utf-8",
    )
    tab.ipe_file.setText(str(ipe))
    tab.compute_button.click()
    _wait(tab)
    layer = tab.layer("buildings")
    assert layer is not None and layer.featureCount() == 3, tab.status.text()
    renderer = layer.renderer()
    assert isinstance(renderer, QgsCategorizedSymbolRenderer) and renderer.classAttribute() == "imb_etat"
    labels = {c.value(): c.label() for c in renderer.categories()}
    assert labels["deploye"] == "Déployé (raccordable)" and labels["cible"] == "Ciblé"
