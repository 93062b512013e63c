"""Convert the Licence Ouverte reference data (``../shared/data/admin`` and ``arcep``) into the
offline copies bundled in ``resources/opendata`` (run once by a maintainer; the output is committed).

- ``mgp_communes.gpkg``: the 131 MGP communes with their EPT (layer ``communes``, WGS84);
- ``ftth_mgp_communes.csv``: FttH connectable premises and premises per MGP commune and quarter
  (the long layout the ARCEP loader reads);
- ``README.json``: source, licence and vintage of each, shown in the layers' metadata.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from idf_hr_plugin.core.offline_kit import BUNDLED_DIR, BUNDLED_INFO  # noqa: E402
from idf_hr_plugin.core.opendata import arcep  # noqa: E402
from idf_hr_plugin.core.opendata.boundaries import Boundaries  # noqa: E402

INFO = {
    "mgp_communes.gpkg": {
        "title": "Communes of the Métropole du Grand Paris (with EPT)",
        "source_url": "IGN ADMIN EXPRESS COG 2018 (simplified); EPT membership from the public commune-EPT table",
        "licence": "Licence Ouverte / Open Licence 2.0 (Etalab)",
        "vintage": "2018",
    },
    "ftth_mgp_communes.csv": {
        "title": "FttH deployment per MGP commune (ARCEP observatory)",
        "source_url": "ARCEP, Le marché du haut et très haut débit fixe (déploiements), ftthCommunes_IDF.csv "
        "and communes_IDF.csv",
        "licence": "Licence Ouverte / Open Licence 2.0 (Etalab)",
        "vintage": "T3 2017 – T1 2018",
    },
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="the shared reference data")
    p.add_argument("--out", default=str(BUNDLED_DIR))
    args = p.parse_args(argv)
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bounds = Boundaries.from_file(data / "admin" / "mgp_communes_with_ept.geojson")
    bounds.source = INFO["mgp_communes.gpkg"]["source_url"]
    bounds.write_gpkg(out / "mgp_communes.gpkg")
    ftth = arcep.load_ftth(data / "arcep" / "ftthCommunes_IDF.csv")
    premises = arcep.load_premises(data / "arcep" / "communes_IDF.csv")
    rows = [
        [c.insee, c.nom, q, ftth.value(c.insee, q), premises[c.insee].premises]
        for c in bounds.communes
        if c.insee in premises
        for q in ftth.quarters
        if ftth.value(c.insee, q) is not None
    ]
    tmp = out / ".ftth_mgp_communes.csv.tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["code_insee", "nom_commune", "trimestre", "nb_locaux_raccordables", "nb_locaux"])
        w.writerows(rows)
    os.replace(tmp, out / "ftth_mgp_communes.csv")
    (out / BUNDLED_INFO).write_text(json.dumps(INFO, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(bounds.communes)} communes, {len(rows)} FttH rows -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
