"""The study's results from its finished cells: results.json (every run, every cell's
mean ± 95% CI, every paired difference arm − off), results.csv (one row per run),
tables.md, and the PNG plots (paired differences, learning curves, an image grid of
the students of each arm). Cells not finished are listed as missing, failed ones
with their error."""
import csv
import json
import math
import pathlib

import numpy as np

from itgc_tf.artifacts.atomic import atomic_output
from itgc_tf.study.cells import read_scalars, teacher_dir
from itgc_tf.study.grid import BASE_ARM, TASKS
from itgc_tf.study.runner import ERROR, RESULT
from itgc_tf.study.stats import paired_difference, t_interval

METRICS = ("psnr_vs_teacher", "ssim_vs_teacher", "psnr_vs_target", "ssim_vs_target",
           "contrastive_gap", "loss_mi", "student_loss", "wall_seconds", "cpu_seconds")
# The student's loss terms of the last epoch (TensorBoard train scalars): how much of the
# student's objective the VEM term is.
LOSS_TAGS = {"loss_mi": "epoch_loss_mi", "student_loss": "epoch_student_loss"}
DIFF_METRICS = ("psnr_vs_teacher", "psnr_vs_target", "ssim_vs_teacher", "ssim_vs_target")
CSV_FIELDS = ("key", "task", "recipe", "arm", "seed", *METRICS, "steps", "resumed", "fid", "kid",
              "fid_kid_reason")


def collect(root, cells):
    """(results of the finished cells, {key: first error line} of the failed ones,
    keys of the cells neither finished nor failed), in grid order."""
    runs = pathlib.Path(root) / "runs"
    results, failed, missing = [], {}, []
    for cell in cells:
        folder = runs / cell.key
        if (folder / RESULT).is_file():
            result = json.loads((folder / RESULT).read_text())
            for name, tag in LOSS_TAGS.items():
                values = read_scalars(folder / "tensorboard" / "train", tag)
                result[name] = values[-1][1] if values else None
            results.append(result)
        elif (folder / ERROR).is_file():
            failed[cell.key] = (folder / ERROR).read_text().strip().splitlines()[-1]
        else:
            missing.append(cell.key)
    return results, failed, missing


def _groups(results):
    """{(task, recipe, arm): {seed: result}} in first-seen order."""
    groups = {}
    for result in results:
        groups.setdefault((result["task"], result["recipe"], result["arm"]), {})[
            result["seed"]] = result
    return groups


def summarise(results):
    """(cells, differences): per (task, recipe, arm) the `t_interval` of each metric
    over its seeds; per (task, recipe, arm ≠ off) the `paired_difference` arm − off of
    each of DIFF_METRICS over the seeds both finished."""
    groups = _groups(results)
    cells, differences = [], []
    for (task, recipe, arm), by_seed in groups.items():
        stats = {m: t_interval([r[m] for r in by_seed.values()])
                 for m in METRICS if all(r.get(m) is not None for r in by_seed.values())}
        cells.append(dict(task=task, recipe=recipe, arm=arm, seeds=sorted(by_seed), **stats))
        base = groups.get((task, recipe, BASE_ARM))
        if arm == BASE_ARM or not base:
            continue
        for metric in DIFF_METRICS:
            if metric not in stats or not set(by_seed) & set(base):
                continue
            differences.append(dict(task=task, recipe=recipe, arm=arm, metric=metric,
                                    **paired_difference({s: r[metric] for s, r in by_seed.items()},
                                                        {s: r[metric] for s, r in base.items()})))
    return cells, differences


def _fmt(stat, digits=2):
    if stat["n"] == 1:
        return f"{stat['mean']:.{digits}f} (n=1)"
    half = stat["high"] - stat["mean"]
    return f"{stat['mean']:.{digits}f} ± {half:.{digits}f}"


