#!/usr/bin/env python3
"""Turns Google Benchmark JSON (crypto, circuit, model, deploy, serve benches) into tables and bench/results/latest.json.

usage: bench_table.py BENCHMARK_JSON [BENCHMARK_JSON ...] [--out PATH]

Each benchmark family maps to one or more metrics (METRICS below); each run becomes one record
    {"metric": "pbs_ms", "params": {"bits": 4, "threads": 1}, "value": 9.8, "unit": "ms"}
with its params taken from the run's user counters named in PARAM_COUNTERS (and, for the circuit
benchmarks, params.circuit from the run's label). The first table shows one row per precision
(params.bits) with the columns of TABLE_COLUMNS; the second one row per circuit with the columns of
CIRCUIT_COLUMNS; then the model, deployment and server tables (MODEL_COLUMNS, DEPLOY_COLUMNS,
render_server_table); records no table shows are listed after them. To add a benchmark: give it
counters for its params, add its metrics to METRICS, and (if it is per precision) a column to
TABLE_COLUMNS and a note to TABLE_NOTES.

Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import sys
from dataclasses import dataclass
from typing import Callable, Optional

_TIME_UNIT_TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def wall_ms(run: dict) -> Optional[float]:
    """Wall-clock time per iteration, in milliseconds."""
    t = run.get("real_time")
    unit = run.get("time_unit", "ns")
    if t is None or unit not in _TIME_UNIT_TO_MS:
        return None
    return t * _TIME_UNIT_TO_MS[unit]


def per_row_ms(rows: int) -> Callable[[dict], Optional[float]]:
    """Wall-clock milliseconds per row of a request of `rows` rows (BM_ModelFheRows)."""
    def value(run: dict) -> Optional[float]:
        t = wall_ms(run)
        if t is None or int(round(run.get("rows", 0))) != rows:
            return None
        return t / rows
    return value


def counter(name: str) -> Callable[[dict], Optional[float]]:
    """A user counter (or Google Benchmark's items_per_second / bytes_per_second)."""
    return lambda run: run.get(name)


@dataclass(frozen=True)
class Metric:
    metric: str  # record name in latest.json
    family: str  # benchmark name up to the first '/', e.g. BM_Pbs
    value: Callable[[dict], Optional[float]]
    unit: str


METRICS = [
    Metric("keygen_ms", "BM_Keygen", wall_ms, "ms"),
    Metric("eval_key_seeded_mb", "BM_Keygen", counter("seeded_mb"), "MB"),
    Metric("eval_key_expanded_mb", "BM_Keygen", counter("expanded_mb"), "MB"),
    Metric("ks_ms", "BM_Keyswitch", wall_ms, "ms"),
    Metric("pbs_ms", "BM_Pbs", wall_ms, "ms"),
    Metric("blind_rotate_ms", "BM_BlindRotate", wall_ms, "ms"),
    Metric("pbs_per_s", "BM_PbsThroughput", counter("items_per_second"), "1/s"),
    Metric("pbs_batch_per_s", "BM_PbsBatch", counter("items_per_second"), "1/s"),
    Metric("roofline_fft_ms", "BM_RooflineFft", wall_ms, "ms"),
    Metric("roofline_stream_ms", "BM_RooflineKeyStream", wall_ms, "ms"),
    Metric("circuit_clear_ms", "BM_CircuitClear", wall_ms, "ms"),
    Metric("circuit_pbs", "BM_CircuitClear", counter("pbs"), "count"),
    Metric("circuit_lookup_bits", "BM_CircuitClear", counter("lookup_bits"), "bits"),
    Metric("circuit_poly_size", "BM_CircuitClear", counter("poly_size"), "N"),
    Metric("circuit_fhe_ms", "BM_CircuitFhe", wall_ms, "ms"),
    Metric("model_accuracy_float", "BM_ModelFhe", counter("acc_float"), "% or R2"),
    Metric("model_accuracy_quantized", "BM_ModelFhe", counter("acc_quantized"), "% or R2"),
    Metric("model_accuracy_fhe", "BM_ModelFhe", counter("acc_fhe"), "% or R2"),
    Metric("model_accuracy_clear_fhe_rows", "BM_ModelFhe", counter("acc_clear_fhe_rows"), "% or R2"),
    Metric("model_carrier_bits", "BM_ModelFhe", counter("carrier_bits"), "bits"),
    Metric("model_pbs", "BM_ModelFhe", counter("pbs"), "count"),
    Metric("model_key_mb", "BM_ModelFhe", counter("key_mb"), "MB"),
    Metric("model_fhe_ms", "BM_ModelFhe", wall_ms, "ms"),
    # a request of 1, 16 or 64 rows run together (runtime::execute), per row, 2 threads
    Metric("model_fhe_row_ms_1", "BM_ModelFheRows", per_row_ms(1), "ms"),
    Metric("model_fhe_row_ms_16", "BM_ModelFheRows", per_row_ms(16), "ms"),
    Metric("model_fhe_row_ms_64", "BM_ModelFheRows", per_row_ms(64), "ms"),
    Metric("client_zip_kb", "BM_Deploy", counter("client_zip_kb"), "kB"),
    Metric("server_zip_kb", "BM_Deploy", counter("server_zip_kb"), "kB"),
    Metric("eval_keys_mb", "BM_Deploy", counter("eval_keys_mb"), "MB"),
    Metric("input_row_bytes", "BM_Deploy", counter("input_row_bytes"), "B"),
    Metric("features", "BM_Deploy", counter("features"), "count"),
    Metric("output_row_bytes", "BM_Deploy", counter("output_row_bytes"), "B"),
    Metric("client_keygen_ms", "BM_Deploy", counter("keygen_ms"), "ms"),
    Metric("client_encrypt_ms", "BM_Deploy", counter("encrypt_ms"), "ms"),
    Metric("client_decrypt_ms", "BM_Deploy", counter("decrypt_ms"), "ms"),
    Metric("serve_req_per_s", "BM_Serve", counter("req_per_s"), "1/s"),
    Metric("serve_p50_ms", "BM_Serve", counter("p50_ms"), "ms"),
    Metric("serve_p99_ms", "BM_Serve", counter("p99_ms"), "ms"),
    Metric("serve_requests", "BM_Serve", counter("requests"), "count"),
    Metric("serve_add_key_ms", "BM_Serve", counter("add_key_ms"), "ms"),
    Metric("serve_add_key_rss_mb", "BM_Serve", counter("add_key_rss_mb"), "MB"),
    Metric("serve_add_key_peak_mb", "BM_Serve", counter("add_key_peak_mb"), "MB"),
    Metric("serve_key_cache_mb", "BM_Serve", counter("key_cache_mb"), "MB"),
    # server hardening (issue 10): keep-alive load, /health beside slow clients, a header flood
    Metric("serve_keepalive_req_per_s", "BM_ServeKeepAlive", counter("req_per_s"), "1/s"),
    Metric("serve_keepalive_p50_ms", "BM_ServeKeepAlive", counter("p50_ms"), "ms"),
    Metric("serve_keepalive_p99_ms", "BM_ServeKeepAlive", counter("p99_ms"), "ms"),
    Metric("serve_slow_health_p50_ms", "BM_ServeHealthWithSlowClients", counter("health_p50_ms"), "ms"),
    Metric("serve_slow_health_p99_ms", "BM_ServeHealthWithSlowClients", counter("health_p99_ms"), "ms"),
    Metric("serve_slow_health_unanswered", "BM_ServeHealthWithSlowClients", counter("health_unanswered"), "count"),
    Metric("serve_flood_status", "BM_ServeHeaderFlood", counter("flood_status"), "HTTP status"),
    Metric("serve_flood_sent_mb", "BM_ServeHeaderFlood", counter("flood_sent_mb"), "MB"),
    Metric("serve_flood_rss_mb", "BM_ServeHeaderFlood", counter("flood_rss_mb"), "MB"),
]

# User counters that describe a run rather than measure it; they become record params (integers).
PARAM_COUNTERS = ("bits", "threads", "clients", "slots", "width")


@dataclass(frozen=True)
class Column:
    header: str  # "{threads}" is replaced by the thread count of the column's records
    metric: str
    fmt: str


TABLE_COLUMNS = [
    Column("keygen ms", "keygen_ms", "{:.0f}"),
    Column("seeded MB", "eval_key_seeded_mb", "{:.1f}"),
    Column("expanded MB", "eval_key_expanded_mb", "{:.1f}"),
    Column("KS ms", "ks_ms", "{:.3f}"),
    Column("PBS ms ({threads} thr)", "pbs_ms", "{:.2f}"),
    Column("BR ms ({threads} thr)", "blind_rotate_ms", "{:.2f}"),
    Column("PBS/s ({threads} thr)", "pbs_per_s", "{:.1f}"),
    Column("FFT-bound ms", "roofline_fft_ms", "{:.2f}"),
    Column("key-stream ms", "roofline_stream_ms", "{:.2f}"),
]

# A note under the table for each metric it shows.
TABLE_NOTES = {
    "keygen_ms": "keygen: client key + seeded evaluation keys, on one thread.",
    "eval_key_seeded_mb": "seeded/expanded MB: evaluation keys as uploaded (seeded) and as the server holds them.",
    "ks_ms": "KS: one key switch.",
    "pbs_ms": "PBS: one whole table lookup (key switch, modulus switch, blind rotation, sample extract).",
    "blind_rotate_ms": "BR: the PBS without its key switch (what some libraries report as PBS).",
    "pbs_per_s": "PBS/s: batched table lookups on all threads.",
    "roofline_fft_ms": "FFT-bound: a blind rotation's transforms alone (n·((k+1)·l forward + (k+1) inverse), in cache).",
    "roofline_stream_ms": "key-stream: one read of the bytes a PBS streams (bootstrapping + key-switching key), one thread; a batch of w divides it by w.",
}


def family_of(name: str) -> str:
    return name.split("/", 1)[0]


def select_runs(benchmarks: list) -> list:
    """One entry per run: the median aggregate when repetitions were used, else the iteration."""
    by_run: dict = {}
    for b in benchmarks:
        if b.get("error_occurred"):
            if not str(b.get("error_message", "")).startswith("skipped:"):
                print(f"bench_table: {b.get('name')} failed: {b.get('error_message', '?')}", file=sys.stderr)
            continue
        key = b.get("run_name", b["name"])
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                by_run[key] = b
        elif key not in by_run or by_run[key].get("run_type") != "aggregate":
            by_run[key] = b
    return list(by_run.values())


def params_of(run: dict) -> dict:
    params = {}
    if family_of(run["name"]).startswith("BM_Circuit") and run.get("label"):
        params["circuit"] = run["label"]
    if family_of(run["name"]).startswith("BM_Model") and run.get("label"):
        params["model"] = run["label"]
    if family_of(run["name"]) == "BM_Deploy" and run.get("label"):
        params["deploy"] = run["label"]
    if family_of(run["name"]) == "BM_Serve" and run.get("label"):
        params["serve"] = run["label"]
    if family_of(run["name"]) in ("BM_ServeKeepAlive", "BM_ServeHealthWithSlowClients", "BM_ServeHeaderFlood"):
        params["serve_limits"] = family_of(run["name"])
    for name in PARAM_COUNTERS:
        if name in run:
            params[name] = int(round(run[name]))
    return params


def records_from(benchmarks: list) -> list:
    metrics_by_family: dict = {}
    for m in METRICS:
        metrics_by_family.setdefault(m.family, []).append(m)
    records = []
    for run in select_runs(benchmarks):
        for m in metrics_by_family.get(family_of(run["name"]), []):
            value = m.value(run)
            if value is None:
                continue
            records.append({"metric": m.metric, "params": params_of(run), "value": round(float(value), 6),
                            "unit": m.unit})
    return records


def render_table(records: list) -> str:
    cells: dict = {}  # (bits, metric) -> record
    threads: dict = {}  # metric -> set of thread counts
    for r in records:
        bits = r["params"].get("bits")
        if bits is None or r["metric"] in BATCH_METRICS:
            continue
        cells[(bits, r["metric"])] = r
        threads.setdefault(r["metric"], set()).add(r["params"].get("threads"))

    def header(c: Column) -> str:
        t = sorted(x for x in threads.get(c.metric, ()) if x is not None)
        return c.header.replace("{threads}", "/".join(str(x) for x in t) if t else "?")

    all_bits = sorted({b for b, _ in cells})
    columns = [c for c in TABLE_COLUMNS if c.metric in threads]
    head = ["bits"] + [header(c) for c in columns]
    rows = []
    for bits in all_bits:
        row = [str(bits)]
        for c in columns:
            r = cells.get((bits, c.metric))
            row.append(c.fmt.format(r["value"]) if r else "-")
        rows.append(row)
    lines = []
    if rows:
        widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
        lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in rows]

    batch_table = render_batch_table([r for r in records if r["metric"] in BATCH_METRICS])
    if batch_table:
        lines += ([""] if lines else []) + batch_table
    shown = {c.metric for c in columns} | BATCH_METRICS
    shown_circuit = {c.metric for c in CIRCUIT_COLUMNS}
    circuit_table = render_circuit_table([r for r in records if "circuit" in r["params"]])
    if circuit_table:
        lines += ([""] if lines else []) + circuit_table
    model_records = [r for r in records if "model" in r["params"]]
    model_table = render_circuit_table(
        model_records, "model", MODEL_COLUMNS, "model_fhe_ms",
        ["models: tests/data/models; accuracy in % (classifiers) or R² (regressors) on the test split: float model,",
         "quantized model in the clear; FHE and clear again on the first 10 rows only (rows);",
         "width: the circuit's carrier bits;",
         "keys: seeded evaluation keys (0: leveled, none needed); FHE ms: one sample, without encryption;",
         "ms/row R: the server's work for a request of R rows run together, per row, on 2 threads (64: only",
         "models whose one row takes under 0.5 s)."])
    if model_table:
        lines += ([""] if lines else []) + model_table
    deploy_table = render_circuit_table(
        [r for r in records if "deploy" in r["params"]], "deploy", DEPLOY_COLUMNS, "",
        ["deployment: artifacts and exchange files per test model (one row encrypted, its answer); key generation",
         "on one thread (secret key + seeded evaluation keys); client encrypt/decrypt of one row, median of 5."])
    if deploy_table:
        lines += ([""] if lines else []) + deploy_table
    server_table = render_server_table([r for r in records if "serve" in r["params"]])
    if server_table:
        lines += ([""] if lines else []) + server_table
    limits_table = render_server_limits_table([r for r in records if "serve_limits" in r["params"]])
    if limits_table:
        lines += ([""] if lines else []) + limits_table
    tables = ("circuit", "model", "deploy", "serve", "serve_limits")
    others = [r for r in records
              if ("circuit" in r["params"] and r["metric"] not in shown_circuit)
              or ("model" in r["params"] and r["metric"] not in {c.metric for c in MODEL_COLUMNS})
              or ("deploy" in r["params"] and r["metric"] not in {c.metric for c in DEPLOY_COLUMNS})
              or ("serve" in r["params"] and r["metric"] not in SERVER_METRICS)
              or (not any(t in r["params"] for t in tables)
                  and (r["metric"] not in shown or "bits" not in r["params"]))]
    if others:
        lines.append("")
        for r in others:
            params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
            lines.append(f"{r['metric']}({params}) = {r['value']:g} {r['unit']}")
    notes = [TABLE_NOTES[c.metric] for c in columns if c.metric in TABLE_NOTES]
    if rows and notes:
        lines.append("")
        lines += notes
    return "\n".join(lines)


