"""``scripts/as_cpu.py``: the code run natively as on a CPU without AVX-512 / VNNI gives the pinned results.

CI machines differ in CPU (some x86-64 lack AVX-512 / VNNI). With CPUID faulting the tests can see what such a CPU
computes without one: numpy, ONNX Runtime's MLAS and OpenBLAS pick their kernels by CPUID. Skipped where the
machine cannot mask (no ``cpuid_fault``, no C compiler, not Linux x86-64), where the run is then on whatever CPU it
is anyway.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("as_cpu", ROOT / "scripts" / "as_cpu.py")
as_cpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(as_cpu)

REASON = as_cpu.why_not()
needs_mask = pytest.mark.skipif(REASON is not None, reason=f"cannot mask the CPU here: {REASON}")

FEATURES = ("import json; from numpy._core._multiarray_umath import __cpu_features__ as f; "
            "from edgeinv.common.runtime.cpu import cpu_class; "
            "print(json.dumps({**{k: bool(f.get(k)) for k in ('SSE42', 'AVX', 'FMA3', 'AVX2', 'AVX512F', 'AVX512_SKX', "
            "'AVX512VNNI')}, 'cpu_class': cpu_class()}))")


def _features(mask: str | None) -> dict:
    env = as_cpu.env(mask) if mask else None
    out = subprocess.run([sys.executable, "-c", FEATURES], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@needs_mask
def test_masked_python_sees_the_narrower_cpu():
    native = _features(None)
    avx2, sse42 = _features("avx2"), _features("sse42")
    assert avx2["SSE42"] and avx2["AVX2"] and avx2["FMA3"]
    assert not (avx2["AVX512F"] or avx2["AVX512_SKX"] or avx2["AVX512VNNI"])
    assert sse42["SSE42"] and not (sse42["AVX"] or sse42["AVX2"] or sse42["FMA3"] or sse42["AVX512F"])
    assert native["SSE42"]  # and the native run is whatever this CPU has (the mask is per process)
    # the self-test's CPU class follows the masked process (edgeinv.common.runtime.cpu), not /proc/cpuinfo
    assert avx2["cpu_class"] == "x86-64-avx2" and sse42["cpu_class"] == "x86-64-sse"


@needs_mask
def test_a_command_that_is_not_python_runs_unmasked_and_keeps_its_exit_status():
    """Only Python processes are masked (the services the tests start install crash handlers of their own)."""
    assert as_cpu.main(["avx2", "--", "sh", "-c", "exit 7"]) == 7


def test_bad_arguments_print_the_usage_and_fail(capsys):
    assert as_cpu.main(["avx512", "--", "true"]) == 2
    assert "as_cpu.py" in capsys.readouterr().err
    with pytest.raises(ValueError):
        as_cpu.env("avx512")


@needs_mask
@pytest.mark.parametrize("mask", ["avx2", "sse42"])
def test_pinned_outputs_and_the_selftest_hold_without_avx512(mask, tmp_path):
    """bearing-wear's whole predict bit for bit (recorded on an AVX-512 machine), the static-INT8 defaults that give
    every CPU the same integer sums, and the device self-test of every shipped variant meant for the CPU's class."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:faulthandler", "-p", "no:cacheprovider",
           "tests/apps/bearing_wear/test_predict_equal.py", "tests/models/test_shipped.py::"
           "test_every_variant_meant_for_this_cpu_passes_the_selftest",
           "tests/common/test_compress.py", "-k", "predict_equal or selftest or static_int8"]
    out = subprocess.run(cmd, env=as_cpu.env(mask), cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and " skipped" not in out.stdout.splitlines()[-1], out.stdout[-1000:]
