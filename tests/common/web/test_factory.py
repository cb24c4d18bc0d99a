"""The app factory: blueprints and templates, index, /healthz, one error handler, uploads, runners."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import sys
import threading
import types

import pytest

from edgeinv.common.errors import ModelError
from edgeinv.common.web import WebContext, create_app
from edgeinv.common.web.context import current_ctx


def write_release(settings, app, *, corrupt=False):
    folder = settings.models_dir / app.package_name
    (folder / "default").mkdir(parents=True)
    blob = b"not really onnx"
    (folder / "default" / "m.onnx").write_bytes(blob)
    sha = hashlib.sha256(blob + (b"x" if corrupt else b"")).hexdigest()
    manifest = {"app": app.name, "preprocessing_version": "1",
                "configs": {"default": {"chosen": "m", "accurate": "m",
                                        "variants": {"m": {"file": "default/m.onnx", "sha256": sha}}}}}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_index_lists_apps_and_blueprint_renders_with_base(web_client):
    r = web_client.get("/")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert 'href="/mini-app/"' in html and "Mini app" in html
    assert "&lt;b&gt;with markup&lt;/b&gt;" in html  # app text is escaped
    assert "no models" in html and "level m (m)" in html
    page = web_client.get("/mini-app/")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and '<h1 id="mini">Mini app</h1>' in body
    assert "/static/style.css" in body and 'aria-current="page"' in body and "<title>Mini page · edgeinv" in body
    assert web_client.get("/static/style.css").status_code == 200
    assert web_client.get("/static/edgeinv.js").status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "http" not in csp


def test_no_external_assets_in_core_templates(web_client):
    for path in ("/", "/mini-app/", "/nope"):
        html = web_client.get(path).get_data(as_text=True)
        assert "http://" not in html and "https://" not in html and "//cdn" not in html


def test_healthz_reports_db_and_models(make_app, mini, web_settings):
    r = make_app().test_client().get("/healthz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["db"]["ok"] is True and body["status"] == "degraded"  # no models shipped
    assert body["apps"]["mini-app"] == {"models_present": False, "models_verified": False, "configs": {}, "ui": True}
    write_release(web_settings, mini)
    body = make_app().test_client().get("/healthz").get_json()
    assert body["status"] == "ok" and body["apps"]["mini-app"]["models_verified"] is True
    assert body["apps"]["mini-app"]["configs"] == {"default": "m"}


def test_healthz_fails_on_corrupt_models(make_app, mini, web_settings):
    write_release(web_settings, mini, corrupt=True)
    client = make_app().test_client()
    r = client.get("/healthz")
    assert r.status_code == 503 and r.get_json()["status"] == "error"
    assert r.get_json()["apps"]["mini-app"]["models_verified"] is False
    assert "fail verification" in client.get("/").get_data(as_text=True)


def test_broken_blueprint_does_not_take_the_site_down(make_app, mini, broken_app, caplog):
    broken = broken_app
    with caplog.at_level(logging.ERROR, logger="edgeinv.web"):
        client = make_app(apps=[mini, broken]).test_client()
    assert "blueprint exploded" in caplog.text
    assert client.get("/mini-app/").status_code == 200
    assert "blueprint exploded" in client.get("/").get_data(as_text=True)
    assert client.get("/healthz").status_code == 503


def test_edgeinv_error_as_html_and_json(web_client):
    r = web_client.get("/mini-app/fail")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and r.mimetype == "text/html"
    assert "that value is not allowed" in html and "use a number" in html and 'href="/mini-app/"' in html
    r = web_client.get("/mini-app/fail", headers={"Accept": "application/json"})
    assert r.status_code == 400
    assert r.get_json() == {"error": "InvalidInputError", "message": "that value is not allowed",
                            "status": 400, "hint": "use a number"}
    r = web_client.get("/mini-app/api/things/7")
    assert r.status_code == 404 and r.get_json() == {"error": "NotFoundError", "message": "no thing 7", "status": 404}


def test_http_errors_json_and_html(web_client):
    r = web_client.get("/mini-app/api/nothing-here")
    assert r.status_code == 404 and r.get_json()["error"] == "NotFound" and r.get_json()["status"] == 404
    r = web_client.get("/no/such/page", headers={"Accept": "text/html"})
    assert r.status_code == 404 and "There is no page at /no/such/page" in r.get_data(as_text=True)
    r = web_client.get("/mini-app/upload")
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
    r = web_client.get("/mini-app/upload", headers={"Accept": "application/json"})
    assert r.get_json()["error"] == "MethodNotAllowed"


def test_unexpected_error_is_logged_not_shown(web_client, caplog):
    with caplog.at_level(logging.ERROR, logger="edgeinv.web"):
        r = web_client.get("/mini-app/boom")
    html = r.get_data(as_text=True)
    assert r.status_code == 500
    assert "secret internal detail" not in html and "Traceback" not in html and "incident" in html
    assert "secret internal detail" in caplog.text or "RuntimeError" in caplog.text
    r = web_client.get("/mini-app/boom", headers={"Accept": "application/json"})
    assert r.status_code == 500 and r.get_json()["error"] == "InternalError"
    assert "secret" not in r.get_json()["message"]


def test_upload_multipart_raw_and_errors(web_client):
    r = web_client.post("/mini-app/upload", data={"file": (io.BytesIO(b"4.5"), "../../etc/level.txt")},
                        content_type="multipart/form-data")
    assert r.status_code == 200
    body = r.get_json()
    assert body["filename"] == "level.txt" and body["bytes"] == 3  # path parts stripped
    r = web_client.post("/mini-app/upload?filename=gw.txt", data=b"2.0", content_type="application/octet-stream")
    assert r.status_code == 200 and r.get_json()["filename"] == "gw.txt"
    # curl --data-binary's default content type carries the raw file, not a form
    r = web_client.post("/mini-app/upload?filename=curl.txt", data=b"3.25", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200 and r.get_json() == {**r.get_json(), "filename": "curl.txt", "bytes": 4}
    r = web_client.post("/mini-app/upload", data={"file": "level.txt"}, headers={"Accept": "application/json"})
    assert r.status_code == 400 and "multipart/form-data" in r.get_json()["message"]  # a form without enctype
    r = web_client.post("/mini-app/upload", data={}, content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert r.status_code == 400 and "no file uploaded" in r.get_json()["message"]
    r = web_client.post("/mini-app/upload", data={"file": (io.BytesIO(b""), "empty.txt")},
                        content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert r.status_code == 400 and "empty.txt is empty" in r.get_json()["message"]
    r = web_client.post("/mini-app/upload", data={"file": (io.BytesIO(b"abc"), "x.txt")},
                        content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.get_json()["message"] == "x.txt: not a number"


def test_upload_limit_413(make_app):
    client = make_app(max_upload_mb=0.01).test_client()  # 10 485 bytes
    small = b"0" * 10_000
    r = client.post("/mini-app/upload", data={"file": (io.BytesIO(small), "ok.txt")}, content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["bytes"] == 10_000  # within the limit
    big = b"1" * 20_000  # over the file limit but under the request limit (limit + 64 KiB)
    r = client.post("/mini-app/upload", data={"file": (io.BytesIO(big), "big.txt")}, content_type="multipart/form-data",
                    headers={"Accept": "application/json"})
    assert r.status_code == 413 and r.get_json()["error"] == "PayloadTooLargeError"
    huge = b"1" * 200_000  # over the request limit: refused by Flask before parsing, same answer
    r = client.post("/mini-app/upload", data={"file": (io.BytesIO(huge), "huge.txt")}, content_type="multipart/form-data",
                    headers={"Accept": "application/json"})
    assert r.status_code == 413 and r.get_json()["error"] == "PayloadTooLargeError"
    assert "0.01 MB" in r.get_json()["message"]
    r = client.post("/mini-app/upload", data={"file": (io.BytesIO(huge), "huge.txt")}, content_type="multipart/form-data")
    assert r.status_code == 413 and "File too large" in r.get_data(as_text=True)


# ---- runners ------------------------------------------------------------------------------------


class _Switcher:
    def __init__(self, accurate, light, *, latency_budget_ms, names=None, **kw):
        self.accurate, self.light, self.latency_budget_ms, self.names = accurate, light, latency_budget_ms, names

    def __call__(self, x):
        return self.light(x)


@pytest.fixture
def fake_runtime(monkeypatch):
    """Replace the runtime's manifest reader and loader; count loads."""
    import edgeinv.common.runtime.bundle as bundle
    import edgeinv.common.runtime.manifest as manifest_mod

    calls = []
    state = {"manifest": {"configs": {"default": {"chosen": "student_int8", "accurate": "teacher_fp32"}}}, "fail": 0}
    lock = threading.Lock()

    def load_runner(app, settings, *, config=None, variant=None):
        with lock:
            if state["fail"]:
                state["fail"] -= 1
                raise ModelError("no released models", hint="run make models")
            calls.append((app.name, config, variant))
        return lambda x, v=variant: {"variant": v}

    monkeypatch.setattr(bundle, "load_runner", load_runner)
    monkeypatch.setattr(manifest_mod, "read_manifest", lambda folder: state["manifest"])
    monkeypatch.setitem(sys.modules, "edgeinv.common.runtime.switch", types.SimpleNamespace(ModelSwitcher=_Switcher))
    return calls, state


