"""Detection on a WMTS layer read through QGIS (QgisWindowReader), and the ONNX Runtime installer."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from qgis.core import QgsRectangle

from tests.qgis.test_detection_tab import iface as iface  # noqa: F401 - fixture
from tests.qgis.wmts_server import WmtsServer, write_wmts_project
from tests.unit.inference.conftest import make_raster

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import make_test_models  # noqa: E402

ORIGIN = (662000.0, 6856000.0)
SQUARES = [(662030.0, 6855970.0, 4.0), (662110.0, 6855900.0, 4.0)]


@pytest.fixture(scope="module")
def wmts(tmp_path_factory, qgis_app):
    root = tmp_path_factory.mktemp("wmts_detect")
    raster = make_raster(root / "ortho.tif", origin=ORIGIN, size=(800, 800), squares=SQUARES)
    with WmtsServer(write_wmts_project(raster, root / "wmts.qgs")) as server:
        yield server


def _wmts_layer(wmts):
    from idf_hr_plugin.core.catalog.model import SearchQuery, SourceConfig
    from idf_hr_plugin.core.catalog.sources import make_source
    from idf_hr_plugin.gis.layers import imagery_layer

    source = make_source(SourceConfig(id="t", name="t", kind="wmts", url=wmts.capabilities_url))
    item = next(
        it for it in source.search(SearchQuery(bbox=(2.0, 48.5, 3.0, 49.2))) if it.wmts.layer == "ortho"
    )
    layer = imagery_layer([item])
    assert layer.isValid() and layer.providerType() == "wms"
    return layer


def test_wmts_layer_detection_through_qgis_reader(wmts, tmp_path):
    from idf_hr_plugin.core.inference import run_detection
    from idf_hr_plugin.gis.detection import raster_source

    layer = _wmts_layer(wmts)  # not added to the project: the reader only needs the provider
    model = make_test_models.build("yolov8.onnx", tmp_path)
    src = raster_source(layer, gsd_m=0.2)
    assert src.kind == "qgis" and src.reader_factory is not None
    try:
        report = run_detection(
            str(model),
            src.raster,
            extent=(662000, 6855840, 662160, 6856000),
            extent_crs="EPSG:2154",
            out_path=tmp_path / "wmts.gpkg",
            conf=0.5,
            reader_factory=src.reader_factory,
            source=src.source_id,
        )
    finally:
        src.close()
    assert not Path(src.raster).exists()  # the planning VRT is removed
    assert report.counts == {"red": 2}, report.summary()
    from osgeo import ogr

    ds = ogr.Open(str(tmp_path / "wmts.gpkg"))
    feats = sorted(ds.GetLayerByName(report.layer), key=lambda f: f.GetGeometryRef().Centroid().GetX())
    # objects land where QGIS itself draws them on the map (qgis_mapserver's Lambert-93 tile
    # matrix shifts the image by a few metres; the canvas shows the same shift)
    for f, (x, y) in zip(feats, _rendered_red_centres(layer, tmp_path)):
        c = f.GetGeometryRef().Centroid()
        assert abs(c.GetX() - x) <= 0.3 and abs(c.GetY() - y) <= 0.3  # JPEG tiles: within ~1 px


def _rendered_red_centres(layer, tmp_path) -> list:
    """Centres (EPSG:2154) of the red blobs in QGIS's own rendering of the layer at 20 cm."""
    import numpy as np
    from qgis.PyQt.QtGui import QImage
    from scipy import ndimage

    from idf_hr_plugin.gis.render import render_png

    png = render_png(
        [layer], tmp_path / "ref.png", extent=QgsRectangle(662000, 6855840, 662160, 6856000), size=(800, 800)
    )
    img = QImage(str(png)).convertToFormat(QImage.Format.Format_RGB888)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    arr = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3]
    arr = arr.reshape(img.height(), img.width(), 3).astype(int)
    lab, n = ndimage.label((arr[:, :, 0] - arr[:, :, 1]) > 128)
    centres = ndimage.center_of_mass(np.ones_like(lab), lab, range(1, n + 1))
    pts = [(662000 + (c + 0.5) * 0.2, 6856000 - (r + 0.5) * 0.2) for r, c in centres]
    return sorted(pts)