BATCH_METRICS = {"pbs_batch_per_s"}


def render_batch_table(records: list) -> list:
    """Batched PBS/s (BM_PbsBatch): one row per precision, one column per (threads, batch width)."""
    cells = {}
    for r in records:
        p = r["params"]
        if "bits" in p and "width" in p and "threads" in p:
            cells[(p["bits"], p["threads"], p["width"])] = r["value"]
    if not cells:
        return []
    cols = sorted({(t, w) for _, t, w in cells})
    head = ["bits"] + [f"w={w} {t}thr" for t, w in cols]
    rows = []
    for bits in sorted({b for b, _, _ in cells}):
        rows.append([str(bits)] + [f"{cells[(bits, t, w)]:.1f}" if (bits, t, w) in cells else "-" for t, w in cols])
    widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
    lines = ["batched PBS/s (BM_PbsBatch/<bits>/<width>/<threads>): w = ciphertexts per pass over the key",
             "(w=1: one at a time, each PBS streams the whole key); thr = threads sharing the batch"]
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in rows]
    return lines


CIRCUIT_COLUMNS = [
    Column("PBS", "circuit_pbs", "{:.0f}"),
    Column("lookup bits", "circuit_lookup_bits", "{:.0f}"),
    Column("N", "circuit_poly_size", "{:.0f}"),
    Column("clear ms", "circuit_clear_ms", "{:.4f}"),
    Column("FHE ms ({threads} thr)", "circuit_fhe_ms", "{:.2f}"),
]


