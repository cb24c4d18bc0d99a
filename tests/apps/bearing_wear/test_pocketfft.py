"""The direct pocketfft calls (issue 13, stop 25) give scipy.fft's bits, and the numpy rewrites of this stop equal
what they replace (exactly)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft as sfft

from edgeinv.apps.bearing_wear import orders as O
from edgeinv.apps.bearing_wear import ood
from edgeinv.apps.bearing_wear import pocketfft as P


def test_private_binding_checked_before_use(monkeypatch):
    """On this scipy the private binding passes its check and is used; one that changed its signature is refused
    (the module then calls the public functions)."""
    assert P._pp is not None and P._private_binding_agrees()

    class Changed:  # a later scipy whose r2c takes other arguments
        @staticmethod
        def r2c(*args):
            raise TypeError("r2c() takes 4 positional arguments")

    monkeypatch.setattr(P, "_pp", Changed)
    assert not P._private_binding_agrees()


@pytest.mark.parametrize("n", [64, 1000, 2133, 12800, 16384])
def test_transforms_equal_scipy_fft(n):
    rng = np.random.default_rng(n)
    x32 = rng.standard_normal((3, n)).astype(np.float32)
    x64 = rng.standard_normal(n)
    assert np.array_equal(P.rfft(x32, axis=1), sfft.rfft(x32, axis=1))
    assert np.array_equal(P.rfft(x64), sfft.rfft(x64))
    z = (rng.standard_normal((2, n)) + 1j * rng.standard_normal((2, n))).astype(np.complex64)
    want = sfft.ifft(z.copy(), axis=1, norm="forward", overwrite_x=True)
    assert np.array_equal(P.ifft_forward_norm_(z, axis=1), want)
    w = rng.standard_normal((n, 10)) + 1j * rng.standard_normal((n, 10))  # zoom_dft's moment columns (axis 0)
    want = sfft.fft(w, axis=0)
    assert np.array_equal(P.fft_(w, axis=0), want) and np.array_equal(w, want)  # in place
    power = np.square(x32[0, : n // 2 + 1])
    assert np.array_equal(P.irfft(power, n), sfft.irfft(power, n=n))
    assert P.next_fast_len(n) == sfft.next_fast_len(n)
    assert P.prev_fast_len_real(n) == sfft.prev_fast_len(n, real=True)


def test_padded_ifft_equals_scipy_zero_padding():
    """The kurtogram's bands: zero-padded by hand, transformed in place = scipy.fft.ifft(..., n=m)."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 2133)) + 1j * rng.standard_normal((4, 2133))).astype(np.complex64)
    m = sfft.next_fast_len(2133)
    c = np.zeros((4, m), dtype=np.complex64)
    c[:, :2133] = x
    assert np.array_equal(P.ifft_forward_norm_(c, axis=1), sfft.ifft(x, n=m, axis=1, norm="forward"))


@pytest.mark.parametrize("half", [1, 2, 3])
def test_running_max_equals_scipy_ndimage(half):
    from scipy.ndimage import maximum_filter1d

    h = np.random.default_rng(half).standard_normal(301)
    assert np.array_equal(ood._running_max(h, half), maximum_filter1d(h, size=2 * half + 1, mode="nearest"))


