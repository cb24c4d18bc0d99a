"""bearing-wear machine page: the recording's acceleration RMS (g) and kurtosis are stored and trended by date."""

import io

import numpy as np
import pytest
import soundfile as sf

from tests.apps.bearing_wear.test_web import BASE, _machine, fake, wav_bytes  # noqa: F401  (fixtures)


def test_rms_and_kurtosis_stored_and_trended(client, fake, wav_bytes):  # noqa: F811
    x, _ = sf.read(io.BytesIO(wav_bytes), dtype="float64")
    x = x - x.mean()
    rms, kurt = float(np.sqrt(np.mean(x**2))), float(np.mean(x**4) / np.mean(x**2) ** 2)
    mid = _machine(client)
    for when in ("2026-03-01T08:00:00Z", "2026-03-15T08:00:00Z"):
        r = client.post(f"{BASE}/api/entities/{mid}/uploads?filename=rec.wav&measured_at={when}",
                        data=wav_bytes, content_type="application/octet-stream")
        assert r.status_code == 201, r.get_json()
    ind = r.get_json()["summary"]["indicators"]
    assert ind["rms_g"] == pytest.approx(rms, rel=1e-3) and ind["kurtosis"] == pytest.approx(kurt, rel=1e-3)
    html = client.get(f"{BASE}/results/{r.get_json()['id']}").get_data(as_text=True)
    assert f'id="indicators">{rms:.3g} g RMS · kurtosis {kurt:.2f}' in html
    hist = client.get(f"{BASE}/api/entities/{mid}/history").get_json()
    assert {"rms_g", "kurtosis"} <= {c["key"] for c in hist["columns"]}
    assert [h["rms_g"] for h in hist["rows"]] == pytest.approx([rms, rms], rel=1e-3)
    csv = client.get(f"{BASE}/api/entities/{mid}/history.csv").get_data(as_text=True).splitlines()
    assert "Acceleration RMS (g)" in csv[0] and "Kurtosis" in csv[0]
    page = client.get(f"{BASE}/entities/{mid}").get_data(as_text=True)
    assert "Acceleration RMS over time" in page and "Kurtosis over time" in page
    kurt_svg = page[page.index("Kurtosis over time"):]
    assert "2026-03-" in kurt_svg[:kurt_svg.index("</svg>")]  # calendar dates on the axis, not days since first


def test_machine_page_trends_the_severity_index_next_to_resolved_sizes():
    from edgeinv.apps.bearing_wear.app import APP
    from edgeinv.apps.bearing_wear.web import MachineFlow

    rows = [{"measured_at": f"2026-03-0{d}T08:00:00", "defect_size_mm": s, "interval": [s - 0.3, s + 0.3],
             "severity_index": 10 * s / 3, "days": d - 1} for d, s in ((1, 1.5), (3, 1.7), (5, 2.0))]
    svg = str(MachineFlow(APP)._size_trend_svg({"data": {}}, rows, None))
    assert "Defect size over time" in svg and "Severity index over time" in svg