MODEL_COLUMNS = [
    Column("float", "model_accuracy_float", "{:.3f}"),
    Column("quantized", "model_accuracy_quantized", "{:.3f}"),
    Column("FHE (rows)", "model_accuracy_fhe", "{:.3f}"),
    Column("clear (rows)", "model_accuracy_clear_fhe_rows", "{:.3f}"),
    Column("width", "model_carrier_bits", "{:.0f}"),
    Column("PBS", "model_pbs", "{:.0f}"),
    Column("keys MB", "model_key_mb", "{:.1f}"),
    Column("FHE ms ({threads} thr)", "model_fhe_ms", "{:.2f}"),
    Column("ms/row 1", "model_fhe_row_ms_1", "{:.2f}"),
    Column("ms/row 16", "model_fhe_row_ms_16", "{:.2f}"),
    Column("ms/row 64", "model_fhe_row_ms_64", "{:.2f}"),
]


DEPLOY_COLUMNS = [
    Column("client.zip kB", "client_zip_kb", "{:.1f}"),
    Column("server.zip kB", "server_zip_kb", "{:.1f}"),
    Column("eval keys MB", "eval_keys_mb", "{:.2f}"),
    Column("features", "features", "{:.0f}"),
    Column("input row B", "input_row_bytes", "{:.0f}"),
    Column("answer B", "output_row_bytes", "{:.0f}"),
    Column("keygen ms", "client_keygen_ms", "{:.0f}"),
    Column("encrypt ms", "client_encrypt_ms", "{:.2f}"),
    Column("decrypt ms", "client_decrypt_ms", "{:.2f}"),
]


