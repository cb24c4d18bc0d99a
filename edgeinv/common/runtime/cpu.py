"""What this CPU can do for INT8 inference, and which CPU class it belongs to.

Edge side (no torch; numpy only when the features are first read). ONNX Runtime picks its integer kernels from the CPU's
features at run time, and their numerics differ by class: on x86-64 without VNNI the U8S8 kernels
(VPMADDUBSW) add pairs of u8 x s8 products into *saturating* 16-bit sums, so a model quantized with
full 8-bit weights can be accurate on a VNNI build machine and wrong on the device. The classes::

    x86-64-vnni     AVX512-VNNI or AVX-VNNI: exact 32-bit dot products
    x86-64-avx512   AVX-512 without VNNI: saturating U8S8 pairs
    x86-64-avx2     AVX2 without VNNI: saturating U8S8 pairs
    x86-64-sse      neither AVX2 nor VNNI
    arm64-dotprod   ARMv8.2 SDOT/UDOT: exact 32-bit dot products
    arm64-neon      NEON only: widening multiplies, no saturation
    other           anything else (INT8 is then checked by the self-test only)

Features come from ``/proc/cpuinfo`` (Linux), else ``platform.machine()`` alone, narrowed on x86-64 by what the CPUID
instruction answers this process (numpy's run-time detection, the same instruction ONNX Runtime's kernel choice asks):
the kernel's flags and a process's CPUID can differ, e.g. under ``scripts/as_cpu.py``, which hides AVX-512 / VNNI from
a process to run it as on a CPU without them (issue 13, stop 27); the class must be that of the kernels that run.
"""

from __future__ import annotations

import functools
import hashlib
import platform
from pathlib import Path

__all__ = ["CPU_CLASSES", "cpu_features", "cpu_class", "fingerprint"]

CPU_CLASSES = ("x86-64-vnni", "x86-64-avx512", "x86-64-avx2", "x86-64-sse", "arm64-dotprod", "arm64-neon", "other")


def _cpuinfo(path: str = "/proc/cpuinfo") -> tuple[str, set[str]]:
    model, flags = "", set()
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("flags", "features") and not flags:
            flags = set(value.split())
        elif key in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
    return model, flags


def features_from(machine: str, model: str, flags: set[str]) -> dict:
    """The feature record for a machine name and a set of cpuinfo flags (separated for tests)."""
    machine = machine.lower()
    x86 = machine in ("x86_64", "amd64")
    arm = machine in ("aarch64", "arm64")
    feats = {
        "arch": "x86_64" if x86 else "aarch64" if arm else machine or "unknown",
        "model": model or platform.processor() or "unknown",
        "avx2": x86 and "avx2" in flags,
        "avx512": x86 and "avx512f" in flags,
        "vnni": x86 and bool({"avx512_vnni", "avx_vnni"} & flags),
        "neon": arm and (not flags or bool({"asimd", "neon"} & flags)),
        "dotprod": arm and "asimddp" in flags,
    }
    if x86:
        cls = ("x86-64-vnni" if feats["vnni"] else "x86-64-avx512" if feats["avx512"]
               else "x86-64-avx2" if feats["avx2"] else "x86-64-sse")
    elif arm:
        cls = "arm64-dotprod" if feats["dotprod"] else "arm64-neon"
    else:
        cls = "other"
    feats["cpu_class"] = cls
    return feats


# /proc/cpuinfo flags -> numpy's name for the same CPUID bit (flags numpy does not know, e.g. avx_vnni, are kept)
_CPUID_NAMES = {"avx2": "AVX2", "avx512f": "AVX512F", "avx512_vnni": "AVX512VNNI"}


def _cpuid_narrowed(flags: set[str]) -> set[str]:
    """``flags`` without those this process's CPUID does not report (numpy's run-time detection; unchanged if
    numpy cannot tell)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as seen
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as seen
        except ImportError:
            return flags
    return {f for f in flags if seen.get(_CPUID_NAMES.get(f, ""), True)}


@functools.lru_cache(maxsize=1)
def cpu_features() -> dict:
    """``{arch, model, avx2, avx512, vnni, neon, dotprod, cpu_class}`` of this machine (as this process's CPUID sees
    it, on x86-64)."""
    model, flags = _cpuinfo()
    machine = platform.machine()
    if machine.lower() in ("x86_64", "amd64"):
        flags = _cpuid_narrowed(flags)
    return features_from(machine, model, flags)


def cpu_class() -> str:
    return cpu_features()["cpu_class"]


def fingerprint(features: dict | None = None) -> str:
    """A short id of the CPU (model + class + the features that change kernels): device state is per CPU."""
    f = features or cpu_features()
    key = "|".join(str(f.get(k)) for k in ("arch", "model", "cpu_class", "avx2", "avx512", "vnni", "neon", "dotprod"))
    return hashlib.sha256(key.encode()).hexdigest()[:16]
