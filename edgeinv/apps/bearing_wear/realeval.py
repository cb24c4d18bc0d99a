"""Scoring on real labelled recordings (``edgeinv bearing-wear evaluate-real``): per-file table and totals.

Reads ``labels.csv`` of a real-data folder (columns ``local_file``, ``rig``, ``fault_location``,
``size_label``, ``fs_hz``, ``rpm``, ``bearing``; the layout of ``../shared/realdata/bearing-wear``),
reads each file the way a technician would (what the file says first; fs, speed and the bearing
from the label row only where the file does not say them), runs the edge path and the classical
envelope baseline, and compares both with the truth. Severity ordering: the severity index of
each fault type at each speed of a rig must rank the labelled damage (e.g. 2 < 5 < 8 degrees of
raceway arc); it is scored with Spearman's rank correlation per group.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

import numpy as np
from scipy import stats

from edgeinv.common.errors import EdgeinvError, InvalidInputError

INCH_MM = 25.4


def bearing_spec(text: str) -> str | None:
    """A bearing description of a label row -> a spec :func:`physics.get_geometry` reads (None if unknown).

    ``"NICE, n=8, d=0.235 in, D=1.245 in, contact 0 deg"`` -> ``"n=8,d=5.969,D=31.623,angle=0"``;
    anything naming 6205/6203 -> that preset.
    """
    t = text or ""
    m_n = re.search(r"\bn\s*=\s*(\d+)", t)
    m_d = re.search(r"\bd\s*=\s*([\d.]+)\s*(in|mm)?", t)
    m_D = re.search(r"\bD\s*=\s*([\d.]+)\s*(in|mm)?", t)
    if m_n and m_d and m_D:
        scale_d = INCH_MM if (m_d.group(2) or "mm") == "in" else 1.0
        scale_D = INCH_MM if (m_D.group(2) or "mm") == "in" else 1.0
        m_a = re.search(r"contact\s*([\d.]+)|angle\s*=?\s*([\d.]+)", t)
        angle = float(next(g for g in m_a.groups() if g)) if m_a else 0.0
        return (f"n={m_n.group(1)},d={float(m_d.group(1)) * scale_d:.4f},"
                f"D={float(m_D.group(1)) * scale_D:.4f},angle={angle:g}")
    for preset in ("6205", "6203"):
        if preset in t:
            return preset
    return None


def _float(v):
    try:
        f = float(v)
        return f if np.isfinite(f) else None
    except (TypeError, ValueError):
        return None


def _size_rank(label: str) -> float | None:
    m = re.search(r"([\d.]+)", label or "")
    return float(m.group(1)) if m else None


def dataset_of(rel: str) -> str:
    parts = Path(rel).parts
    return "/".join(parts[1:-1]) if len(parts) > 2 else (parts[0] if parts else "?")


def load_labels(data_dir: Path) -> list[dict]:
    path = Path(data_dir) / "labels.csv"
    if not path.is_file():
        raise InvalidInputError(f"{data_dir}: no labels.csv (columns local_file, fault_location, fs_hz, rpm, bearing)")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "local_file" not in rows[0] or "fault_location" not in rows[0]:
        raise InvalidInputError(f"{path}: needs columns local_file and fault_location")
    return rows


def _resolve(data_dir: Path, rel: str) -> Path:
    p = Path(data_dir) / rel
    if not p.is_file():  # labels written relative to the realdata root ("bearing-wear/mfpt/...")
        p = Path(data_dir) / Path(*Path(rel).parts[1:])
    return p


SPEED_ERRORS = (0.99, 1.01)


def shipped_runners(runner_for, config: str = "default") -> tuple[str, dict]:
    """``(name of the variant runner_for(config) gives, {variant: runner})`` over every shipped variant.

    The variants are those of the manifest next to the runner's model file; ``runner_for(config, variant=name)``
    loads each (``edgeinv <app> evaluate-real`` passes such a ``runner_for``). A runner without a model file or a
    ``runner_for`` without ``variant`` (tests, a fine-tuned folder without a manifest) gives just itself."""
    from edgeinv.common.runtime.manifest import load_manifest

    main = runner_for(config)
    path = getattr(main, "path", None)
    if path is None:
        return "model", {"model": main}
    path = Path(path).resolve()
    for folder in list(path.parents)[:3]:
        if not (folder / "manifest.json").is_file():
            continue
        try:
            variants = load_manifest(folder).config(config).variants
        except EdgeinvError:
            break
        name = next((n for n, rec in variants.items() if (folder / rec.file).resolve() == path), None)
        if name is None:
            break
        runners = {name: main}
        for other in variants:
            if other != name:
                try:
                    runners[other] = runner_for(config, variant=other)
                except TypeError:  # a runner_for that names no variants: the one runner only
                    return name, {name: main}
        return name, runners
    return path.stem, {path.stem: main}


def evaluate(app, data_dir: Path, runner, *, progress: bool = False, robustness: bool = True,
             variants: dict | None = None, main: str = "model") -> dict:
    """Model and baseline on every labelled file under ``data_dir``; see the module docstring.

    ``runner`` is the main variant (``main``: its name), whose per-file table and totals are ``rows``/``summary``;
    ``variants`` (name -> runner, the main one included or not) are scored on the same prepared recordings
    (one analysis per file and speed, one model call per variant) into ``variants[name]`` = totals per variant."""
    data_dir = Path(data_dir)
    runners = {main: runner, **{k: v for k, v in (variants or {}).items() if k != main}}
    rows = []
    per_variant: dict[str, list[dict]] = {v: [] for v in runners}
    labels = load_labels(data_dir)
    it = labels
    if progress:
        from tqdm import tqdm

        it = tqdm(labels, desc=f"{app.name} real files", unit="file")
    for lab in it:
        rel = lab["local_file"]
        path = _resolve(data_dir, rel)
        truth = lab["fault_location"].strip() or "none"
        row = {"file": rel, "dataset": dataset_of(rel), "truth": truth, "size_label": lab.get("size_label", ""),
               "rpm_label": _float(lab.get("rpm"))}
        try:
            rec = _read_as_technician(app, path, lab)
            prepared = app.prepare(rec)
            results = {v: app.finish(prepared, r(prepared.x)) for v, r in runners.items()}
            base = app.predict_baseline(rec)
        except EdgeinvError as exc:
            row.update(call="error", error=exc.message, correct=False, baseline_call="error", baseline_correct=False)
            rows.append(row)
            for v in runners:
                per_variant[v].append({**row})
            continue
        d = results[main].to_dict()
        size = d.get("size", {})
        row.update(
            call=d["fault"], probability=d["probabilities"][d["fault"]], correct=d["fault"] == truth,
            size_mm=d["defect_size_mm"], size_interval_mm=d["defect_size_interval_mm"], size_status=size.get("status"),
            size_reason=size.get("reason"), size_deg=size.get("degrees"), resolvable_mm=size.get("resolvable_limit_mm"),
            severity_index=d.get("severity_index"), severity_basis=d.get("damage", {}).get("basis"),
            bump=d.get("damage", {}).get("bump"), evidence=d.get("evidence", {}).get("text", ""),
            ood=d.get("ood", {}).get("score"), ood_flag=d.get("ood", {}).get("flag"),
            rpm_used=d["operating_point"].get("rpm_refined", d["operating_point"]["rpm"]),
            baseline_call=base.fault, baseline_probability=round(float(base.probabilities[base.fault]), 3),
            baseline_correct=base.fault == truth)
        for v, res in results.items():
            per_variant[v].append({**{k: row[k] for k in ("file", "dataset", "truth", "size_label", "rpm_label")},
                                   "call": res.fault, "correct": res.fault == truth, "severity_index": res.severity_index})
        if robustness:  # the typed speed off by +-1 %: do the calls hold?
            calls: dict[str, list[str]] = {v: [] for v in runners}
            for f in SPEED_ERRORS:
                try:
                    off = app.prepare(dataclasses.replace(rec, rpm=rec.rpm * f))
                    for v, r in runners.items():
                        calls[v].append(app.finish(off, r(off.x)).fault)
                except EdgeinvError:
                    for v in runners:
                        calls[v].append("error")
            for v in runners:
                per_variant[v][-1]["stable_under_speed_error"] = all(c == per_variant[v][-1]["call"] for c in calls[v])
            row["stable_under_speed_error"] = per_variant[main][-1]["stable_under_speed_error"]
        rows.append(row)
    summary, baseline = _totals(rows, "correct"), _totals(rows, "baseline_correct")
    summary["severity_ordering"] = _severity_ordering(rows)
    oods = [r["ood"] for r in rows if r.get("ood") is not None]
    if oods:
        summary["ood"] = {"median_score": round(float(np.median(oods)), 3), "flagged": sum(bool(r.get("ood_flag")) for r in rows),
                          "n": len(rows)}
    stable = [r["stable_under_speed_error"] for r in rows if "stable_under_speed_error" in r]
    if stable:
        summary["stable_under_speed_error_1pct"] = {"right": int(sum(stable)), "n": len(stable)}
    by_variant = {v: variant_totals(vrows) for v, vrows in per_variant.items()}
    return {"summary": summary, "baseline": baseline, "rows": rows, "variant": main, "variants": by_variant,
            "text": _table(rows, summary, baseline) + _variant_table(by_variant, main)}


def variant_totals(rows: list[dict]) -> dict:
    """One variant's real-data figures: ``totals`` are counts where higher is better (the self-test never switches
    to a variant below the manifest's chosen one in any of them), ``n`` what each is out of, the wrong files."""
    sev = _severity_ordering(rows)
    stable = [r["stable_under_speed_error"] for r in rows if "stable_under_speed_error" in r]
    healthy = [r for r in rows if r["truth"] == "none"]
    totals = {"calls_right": sum(bool(r.get("correct")) for r in rows),
              "healthy_right": sum(bool(r.get("correct")) for r in healthy),
              "severity_groups_ordered": sum(g["ordered"] for g in sev["groups"])}
    n = {"calls_right": len(rows), "healthy_right": len(healthy), "severity_groups_ordered": len(sev["groups"])}
    if stable:
        totals["stable_under_speed_error_1pct"] = int(sum(stable))
        n["stable_under_speed_error_1pct"] = len(stable)
    return {"totals": totals, "n": n, "severity_mean_spearman": sev["mean_spearman"],
            "faulty_called_healthy": sum(1 for r in rows if r["truth"] != "none" and r.get("call") == "none"),
            "wrong": [f"{r['file']}: {r.get('call')}" for r in rows if not r.get("correct")],
            "unstable_under_speed_error": [r["file"] for r in rows if r.get("stable_under_speed_error") is False]}