# The server table (bench/serve_bench.cc): one row per model and client count; the add_key columns
# on a model's first row only (its first run measures the upload; later runs upload nothing).
SERVER_RUN_COLUMNS = [
    ("req/s", "serve_req_per_s"),
    ("p50 ms", "serve_p50_ms"),
    ("p99 ms", "serve_p99_ms"),
]
SERVER_KEY_COLUMNS = [
    ("add_key ms", "serve_add_key_ms"),
    ("add_key MB", "serve_add_key_rss_mb"),
    ("peak MB", "serve_add_key_peak_mb"),
    ("cached MB", "serve_key_cache_mb"),
]
SERVER_METRICS = {m for _, m in SERVER_RUN_COLUMNS + SERVER_KEY_COLUMNS} | {"serve_requests"}


def three_digits(v: float) -> str:
    """About three significant digits without an exponent: 1557, 363, 2.66, 0.408."""
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def render_server_table(records: list) -> list:
    if not records:
        return []
    runs: dict = {}  # (model, clients) -> {metric: record}
    order = []
    for r in records:
        key = (r["params"]["serve"], r["params"].get("clients"))
        if key not in runs:
            runs[key] = {}
            order.append(key)
        runs[key][r["metric"]] = r
    models = []
    for m, _ in order:
        if m not in models:
            models.append(m)
    key_cols = [(h, m) for h, m in SERVER_KEY_COLUMNS if any(m in v for v in runs.values())]
    head = ["model", "clients", "slots x thr", "requests"] + [h for h, _ in SERVER_RUN_COLUMNS] + [h for h, _ in key_cols]
    rows = []
    for model in models:
        keys = sorted((k for k in runs if k[0] == model), key=lambda k: (k[1] is None, k[1] or 0))
        for i, key in enumerate(keys):
            cells = runs[key]
            any_rec = next(iter(cells.values()))
            slots, threads = any_rec["params"].get("slots"), any_rec["params"].get("threads")
            req = cells.get("serve_requests")
            row = [model if i == 0 else "", "-" if key[1] is None else str(key[1]),
                   f"{slots} x {threads}" if slots is not None and threads is not None else "-",
                   f"{req['value']:.0f}" if req else "-"]
            row += [three_digits(cells[m]["value"]) if m in cells else "-" for _, m in SERVER_RUN_COLUMNS]
            row += [(three_digits(cells[m]["value"]) if m in cells else "-") if i == 0 else "" for _, m in key_cols]
            rows.append(row)
    widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
    lines = ["  ".join((v.ljust(w) if i == 0 else v.rjust(w)) for i, (v, w) in enumerate(zip(row, widths))).rstrip()
             for row in [head] + rows]
    lines += ["",
              "server: HttpServer on loopback, clients in the same process; each client its own keys and one",
              "encrypted row per POST /compute, requests one after another per client; slots x thr: compute slots",
              "x threads each (cores split between them); req/s over the run's wall time; p50/p99: client-side",
              "latency of every request (nearest rank: with few requests p99 is the slowest). add_key, once per",
              "model (the first client's upload to the idle server): time; MB: resident memory it leaves (VmRSS",
              "growth); peak MB: VmHWM growth during it (the client's copies of the request included); cached MB:",
              "the server's blindml_key_cache_bytes."]
    return lines


