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