def _variant_table(by_variant: dict, main: str) -> str:
    if len(by_variant) < 2:
        return ""
    keys = list(next(iter(by_variant.values()))["totals"])
    head = f"{'variant':18s} " + " ".join(f"{k.replace('_', ' '):>22s}" for k in keys)
    lines = ["", "every shipped variant on the same files (the device may serve any that passes its self-test):", head]
    for v, t in by_variant.items():
        cells = " ".join(f"{t['totals'][k]:>17d}/{t['n'][k]:<4d}" for k in keys)
        lines.append(f"{v + (' *' if v == main else ''):18s} {cells}")
    lines.append("* the variant of the table above")
    return "\n".join(lines)


def _read_as_technician(app, path: Path, lab: dict):
    """Read with the file's own metadata; fs, speed and bearing from the label row only where the file lacks them."""
    data = path.read_bytes() if path.is_file() else None
    if data is None:
        raise InvalidInputError(f"no such file: {path}")
    spec = bearing_spec(lab.get("bearing", ""))
    meta = {}
    try:
        rec = app.read(data, filename=path.name, bearing=spec)
        return rec
    except EdgeinvError:
        pass
    fs, rpm = _float(lab.get("fs_hz")), _float(lab.get("rpm"))
    if fs:
        meta["fs_hz"] = fs
    if rpm:
        meta["rpm"] = rpm
    return app.read(data, filename=path.name, bearing=spec, **meta)


