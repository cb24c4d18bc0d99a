"""Run a command natively as if on an x86-64 CPU without AVX-512 / VNNI (``avx2``) or without AVX (``sse42``).

    python scripts/as_cpu.py avx2 -- .venv/bin/python -m pytest -p no:faulthandler tests/apps/bearing_wear
    python scripts/as_cpu.py avx2 -- .venv/bin/python -m edgeinv.apps.veg_cover.shape_bench shipped --reps 100
    python scripts/as_cpu.py --check            # can this machine do it? (exit 0 = yes)

Builds ``scripts/cpu_mask/cpuid_mask.c`` with the system C compiler (Debian ``gcc``) into a cache folder
(``$XDG_CACHE_HOME/edgeinv`` or ``~/.cache/edgeinv``; never the repository) and runs the command with it in
``LD_PRELOAD``: in Python processes CPUID then answers without the masked features, so ONNX Runtime's MLAS, numpy
and OpenBLAS take the kernels of such a CPU, on this machine's silicon; ``GLIBC_TUNABLES`` makes glibc (its libm
included) choose its variants as on that CPU too. Issue 13 (stop 27): qemu-user's timings of
AVX2 code say nothing of a real CPU's (under ``qemu -cpu Haswell`` INT8 looked 1.35x faster than FP32; natively
with AVX-512 hidden it is slower), and a whole test run takes minutes here instead of hours under qemu.

Needs Linux's CPUID faulting (``cpuid_fault`` in ``/proc/cpuinfo``; Intel CPUs have it since Ivy Bridge, this
workplace's AMD EPYC VM has it too; where the CPU or hypervisor lacks it, exit status 3). pytest: pass ``-p no:faulthandler`` (its SIGSEGV handler
would take the faulting CPUID). Exit status: the command's; 3 when the machine cannot mask.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "cpu_mask" / "cpuid_mask.c"
MASKS = ("avx2", "sse42")
CANNOT = 3
# glibc picks its variants (ifuncs) before the shim loads: told by its tunables instead. Its libm's exp, log, sin,
# cos, log1p, expm1, atan have FMA variants with other last bits (hashes of 100,000 values natively = qemu Haswell,
# and with "-FMA,-AVX2,..." here = qemu Nehalem; stop 27)
_AVX512 = "-AVX512F,-AVX512CD,-AVX512BW,-AVX512DQ,-AVX512VL,-AVX512ER,-AVX512PF"
GLIBC_HWCAPS = {"avx2": _AVX512, "sse42": _AVX512 + ",-AVX2,-FMA,-FMA4,-AVX,-F16C"}


def why_not() -> str | None:
    """None when this machine can run commands masked, else the reason."""
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        return f"needs Linux on x86-64 (this is {sys.platform} {os.uname().machine})"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError as exc:
        return f"cannot read /proc/cpuinfo ({exc})"
    if " cpuid_fault" not in flags:
        return "the CPU (or its hypervisor) offers no CPUID faulting (no cpuid_fault in /proc/cpuinfo)"
    if not (shutil.which("cc") or shutil.which("gcc")):
        return "no C compiler (apt-get install gcc)"
    return None


def library() -> Path:
    """The built shim (rebuilt when its source changes)."""
    src = SOURCE.read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeinv"
    out = cache / f"cpuid_mask-{hashlib.sha256(src).hexdigest()[:12]}.so"
    if not out.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        cc = shutil.which("cc") or shutil.which("gcc")
        subprocess.run([cc, "-O2", "-Wall", "-shared", "-fPIC", "-o", str(tmp), str(SOURCE)], check=True)
        os.replace(tmp, out)
    return out


def env(mask: str, base: dict | None = None) -> dict:
    """``base`` (default this process's environment) with the shim preloaded for ``mask``."""
    if mask not in MASKS:
        raise ValueError(f"mask must be one of {MASKS}, got {mask!r}")
    e = dict(os.environ if base is None else base)
    e["LD_PRELOAD"] = " ".join(p for p in (str(library()), e.get("LD_PRELOAD", "")) if p)
    e["EDGEINV_CPU_MASK"] = mask
    e["GLIBC_TUNABLES"] = ":".join(t for t in (e.get("GLIBC_TUNABLES", ""), f"glibc.cpu.hwcaps={GLIBC_HWCAPS[mask]}") if t)
    e.pop("PYTHONFAULTHANDLER", None)
    return e


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    reason = why_not()
    if argv[:1] == ["--check"]:
        print(reason or "ok: CPUID faulting and a C compiler are here")
        return CANNOT if reason else 0
    if len(argv) < 3 or argv[0] not in MASKS or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    if reason:
        print(f"as_cpu: cannot mask the CPU here: {reason}", file=sys.stderr)
        return CANNOT
    return subprocess.run(argv[2:], env=env(argv[0])).returncode


if __name__ == "__main__":
    sys.exit(main())
