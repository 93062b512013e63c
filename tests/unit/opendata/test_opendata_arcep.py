"""ARCEP FttH loaders and coverage, checked against numbers read by hand from ../shared/data/arcep."""

from __future__ import annotations

import pytest

from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.core.opendata import arcep, gpkgio
from idf_hr_plugin.core.opendata.boundaries import Boundaries


@pytest.fixture(scope="module")
def files(shared_data):
    return shared_data / "arcep"


@pytest.fixture(scope="module")
def mgp(shared_data):
    return Boundaries.from_file(shared_data / "admin" / "mgp_communes_with_ept.geojson")


@pytest.fixture(scope="module")
def coverage(files, mgp):
    ftth = arcep.load_ftth(files / "ftthCommunes_IDF.csv")
    premises = arcep.load_premises(files / "communes_IDF.csv")
    return arcep.compute_coverage(ftth, premises, mgp.communes)


def test_paris_t1_2018_has_1484108_connectable_premises(files):
    ftth = arcep.load_ftth(files / "ftthCommunes_IDF.csv")
    assert ftth.quarters == ["T3 2017", "T4 2017", "T1 2018"]
    assert ftth.value("75056", "T1 2018") == 1_484_108  # the commune row exists in the file
    arr = arcep.load_ftth(files / "ftthArrondissements.csv")
    assert sum(arr.value(str(c), "T1 2018") for c in range(75101, 75121)) == 1_484_108
    # without the commune row, Paris is rebuilt from its 20 arrondissements
    no_paris = arcep.FtthData({k: v for k, v in ftth.connectable.items() if k != "75056"}, ftth.quarters)
    merged = arcep.merge_arrondissements(no_paris, arr)
    assert merged.value("75056", "T1 2018") == 1_484_108
    assert merged.value("75056", "T3 2017") == 1_456_735


def test_coverage_of_three_communes_equals_hand_computation(coverage):
    rows = {(r.code, r.quarter): r for r in coverage.communes}
    # From the CSV files (T1 2018):
    #   ftthCommunes_IDF.csv  93066,Locaux Raccordables,8049,10712,11571
    #   communes_IDF.csv      93066,Saint-Denis,..., 46 202 , 3 299  -> premises 46202 + 3299 = 49501
    sd = rows[("93066", "T1 2018")]
    assert (sd.connectable, sd.premises) == (11571, 49501)
    assert sd.coverage_pct == pytest.approx(100 * 11571 / 49501, abs=1e-3)  # 23.375 %
    assert sd.class_label == "De 10 à 25 %" and sd.quarter_date == "2018-01-01"
    #   94068,Locaux Raccordables,19767,21768,23446 ; Saint-Maur-des-Fossés 36 962 + 2 601 = 39563
    sm = rows[("94068", "T1 2018")]
    assert sm.premises == 36962 + 2601
    assert sm.coverage_pct == pytest.approx(100 * 23446 / 39563, abs=1e-3)  # 59.263 %
    assert sm.class_label == "De 50 à 80 %"
    assert rows[("94068", "T3 2017")].coverage_pct == pytest.approx(100 * 19767 / 39563, abs=1e-3)
    #   92012,Locaux Raccordables,69836,69490,70380 ; Boulogne-Billancourt 64 690 + 5 444 = 70134
    #   70380 / 70134 > 1 -> capped at 100 % and counted
    bb = rows[("92012", "T1 2018")]
    assert (bb.connectable, bb.premises) == (70380, 70134)
    assert bb.coverage_pct == 100.0 and bb.capped and bb.class_label == "80 % et plus"
    assert rows[("92012", "T3 2017")].coverage_pct == pytest.approx(100 * 69836 / 70134, abs=1e-3)
    assert coverage.capped_count >= 1 and any("capped" in w for w in coverage.warnings())


def test_aggregates_are_sums_not_means(coverage, mgp):
    t6 = next(r for r in coverage.epts if r.code == "T6" and r.quarter == "T1 2018")
    members = [r for r in coverage.communes if r.ept_id == "T6" and r.quarter == "T1 2018"]
    assert len(members) == len(mgp.ept("T6").communes) == 9
    assert t6.connectable == sum(m.connectable for m in members)
    assert t6.premises == sum(m.premises for m in members)
    assert t6.coverage_pct == pytest.approx(100 * t6.connectable / t6.premises, abs=1e-3)
    mean_of_rates = sum(m.coverage_pct for m in members) / len(members)
    assert abs(t6.coverage_pct - mean_of_rates) > 0.01
    whole = next(r for r in coverage.mgp if r.quarter == "T1 2018")
    all_rows = [r for r in coverage.communes if r.quarter == "T1 2018"]
    assert len(all_rows) == 131
    assert whole.premises == sum(r.premises for r in all_rows)
    assert whole.connectable == sum(r.connectable for r in all_rows)


