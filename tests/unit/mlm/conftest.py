"""Fixtures of the MLM tests: the bundled model published into a fresh static catalog folder."""

from __future__ import annotations

import pytest

from idf_hr_plugin.core.inference.models_registry import BUNDLED_DIR

BUNDLED_MODEL = BUNDLED_DIR / "idfhr_demo_detector.onnx"


@pytest.fixture
def published(tmp_path):
    """(catalog folder, item path) of the bundled model published into ``tmp_path/catalog``."""
    from idf_hr_plugin.core.mlm import publish_model

    folder = tmp_path / "catalog"
    return folder, publish_model(BUNDLED_MODEL, folder)


@pytest.fixture
def mlm_schemas(shared_data):
    return shared_data / "stac_mlm"
