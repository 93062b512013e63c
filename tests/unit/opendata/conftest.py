"""Fixtures of the open-data tests: loopback portals fed with ../shared/data."""

from __future__ import annotations

import pytest

from idf_hr_plugin.core.http import HttpClient
from tests.unit.opendata.fakeportals import FakeOds, generated_dataset, load_shared_datasets


@pytest.fixture
def client():
    return HttpClient(timeout=10, retries=2, backoff=0.05)


@pytest.fixture(scope="session")
def shared_datasets(shared_data):
    return load_shared_datasets(shared_data)


@pytest.fixture(scope="session")
def big_dataset():
    return generated_dataset("points-generes-10050", 10_050)


@pytest.fixture
def ods(loopback, shared_datasets, big_dataset):
    srv = loopback()
    datasets = dict(shared_datasets)
    datasets[big_dataset.dataset_id] = big_dataset
    return FakeOds(srv, datasets)
