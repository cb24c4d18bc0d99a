"""Extra `edgeinv bearing-wear` subcommands: defect frequencies of a bearing, decision calibration, commissioning
(the classical baseline on a file is the core's `edgeinv bearing-wear baseline FILE`)."""

from __future__ import annotations

from pathlib import Path

from edgeinv.common.errors import InvalidInputError

from .physics import PRESETS, defect_frequencies_hz, defect_orders, get_geometry


def _frequencies(args, ctx) -> dict:
    geometry = get_geometry(args.bearing)
    orders = defect_orders(geometry=geometry)
    doc = {"bearing": geometry.to_dict(), "orders": {k: round(v, 4) for k, v in orders.items()},
           "impact_orders": {"outer_race": round(orders["bpfo"], 4), "inner_race": round(orders["bpfi"], 4),
                             "ball": round(2 * orders["bsf"], 4), "cage": round(orders["ftf"], 4)}}
    lines = [f"{geometry.name}: n={geometry.n_elements}, d={geometry.element_diameter_mm:.3f} mm, "
             f"D={geometry.pitch_diameter_mm:.3f} mm, contact angle {geometry.contact_angle_deg:g} deg"]
    if args.rpm is not None:
        hz = defect_frequencies_hz(geometry=geometry, shaft_hz=args.rpm / 60.0)
        doc["rpm"] = args.rpm
        doc["hz"] = {k: round(v, 3) for k, v in hz.items()}
        lines.append(f"at {args.rpm:g} rpm (shaft {args.rpm / 60:.3f} Hz):")
    for k in ("bpfo", "bpfi", "bsf", "ftf"):
        lines.append(f"  {k.upper():5s} {orders[k]:.4f} x shaft" + (f" = {doc['hz'][k]:.2f} Hz" if "hz" in doc else ""))
    lines.append("  (a ball spall strikes at 2 x BSF)")
    doc["text"] = "\n".join(lines)
    return doc


def _calibrate(args, ctx) -> dict:
    from . import calibrate

    runner = None
    if not args.no_model:
        runner = ctx.runner(args.app_obj, "default", variant=args.variant)
    if args.check:
        if runner is None:
            raise InvalidInputError("--check needs the model (drop --no-model)")
        doc = calibrate.decision_check(args.app_obj, runner, n=args.check)
        doc["text"] = "\n".join(f"{k}: {v}" for k, v in doc.items())
        return doc
    doc = calibrate.run(args.app_obj, runner, n_gate=args.n_gate, n_ood=args.n_ood)
    path = calibrate.write(doc, args.out)
    short = {k: v for k, v in doc.items() if k != "ood"}
    short["written"] = str(path)
    short["text"] = "\n".join(f"{k}: {v}" for k, v in short.items())
    return short


def _severity_check(args, ctx) -> dict:
    from . import severity

    runner = ctx.runner(args.app_obj, "default", variant=args.variant)
    doc = severity.study(args.app_obj, runner, n_machines=args.n, seed=args.seed, progress=not ctx.json,
                         entry_rho=tuple(args.entry_strength) if args.entry_strength else None)
    doc["text"] = "\n".join(f"{k}: {v}" for k, v in doc.items())
    return doc


def _commission(args, ctx) -> dict:
    from edgeinv.common.calibrate import CalibrationOptions

    from .commission import commission

    app = args.app_obj
    meta = {k: getattr(args, k) for k in ("fs_hz", "rpm", "bearing", "channel", "units", "max_samples")
            if getattr(args, k, None) is not None}
    recs = []
    for f in args.files:
        path = Path(f)
        if not path.is_file():
            raise InvalidInputError(f"no such file: {path}")
        recs.append(app.read(path, filename=path.name, **meta))
    opts = CalibrationOptions(epochs=args.epochs, lr=args.lr, n_sim=args.n_sim, seed=args.seed)
    report = commission(app, args.machine, recs, Path(args.out), settings=ctx.settings, injections=args.injections,
                        seed=args.seed, options=opts, progress=not ctx.json)
    report["text"] = (f"commissioned {args.machine!r} from {len(recs)} healthy recording(s); model in {args.out} "
                      f"(use --model {args.out})\n" + report.get("text", ""))
    return report