def test_coverage_gpkg_joined_to_boundaries(coverage, mgp, tmp_path):
    dest = arcep.write_coverage_gpkg(coverage, mgp, tmp_path / "ftth.gpkg")
    feats = gpkgio.read_features(dest, "ftth_coverage_commune")
    assert len(feats) == 131 * 3
    paris = next(
        f for f in feats if f["properties"]["insee"] == "75056" and f["properties"]["quarter"] == "T1 2018"
    )
    p = paris["properties"]
    assert p["connectable"] == 1_484_108 and p["premises"] == 1_362_182 + 149_289
    assert p["quarter_date"] == "2018/01/01"  # an OGR Date field (QGIS temporal properties)
    assert p["ept_id"] == "T1" and p["class_label"] and paris["geometry"]["type"] == "MultiPolygon"
    ept = arcep.write_coverage_gpkg(coverage, mgp, tmp_path / "ept.gpkg", level="ept")
    assert len(gpkgio.read_features(ept)) == 12 * 3
    assert sorted(x.name for x in tmp_path.iterdir()) == ["ept.gpkg", "ftth.gpkg"]


def test_quarters_and_classes():
    assert arcep.parse_quarter("T4 2017") == (2017, 4) and arcep.parse_quarter("2019-T2") == (2019, 2)
    assert arcep.quarter_date("T4 2017") == "2017-10-01"
    assert [arcep.class_label(v) for v in (0, 9.99, 10, 49.9, 80, 100)] == [
        "Moins de 10 %",
        "Moins de 10 %",
        "De 10 à 25 %",
        "De 25 à 50 %",
        "80 % et plus",
        "80 % et plus",
    ]


def test_long_layout_cp1252_semicolon_with_aliases(tmp_path, mgp):
    p = tmp_path / "ftth_long.csv"
    text = "Données FttH — export\n\ncode_insee;Libellé;trimestre;nb_logements_raccordables;Nb locaux\n"
    text += "93066;Saint-Denis;T1 2018;11 571;49 501\n93066;Saint-Denis;T2 2018;12 000;49 501\n"
    text += "94068;Saint-Maur-des-Fossés;T1 2018;23446;39563\n"
    p.write_bytes(text.encode("cp1252"))
    ftth = arcep.load_ftth(p)
    assert ftth.quarters == ["T1 2018", "T2 2018"] and ftth.value("93066", "T2 2018") == 12000
    res = arcep.compute_coverage(ftth, None, [mgp.commune("93066"), mgp.commune("94068")])
    sd = [r for r in res.communes if r.code == "93066"]
    assert [round(r.coverage_pct, 3) for r in sd] == [
        round(100 * 11571 / 49501, 3),
        round(100 * 12000 / 49501, 3),
    ]