def render_server_limits_table(records: list) -> list:
    """Server hardening (bench/serve_bench.cc, issue 10): keep-alive rows, then two lines."""
    if not records:
        return []
    by = {}
    for r in records:
        by.setdefault((r["params"]["serve_limits"], r["params"].get("clients")), {})[r["metric"]] = r["value"]
    lines = ["server limits: keep-alive POST /compute, logistic_regression_breast_cancer, one row per request",
             f"{'connections':>11}  {'req/s':>7}  {'p50 ms':>7}  {'p99 ms':>7}"]
    for (family, clients), cells in sorted((k, v) for k, v in by.items() if k[0] == "BM_ServeKeepAlive"):
        lines.append(f"{clients:>11}  " + "  ".join(
            f"{three_digits(cells[m]) if m in cells else '-':>7}"
            for m in ("serve_keepalive_req_per_s", "serve_keepalive_p50_ms", "serve_keepalive_p99_ms")))
    slow = by.get(("BM_ServeHealthWithSlowClients", None))
    if slow:
        lines.append("GET /health beside 64 slow connections (50 probes, 2 s each): p50 "
                     + (three_digits(slow["serve_slow_health_p50_ms"]) + " ms" if "serve_slow_health_p50_ms" in slow else "-")
                     + ", p99 " + (three_digits(slow["serve_slow_health_p99_ms"]) + " ms" if "serve_slow_health_p99_ms" in slow else "-")
                     + f", unanswered {slow.get('serve_slow_health_unanswered', 0):.0f}")
    flood = by.get(("BM_ServeHeaderFlood", None))
    if flood:
        lines.append(f"64 MB header flood on one connection: answered {flood.get('serve_flood_status', 0):.0f}, "
                     f"{three_digits(flood.get('serve_flood_sent_mb', 0))} MB taken, "
                     f"resident memory left {three_digits(flood.get('serve_flood_rss_mb', 0))} MB")
    return lines