def test_runner_is_a_switcher_built_once_across_threads(fake_runtime, mini, web_settings):
    calls, _ = fake_runtime
    ctx = WebContext(web_settings.replace(latency_budget_ms=12.5))
    got, barrier = [], threading.Barrier(8)

    def worker():
        barrier.wait()
        got.append(ctx.runner(mini, "default"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(r) for r in got}) == 1
    runner = got[0]
    assert isinstance(runner, _Switcher) and runner.latency_budget_ms == 12.5
    assert runner.names == ("teacher_fp32", "student_int8")  # last_variant says which variant ran
    assert sorted(calls) == [("mini-app", "default", "student_int8"), ("mini-app", "default", "teacher_fp32")]
    assert runner(None) == {"variant": "student_int8"} and runner.accurate(None) == {"variant": "teacher_fp32"}


def test_runner_single_variant_and_failures_not_cached(fake_runtime, mini, web_settings):
    calls, state = fake_runtime
    state["manifest"] = {"configs": {"default": {"chosen": "fp32", "accurate": "fp32"}}}
    state["fail"] = 1
    ctx = WebContext(web_settings)
    with pytest.raises(ModelError):
        ctx.runner(mini, "default")
    runner = ctx.runner(mini, "default")  # models shipped since: no restart needed
    assert not isinstance(runner, _Switcher) and runner(None) == {"variant": "fp32"}
    assert calls == [("mini-app", "default", "fp32")]
    from edgeinv.common.errors import ConfigError

    with pytest.raises(ConfigError):
        ctx.runner(mini, "no-such-config")