def test_qgis_reader_reads_the_same_pixels_as_gdal(tmp_path):
    """Multi-band provider path, in another thread, windows crossing the grid edge."""
    import threading

    import numpy as np
    from qgis.core import QgsRasterLayer

    from idf_hr_plugin.core.inference.reader import RasterioWindowReader
    from idf_hr_plugin.core.inference.tiling import plan_tiles
    from idf_hr_plugin.gis.qgis_reader import QgisWindowReader

    path = make_raster(tmp_path / "r.tif", origin=ORIGIN, size=(300, 200), squares=SQUARES[:1])
    layer = QgsRasterLayer(str(path), "r", "gdal")
    plan = plan_tiles(str(path), tile_size=128, overlap=0)
    reader = QgisWindowReader(layer.dataProvider(), plan.grid, 3)
    ref = RasterioWindowReader(str(path), plan.grid, [1, 2, 3])
    got = {}

    def work():
        got["a"] = reader.read(250, 100, 128, 128)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    bands, valid = got["a"]
    rb, rv = ref.read(250, 100, 128, 128)
    assert np.array_equal(valid, rv) and valid[:100, :50].all() and not valid[:, 50:].any()
    assert np.array_equal(bands[:, valid], rb[:, rv])
    reader.close()
    ref.close()


# ------------------------------------------------------------------------ ONNX Runtime installer


def _dummy_wheel(folder: Path) -> Path:
    """A tiny real wheel (idfhr_dummy 0.1) for a local, offline pip install."""
    name = "idfhr_dummy-0.1-py3-none-any.whl"
    files = {
        "idfhr_dummy/__init__.py": b"VALUE = 42\n",
        "idfhr_dummy-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: idfhr-dummy\nVersion: 0.1\n",
        "idfhr_dummy-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for p, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{p},sha256={digest},{len(data)}")
    record.append("idfhr_dummy-0.1.dist-info/RECORD,,")
    files["idfhr_dummy-0.1.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    whl = folder / name
    with zipfile.ZipFile(whl, "w") as z:
        for p, data in files.items():
            z.writestr(p, data)
    return whl


def test_pip_command_and_missing_packages_never_touch_numpy(tmp_path):
    from idf_hr_plugin.gis import onnx_runtime_install as oi

    missing = oi.packages_to_install(is_available=lambda m: m in ("numpy",))
    assert [p.split("==")[0] for p in missing] == ["onnxruntime"]  # onnx is not needed at run time
    assert not any(p.startswith("numpy") for p in oi.packages_to_install(pins=(("numpy", "2.0", "nope"),)))
    cmd = oi.pip_command(tmp_path / "t", missing, python="/usr/bin/python3.11")
    assert cmd[:4] == ["/usr/bin/python3.11", "-m", "pip", "install"]
    assert "--no-deps" in cmd and cmd[cmd.index("--target") + 1] == str(tmp_path / "t")
    # QGIS's sys.executable is the qgis binary: the Python next to it is found instead
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    py = prefix / "bin" / "python3.11"
    py.write_text("")
    assert oi.find_python("/usr/bin/qgis", prefixes=[str(prefix)], version=(3, 11)) == str(py)
    assert oi.find_python("/opt/venv/bin/python3") == "/opt/venv/bin/python3"


def test_install_into_profile_folder_and_sys_path(tmp_path, monkeypatch):
    from idf_hr_plugin.gis import onnx_runtime_install as oi

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _dummy_wheel(wheels)
    profile = tmp_path / "profile"
    target = oi.deps_dir(profile)
    assert target == profile / "python" / "idf_hr_deps"
    assert oi.add_deps_to_sys_path(profile) is False  # nothing installed yet
    monkeypatch.setattr(sys, "path", list(sys.path))
    res = oi.install(target, packages=["idfhr-dummy==0.1"], find_links=wheels, no_index=True)
    assert res["packages"] == ["idfhr-dummy==0.1"]
    assert (target / "idfhr_dummy" / "__init__.py").is_file()
    assert sys.path[-1] == str(target)  # appended: QGIS's own packages keep priority
    assert [p.name for p in target.parent.iterdir()] == ["idf_hr_deps"]  # no staging left
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.append(sys.argv[1]); import idfhr_dummy; print(idfhr_dummy.VALUE)",
            str(target),
        ],
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "42"
    # a failing pip leaves the folder as it was, with pip's words in the message
    from idf_hr_plugin.core.errors import UserInputError

    with pytest.raises(UserInputError, match="pip could not install"):
        oi.install(target, packages=["idfhr-absent==9.9"], find_links=wheels, no_index=True)
    assert (target / "idfhr_dummy").is_dir()


def test_wmts_layer_area_estimate_uses_metres(wmts, iface):  # noqa: F811
    """The whole-layer estimate of a web layer is in true km² (not Web Mercator units)."""
    from idf_hr_plugin.gui.detection_tab import DetectionTab

    layer = _wmts_layer(wmts)
    t = DetectionTab(iface, iface.window)
    area = t._whole_layer_area_m2(layer) / 1e6
    t.shutdown()
    assert area == pytest.approx(0.026, abs=0.002)  # the 160 m × 160 m raster + its tile margin