def _block_background_v6(row, block):
    """0f3c6a7's one-row block background (the reference of the batched one)."""
    n = len(row)
    nblk = max(n // block, 1)
    med = np.empty(nblk)
    if nblk > 1:
        blk = row[: (nblk - 1) * block].reshape(nblk - 1, block)
        h = block // 2
        if block % 2:
            med[:-1] = np.partition(blk, h, axis=1)[:, h]
        else:
            p = np.partition(blk, (h - 1, h), axis=1)
            med[:-1] = 0.5 * (p[:, h - 1] + p[:, h])
    med[-1] = O.median(row[(nblk - 1) * block:])
    centres, pos = O._block_centres(n, block)
    return np.interp(pos, centres, med)


def test_batched_backgrounds_equal_row_by_row():
    rng = np.random.default_rng(5)
    rows = rng.exponential(size=(2, 819))
    for block in (64, 11, 819, 1000):
        assert np.array_equal(O.block_backgrounds(rows, block)[1], _block_background_v6(rows[1], block))
        assert np.array_equal(O.block_background(rows[0], block), _block_background_v6(rows[0], block))
    assert np.array_equal(O.row_medians(rows[:, 8:]), [O.median(r[8:]) for r in rows])
    assert np.array_equal(O.row_medians(rows[:, 7:]), [O.median(r[7:]) for r in rows])


def test_speed_check_on_the_read_candidates_equals_the_whole_grid():
    """speed_check works on the candidates it reads only (stop 26): the same scores, best other rate and verdict as
    from every candidate's score with the ones it leaves out set aside (tones at the speed, off by 1.3x, and noise)."""
    from edgeinv.apps.bearing_wear import features as F
    from edgeinv.apps.bearing_wear.physics import get_geometry

    rng = np.random.default_rng(13)
    for fs, rpm, off, g in ((12000.0, 1797.0, 1.01, "6205"), (48000.0, 600.0, 1.3, "6203"),
                            (25600.0, 3100.0, 0.0, "6205"), (12000.0, 900.0, 0.77, None)):
        n = F.window_length(fs_hz=fs, rpm=rpm)
        t = np.arange(2 * n) / fs
        x = rng.standard_normal(2 * n) + sum(np.sin(2 * np.pi * k * off * rpm / 60 * t) for k in range(1, 6))
        windows = F.spectral_windows(x, fs_hz=fs, rpm=rpm)
        geom = get_geometry(g) if g else None
        near, left_out, _ = ood._given_and_explained(geom)
        ratios, score, _ = ood.shaft_family_scores(windows, rpm=rpm)
        other = np.where(left_out, -np.inf, score)
        tied = np.flatnonzero(other >= other.max() - 1e-9)
        gaps = np.diff(tied) > 1
        run = tied[: int(np.argmax(gaps)) + 1] if gaps.any() else tied
        i = int(run[len(run) // 2])
        got = ood.speed_check(windows, rpm=rpm, geometry=geom, margin_db=6.0)
        assert got["family_at_given_db"] == round(float(score[near].max()), 1)
        assert got["best_other_rpm"] == round(float(ratios[i]) * rpm, 1)
        assert got["family_at_other_db"] == round(float(score[i]), 1)
        assert got["disagrees"] == bool(float(score[i]) - float(score[near].max()) >= 6.0)


def test_fault_views_into_equals_the_per_order_views():
    """The model input's view channels (gathers kept per order, stop 29) equal fault_views / shaft_comb per order."""
    from edgeinv.apps.bearing_wear import features as F

    rng = np.random.default_rng(13)
    both = rng.random((2, len(F.ORDER_AXIS)))
    random_sets = [tuple(rng.uniform(0.1, 15, 4).tolist()) for _ in range(20)]
    for orders in ((3.585, 5.415, 4.713, 0.398), (0.2, 0.05, 12.0, 30.0), (2.0, 2.01, 6.4, 25.6), *random_sets):
        feats = F._fault_views_into(both, orders)
        for i, o in enumerate(orders):
            assert np.array_equal(feats[i * F.N_VC: i * F.N_VC + 2], F.fault_views(both, order=o).astype(np.float32))
            assert np.array_equal(feats[i * F.N_VC + 2], F.shaft_comb(order=o).astype(np.float32))
            assert np.array_equal(feats[i * F.N_VC + 3], F.HARMONIC_MARKS.astype(np.float32))


def test_scratch_arrays_are_per_thread():
    """Windows analysed in two threads at once give what they give one after the other (each thread its buffers)."""
    import threading

    from edgeinv.apps.bearing_wear import features as F
    from edgeinv.apps.bearing_wear.physics import get_geometry

    g = get_geometry("6205")
    rng = np.random.default_rng(17)
    cases = [(rng.standard_normal(F.window_length(fs_hz=fs, rpm=rpm)) + 0.1, fs, rpm)
             for fs, rpm in ((12000.0, 1797.0), (48000.0, 3600.0), (25600.0, 1500.0), (12000.0, 900.0))]
    serial = [F.analyse_window(x, fs_hz=fs, rpm=rpm, geometry=g).x for x, fs, rpm in cases]
    got = {}

    def run(i):  # (with one buffer set for both threads this failed in 2 of 3 runs)
        for _ in range(6):
            for j, (x, fs, rpm) in enumerate(cases):
                got[(i, j)] = F.analyse_window(x, fs_hz=fs, rpm=rpm, geometry=g).x

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(got[(i, j)], serial[j]) for i in range(2) for j in range(len(cases)))


def test_weakest_three_of_five_equals_partition():
    """The speed family's score by a sorting network: the same doubles as the partition and sum it replaces (on this
    machine, whose partition returns the three ascending), ties and zeros included."""
    rng = np.random.default_rng(19)
    for trial in range(50):
        h = rng.uniform(0, 40, size=(5, 846))
        if trial % 2:
            h = np.where(rng.random((5, 846)) < 0.4, rng.choice([0.0, 40.0, 3.5], size=(5, 846)), h)
        want = np.partition(h.T, 2, axis=1)[:, :3].sum(axis=1) / 3
        assert np.array_equal(ood._weakest_three_of_five(h), want)


def test_scratch_views_of_a_grown_buffer_are_dropped():
    """A scratch name's buffer that grows drops the views of its old buffer (they would keep it alive) and hands out
    views of the new one."""
    from edgeinv.apps.bearing_wear import pocketfft as P

    small = P.scratch("test_grow", 10, np.float64)
    assert P.scratch("test_grow", 10, np.float64) is small  # kept while the buffer stays
    big = P.scratch("test_grow", 1000, np.float64)
    held = P._SCRATCH.pool["test_grow"]
    assert all(np.shares_memory(v, held) for k, v in P._SCRATCH.views.items() if k[0] == "test_grow")
    again = P.scratch("test_grow", 10, np.float64)
    assert again is not small and np.shares_memory(again, big)


def test_band_plan_kept_per_level_set_equals_the_plan_for_the_given_width():
    """The band plan is kept per set of kurtogram levels (stop 29: the minimum band width follows the speed): every
    table equals the plan built for the width itself, over widths across and between the levels' widths."""
    import dataclasses

    from edgeinv.apps.bearing_wear import kurtogram as K

    for fs, n, n_k in ((12000.0, 12800, 12800), (48000.0, 153600, 16384), (25600.0, 32768, 16384)):
        dfk, df = fs / n_k, fs / n
        widths = [nb * dfk for *_, nb in K._kurtogram_levels(n_k // 2 + 1, df=dfk, min_width_hz=0.0, max_level=K.MAX_LEVEL)]
        probes = [250.0, 460.0, 767.5, 1200.0, *widths, *(w * (1 + 1e-12) for w in widths), *(w * 0.999 for w in widths)]
        for min_width in probes:
            args = (n_k // 2 + 1, dfk, n // 2 + 1, df)
            try:
                want = K._band_plan_kept.__wrapped__(*args, min_width, 0.4 * fs, fs)
            except Exception as e:  # no band left: the kept plan raises the same
                with pytest.raises(type(e)):
                    K._band_plan(*args, min_width, 0.4 * fs, fs)
                continue
            got = K._band_plan(*args, min_width, 0.4 * fs, fs)
            assert got.grid[0] == want.grid[0]
            for a, b in zip(got.grid[1:], want.grid[1:]):
                assert np.array_equal(a, b)
            for f in dataclasses.fields(want):
                if f.name != "grid":
                    assert np.array_equal(getattr(got, f.name), getattr(want, f.name)), f.name