def _totals(rows: list[dict], key: str) -> dict:
    out: dict = {"overall": _count(rows, key)}
    for ds in sorted({r["dataset"] for r in rows}):
        out[ds] = _count([r for r in rows if r["dataset"] == ds], key)
    out["healthy"] = _count([r for r in rows if r["truth"] == "none"], key)
    out["faulty_called_healthy"] = sum(1 for r in rows if r["truth"] != "none"
                                       and r.get("call" if key == "correct" else "baseline_call") == "none")
    return out


def _count(rows, key) -> dict:
    n = len(rows)
    k = sum(bool(r.get(key)) for r in rows)
    return {"right": k, "n": n, "accuracy": round(k / n, 4) if n else None}


def _severity_ordering(rows: list[dict]) -> dict:
    """Spearman rank correlation of the severity index with the labelled damage, per (rig, fault, speed)."""
    groups: dict = {}
    for r in rows:
        rank = _size_rank(r.get("size_label", ""))
        if rank is None or r.get("severity_index") is None:
            continue
        groups.setdefault((r["dataset"], r["truth"], r.get("rpm_label")), []).append((rank, r["severity_index"]))
    out = []
    for (ds, truth, rpm), pts in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if len(pts) < 3:
            continue
        rho = float(stats.spearmanr([p[0] for p in pts], [p[1] for p in pts]).statistic)
        out.append({"dataset": ds, "fault": truth, "rpm": rpm, "spearman": round(rho, 3),
                    "ordered": bool(rho >= 0.999)})
    rhos = [g["spearman"] for g in out]
    return {"groups": out, "mean_spearman": round(float(np.mean(rhos)), 3) if rhos else None,
            "fully_ordered": f"{sum(g['ordered'] for g in out)}/{len(out)}"}


