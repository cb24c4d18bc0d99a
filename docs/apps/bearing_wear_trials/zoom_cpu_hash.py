"""(issue 13, stop 26) Is the 1x check's zoom DFT the same doubles on every CPU? Prints a hash of
``orders._zoom_contiguous`` of two fixed random signals and one of a plain numpy complex product; run it natively and
under qemu and compare:

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python docs/apps/bearing_wear_trials/zoom_cpu_hash.py
    OMP_NUM_THREADS=1 PYTHONPATH=. qemu-x86_64 -cpu Nehalem .venv/bin/python docs/apps/bearing_wear_trials/zoom_cpu_hash.py

At stop 26 both hashes differed between this AVX-512 machine and Nehalem (numpy's contiguous complex multiply uses FMA
where the CPU has it; the zoom DFT's matrix products go to BLAS). Stop 27 ran it natively and under
``python scripts/as_cpu.py avx2 -- ...`` / ``sse42 -- ...``: three zoom hashes. Stop 28 replaced it by
``orders.zoom_dft(a, k0, m, nfft)`` (the same moments, the outer sum as an FFT over the blocks): still three hashes
(its moments are a BLAS product); ``refine_rpm`` rounds the speed it derives to 10 significant digits, so the speed
and every later output come out the same on all three (``test_predict_equal.py``'s CPU pin, run masked by
``tests/common/test_as_cpu.py``). A deterministic variant (einsum moments, own sine/cosine, real products: one hash
on all three) was measured too: 2-3x slower than BLAS for single windows and 48 kHz recordings, and the rounding is
needed anyway for the Hann window's and the logarithm's last bits, so it was not kept (stop 28, c4e8233).
"""
import hashlib

import numpy as np

from edgeinv.apps.bearing_wear import orders as O

rng = np.random.default_rng(3)
h = hashlib.sha256()
for n in (12821, 27714):
    a = rng.standard_normal(n)
    nfft = O.next_fast_len_real(4 * n)
    zoom = getattr(O, "_zoom_contiguous", None) or O.zoom_dft  # before / from stop 28: the same arguments
    h.update(zoom(a, nfft // 400, 28, nfft).tobytes())
print("zoom DFT", h.hexdigest()[:16])
a, b = (rng.standard_normal(500) + 1j * rng.standard_normal(500) for _ in range(2))
print("complex product", hashlib.sha256((a * b).tobytes()).hexdigest()[:16])