def _robust(args, ctx) -> dict:
    from . import robust

    app = args.app_obj
    folder = Path(args.model) if args.model else app.models_dir(ctx.settings)
    retrained = Path(args.retrained) if args.retrained else None
    if retrained is not None and not (retrained / "manifest.json").is_file():
        raise InvalidInputError(f"--retrained {retrained}: no manifest.json (a release from `compress --seed S --out DIR`)")
    return robust.run(app, folder, n=args.n, write=args.write, progress=not ctx.json, retrained_dir=retrained)


def add_cli(app, sub) -> None:
    s = sub.add_parser("frequencies", help="defect frequencies (BPFO, BPFI, BSF, FTF) of a bearing")
    s.add_argument("--bearing", default="6205-2rs", help=f"preset ({', '.join(PRESETS)}) or 'n=9,d=7.94,D=39.04,angle=0'")
    s.add_argument("--rpm", type=float, help="shaft speed, for values in Hz")
    s.set_defaults(func=_frequencies)
    s = sub.add_parser("calibrate-decision", help="set the evidence gate, OOD statistics and probability temperature on simulations")
    s.add_argument("--n-gate", dest="n_gate", type=int, default=300, help="simulated recordings per class for the gate")
    s.add_argument("--n-ood", dest="n_ood", type=int, default=1500, help="simulated windows for the OOD statistics")
    s.add_argument("--variant", help="model variant for the temperature (default: the shipped choice)")
    s.add_argument("--no-model", dest="no_model", action="store_true", help="gate and OOD only (no temperature)")
    s.add_argument("--out", help="write here instead of the package's data/calibration.json")
    s.add_argument("--check", type=int, metavar="N", help="only measure model vs decision on N simulated recordings")
    s.set_defaults(func=_calibrate)
    s = sub.add_parser("severity-check", help="does the severity index rank the spall size within a simulated machine? "
                                              "(five sizes per machine, Spearman per machine)")
    s.add_argument("--n", type=int, default=100, help="simulated machines")
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--variant", help="model variant (default: the shipped choice)")
    s.add_argument("--entry-strength", dest="entry_strength", nargs=2, type=float, metavar=("LO", "HI"),
                   help="entry event strength range relative to the exit impact for every spall (simulator default: "
                        "worn 0.15-0.5 and sharp-edged 0.5-1.0, half each)")
    s.set_defaults(func=_severity_check)
    s = sub.add_parser("robust-choice", help="measure the variants' call stability under speed and re-recording "
                                             "perturbations; --write ships the robust choice")
    s.add_argument("--n", type=int, default=200, help="simulated recordings (two windows each)")
    s.add_argument("--model", help="models folder (default: the shipped models)")
    s.add_argument("--write", action="store_true", help="record the result and the robust choice in the manifest")
    s.add_argument("--retrained", metavar="DIR", help="a second release of another training seed (compress --seed S "
                                                      "--out DIR): its variants' calls count as one more perturbation")
    s.set_defaults(func=_robust)
    s = sub.add_parser("commission", help="adapt the model to one machine from its healthy recording(s) (injected simulated faults)")
    s.add_argument("machine", metavar="MACHINE", help="machine name (kept in the report)")
    s.add_argument("files", metavar="HEALTHY_FILE", nargs="+", help="healthy recordings of that machine")
    s.add_argument("--out", required=True, help="folder for the machine's model (use with --model)")
    s.add_argument("--injections", type=int, default=8, help="simulated faults injected per healthy window")
    s.add_argument("--epochs", type=int, default=15)
    s.add_argument("--lr", type=float, default=3e-4)
    s.add_argument("--n-sim", dest="n_sim", type=int, default=1000, help="simulated windows mixed in against forgetting")
    s.add_argument("--seed", type=int, default=0)
    app.predict_arguments(s)
    s.set_defaults(func=_commission)
