"""Fixtures for the web base tests: a tiny torch-free App with a blueprint, and Flask apps around it."""

from __future__ import annotations

import numpy as np
import pytest
from flask import Blueprint, jsonify, render_template, request

from edgeinv.common.app import App, Dataset, Target
from edgeinv.common.config import load_settings
from edgeinv.common.errors import InvalidInputError, NotFoundError

PAGE = """{% extends "base.html" %}
{% block title %}Mini page{% endblock %}
{% block content %}<h1 id="mini">Mini app</h1><p>{{ message }}</p>
<form method="post" action="{{ url_for('mini.upload') }}" enctype="multipart/form-data">
<input type="file" name="file"><button type="submit">Send</button></form>{% endblock %}
"""


class MiniApp(App):
    """One number per file; its blueprint exercises templates, errors, uploads and the store."""

    name = "mini-app"
    title = "Mini app"
    description = "A test app <b>with markup</b> in its description."
    targets = (Target("level_m", unit="m", low=0.0, high=10.0),)

    def __init__(self, template_dir=None):
        self.template_dir = template_dir

    def input_shape(self, config):
        return (1,)

    def simulate(self, n, *, rng, config="default"):
        x = rng.normal(size=(n, 1)).astype(np.float32)
        return Dataset(x=x, y={"level_m": x[:, 0]})

    def read(self, source, *, filename=None, **meta):
        try:
            return np.array([float(bytes(source).decode())], dtype=np.float32)
        except (UnicodeDecodeError, ValueError):
            raise InvalidInputError(f"{filename}: not a number") from None

    def preprocess(self, sample, *, config="default"):
        return sample

    def interpret(self, outputs, sample):
        return {"level_m": float(outputs["level_m"])}

    def baseline(self, sample):
        return {"level_m": sample[0]}

    def build_model(self, config, size):  # pragma: no cover - not used
        raise NotImplementedError

    def blueprint(self, ctx):
        bp = Blueprint("mini", __name__, template_folder=str(self.template_dir))

        @bp.route("/")
        def index():
            return render_template("mini_app/page.html", message="hello")

        @bp.route("/fail")
        def fail():
            raise InvalidInputError("that value is not allowed", hint="use a number")

        @bp.route("/boom")
        def boom():
            raise RuntimeError("secret internal detail")

        @bp.route("/api/things/<int:tid>")
        def api_thing(tid):
            raise NotFoundError(f"no thing {tid}")

        @bp.route("/upload", methods=["POST"])
        def upload():
            data, filename = ctx.read_upload()
            sample = self.read(data, filename=filename)
            rid = ctx.store.add_result(self.name, None, {"filename": filename, "value": float(sample[0])})
            return jsonify({"id": rid, "filename": filename, "bytes": len(data)})

        @bp.route("/api/predict", methods=["POST"])
        def predict():
            data, filename = ctx.read_upload()
            runner = ctx.runner(self, "default")
            result = self.predict(self.read(data, filename=filename), runner)
            return jsonify({**result, "variant": getattr(runner, "last_variant", None)})

        @bp.route("/api/echo", methods=["POST"])
        def echo():
            return jsonify({"ok": True, "form": dict(request.form)})

        return bp


class BrokenApp(MiniApp):
    name = "broken-app"
    title = "Broken"

    def blueprint(self, ctx):
        raise RuntimeError("blueprint exploded")


@pytest.fixture
def mini(tmp_path):
    folder = tmp_path / "tpl" / "mini_app"
    folder.mkdir(parents=True)
    (folder / "page.html").write_text(PAGE)
    return MiniApp(template_dir=tmp_path / "tpl")


@pytest.fixture
def broken_app(tmp_path):
    return BrokenApp(template_dir=tmp_path)


@pytest.fixture
def web_settings(tmp_path):
    return load_settings(env={}, data_dir=tmp_path / "data", models_dir=tmp_path / "models")


@pytest.fixture
def make_app(mini, web_settings):
    """``make_app(**setting_overrides)`` -> a Flask app serving the mini app (TESTING on)."""
    from edgeinv.common.web import create_app

    def make(apps=None, **overrides):
        settings = web_settings.replace(**overrides) if overrides else web_settings
        flask_app = create_app(settings, apps=[mini] if apps is None else apps)
        flask_app.config.update(TESTING=True)
        return flask_app

    return make


@pytest.fixture
def web_client(make_app):
    return make_app().test_client()
