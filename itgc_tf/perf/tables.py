"""Human-readable tables of a benchmark report (the dict the benchmark writes as JSON)."""


def cell(value, spec=""):
    """``value`` formatted with ``spec``; "-" for None (a figure left out)."""
    return "-" if value is None else format(value, spec)


def table(title, header, rows):
    """``title`` and a table, one line a row: first column left-aligned, the others
    right-aligned, each as wide as its widest cell; None cells print as "-"."""
    rows = [[c if isinstance(c, str) else cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = [title] + ["  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
                                 for i, (c, w) in enumerate(zip(row, widths)))
                       for row in [header] + rows]
    return "\n".join(lines)


def _train(report):
    data = {(r["size"], r["batch"]): r["images_per_s"] for r in report["data"]}
    return table(
        "Training step (median of timed steps after the first): data x = pipeline "
        "images/s / step images/s",
        ["config", "size", "batch", "xla", "images/s", "step s", "cpu s", "first s",
         "traces", "peak RSS MB", "GPU MB", "data x"],
        [[r["config"], r["size"], r["batch"], "on" if r["jit"] else "off",
          cell(r["images_per_s"], ".3f"), cell(r["step_s"], ".3f"),
          cell(r["cpu_s_per_step"], ".3f"), cell(r["first_call_s"], ".1f"),
          r["traces"], cell(r["peak_rss_mb"], ".0f"), cell(r.get("peak_device_mb"), ".0f"),
          cell(data.get((r["size"], r["batch"])) and
               data[r["size"], r["batch"]] / r["images_per_s"], ".0f")]
         for r in report["train"]])


def _percent(share):
    return cell(None if share is None else 100 * share, ".1f")


def _vem_share(report):
    return table(
        "kd+VEM step, XLA off (s; shares of the kd+VEM step; vem/kd = throughput ratio)",
        ["size", "batch", "kd", "kd+vem", "K=0", "langevin", "lang XLA", "critic upd",
         "MI term", "lang+crit %", "in situ lang %", "in situ vem %", "vem/kd", "accum"],
        [[r["size"], r["batch"], cell(r["kd_step_s"], ".3f"),
          cell(r["kd_vem_step_s"], ".3f"), cell(r["kd_vem_k0_step_s"], ".3f"),
          cell(r["langevin_s"], ".3f"), cell(r["langevin_xla_s"], ".3f"),
          cell(r["critic_update_s"], ".3f"), cell(r["mi_term_s"], ".3f"),
          _percent(r["langevin_critic_share"]), _percent(r["langevin_share_in_situ"]),
          _percent(r["vem_share_in_situ"]), cell(r["kd_vem_vs_kd"], ".2f"),
          r["step_loop_accumulators"]] for r in report["vem_share"]])


def _latency(report):
    return "\n\n".join((
        table("Inference latency, batch 1 (median ms; cpu = process CPU ms)",
              ["model", "size", "format", "median ms", "p90 ms", "cpu ms", "GMACs", "MB"],
              [[r["model"], r["size"], r["format"], cell(r["median_ms"], ".1f"),
                cell(r["p90_ms"], ".1f"), cell(r["cpu_ms"], ".1f"), cell(r["gmacs"], ".2f"),
                cell(r["file_mb"], ".1f")] for r in report["latency"]]),
        table("Student speed-up (teacher ms / student ms)",
              ["size", "format", "teacher ms", "student ms", "speed-up"],
              [[r["size"], r["format"], cell(r["teacher_ms"], ".1f"),
                cell(r["student_ms"], ".1f"), cell(r["student_speedup"], ".1f")]
               for r in report["speedups"]])))


def _data(report):
    return table("Input pipeline (demo:enhance)", ["source", "size", "batch", "images/s"],
                 [[r["source"], r["size"], r["batch"], cell(r["images_per_s"], ".1f")]
                  for r in report["data"]])


def _profile(record):
    parts = ", ".join(f"{k} {100 * v:.0f}%" for k, v in record["by_part"].items())
    ops = ", ".join(f"{k} {100 * v:.0f}%" for k, v in record["by_op"][:6])
    return (f"Profile of {record['what']} at {record['size']}px, batch {record['batch']}: "
            f"{record['op_ms_per_call']:.0f} ms of op time per call\n  by part: {parts}\n"
            f"  by op: {ops}")


def _vs_torch(report):
    return table(
        "Side by side with the PyTorch anchor (median ms/step; PyTorch always float32; "
        "speed-up = torch ms / itgc ms)",
        ["size", "batch", "vem", "itgc precision", "torch ms", "itgc ms", "speed-up",
         "torch threads", "tf threads"],
        [[r["size"], r["batch"], "on" if r["vem"] else "off", r["precision"],
          cell(r["torch_ms"], ".0f"), cell(r["itgc_ms"], ".0f"), cell(r["speedup_x"], ".2f"),
          r["torch_threads"], r["tf_threads"]] for r in report.get("vs_torch", [])])


def _precision(report):
    return table(
        "Anchor step by dtype policy, interleaved in one process (median ms; x float32 = "
        "float32 ms / this ms, same vem; VEM adds = kd+VEM / kd - 1)",
        ["size", "batch", "precision", "vem", "ms", "cpu ms", "x float32", "VEM adds %"],
        [[r["size"], r["batch"], r["precision"], "on" if r["vem"] else "off",
          cell(r["ms"], ".0f"), cell(r["cpu_ms"], ".0f"), cell(r["vs_float32_x"], ".2f"),
          _percent(r["vem_adds"])] for r in report.get("precision", [])])


def _block_conv(report):
    return table(
        "Convolution on 2x2 pixel blocks against plain (median ms; train = forward and every "
        "gradient; speed-up = plain ms / blocks ms)",
        ["size", "batch", "kernel", "in", "out", "plain ms", "blocks ms", "speed-up",
         "plain train ms", "blocks train ms", "train speed-up"],
        [[r["size"], r["batch"], r["kernel"], r["in_channels"], r["filters"],
          cell(r["plain_ms"], ".2f"), cell(r["blocks_ms"], ".2f"), cell(r["speedup_x"], ".2f"),
          cell(r["plain_train_ms"], ".2f"), cell(r["blocks_train_ms"], ".2f"),
          cell(r["train_speedup_x"], ".2f")] for r in report.get("block_conv", [])])


def _per_example(report):
    return table(
        "Frozen teacher per image against one batched call (median ms; speed-up = batched "
        "ms / per-image ms)",
        ["what", "teacher", "vem", "size", "batch", "batched ms", "per-image ms", "speed-up"],
        [[r["what"], r["teacher"], "-" if r["vem"] is None else "on" if r["vem"] else "off",
          r["size"], r["batch"], cell(r["batched_ms"], ".1f"), cell(r["per_example_ms"], ".1f"),
          cell(r["speedup_x"], ".2f")] for r in report.get("per_example", [])])


def _core_scaling(report):
    return table(
        "One thread against TF's default threads (median ms; scaling = one-thread ms / "
        "default ms; ideal = one-thread ms / cores, what perfect use of every core gives)",
        ["piece", "size", "batch", "cores", "one-thread ms", "default ms", "scaling",
         "ideal ms"],
        [[r["piece"], r["size"], r["batch"], r["cores"], cell(r["one_thread_ms"], ".1f"),
          cell(r["all_threads_ms"], ".1f"), cell(r["scaling_x"], ".2f"),
          cell(r["ideal_ms"], ".1f")] for r in report.get("core_scaling", [])])


def _core_bounds(report):
    return table(
        "What the targets ask of core use and work (float32; vs_torch and core_scaling of "
        "this run): perfect = PyTorch ms / ideal ms, the speed-up with every core busy; 2x "
        "needs scaling = one-thread ms / (PyTorch ms / 2); work cut = the one-thread work 2x "
        "needs removed at today's scaling; VEM work = kd+VEM / kd one-thread ms - 1; VEM<=10% "
        "needs scaling = kd+VEM one-thread ms / (1.1 x kd default ms)",
        ["size", "batch", "vem", "torch ms", "one-thread ms", "default ms", "scaling",
         "perfect", "2x needs scaling", "work cut %", "VEM work %", "VEM<=10% needs scaling"],
        [[r["size"], r["batch"], "on" if r["vem"] else "off", cell(r["torch_ms"], ".0f"),
          cell(r["one_thread_ms"], ".1f"), cell(r["all_threads_ms"], ".1f"),
          cell(r["scaling_x"], ".2f"), cell(r["perfect_speedup_x"], ".2f"),
          cell(r["scaling_for_2x"], ".2f"), _percent(r["work_cut_for_2x"]),
          _percent(r["vem_work_share"]), cell(r["scaling_for_vem_adds_10pct"], ".2f")]
         for r in report.get("core_bounds", [])])


_SECTIONS = (("train", _train), ("vem_share", _vem_share), ("latency", _latency),
             ("data", _data), ("vs_torch", _vs_torch), ("precision", _precision),
             ("block_conv", _block_conv), ("per_example", _per_example),
             ("core_scaling", _core_scaling), ("core_bounds", _core_bounds))


def _devices(report):
    """One line, where the measurements ran by section ("Ran on: CPU (train, latency)"),
    or None if no record names its ``device`` (reports older than the field)."""
    where = {}
    for section in [name for name, _ in _SECTIONS] + ["profile"]:
        for record in report.get(section) or []:
            if "device" in record:
                where.setdefault(record["device"], {})[section] = None
    if not where:
        return None
    return "Ran on: " + "; ".join(f"{device} ({', '.join(sections)})"
                                  for device, sections in where.items())


def format_report(report):
    """Where the measurements ran, the tables of every non-empty section, profile
    summaries and failed measurements, separated by blank lines."""
    blocks = [line for line in [_devices(report)] if line]
    blocks += [render(report) for section, render in _SECTIONS if report.get(section)]
    blocks += [_profile(r) for r in report["profile"]]
    blocks += [f"FAILED {e['spec']}: {e['error'][-1000:]}" for e in report["errors"]]
    return "".join(f"\n{block}\n" for block in blocks).rstrip("\n")