def test_missing_or_renamed_columns_are_named(tmp_path):
    p = tmp_path / "renamed.csv"
    p.write_text("Identifiant;Période;Raccordables\n93066;T1 2018;10\n", encoding="utf-8")
    with pytest.raises(
        UserInputError,
        match=r"INSEE code \(looked for: Code commune, code_insee.*Columns present: Identifiant, Période, Raccordables",
    ):
        arcep.load_ftth(p)
    # the same file works once the user adds aliases
    ftth = arcep.load_ftth(p, aliases={"insee": ["Identifiant"], "connectable": ["Raccordables"]})
    assert ftth.value("93066", "T1 2018") == 10
    q = tmp_path / "nopremises.csv"
    q.write_text("Code commune,Nom commune,Logements\n93066,Saint-Denis,46202\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=r"businesses \(Établissements\)"):
        arcep.load_premises(q)


def test_xlsx_is_read_by_column_names(tmp_path):
    import openpyxl  # installed by `make test` (Debian python3-openpyxl)

    p = tmp_path / "ftth.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["Observatoire FttH — T1 2018"])  # a title row before the header, as ARCEP ships
    wb.active.append(["Champ", "T1 2018", "Code commune"])  # columns in another order
    wb.active.append(["Locaux Raccordables", 11571, "93066"])
    wb.save(p)
    assert arcep.load_ftth(p).value("93066", "T1 2018") == 11571


def test_xlsx_without_openpyxl_says_what_to_do(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "openpyxl", None)  # a QGIS without openpyxl
    p = tmp_path / "ftth.xlsx"
    p.write_bytes(b"PK\x03\x04 not read")
    with pytest.raises(UserInputError, match="openpyxl.*Save the sheet as CSV"):
        arcep.load_ftth(p)


def test_ipe_buildings_become_points(tmp_path):
    p = tmp_path / "ipe.csv"
    p.write_text(
        "imb_id;imb_etat;x;y;code_insee\nIMB/93066/X/01;deploye;2,3574;48,9362;93066\n"
        "IMB/93066/X/02;en cours de deploiement;2,3581;48,9371;93066\nIMB/93066/X/03;deploye;;;93066\n",
        encoding="utf-8",
    )
    res = arcep.write_ipe_gpkg(p, tmp_path / "ipe.gpkg")
    assert res.feature_count == 2 and res.skipped_rows == 1 and res.epsg == 4326
    assert res.states == {"deploye": 1, "en cours de deploiement": 1}
    feats = gpkgio.read_features(res.path)
    assert feats[0]["geometry"]["coordinates"] == pytest.approx([2.3574, 48.9362])
    assert feats[0]["properties"]["imb_etat"] == "deploye"


def _altered(files, tmp_path, name, edit):
    text = (files / "ftthCommunes_IDF.csv").read_text(encoding="utf-8")
    p = tmp_path / name
    p.write_text(edit(text), encoding="utf-8")
    return p


def test_renamed_row_selector_is_a_missing_column_not_a_band_read_as_count(files, tmp_path):
    # Champ renamed: every row was read and the coverage band (80) overwrote Paris's 1,484,108
    p = _altered(
        files,
        tmp_path,
        "indicateur.csv",
        lambda t: t.replace("Code commune,Champ,", "Code commune,Indicateur,"),
    )
    with pytest.raises(
        UserInputError,
        match=r"row selector \(which rows hold the connectable premises\) \(looked for: Champ\)"
        r".*Columns present: Code commune, Indicateur, T3 2017",
    ):
        arcep.load_ftth(p)
    # the same file works once the user names the selector column
    assert arcep.load_ftth(p, aliases={"field": ["Indicateur"]}).value("75056", "T1 2018") == 1_484_108


def test_bands_given_as_counts_are_refused(files, tmp_path):
    # the user points "connectable" at the Catégorie rows: Paris would have 80 connectable premises
    with pytest.raises(UserInputError, match=r"Paris \(75056\) only 80 connectable premises"):
        arcep.load_ftth(files / "ftthCommunes_IDF.csv", aliases={"connectable": ["Catégorie"]})
    no_paris = _altered(
        files,
        tmp_path,
        "no_paris.csv",
        lambda t: "\n".join(ln for ln in t.splitlines() if not ln.startswith("75056")),
    )
    with pytest.raises(
        UserInputError, match=r"between 0 and 100 for \d+ communes: they look like percentages"
    ):
        arcep.load_ftth(no_paris, aliases={"connectable": ["Catégorie"]})


def test_premises_that_do_not_match_are_refused(files, mgp):
    ftth = arcep.load_ftth(files / "ftthCommunes_IDF.csv")
    # wrong columns picked as premises (region and department codes): coverage of thousands of %
    wrong = arcep.load_premises(
        files / "communes_IDF.csv", aliases={"housing": ["Code région"], "businesses": ["Code département"]}
    )
    with pytest.raises(UserInputError, match=r"communes have more than 150 % of their premises connectable"):
        arcep.compute_coverage(ftth, wrong, mgp.communes)


def test_binary_file_given_as_arcep_csv_is_named(shared_data, tmp_path):
    p = tmp_path / "ftthCommunes.csv"
    p.write_bytes((shared_data / "imagery" / "ign_ortho_20cm_rgb_l93.tif").read_bytes())
    with pytest.raises(UserInputError, match=r"ftthCommunes.csv is not a CSV/XLSX text file"):
        arcep.load_ftth(p)
    q = tmp_path / "noise.csv"  # binary without NUL bytes, the case that raised a csv.Error
    q.write_bytes(bytes(range(1, 256)) * 64)
    with pytest.raises(UserInputError, match=r"noise.csv is not a CSV/XLSX text file"):
        arcep.load_premises(q)
    x = tmp_path / "ftth.xlsx"
    x.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(UserInputError, match=r"ftth.xlsx is not a readable XLSX workbook"):
        arcep.load_ftth(x)