def tables(cells, differences, failed, missing):
    """Markdown: every cell (mean ± 95% CI half-width, n seeds), every paired
    difference, then the failed and missing cells."""
    lines = ["| task | recipe | arm | seeds | PSNR vs teacher (dB) | SSIM vs teacher | "
             "PSNR vs GT (dB) | SSIM vs GT | contrastive gap | loss_mi | student loss | "
             "CPU s / run |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        cols = [_fmt(c[m], d) if m in c else "–" for m, d in (
            ("psnr_vs_teacher", 2), ("ssim_vs_teacher", 4), ("psnr_vs_target", 2),
            ("ssim_vs_target", 4), ("contrastive_gap", 5), ("loss_mi", 6), ("student_loss", 3),
            ("cpu_seconds", 0))]
        lines.append(f"| {c['task']} | {c['recipe']} | {c['arm']} | "
                     f"{','.join(map(str, c['seeds']))} | " + " | ".join(cols) + " |")
    lines += ["", "Paired differences arm − off (same seeds), mean ± 95% CI half-width "
              "[low, high]:", "",
              "| task | recipe | arm | metric | n | difference | 95% CI | per seed |",
              "|---|---|---|---|---|---|---|---|"]
    for d in differences:
        digits = 2 if d["metric"].startswith("psnr") else 4
        interval = ("–" if d["n"] == 1 else
                    f"[{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]")
        lines.append(f"| {d['task']} | {d['recipe']} | {d['arm']} | {d['metric']} | {d['n']} | "
                     f"{d['mean']:+.{digits}f} | {interval} | "
                     + ", ".join(f"{x:+.{digits}f}" for x in d["diffs"]) + " |")
    lines += ["", f"Failed cells: {len(failed)}" + "".join(
        f"\n- {key}: {error}" for key, error in failed.items()),
              "", f"Missing cells (not run yet): {len(missing)}"
              + (": " + ", ".join(missing) if missing else "")]
    return "\n".join(lines) + "\n"


def _write_text(path, text):
    with atomic_output(path, overwrite=True) as tmp:
        pathlib.Path(tmp).write_text(text)


def _save(figure, path):
    with atomic_output(path, overwrite=True) as tmp:
        figure.savefig(tmp, format="png", dpi=90, bbox_inches="tight")


