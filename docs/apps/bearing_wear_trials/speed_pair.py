"""(issue 13, stop 30) Two codes, each in its own process, on one core, timed in alternating blocks: a paired
measurement that the host's slow phases hardly bias.

Why: `speed_processes.py` runs the codes' processes one after another, ~10-40 s each. This host's speed drifts by
10-40 % over seconds to minutes, uniformly for all work (the model's ONNX call slows as much as the FFTs) and per
virtual CPU (the same loop on both cores at once: at times one ran 1.5x slower than the other), so a process that
happens to run in a slow phase looks slower: identical code measured 0.71-1.34x itself over 3-5 processes. Here both
processes live side by side, pinned to the same core (`os.sched_setaffinity`), and take turns block by block (a few
calls each, the first code alternating), so neighbouring blocks see the same phase; each process runs one code only
(its own heap and tables, as when serving). The first call of a block follows the other code's block (its caches
are cold, as in one-process interleaving), so blocks of several calls and their median are used. Running the two
processes at the same time on two cores instead was tried and is biased: the faster code's short block always has
the slower code running beside it (shared L3 and memory; 12 kHz: 2.7 against 1.9 ms alone), the slower code's long
block mostly not.

    OMP_NUM_THREADS=1 PYTHONPATH=<tree> python docs/apps/bearing_wear_trials/speed_pair.py W/pk A B [MODE]
        [--rounds R] [--blocks K] [--per C] [--warm W] [--points I,J,...]

A, B: ``old`` (388986c), ``base`` (W/pk/base) or ``new`` (the tree on PYTHONPATH); MODE as in speed_processes.py
(``same``, ``typed``, ``field``) or ``stream`` (the bench's 50 machines in turn, as there; no points); per round (a fresh pair of processes, on core 0 then 1) each process predicts W
untimed recordings, then K blocks of C calls (fresh modes: K x C further fresh recordings, the same for both codes).
Prints, per point, the median over all blocks of the per-block ratio A / B (p50 of A's calls in its block over p50
of B's in the neighbouring one) with its interquartile range, the ratio of the two codes' quietest tenth of blocks
(10th percentile of each code's block p50s: the host's steal only ever slows a block), and each code's median p50.
A control: ``new new`` gives the measurement's own spread.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed_processes as SP  # noqa: E402


def child(pk: Path, code: str, mode: str, point: int, count: int, warm: int, per: int, core: int) -> None:
    os.sched_setaffinity(0, {core})
    P, PP, A, runner = SP.load(pk, code)
    if mode == "stream":  # the bench's 50 machines in turn (point ignored)
        recs = SP.stream_recordings(P, PP, A, count)
    else:
        recs = SP.point_recordings(P, PP, A, *SP.POINTS[point], mode, count)
    for rec in recs[:warm]:
        P.APP.predict(rec, runner)
    pos = warm
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        t = []
        for rec in recs[pos:pos + per]:
            t0 = time.process_time()
            P.APP.predict(rec, runner)
            t.append(time.process_time() - t0)
        pos += per
        print(json.dumps(float(np.median(t))), flush=True)


def pair(pk: Path, a: str, b: str, mode: str, point: int, rounds: int, blocks: int, per: int, warm: int):
    count = warm + blocks * per
    ratios, ta, tb = [], [], []
    for r in range(rounds):
        core = r % 2
        pa, pb = (subprocess.Popen([sys.executable, __file__, "--child", str(pk), code, mode, str(point), str(count),
                                    str(warm), str(per), str(core)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True, bufsize=1) for code in (a, b))
        for p in (pa, pb):
            assert p.stdout.readline().strip() == "ready"

        def block(p):
            p.stdin.write("go\n")
            p.stdin.flush()
            return float(json.loads(p.stdout.readline()))

        for k in range(blocks):
            if (k + r) % 2:
                xb = block(pb)
                xa = block(pa)
            else:
                xa = block(pa)
                xb = block(pb)
            ratios.append(xa / xb)
            ta.append(xa)
            tb.append(xb)
        for p in (pa, pb):
            p.stdin.close()
            p.wait()
    q = np.quantile(ratios, [0.25, 0.5, 0.75])
    quiet = float(np.quantile(ta, 0.1) / np.quantile(tb, 0.1))  # the quietest tenth of each code's blocks
    return q, quiet, float(np.median(ta)) * 1e3, float(np.median(tb)) * 1e3


def main(argv: list[str]) -> None:
    pk, a, b = Path(argv[0]), argv[1], argv[2]
    rest = argv[3:]
    mode = rest.pop(0) if rest and not rest[0].startswith("--") else "same"
    opts = {"--rounds": 4, "--blocks": 6, "--per": 5, "--warm": 0}
    points = list(range(len(SP.POINTS)))
    while rest:
        key, val = rest.pop(0), rest.pop(0)
        if key == "--points":
            points = [int(v) for v in val.split(",")]
        else:
            opts[key] = int(val)
    for i in points if mode != "stream" else [0]:
        label = "bench stream" if mode == "stream" else "{:g}/{:g}".format(*SP.POINTS[i])
        q, quiet, ma, mb = pair(pk, a, b, mode, i, opts["--rounds"], opts["--blocks"], opts["--per"], opts["--warm"])
        print(f"{label} {mode}: {a}/{b} per block median {q[1]:.2f} (IQR {q[0]:.2f}-{q[2]:.2f}), "
              f"quietest tenth {quiet:.2f} ("
              f"{opts['--rounds']} rounds x {opts['--blocks']} blocks of {opts['--per']}"
              + (f", after {opts['--warm']} untimed" if opts["--warm"] else "")
              + f"); p50 {a} {ma:.2f} ms, {b} {mb:.2f} ms", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        child(Path(sys.argv[2]), sys.argv[3], sys.argv[4], *(int(v) for v in sys.argv[5:10]))
    else:
        main(sys.argv[1:])