def test_context_is_reachable_from_views(make_app):
    flask_app = make_app()
    with flask_app.app_context():
        ctx = current_ctx()
        assert ctx.app_names == ["mini-app"] and ctx.store.ping()
        assert ctx.max_upload_bytes == int(64 * 2**20)


def test_default_apps_come_from_the_registry(web_settings, monkeypatch, mini):
    from edgeinv.common import app as registry

    monkeypatch.setattr(registry, "all_apps", lambda: {mini.name: mini})
    flask_app = create_app(web_settings)
    assert flask_app.extensions["edgeinv"].app_names == ["mini-app"]


def _tiny_onnx(path, gain):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "gain"], ["y"]), helper.make_node("Squeeze", ["y", "axis"], ["level_m"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1])],
        [helper.make_tensor_value_info("level_m", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor("gain", TensorProto.FLOAT, [1], [gain]), helper.make_tensor("axis", TensorProto.INT64, [1], [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_real_runner_through_a_view(make_app, mini, web_settings):
    """ctx.runner with the real runtime: manifest -> load_runner -> ModelSwitcher -> App.predict in a view."""
    folder = web_settings.models_dir / mini.package_name
    (folder / "default").mkdir(parents=True)
    variants = {}
    for name, gain in (("teacher_fp32", 2.0), ("student_int8", 2.0)):
        sha = _tiny_onnx(folder / "default" / f"{name}.onnx", gain)
        variants[name] = {"file": f"default/{name}.onnx", "sha256": sha, "format": "fp32"}
    manifest = {"app": mini.name, "preprocessing_version": "1",
                "configs": {"default": {"chosen": "student_int8", "accurate": "teacher_fp32", "variants": variants}}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    client = make_app().test_client()
    r = client.post("/mini-app/api/predict", data={"file": (io.BytesIO(b"1.25"), "v.txt")}, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["level_m"] == pytest.approx(2.5, abs=1e-6)
    assert body["variant"] in ("teacher_fp32", "student_int8")
    assert client.get("/healthz").get_json()["apps"]["mini-app"]["models_verified"] is True


def test_template_filters(make_app):
    from flask import render_template_string

    with make_app().test_request_context("/"):
        out = render_template_string("{{ a|when }}|{{ b|when }}|{{ 3.14159|num }}|{{ x|num(1) }}|{{ 'abc'|num }}|{{ n|num }}",
                                     a="2026-11-29T10:15:18+01:00", b=None, x=2.25, n=float("nan"))
    assert out == "2026-11-29 09:15 UTC|–|3.14|2.2|–|–"
