"""Extra ``edgeinv veg-cover`` commands: ``plan`` (re-survey mission, watch mode), ``evaluate-scenes``, ``ceiling``.

(``bench-large`` is the core's large-image bench, :mod:`edgeinv.common.runtime.largebench`.)

Each handler returns a dict (``text`` for people, the rest for ``--json``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from edgeinv.common.errors import ConfigError, InvalidInputError

from .cameras import CAMERAS
from .mission.plan import FIRMWARE, MissionSettings, Pattern


def _analysis_args(p) -> None:
    p.add_argument("--bands", help="band order, e.g. red,nir or blue,green,red,rededge,nir")
    p.add_argument("--camera", choices=tuple(CAMERAS), help="model to use (default: from the bands)")
    p.add_argument("--zone-m", dest="zone_m", type=float, help="zone size in metres (default 10, smaller on small images)")
    p.add_argument("--reflectance-scale", dest="reflectance_scale", type=float)
    p.add_argument("--gsd-cm", dest="gsd_cm", type=float, help="GSD in cm when the file does not say")
    p.add_argument("--path", choices=("auto", "segment", "unmix"), help="segment or unmix (default: by GSD)")
    p.add_argument("--low-cover", dest="low_cover", type=float, help="flag zones with mean cover below this")
    p.add_argument("--variant", help="model variant from the manifest (default: the chosen one)")


def add_commands(app, sub) -> None:
    p = sub.add_parser("plan", help="re-survey mission over flagged zones (QGroundControl .plan + GeoJSON)")
    p.add_argument("images", nargs="*", help="georeferenced image(s) (GeoTIFF)")
    p.add_argument("--watch", metavar="DIR", help="process frames as they arrive in DIR and keep the plan updated")
    p.add_argument("--once", action="store_true", help="with --watch: process what is there, then stop")
    p.add_argument("--max-files", dest="max_files", type=int, help="with --watch: stop after N files")
    p.add_argument("--poll-s", dest="poll_s", type=float, default=2.0, help="with --watch: poll interval (s)")
    p.add_argument("--timeout-s", dest="timeout_s", type=float, help="with --watch: stop after this long")
    _analysis_args(p)
    p.add_argument("--survey-camera", dest="survey_camera", choices=tuple(CAMERAS),
                   help="camera flown on the re-survey (default: the analysed image's)")
    p.add_argument("--target-gsd-cm", dest="target_gsd_cm", type=float, help="wanted GSD (default: half the image's)")
    p.add_argument("--pattern", choices=[x.value for x in Pattern], default="lawnmower")
    p.add_argument("--sidelap", type=float, default=0.7)
    p.add_argument("--min-altitude", dest="min_altitude", type=float, default=5.0, help="metres above take-off")
    p.add_argument("--max-altitude", dest="max_altitude", type=float, default=120.0, help="metres above take-off")
    p.add_argument("--home", help="take-off point LAT,LON (default: the first waypoint)")
    p.add_argument("--firmware", choices=tuple(FIRMWARE), default="px4")
    p.add_argument("--out", default="mission.plan", help="QGroundControl plan file (default mission.plan)")
    p.add_argument("--geojson", help="GeoJSON of zones and waypoints (default: <out>.geojson)")
    p.add_argument("--cover-dir", dest="cover_dir", help="also write each cover map (GeoTIFF + PNG) here")
    p.set_defaults(func=lambda args, ctx: cmd_plan(app, args, ctx))

    p = sub.add_parser("evaluate-scenes", help="model vs baselines, per-zone cover error on large simulated scenes")
    p.add_argument("--config", choices=["all", *app.configs], default="all")
    p.add_argument("--n", type=int, default=12, help="scenes per camera (default 12)")
    p.add_argument("--size", type=int, default=256, help="scene side in pixels (default 256)")
    p.add_argument("--zone-px", dest="zone_px", type=int, default=32, help="zone side in pixels (default 32)")
    p.add_argument("--seed", type=int, default=20261)
    p.add_argument("--variant", help="model variant (default: the chosen one)")
    p.set_defaults(func=lambda args, ctx: cmd_evaluate_scenes(app, args, ctx))

    p = sub.add_parser("ceiling", help="what the real labels themselves allow: per data set a pixel classifier and an "
                                       "index rule trained on the other images' masks (leave one image out), the "
                                       "masks' 1 px boundary, cross-set (also in evaluate-real, manifest real.ceiling)")
    p.add_argument("data_dir", nargs="?", metavar="DIR", help=f"labelled folder (default: $EDGEINV_REALDATA/{app.name})")
    p.set_defaults(func=lambda args, ctx: cmd_ceiling(app, args, ctx))


def _latlon(text: str | None):
    if not text:
        return None
    try:
        lat, lon = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--home must be LAT,LON in degrees, got {text!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ConfigError(f"--home {text}: latitude must be within +-90 and longitude within +-180")
    return lat, lon


def cmd_plan(app, args, ctx) -> dict:
    from .mission.survey import plan_from_results, watch, write_mission

    if bool(args.images) == bool(args.watch):
        raise InvalidInputError("give either image file(s) or --watch DIR")
    cover_dir = Path(args.cover_dir) if args.cover_dir else None
    if cover_dir is not None and not cover_dir.is_dir():
        raise InvalidInputError(f"--cover-dir {cover_dir}: not a folder")
    state = {"camera": args.survey_camera}

    def analyse(path: Path):
        out = str(cover_dir / f"{path.stem}_cover.tif") if cover_dir else "none"
        sample = app.read(path, filename=path.name, bands=args.bands, camera=args.camera, zone_m=args.zone_m,
                          reflectance_scale=args.reflectance_scale, low_cover=args.low_cover, out=out,
                          gsd_cm=args.gsd_cm, path=args.path)
        config = app.config_for(sample)
        state["camera"] = state["camera"] or config
        return app.predict(sample, ctx.runner(app, config, variant=args.variant))

    def settings():
        return MissionSettings(camera=state["camera"] or "multispectral5",
                               target_gsd_m=None if args.target_gsd_cm is None else args.target_gsd_cm / 100,
                               pattern=Pattern(args.pattern), sidelap=args.sidelap, min_altitude_m=args.min_altitude,
                               max_altitude_m=args.max_altitude, firmware=args.firmware)

    plan_path = Path(args.out)
    if plan_path.suffix != ".plan":
        raise InvalidInputError(f"--out {plan_path}: QGroundControl plan files end in .plan")
    if not plan_path.parent.exists():
        raise InvalidInputError(f"--out {plan_path}: folder {plan_path.parent} does not exist")
    geojson = Path(args.geojson) if args.geojson else plan_path.with_suffix(".geojson")
    home = _latlon(args.home)
    if args.watch:
        report = watch(args.watch, analyse, settings=settings(), plan_path=plan_path, geojson_path=geojson,
                       poll_s=args.poll_s, once=args.once, max_files=args.max_files, timeout_s=args.timeout_s,
                       home_latlon=home, log=lambda m: print(m, file=sys.stderr, flush=True))
        m = report["mission"]
        report["text"] = (f"watched {args.watch}: {len(report['processed'])} processed, {len(report['skipped'])} "
                          f"skipped" + (f"; mission {m['n_waypoints']} waypoints at {m['altitude_m']} m "
                                        f"({m['gsd_cm']} cm GSD) -> {plan_path}" if m else "; no mission written"))
        return report
    results = []
    for name in args.images:
        path = Path(name)
        if not path.is_file():
            raise InvalidInputError(f"no such file: {path}")
        results.append(analyse(path))
    mission = plan_from_results(results, settings=settings(), home_latlon=home)
    files = write_mission(mission, plan_path=plan_path, geojson_path=geojson)
    summ = mission.summary()
    lines = [f"{r.source}: cover {r.fvc_mean:.3f}, {len(r.flagged)} of {len(r.zones)} zones flagged" for r in results]
    lines.append(f"mission: {summ['n_waypoints']} waypoints over {summ['n_zones']} zones at {summ['altitude_m']} m "
                 f"({summ['gsd_cm']} cm GSD, {summ['camera']})")
    lines += [f"{k}: {v}" for k, v in files.items()]
    return {"mission": summ, "files": files, "zones": [{k: z.get(k) for k in ("key", "flags", "fvc_mean")}
                                                       for z in mission.zones],
            "images": [r.to_dict() | {"zones": None} for r in results], "text": "\n".join(lines)}


def cmd_evaluate_scenes(app, args, ctx) -> dict:
    from .sim.scene_eval import evaluate_scenes, format_report

    configs = list(app.configs) if args.config == "all" else [args.config]
    reports = {c: evaluate_scenes(app, ctx.runner(app, c, variant=args.variant), config=c, n=args.n, size=args.size,
                                  zone_px=args.zone_px, seed=args.seed) for c in configs}
    return {"configs": reports, "text": format_report(reports)}


def cmd_ceiling(app, args, ctx) -> dict:
    """The labels' ceiling (:mod:`.ceiling`); zero-shot errors beside it as recorded in the manifest's ``real`` rows
    (``evaluate-real --record``), when the folder is the one recorded."""
    import json

    from edgeinv.common.config import realdata_root

    from .ceiling import ceiling

    data_dir = Path(args.data_dir) if args.data_dir else realdata_root() / app.name
    if not data_dir.is_dir():
        raise InvalidInputError(f"no real data folder {data_dir}; give DIR or set EDGEINV_REALDATA")
    zero_shot, real = {}, {}
    manifest = app.models_dir(ctx.settings) / "manifest.json"
    if manifest.is_file():
        real = json.loads(manifest.read_text()).get("real") or {}
        if Path(str(real.get("data_dir", ""))).name == data_dir.name:
            zero_shot = {r["image"]: r.get("error") for r in real.get("rows", [])}
    out = ceiling(app, data_dir, zero_shot=zero_shot, progress=not ctx.json)
    out["zero_shot_source"] = f"{manifest} (real.rows, {real.get('measured')})" if zero_shot else None
    return out
