"""The leaf-nitrogen additions to the `edgeinv` CLI: simulate flags, example files, finetune, list output.

* ``edgeinv leaf-nitrogen simulate --n 1.5 --cab 40 --car 8 --anth 1 --cbrown 0 --cw 0.015 --prot 0.0009
  --cbc 0.004 --out leaf.csv`` writes ``wavelength_nm,reflectance,transmittance`` (PROSPECT-PRO, 1 nm;
  ``--sensor full|trimmed|vnir`` adds that instrument's resolution, range and noise). Unset traits
  are drawn from the app's correlated prior. ``--n`` is PROSPECT's structure parameter N; the
  generic ``--count`` sets the number of files.
* ``edgeinv leaf-nitrogen predict FILE`` prints one result per leaf; with ``--json`` always a list (``App.many_samples_per_file``).
* ``edgeinv leaf-nitrogen finetune SPECTRA.csv --labels LABELS.csv --out DIR``: an alias of the core's
  ``calibrate`` with the older defaults and N-per-area figures (see :mod:`finetune`).
* ``edgeinv leaf-nitrogen check-independent [--n 400] [--config full]``: the shipped model, the hybrid
  edge path and the iterative inversion on an independent simulation (see :mod:`independent`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeinv.common.errors import InvalidInputError

from . import sensors
from .finetune import EPOCHS as FT_EPOCHS
from .io import write_spectrum_csv
from .physics import DEFAULT_N_TO_PROTEIN, nitrogen_area_g_m2, prospect_pro
from .simulate import sample_traits

# flag -> (trait, help)
SIM_FLAGS = {
    "cab": ("chlorophyll_ug_cm2", "chlorophyll a+b, ug/cm2"),
    "car": ("carotenoid_ug_cm2", "carotenoids, ug/cm2"),
    "anth": ("anthocyanin_ug_cm2", "anthocyanins, ug/cm2"),
    "cbrown": ("brown", "brown pigments, arbitrary units"),
    "cw": ("ewt_g_cm2", "equivalent water thickness, g/cm2"),
    "prot": ("protein_g_cm2", "proteins, g/cm2"),
    "cbc": ("cbc_g_cm2", "carbon-based constituents, g/cm2"),
}


def simulate_arguments(parser) -> None:
    """Flags of ``simulate`` (the generic CLI prefixes their dests; see :func:`write_example`)."""
    parser.add_argument("--n", "--n-struct", dest="n_struct", type=float, metavar="N",
                        help="leaf structure parameter N (number of elementary layers, >= 1)")
    for flag, (_, help_) in SIM_FLAGS.items():
        parser.add_argument(f"--{flag}", type=float, help=help_)
    parser.add_argument("--sensor", choices=list(sensors.CONFIG_ORDER),
                        help="add this instrument's resolution, range and noise (default: exact model output)")


def write_example(path, rng: np.random.Generator, **params) -> dict:
    """Write one simulated leaf to ``path`` as ``wavelength_nm,reflectance,transmittance``.

    ``params`` may hold ``n_struct`` and the :data:`SIM_FLAGS` keys (cab, car, ...), ``sensor``;
    traits not given come from the correlated prior (:func:`simulate.sample_traits`).
    """
    traits = {k: float(v[0]) for k, v in sample_traits(1, rng=rng).items()}
    if params.get("n_struct") is not None:
        traits["n_struct"] = float(params["n_struct"])
    for flag, (trait, _) in SIM_FLAGS.items():
        if params.get(flag) is not None:
            traits[trait] = float(params[flag])
    if params.get("prot") is not None or params.get("cbc") is not None:
        traits["lma_g_cm2"] = traits["protein_g_cm2"] + traits["cbc_g_cm2"]
    for k, v in traits.items():
        if not (np.isfinite(v) and v >= 0):
            raise InvalidInputError(f"{k} must be a finite value >= 0, got {v!r}")
    if traits["n_struct"] < 1.0:
        raise InvalidInputError(f"N must be >= 1 (number of leaf layers), got {traits['n_struct']}")
    wl, r, t = prospect_pro(**{k: traits[k] for k in ("n_struct", "chlorophyll_ug_cm2", "carotenoid_ug_cm2",
                                                       "anthocyanin_ug_cm2", "brown", "ewt_g_cm2",
                                                       "protein_g_cm2", "cbc_g_cm2")})
    sensor = params.get("sensor")
    if sensor:
        both = sensors.measure(reflectance_1nm=np.stack([r, t]), config=sensor, rng=rng,
                               noise_scale=np.ones(2), same_sampling=True)
        (wl, r), (_, t) = both
    write_spectrum_csv(path, wavelength_nm=wl, reflectance=np.clip(r, 0, 1), transmittance=np.clip(t, 0, 1))
    n_area = float(nitrogen_area_g_m2(protein_g_cm2=traits["protein_g_cm2"]))
    return {"traits": traits, "nitrogen_g_m2": n_area, "n_to_protein": DEFAULT_N_TO_PROTEIN, "sensor": sensor}


def _cmd_finetune(app):
    def run(args, ctx):
        from .finetune import finetune

        return finetune(app, args.spectra, args.labels, args.out, settings=ctx.settings, config=args.config,
                        epochs=args.epochs, lr=args.lr, n_sim=args.n_sim, seed=args.seed,
                        holdout_fraction=args.holdout_fraction, holdout_group=args.holdout_group,
                        n_to_protein=args.n_to_protein, progress=not ctx.json)

    return run


def _cmd_simulate_site(app):
    def run(args, ctx):
        from .io import write_leaves_csv
        from .simulate import simulate_site

        if args.leaves < 1:
            raise InvalidInputError(f"--leaves must be >= 1, got {args.leaves}")
        leaves, labels = simulate_site(args.leaves, rng=np.random.default_rng(args.seed), config=args.sensor)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        spectra = write_leaves_csv(out / "spectra.csv", leaves)
        lab = out / "labels.csv"
        lab.write_text("sample,nitrogen_g_m2\n" + "".join(f"{k},{v:.4f}\n" for k, v in labels.items()))
        return {"spectra": str(spectra), "labels": str(lab), "leaves": len(leaves),
                "text": f"wrote {spectra} ({len(leaves)} leaves, {args.sensor}) and {lab} (lab-measured N, g/m2)"}

    return run


def _cmd_check_independent(app):
    def run(args, ctx):
        from .independent import check_independent

        if args.n < 10 or args.n_baseline < 2:
            raise InvalidInputError(f"--n must be >= 10 and --n-baseline >= 2, got {args.n} and {args.n_baseline}")
        return check_independent(app, lambda config: ctx.runner(app, config, variant=args.variant,
                                                                models_dir=args.model),
                                 n=args.n, n_baseline=args.n_baseline, config=args.config, seed=args.seed)

    return run


def _cmd_loso(app):
    def run(args, ctx):
        from edgeinv.common.config import realdata_root

        from .loso import loso

        table = Path(args.table) if args.table else realdata_root() / app.name / LOSO_TABLE
        if not table.is_file():
            raise InvalidInputError(f"no such table: {table}", hint="give the labelled EcoSIS-layout CSV")
        if args.epochs < 1 or args.n_sim < 0 or args.own_network_draws < 0:
            raise InvalidInputError(f"--epochs must be >= 1 and --n-sim >= 0, got {args.epochs} and {args.n_sim}")
        return loso(app, table, lambda config: ctx.runner(app, config), settings=ctx.settings, out_dir=args.out,
                    epochs=args.epochs, n_sim=args.n_sim, seed=args.seed, own_network_draws=args.own_network_draws,
                    ceiling_only=args.ceiling_only)

    return run


LOSO_TABLE = "ely2019_dev_species/ely2019_dev_species.csv"


def _cmd_diagnose(app):
    def run(args, ctx):
        from edgeinv.common.config import realdata_root

        from .diagnose import diagnose

        table = Path(args.table) if args.table else realdata_root() / app.name / LOSO_TABLE
        if not table.is_file():
            raise InvalidInputError(f"no such table: {table}", hint="give the labelled EcoSIS-layout CSV")
        return diagnose(table, n_to_protein=float(app.n_to_protein), progress=True)

    return run


def add_cli(app, sub) -> None:
    """Add ``finetune`` and ``simulate-site``; make ``predict --json`` a list; ``simulate --n`` is N."""
    site = sub.add_parser("simulate-site", help="write spectra.csv + labels.csv of simulated leaves from another "
                                                "site (a stand-in for real labelled leaves, to try finetune)")
    site.add_argument("--out", required=True, help="output folder")
    site.add_argument("--leaves", type=int, default=60)
    site.add_argument("--sensor", choices=list(sensors.CONFIG_ORDER), default="full")
    site.add_argument("--seed", type=int, default=0)
    site.set_defaults(func=_cmd_simulate_site(app))

    ind = sub.add_parser("check-independent", help="score the model on an independent simulation (other priors, "
                                                  "plain white noise) with the iterative inversion side by side")
    ind.add_argument("--n", type=int, default=400, help="leaves (default 400)")
    ind.add_argument("--n-baseline", dest="n_baseline", type=int, default=150,
                     help="leaves also inverted iteratively (about 50 ms each; default 150)")
    ind.add_argument("--config", choices=[c for c in sensors.CONFIG_ORDER if sensors.CONFIGS[c].supports_protein],
                     default="full")
    ind.add_argument("--seed", type=int, default=777_001)
    ind.add_argument("--model", default=None, help="models folder (default: the shipped models)")
    ind.add_argument("--variant", default=None, help="variant (default: the manifest's chosen)")
    ind.set_defaults(func=_cmd_check_independent(app))

    lo = sub.add_parser("loso", help="leave-one-species-out: calibrate on the other species through the core path, "
                                     "with PLSR and the zero-shot hybrid on the same splits")
    lo.add_argument("table", nargs="?", help=f"labelled EcoSIS-layout CSV (default: the real-data folder's {LOSO_TABLE})")
    lo.add_argument("--out", default=None, help="folder for the calibrated releases (default: a temporary folder)")
    lo.add_argument("--epochs", type=int, default=FT_EPOCHS, help=f"at most (default {FT_EPOCHS}; early stopping picks)")
    lo.add_argument("--n-sim", dest="n_sim", type=int, default=2000)
    lo.add_argument("--seed", type=int, default=0)
    lo.add_argument("--own-network-draws", dest="own_network_draws", type=int, default=2,
                    help="core calibrations with k own-species leaves per species and k (default 2; 0 skips them)")
    lo.add_argument("--ceiling-only", dest="ceiling_only", action="store_true",
                    help="only the per-species ceiling (own-species cross-validated PLSR and linear recalibration of "
                         "the zero-shot N; seconds, no calibration) -- also printed by a full run and by evaluate-real")
    lo.set_defaults(func=_cmd_loso(app))

    dg = sub.add_parser("diagnose-real", help="what limits N per area on a labelled table, per species: PLSR on the "
                                              "species' own leaves, the physics ceiling, the real-vs-PROSPECT mismatch")
    dg.add_argument("table", nargs="?", help=f"labelled EcoSIS-layout CSV with N_g_m2, LMA_g_m2, H20_g_m2 "
                                             f"(default: the real-data folder's {LOSO_TABLE})")
    dg.set_defaults(func=_cmd_diagnose(app))

    ft = sub.add_parser("finetune", help="alias of `calibrate` (the core calibration path) with N-per-area "
                                         "figures: fine-tune the shipped model on a few labelled real leaves")
    ft.add_argument("spectra", help="spectrum CSV (wavelength column + one column per leaf)")
    ft.add_argument("--labels", required=True, help="CSV with 'sample' and measured 'nitrogen_g_m2' (other traits optional)")
    ft.add_argument("--out", required=True, help="output folder (ONNX + manifest; use with predict --model)")
    ft.add_argument("--config", choices=list(sensors.CONFIG_ORDER), help="sensor config (default: from the spectra)")
    ft.add_argument("--epochs", type=int, default=FT_EPOCHS, help=f"at most (default {FT_EPOCHS}; early stopping picks)")
    ft.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4, 1/30 of the training peak)")
    ft.add_argument("--n-sim", dest="n_sim", type=int, default=3000, help="simulated leaves mixed in against forgetting")
    ft.add_argument("--holdout-group", dest="holdout_group", default=None,
                    help="hold out one whole group (the labels' group/species column) instead of a fraction")
    ft.add_argument("--holdout-fraction", dest="holdout_fraction", type=float, default=0.0,
                    help="keep this share of the labelled leaves out of training to report held-out error")
    ft.add_argument("--n-to-protein", dest="n_to_protein", type=float, default=None,
                    help=f"nitrogen-to-protein factor of the labels (default {DEFAULT_N_TO_PROTEIN})")
    ft.add_argument("--seed", type=int, default=0)
    ft.set_defaults(func=_cmd_finetune(app))