def _table(rows, summary, baseline) -> str:
    fw = min(60, max([len(r["file"]) for r in rows] + [4]))  # the whole relative path, unless very long
    head = f"{'file':{fw}s} {'truth':10s} {'call':10s} {'p':>5s} {'size':>16s} {'sev':>5s} {'ood':>5s} {'baseline':10s}  evidence"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("call") == "error":
            lines.append(f"{r['file'][-fw:]:{fw}s} {r['truth']:10s} error: {r.get('error', '')}")
            continue
        size = (f"{r['size_mm']:.2f} mm" if r.get("size_mm") not in (None, 0.0) else
                ("not resolvable" if r.get("size_status") == "not_resolvable" else "-"))
        mark = "" if r["correct"] else " x"
        lines.append(f"{r['file'][-fw:]:{fw}s} {r['truth']:10s} {r['call'] + mark:10s} {r['probability']:5.2f} {size:>16s} "
                     f"{(r.get('severity_index') or 0):5.2f}{'*' if (r.get('severity_basis') or '').startswith('entry/exit') else ' '}"
                     f"{(r.get('ood') or 0):5.2f}{'!' if r.get('ood_flag') else ' '}"
                     f"{r['baseline_call'] + ('' if r['baseline_correct'] else ' x'):10s}  {r.get('evidence', '')[:70]}")
    lines.append("size: the result's one defect size, the spall arc read from the entry/exit delay (else not resolvable); "
                 "sev: severity index (* = from that arc; else the model's size output mapped below the resolvable "
                 "limit); ood: score (! = flagged: unlike the training data)")
    lines.append("")
    lines.append(f"{'set':24s} {'model':>10s} {'baseline':>10s}")
    for k, v in summary.items():
        if isinstance(v, dict) and "right" in v and k in baseline:
            b = baseline.get(k, {})
            lines.append(f"{k:24s} {v['right']:>4d}/{v['n']:<5d} {b.get('right', 0):>4d}/{b.get('n', 0):<5d}")
    lines.append(f"faulty called healthy    {summary['faulty_called_healthy']:>4d}       {baseline['faulty_called_healthy']:>4d}")
    st = summary.get("stable_under_speed_error_1pct")
    if st:
        lines.append(f"calls unchanged with the typed speed off by -1 % and +1 %: {st['right']}/{st['n']} files")
    oods = [r["ood"] for r in rows if r.get("ood") is not None]
    if oods:
        lines.append(f"OOD score on these files: median {np.median(oods):.2f} (range {min(oods):.2f}–{max(oods):.2f}); "
                     f"flagged {sum(bool(r.get('ood_flag')) for r in rows)}/{len(rows)}")
    sev = summary.get("severity_ordering", {})
    lines.append(f"severity ordering: mean Spearman {sev.get('mean_spearman')}, fully ordered groups {sev.get('fully_ordered')}")
    for g in sev.get("groups", []):
        lines.append(f"  {g['dataset']:14s} {g['fault']:11s} {g['rpm']!s:>6s} rpm  rho {g['spearman']:+.2f}")
    return "\n".join(lines)