def render_circuit_table(records: list, key: str = "circuit", columns: list = None, per_thread: str = "circuit_fhe_ms",
                         notes: list = None) -> list:
    """One row per circuit (or model); the per_thread metric gets one column per thread count."""
    columns = CIRCUIT_COLUMNS if columns is None else columns
    if not records:
        return []
    names = []
    for r in records:
        if r["params"][key] not in names:
            names.append(r["params"][key])
    cols = []  # (header, metric, threads or None, fmt)
    for c in columns:
        ts = sorted({r["params"].get("threads") for r in records if r["metric"] == c.metric} - {None})
        if c.metric == per_thread:
            cols += [(c.header.replace("{threads}", str(t)), c.metric, t, c.fmt) for t in ts]
        elif any(r["metric"] == c.metric for r in records):
            cols.append((c.header, c.metric, None, c.fmt))
    head = [key] + [h for h, _, _, _ in cols]
    rows = []
    for name in names:
        row = [name]
        for _, metric, t, fmt in cols:
            hit = [r for r in records if r["params"][key] == name and r["metric"] == metric
                   and (t is None or r["params"].get("threads") == t)]
            row.append(fmt.format(hit[0]["value"]) if hit else "-")
        rows.append(row)
    widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in rows]
    if notes is None:
        notes = ["circuits: one sample end to end on the parameters the optimizer chose (tests/circuit/sample_circuits.h);",
                 "FHE excludes encryption and decryption; N: the chosen polynomial size; PBS per evaluation."]
    lines += [""] + notes
    return lines


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def core_count() -> int:
    # What nproc prints: the CPUs this process may run on.
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark_json", nargs="+", help="outputs of --benchmark_format=json / --benchmark_out")
    parser.add_argument("--out", default=os.path.join(root, "bench", "results", "latest.json"),
                        help="where to write the records (default: bench/results/latest.json)")
    args = parser.parse_args()

    benchmarks = []
    for path in args.benchmark_json:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            print(f"bench_table: cannot read {path}: {e}", file=sys.stderr)
            return 1
        runs = data.get("benchmarks") if isinstance(data, dict) else None
        if not isinstance(runs, list):
            print(f"bench_table: {path} has no 'benchmarks' list", file=sys.stderr)
            return 1
        benchmarks += runs

    records = records_from(benchmarks)
    machine = {"cpu": cpu_model(), "cores": core_count()}
    result = {
        "machine": machine,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "records": records,
    }

    print(f"{machine['cpu']}, {machine['cores']} cores")
    print(render_table(records))

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    base, ext = os.path.splitext(args.out)
    tmp = f"{base}.tmp{ext}"  # same directory, so the rename is atomic
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    os.replace(tmp, args.out)
    shown = os.path.relpath(args.out)
    print(f"\nwrote {args.out if shown.startswith('..') else shown} ({len(records)} records)")
    return 0 if records else 1


if __name__ == "__main__":
    sys.exit(main())
