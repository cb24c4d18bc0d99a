"""The core entity flow with a tiny app: settings schema, provenance of every parameter, CSV, deletion, pages."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest

from edgeinv.common.app import App, Target
from edgeinv.common.errors import InvalidInputError, MissingMetadataError
from edgeinv.common.options import PredictOptions, option
from edgeinv.common.web.entities import Column, EntityFlow

BASE = "/tiny-gauge"


@dataclass(frozen=True)
class GaugeOptions(PredictOptions):
    fs_hz: float | None = option(reader=True, unit="Hz", low=1.0, high=1000.0, required=True, label="Rate")
    gain: float | None = option(1.0, low=0.0, low_exclusive=True, high=10.0, label="Gain")
    aliases = {"fs": "fs_hz"}

    def observed(self, sample):
        return {"fs_hz": sample.fs_hz} if sample.from_file else {}


@dataclass
class Reading:
    values: np.ndarray
    fs_hz: float
    from_file: bool


@dataclass
class Level:
    level: float
    note: str

    def to_dict(self):
        return {"level": self.level, "note": self.note}

    def summary(self):
        return f"level {self.level:.3f}"


class GaugeFlow(EntityFlow):
    kind, plural, upload_noun = "gauge", "gauges", "reading"
    columns = (Column("level", "Level", digits=3), Column("note", "Note"))
    trend_key = "level"


class TinyGauge(App):
    """Text files ``fs=<Hz>`` (optional) then numbers; the level is their sum times gain over the rate."""

    name = "tiny-gauge"
    title = "Tiny gauge"
    targets = (Target("level"),)
    options_type = GaugeOptions

    def input_shape(self, config):
        return (4,)

    def simulate(self, n, *, rng, config="default"):  # pragma: no cover - not used here
        raise NotImplementedError

    def read(self, source, *, filename=None, fs_hz=None, **meta):
        text = source.decode() if isinstance(source, bytes) else str(source)
        lines = text.split("\n")
        fs = None
        if lines and lines[0].startswith("fs="):
            fs = float(lines.pop(0)[3:])
        try:
            values = np.array([float(v) for v in " ".join(lines).split()], dtype=np.float32)
        except ValueError:
            raise InvalidInputError(f"{filename}: not numbers") from None
        if fs_hz is None and fs is None:
            raise MissingMetadataError(f"{filename}: the file does not say its rate", field="fs_hz")
        return Reading(values, float(fs_hz if fs_hz is not None else fs), from_file=fs_hz is None)

    def preprocess(self, sample, *, config="default"):
        return sample.values / np.float32(sample.fs_hz)

    def predict(self, sample, runner, options=None):
        gain = options.gain if options is not None else 1.0
        out = runner(self.preprocess(sample)[None])
        return Level(float(out["level"][0]) * gain, note="=SUM(A1)")

    def interpret(self, outputs, sample):  # pragma: no cover - predict is overridden
        return Level(float(outputs["level"]), "")

    def baseline(self, sample):  # pragma: no cover
        return {"level": np.float32(sample.values.sum())}

    def build_model(self, config, size):  # pragma: no cover
        raise NotImplementedError

    def entity_flow(self):
        return GaugeFlow(self)


@pytest.fixture
def gauge_client(settings, monkeypatch):
    from edgeinv.common.web import create_app

    app = TinyGauge()
    flask_app = create_app(settings, [app])
    flask_app.config.update(TESTING=True)
    monkeypatch.setattr(flask_app.extensions["edgeinv"], "runner",
                        lambda a, config: lambda x: {"level": np.asarray(x).sum(axis=1)})
    return flask_app.test_client()


def _gauge(client, **settings):
    r = client.post(f"{BASE}/api/entities", json={"name": "G1", **settings})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_settings_are_checked_against_the_options_ranges(gauge_client):
    doc = _gauge(gauge_client, fs_hz=100)
    assert doc["kind"] == "gauge" and doc["settings"] == {"fs_hz": 100.0, "gain": 1.0}
    r = gauge_client.post(f"{BASE}/api/entities", json={"name": "G2", "fs_hz": 5000})
    assert r.status_code == 400 and r.get_json()["message"] == "fs_hz must be between 1 and 1000 Hz, got 5000"
    r = gauge_client.post(f"{BASE}/api/entities", json={"name": "G3"})
    assert r.status_code == 400 and "fs_hz is required" in r.get_json()["message"]
    r = gauge_client.post(f"{BASE}/api/entities", json={"name": "", "fs_hz": 10})
    assert r.status_code == 400 and "name" in r.get_json()["message"]
    schema = gauge_client.get(f"{BASE}/api/schema").get_json()
    assert [s["name"] for s in schema["settings"]] == ["fs_hz", "gain"] and schema["settings"][0]["unit"] == "Hz"


def test_every_parameter_says_where_it_came_from(gauge_client):
    eid = _gauge(gauge_client, fs_hz=100, gain=2.0)["id"]
    up = f"{BASE}/api/entities/{eid}/uploads"
    # the file lacks its rate: the gauge's (entity default); gain: the gauge's setting
    s = gauge_client.post(f"{up}?filename=a.txt", data=b"1 2 3 4").get_json()["summary"]
    assert s["level"] == pytest.approx(2.0 * 10 / 100, rel=1e-6)
    assert s["parameters"]["fs_hz"] == {"value": 100.0, "source": "entity default"}
    assert s["parameters"]["gain"] == {"value": 2.0, "source": "entity default"}
    # the file says its rate: the file's wins over the gauge's
    s = gauge_client.post(f"{up}?filename=b.txt", data=b"fs=50\n1 2 3 4").get_json()["summary"]
    assert s["level"] == pytest.approx(2.0 * 10 / 50, rel=1e-6) and s["parameters"]["fs_hz"]["source"] == "file"
    # given with the upload (alias fs): the form's wins over both
    s = gauge_client.post(f"{up}?filename=c.txt&fs=20&gain=1", data=b"fs=50\n1 2 3 4").get_json()["summary"]
    assert s["level"] == pytest.approx(10 / 20, rel=1e-6)
    assert s["parameters"]["fs_hz"] == {"value": 20.0, "source": "form"} and s["parameters"]["gain"]["source"] == "form"
    r = gauge_client.post(f"{up}?filename=d.txt&gain=0", data=b"1 2")
    assert r.status_code == 400 and r.get_json()["message"] == "gain must be > 0 and <= 10, got '0'"
    r = gauge_client.post(f"{up}?filename=d.txt&gian=2", data=b"1 2")
    assert r.status_code == 400 and "unknown upload parameter(s) gian" in r.get_json()["message"]
    assert len(gauge_client.get(f"{BASE}/api/entities/{eid}").get_json()["history"]) == 3


def test_the_result_page_names_parameters_by_their_option_labels(gauge_client):
    """The parameters table reads "Rate", as the forms do, not the code ``fs hz``."""
    eid = _gauge(gauge_client, fs_hz=100, gain=2.0)["id"]
    s = gauge_client.post(f"{BASE}/api/entities/{eid}/uploads?filename=a.txt", data=b"1 2 3 4").get_json()
    html = gauge_client.get(f"{BASE}/results/{s['id']}").get_data(as_text=True)
    table = html[html.index('id="parameters"'):]
    table = table[:table.index("</section>")]
    assert "<td>Rate</td>" in table and "<td>Gain</td>" in table and "fs hz" not in table and "fs_hz" not in table


def test_a_file_lacking_a_value_nobody_gave_is_a_clear_error(gauge_client, settings):
    from edgeinv.common.web.store import Store

    store = Store(settings.db_path)
    eid = store.add_entity("tiny-gauge", "gauge", "no rate", {})  # e.g. created by a gateway without settings
    r = gauge_client.post(f"{BASE}/api/entities/{eid}/uploads?filename=a.txt", data=b"1 2 3")
    assert r.status_code == 400 and r.get_json()["error"] == "MissingMetadataError"
    assert gauge_client.get(f"{BASE}/api/entities/{eid}/history").get_json()["rows"] == []


def test_history_csv_pages_and_deletion(gauge_client):
    eid = _gauge(gauge_client, fs_hz=10)["id"]
    for i, when in enumerate(("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z")):
        r = gauge_client.post(f"{BASE}/entities/{eid}/uploads",
                              data={"file": (io.BytesIO(f"{i + 1} 1".encode()), f"r{i}.txt"), "measured_at": when},
                              content_type="multipart/form-data")
        assert r.status_code == 302 and "/results/" in r.headers["Location"]
    hist = gauge_client.get(f"{BASE}/api/entities/{eid}/history").get_json()
    assert [r["filename"] for r in hist["rows"]] == ["r1.txt", "r0.txt"]  # by measurement time
    assert [r["days"] for r in hist["rows"]] == [0.0, 1.0]
    csv = gauge_client.get(f"{BASE}/api/entities/{eid}/history.csv").get_data(as_text=True).splitlines()
    assert csv[0] == "id,measured_at,filename,Level,Note"
    assert csv[1].endswith(",'=SUM(A1)")  # a spreadsheet never runs a cell as a formula
    page = gauge_client.get(f"{BASE}/entities/{eid}").get_data(as_text=True)
    assert 'id="history-table"' in page and 'id="upload-form"' in page and "<svg" in page
    assert 'id="settings-fs_hz"' in page and 'min="1.0"' in page and 'max="1000.0"' in page
    rid = hist["rows"][0]["id"]
    result_page = gauge_client.get(f"{BASE}/results/{rid}").get_data(as_text=True)
    assert 'id="parameters"' in result_page and "entity default" in result_page
    r = gauge_client.post(f"{BASE}/entities/{eid}", data={"name": "G1b", "fs_hz": "", "gain": "3"})
    assert r.status_code == 400 and "fs_hz is required" in r.get_data(as_text=True)  # emptied: refused, kept
    r = gauge_client.post(f"{BASE}/entities/{eid}", data={"name": "G1b", "fs_hz": "10", "gain": "3"})
    assert r.status_code == 302
    doc = gauge_client.get(f"{BASE}/api/entities/{eid}").get_json()
    assert doc["name"] == "G1b" and doc["settings"]["gain"] == 3.0
    assert gauge_client.delete(f"{BASE}/api/entities/{eid}").get_json() == {"deleted": {"kind": "gauge", "id": eid}}
    assert gauge_client.get(f"{BASE}/api/results/{rid}").status_code == 404
    assert gauge_client.get(f"{BASE}/api/entities").get_json() == {"entities": []}
