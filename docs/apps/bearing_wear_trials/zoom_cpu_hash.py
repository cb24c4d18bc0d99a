"""(issue 13, stop 26) Is the 1x check's zoom DFT the same doubles on every CPU? Prints a hash of
``orders._zoom_contiguous`` of two fixed random signals and one of a plain numpy complex product; run it natively and
under qemu and compare:

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python docs/apps/bearing_wear_trials/zoom_cpu_hash.py
    OMP_NUM_THREADS=1 PYTHONPATH=. qemu-x86_64 -cpu Nehalem .venv/bin/python docs/apps/bearing_wear_trials/zoom_cpu_hash.py

At stop 26 both hashes differed between this AVX-512 machine and Nehalem (numpy's contiguous complex multiply uses FMA
where the CPU has it; the zoom DFT's matrix products go to BLAS).
"""
import hashlib

import numpy as np

from edgeinv.apps.bearing_wear import orders as O

rng = np.random.default_rng(3)
h = hashlib.sha256()
for n in (12821, 27714):
    a = rng.standard_normal(n)
    nfft = O._next_fast_len_real(4 * n)
    h.update(O._zoom_contiguous(a, nfft // 400, 28, nfft).tobytes())
print("zoom DFT", h.hexdigest()[:16])
a, b = (rng.standard_normal(500) + 1j * rng.standard_normal(500) for _ in range(2))
print("complex product", hashlib.sha256((a * b).tobytes()).hexdigest()[:16])