def plot_differences(differences, metric, path):
    """Horizontal bars: paired difference arm − off of ``metric`` per (task, recipe,
    arm), with the 95% CI as error bars and each seed's difference as a dot; one panel
    (own x scale) per task. Green / red: the interval lies above / below 0."""
    import matplotlib.pyplot as plt

    rows = [d for d in differences if d["metric"] == metric]
    if not rows:
        return None
    tasks = list(dict.fromkeys(d["task"] for d in rows))
    sizes = [sum(d["task"] == t for d in rows) for t in tasks]
    figure, axes = plt.subplots(len(tasks), 1, squeeze=False, figsize=(7, 0.4 * len(rows)
                                                                        + 0.9 * len(tasks)),
                                gridspec_kw=dict(height_ratios=sizes))
    for axis, task in zip(axes[:, 0], tasks):
        mine = [d for d in rows if d["task"] == task]
        y = np.arange(len(mine))[::-1]
        errors = [0 if d["n"] == 1 else d["high"] - d["mean"] for d in mine]
        colours = ["tab:green" if d["n"] > 1 and d["low"] > 0 else
                   "tab:red" if d["n"] > 1 and d["high"] < 0 else "tab:gray" for d in mine]
        axis.barh(y, [d["mean"] for d in mine], xerr=errors, color=colours, capsize=3,
                  alpha=0.8)
        for yi, d in zip(y, mine):
            axis.plot(d["diffs"], [yi] * len(d["diffs"]), "k.", markersize=4)
        axis.axvline(0, color="black", linewidth=0.8)
        axis.set_yticks(y, [f"{d['recipe']}/{d['arm']} (n={d['n']})" for d in mine])
        axis.set_title(task, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel(f"{metric}: VEM arm − off (paired by seed; bars 95% CI)")
    figure.tight_layout()
    _save(figure, path)
    plt.close(figure)
    return str(path)


def plot_curves(results, task, recipe, path):
    """Held-out PSNR vs the teacher against training step, mean over seeds per arm
    (thin lines: single seeds) for one task and recipe."""
    import matplotlib.pyplot as plt

    by_arm = {}
    for r in results:
        if r["task"] == task and r["recipe"] == recipe and r["curve"]:
            by_arm.setdefault(r["arm"], []).append(r["curve"])
    if not by_arm:
        return None
    figure, axis = plt.subplots(figsize=(6, 4))
    for index, (arm, curves) in enumerate(by_arm.items()):
        colour = f"C{index}"
        steps = [s for s, _ in curves[0]]
        complete = [c for c in curves if [s for s, _ in c] == steps]
        for curve in complete:
            axis.plot(steps, [v for _, v in curve], color=colour, alpha=0.25, linewidth=0.8)
        axis.plot(steps, np.mean([[v for _, v in c] for c in complete], axis=0), color=colour,
                  linewidth=2, marker="o", markersize=3, label=f"{arm} (n={len(complete)})")
    axis.set_xlabel("training step")
    axis.set_ylabel("held-out PSNR vs teacher (dB)")
    axis.set_title(f"{task} / {recipe}")
    axis.legend(fontsize=8)
    _save(figure, path)
    plt.close(figure)
    return str(path)


def write_image_grid(root, results, path, task="enhance", recipe="kd", seed=0, crop=176,
                     photos=1):
    """The centre ``crop``² of the first ``photos`` held-out demo:enhance photos: input |
    teacher | the student of each arm (one seed) | ground truth
    (`write_model_comparison`); None when no such run."""
    from itgc_tf.data.demo import held_out_photos
    from itgc_tf.eval.comparison import write_model_comparison
    from itgc_tf.models.saving import load_keras_model

    arms = [r["arm"] for r in results
            if (r["task"], r["recipe"], r["seed"]) == (task, recipe, seed)]
    if not arms or task != "enhance":
        return None
    root = pathlib.Path(root)
    models = {"teacher": load_keras_model(teacher_dir(root, task, recipe) / "generator.keras")}
    for arm in arms:
        models[f"{recipe} {arm}"] = load_keras_model(
            root / "runs" / task / recipe / arm / f"seed{seed}" / "generator.keras")
    pairs = []
    for _, degraded, clean in held_out_photos()[:photos]:
        top, left = (degraded.shape[0] - crop) // 2, (degraded.shape[1] - crop) // 2
        pairs.append(tuple(x[top:top + crop, left:left + crop] / 127.5 - 1.0
                           for x in (degraded, clean)))
    return write_model_comparison(path, models, pairs).path


def write_report(root, cells, plots_dir=None):
    """Write results.json, results.csv, tables.md and the plots (into ``plots_dir``,
    default ``root``, with a copy of tables.md) from the finished cells among ``cells``;
    returns tables.md's text."""
    import matplotlib
    matplotlib.use("Agg")

    root = pathlib.Path(root)
    plots = pathlib.Path(plots_dir or root)
    results, failed, missing = collect(root, cells)
    cell_stats, differences = summarise(results)
    written = [plot_differences(differences, m, plots / f"diff_{m}.png")
               for m in ("psnr_vs_teacher", "psnr_vs_target")]
    for task, recipe in dict.fromkeys((r["task"], r["recipe"]) for r in results):
        written.append(plot_curves(results, task, recipe, plots / f"curves_{task}_{recipe}.png"))
    written.append(write_image_grid(root, results, plots / "students_enhance_kd_seed0.png"))
    _write_text(root / "results.json", json.dumps(dict(
        runs=results, cells=cell_stats, differences=differences, failed=failed, missing=missing,
        plots=[p for p in written if p]), indent=1, default=_json_default))
    with (atomic_output(root / "results.csv", overwrite=True) as tmp,
          open(tmp, "w", newline="") as f):
        writer = csv.DictWriter(f, CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results)
    text = tables(cell_stats, differences, failed, missing)
    for folder in dict.fromkeys((root, plots)):
        _write_text(folder / "tables.md", text)
    return text


def _json_default(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(f"not JSON serialisable: {value!r}")
