"""Shared fixtures: a seeded rng, settings with a temporary data dir, the Flask app and its clients."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261129)


@pytest.fixture
def settings(tmp_path):
    from edgeinv.common.config import load_settings

    return load_settings(env={}, data_dir=tmp_path / "data")


@pytest.fixture
def app(settings):
    from edgeinv.common.web import create_app

    flask_app = create_app(settings)
    flask_app.config.update(TESTING=True)
    return flask_app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    """Tests train tiny models; one torch thread keeps them predictable on a shared 2-core box."""
    try:
        import torch
    except ImportError:  # edge-only environment
        yield
        return
    torch.set_num_threads(1)
    yield
