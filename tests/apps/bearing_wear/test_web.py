"""The bearing-wear blueprint through Flask's test client (a fake model runner stands in for ONNX)."""

import io

import numpy as np
import pytest

from edgeinv.apps.bearing_wear import APP
from edgeinv.apps.bearing_wear.physics import FAULTS

BASE = "/bearing-wear"


class FakeRunner:
    """Outer-race call; the model's size output grows by 0.5 mm per call (the `fake` fixture makes the recording's
    entry/exit delay — the size a result reports — grow the same way, so a history has a trend)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        n = len(x)
        p = np.zeros((n, 5), np.float32)
        p[:, FAULTS.index("outer_race")] = 0.95
        p[:, 0] = 0.05
        return {"fault": p, "defect_size_mm": np.full(n, 0.5 * self.calls, np.float32),
                "defect_size_mm_std": np.full(n, 0.1, np.float32)}


def bump_acf(length_mm: float) -> np.ndarray:
    """A squared-envelope autocorrelation with an entry/exit bump at ``length_mm`` (read as the spall arc)."""
    from edgeinv.apps.bearing_wear import severity
    from edgeinv.apps.bearing_wear.features import SIZE_AXIS_MM as ax

    return np.exp(-ax / 0.03) + (severity.prominence_threshold() + 0.1) * np.exp(-0.5 * ((ax - length_mm) / 0.08) ** 2)


@pytest.fixture
def fake(app, monkeypatch):
    """The fake model, and a recording whose entry/exit delay reads 0.5 mm more per call; sizes this small pass as
    resolvable here (the real limit is tested in test_decision)."""
    from edgeinv.apps.bearing_wear import decision, severity

    real = decision.size_resolvability
    monkeypatch.setattr(decision, "size_resolvability",
                        lambda **kw: {**real(**kw), "resolvable_limit_mm": 0.1, "scale_known": True})
    runner = FakeRunner()
    monkeypatch.setattr(severity, "acf_profile", lambda analyses: bump_acf(0.5 * runner.calls))
    ctx = app.extensions["edgeinv"]
    monkeypatch.setattr(ctx, "runner", lambda a, config: runner)
    return runner


@pytest.fixture(scope="module")
def wav_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("bw") / "rec.wav"
    APP.write_example(path, np.random.default_rng(2), fault="outer_race", size_mm=1.0, rpm=1797, fs=12000, duration=3.0)
    return path.read_bytes()


def _machine(client, **over):
    body = {"name": "Pump P-101", "bearing": "6205-2rs", "rpm": 1797, "fs_hz": 12000, **over}
    r = client.post(f"{BASE}/api/entities", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def test_api_machine_upload_result_history(client, fake, wav_bytes):
    mid = _machine(client)
    r = client.post(f"{BASE}/api/entities/{mid}/uploads?filename=rec.wav&measured_at=2026-01-01T08:00:00Z",
                    data=wav_bytes, content_type="application/octet-stream")
    assert r.status_code == 201, r.get_json()
    doc = r.get_json()
    s = doc["summary"]
    assert {"fault", "probabilities", "defect_size_mm", "defect_size_interval_mm", "severity", "alarm"} <= set(s)
    assert s["fault"] == "outer_race" and s["defect_size_mm"] == pytest.approx(0.5)
    assert s["windows"]["n"] == 2 and doc["measured_at"].startswith("2026-01-01T08:00")
    assert r.headers["Location"].endswith(f"/api/results/{doc['id']}")
    got = client.get(f"{BASE}/api/results/{doc['id']}").get_json()
    assert got["entity"]["id"] == mid and got["summary"]["fault"] == "outer_race"
    assert got["summary"]["parameters"]["rpm"] == {"value": 1797.0, "source": "file"}
    assert got["summary"]["parameters"]["bearing"]["source"] == "entity default"
    # two more results ten days apart: 1.0 mm, 1.5 mm -> linear trend reaches 2 mm in ~10 days
    for day, when in ((2, "2026-01-11T08:00:00Z"), (3, "2026-01-21T08:00:00Z")):
        r = client.post(f"{BASE}/api/entities/{mid}/uploads?measured_at={when}",
                        data={"file": (io.BytesIO(wav_bytes), "rec.wav")}, content_type="multipart/form-data")
        assert r.status_code == 201
    doc = client.get(f"{BASE}/api/entities/{mid}").get_json()
    assert [h["defect_size_mm"] for h in doc["history"]] == pytest.approx([0.5, 1.0, 1.5])
    assert doc["trend"]["status"] == "predicted" and doc["trend"]["days_to_threshold"] == pytest.approx(10.0, abs=0.1)
    csv = client.get(f"{BASE}/api/entities/{mid}/history.csv").get_data(as_text=True).splitlines()
    assert len(csv) == 4 and csv[0].startswith("id,measured_at,filename,Fault") and ",outer_race," in csv[1]
    page = client.get(f"{BASE}/entities/{mid}").get_data(as_text=True)
    assert "Alarm:" in page and "<svg" in page and page.count("outer race defect") >= 3 and "outer_race" not in page
    assert "2 mm forecast for about 2026-01-31" in page and "2026-01-11" in page  # calendar dates, not day counts
    assert "linear fit (90 % band)" in page and "<polygon" in page  # the forecast with its uncertainty band


def test_html_flow(client, fake, wav_bytes):
    r = client.post(f"{BASE}/entities", data={"name": "Fan F-7", "bearing": "6203-2rs", "rpm": "1797", "fs_hz": "12000",
                                              "machine_class": "iso10816-1:class-I", "threshold_mm": "2"})
    assert r.status_code == 302
    machine_url = r.headers["Location"]
    assert "Fan F-7" in client.get(f"{BASE}/").get_data(as_text=True)
    r = client.post(f"{machine_url}/uploads", data={"file": (io.BytesIO(wav_bytes), "rec.wav"), "rpm": ""},
                    content_type="multipart/form-data")
    assert r.status_code == 302 and "/results/" in r.headers["Location"]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Envelope spectrum" in page and "<svg" in page and "BPFO" in page and "outer race" in page
    assert "SKF 6203-2RS" in page


def test_machine_rate_fills_what_the_file_lacks(client, fake, wav_bytes):
    import soundfile as sf

    x, fs = sf.read(io.BytesIO(wav_bytes), dtype="float32")
    csv = "\n".join(f"{v:.6g}" for v in x).encode()  # one column: no fs, no rpm in the file
    mid = _machine(client, fs_hz=fs)
    r = client.post(f"{BASE}/api/entities/{mid}/uploads?filename=r.csv", data=csv, content_type="text/csv")
    assert r.status_code == 201, r.get_json()
    s = r.get_json()["summary"]
    assert s["operating_point"]["fs_hz"] == fs and s["operating_point"]["rpm_given"] == 1797
    assert abs(s["operating_point"]["rpm"] - 1797) <= 0.02 * 1797  # refined from the 1x line
    assert s["parameters"]["fs_hz"] == {"value": fs, "source": "entity default"}
    assert s["parameters"]["rpm"] == {"value": 1797.0, "source": "entity default"}
    r = client.post(f"{BASE}/api/entities/{mid}/uploads?filename=r.csv&fs=5", data=csv, content_type="text/csv")
    assert r.status_code == 400


@pytest.mark.parametrize("body, status", [({"name": "x", "bearing": "6205"}, 400), ({"name": "", "rpm": 1500}, 400),
                                          ({"name": "x", "rpm": 1500, "bearing": "9999"}, 400),
                                          ({"name": "x", "rpm": "fast"}, 400),
                                          ({"name": "x", "rpm": 1500, "machine_class": "huge"}, 400)])
def test_bad_machines(client, body, status):
    r = client.post(f"{BASE}/api/entities", json=body)
    assert r.status_code == status and r.get_json()["message"]


def test_bad_uploads(client, fake, wav_bytes):
    mid = _machine(client)
    assert client.post(f"{BASE}/api/entities/999/uploads", data=wav_bytes).status_code == 404
    assert client.post(f"{BASE}/api/entities/{mid}/uploads", data=b"").status_code == 400
    r = client.post(f"{BASE}/api/entities/{mid}/uploads?filename=x.bin", data=b"\x00\x01\xff" * 50)
    assert r.status_code == 415 and r.get_json()["error"] == "UnsupportedFormatError"
    r = client.post(f"{BASE}/api/entities/{mid}/uploads?filename=x.wav", data=wav_bytes[: len(wav_bytes) // 3])
    assert r.status_code == 400 and "truncated" in r.get_json()["message"]
    r = client.post(f"{BASE}/api/entities/{mid}/uploads?filename=rec.wav&measured_at=yesterday", data=wav_bytes)
    assert r.status_code == 400
    assert client.get(f"{BASE}/api/results/12345").status_code == 404
    assert client.get(f"{BASE}/entities/999").status_code == 404
    assert client.get(f"{BASE}/api/bearings").get_json()["presets"]["6205-2rs"]["n_elements"] == 9


def test_history_trends_the_severity_index_when_sizes_are_not_resolvable(client, app, monkeypatch, wav_bytes):
    runner = FakeRunner()  # 0.5 mm, 1.0 mm ... all below the real resolvable limit at 12 kHz: sizes withheld
    monkeypatch.setattr(app.extensions["edgeinv"], "runner", lambda a, config: runner)
    mid = _machine(client)
    for when in ("2026-02-01T08:00:00Z", "2026-02-05T08:00:00Z"):
        r = client.post(f"{BASE}/api/entities/{mid}/uploads?filename=rec.wav&measured_at={when}",
                        data=wav_bytes, content_type="application/octet-stream")
        assert r.status_code == 201
        doc = r.get_json()["summary"]
        assert doc["defect_size_mm"] is None and doc["size"]["status"] == "not_resolvable" and doc["severity_index"] > 0
    page = client.get(f"{BASE}/entities/{mid}").get_data(as_text=True)
    assert "Severity index over time" in page


def test_edit_delete_machine_and_result(client, fake, wav_bytes):
    mid = _machine(client)
    r = client.patch(f"{BASE}/api/entities/{mid}", json={"rpm": 1500, "name": "Pump P-102"})
    assert r.status_code == 200 and r.get_json()["settings"]["rpm"] == 1500 and r.get_json()["name"] == "Pump P-102"
    assert r.get_json()["settings"]["fs_hz"] == 12000  # untouched settings stay
    r = client.patch(f"{BASE}/api/entities/{mid}", json={"rpm": 5})
    assert r.status_code == 400 and "rpm must be between 30 and 30000 rpm" in r.get_json()["message"]
    rid = client.post(f"{BASE}/api/entities/{mid}/uploads?filename=rec.wav", data=wav_bytes).get_json()["id"]
    assert client.delete(f"{BASE}/api/results/{rid}").get_json() == {"deleted": {"kind": "result", "id": rid}}
    assert client.get(f"{BASE}/api/results/{rid}").status_code == 404
    client.post(f"{BASE}/api/entities/{mid}/uploads?filename=rec.wav", data=wav_bytes)
    r = client.post(f"{BASE}/entities/{mid}/delete")
    assert r.status_code == 302 and client.get(f"{BASE}/api/entities/{mid}").status_code == 404
    assert client.get(f"{BASE}/api/entities").get_json() == {"entities": []}
    schema = client.get(f"{BASE}/api/schema").get_json()
    rpm = next(s for s in schema["settings"] if s["name"] == "rpm")
    assert schema["kind"] == "machine" and rpm["low"] == 30 and rpm["high"] == 30000 and rpm["unit"] == "rpm"
