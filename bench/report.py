"""The Markdown tables that docs/benchmarks.md quotes."""

from __future__ import annotations


def markdown(results: dict) -> str:
    parts = [f"Run {results['started']}{' (quick: not a measurement)' if results['quick'] else ''}"]
    if "ingest" in results:
        parts.append(ingest_table(results["ingest"]))
    if "inline" in results:
        parts.append(inline_table(results["inline"]))
    if "apply" in results:
        parts.append(apply_table(results["apply"]))
    if "lag" in results:
        parts.append(lag_table(results["lag"]))
    if "burst" in results:
        parts.append(burst_table(results["burst"]))
    if "buttons" in results:
        parts.append(buttons_table(results["buttons"]))
    if "memory" in results:
        parts.append(memory_table(results["memory"]))
    if "access" in results:
        parts.append(access_table(results["access"]))
    if "race" in results:
        parts.append(race_table(results["race"]))
    if "notify" in results:
        parts.append(notify_table(results["notify"]))
    if "thin" in results:
        from bench.thin_burst import thin_table

        parts.append(thin_table(results["thin"]))
    return "\n\n".join(parts)


def ingest_table(r: dict) -> str:
    plan = r["plan"]
    rows = [
        f"Ingest: gunicorn -w {plan['workers']} (gunicorn.conf.py's worker class), wrk -t1 -c{plan['connections']}, "
        f"{plan['rounds']} x {plan['seconds']} s per target (median round shown)",
        "",
        "| target | req/s | p50 ms | p99 ms | server CPU ms/req | requests | non-2xx | socket errors "
        "| peak RSS MiB (master + workers) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target in ("bare", "webhook"):
        t, rss = r[target], r["peak_rss"][target]
        rows.append(
            f"| {target} | {t['rps']} | {t['p50_ms']} | {t['p99_ms']} | {t['cpu_ms_per_request']} | {t['requests']} "
            f"| {t['non2xx']} "
            f"| {t['socket_errors']} | {rss['total_mb']} ({rss['master_mb']} + {rss['workers_mb']}) |"
        )
    rows += [
        "",
        f"ratio webhook/bare (medians): **{r['ratio']}**; per round: {r['paired_ratios']}",
        "server CPU per request, bare/webhook (gunicorn processes only: excludes redis-server and wrk; "
        f"robust to noisy neighbours): {r['cpu_ratio']}",
        f"load average before/after each round: bare {r['bare']['rounds_load_avg']}, "
        f"webhook {r['webhook']['rounds_load_avg']}",
        f"bare rounds req/s: {r['bare']['rounds_rps']}; webhook rounds req/s: {r['webhook']['rounds_rps']}",
        f"stream check (entries = 2xx + in flight at cutoff, ids unique and sent): "
        f"{'OK' if r['stream_ok'] else 'FAILED'} {r['stream_checks']}",
    ]
    return "\n".join(rows)


def apply_table(runs: list[dict]) -> str:
    rows = [
        "Apply: deliveries drained by N `python -m worker` processes",
        "",
        "| database | workers | deliveries | seconds | events/s | drained | ledger outcomes | RQ retries "
        "| peak RSS MiB per worker | final state |",
        "|---|---:|---:|---:|---:|---|---|---:|---|---|",
    ]
    for run in runs:
        rows.append(
            f"| {run['backend']} | {run['workers']} | {run['deliveries']} | {run['seconds']} "
            f"| {run['events_per_s']} | {'yes' if run['drained'] else 'NO'} | {run['ledger']} "
            f"| {run['rq_leftovers']} | {run['peak_rss_mb']} | {run['state_digest']} |"
        )
    return "\n".join(rows)


def access_table(runs: list[dict]) -> str:
    rows = [
        "Access check: GET /api/v1/customers/<id>/access (a different user each request) beside a bare Flask route, "
        "same gunicorn settings, median round shown; then POST /api/v1/access/batch of 1,000 ids, one call at a time",
        "",
        "| database | target | req/s | p50 ms | p99 ms | server CPU ms/req | requests | non-200 | ratio | per round |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        for target in ("bare", "access", "uncached"):
            if target not in run:
                continue
            t = run[target]
            suffix = "" if target == "access" else f"_{target}"
            ratio = f"**{run['ratio' + suffix]}**" if target != "bare" else ""
            rounds = run["paired_ratios" + suffix] if target != "bare" else t["rounds_rps"]
            rows.append(
                f"| {run['backend']} | {target} | {t['rps']} | {t['p50_ms']} | {t['p99_ms']} "
                f"| {t['cpu_ms_per_request']} | {t['requests']} | {t['non2xx']} | {ratio} | {rounds} |"
            )
    rows += [
        "",
        "| database | batch ids | found | calls | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        b = run["batch"]
        cells = (run["backend"], b["ids"], b["found"], b["calls"], b["p50_ms"], b["p99_ms"], b["max_ms"])
        rows.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lags = [run for run in runs if "change_lag" in run]
    if lags:
        rows += [
            "",
            "| database | committed changes | p50 ms | p99 ms | max ms | stale answers after the first fresh one |",
            "|---|---:|---:|---:|---:|---:|",
        ]
    for run in lags:
        lag = run["change_lag"]
        fields = ("changes", "p50_ms", "p99_ms", "max_ms", "stale_answers_after_first_fresh")
        rows.append(f"| {run['backend']} | " + " | ".join(str(lag[field]) for field in fields) + " |")
    return "\n".join(rows)


def race_table(r: dict) -> str:
    return "\n".join(
        [
            "Access cache race (PostgreSQL): readers against a writer's commits, every listener killed every few "
            "seconds; stale = an answer older than a commit made more than the window before its request",
            "",
            "| answers | non-200 | commits | listener kills | window ms | stale | worst stale ms |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {r['answers']} | {r['non200']} | {r['commits']} | {r['listener_kills']} | {r['window_ms']} "
            f"| {r['stale']} | {r['worst_stale_ms']} |",
        ]
    )


def notify_table(runs: list[dict]) -> str:
    rows = [
        "Notification lag: signed events POSTed to gunicorn at a steady rate, round-robin over host-app users, "
        "2 workers; lag from just before the POST to the first verified notification that covers the event",
        "",
        "| database | events/s | seconds | users | events | notifications | never notified | p50 ms | p99 ms "
        "| max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        cells = (
            r["backend"], r["rate"], r["seconds"], r["users"], r["events"], r["notifications"],
            r["never_notified"], r["p50_ms"], r["p99_ms"], r["max_ms"],
        )  # fmt: skip
        rows.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(rows)


def inline_table(r: dict) -> str:
    plan = r["plan"]
    rows = [
        f"Inline design beside the webhook: gunicorn -w {plan['workers']} each, wrk -t1, {plan['rounds']} x "
        f"{plan['seconds']} s per target (order rotating; median round shown)",
        "",
        "| database | added ms per transaction | connections | target | req/s | of bare | p50 ms | p99 ms "
        "| server CPU ms/req | requests | non-2xx | socket errors |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in r["runs"]:
        for connections, report in run["concurrency"].items():
            for target in ("bare", "webhook", "inline", "lean"):
                t = report[target]
                cells = (
                    run["backend"], run["delay_ms"], connections, target, t["rps"], t.get("of_bare", ""),
                    t["p50_ms"], t["p99_ms"], t["cpu_ms_per_request"], t["requests"], t["non2xx"], t["socket_errors"],
                )  # fmt: skip
                rows.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    rows.append("")
    for run in r["runs"]:
        ratios = {c: report["webhook_over_inline"] for c, report in run["concurrency"].items()}
        lean = {c: report["webhook_over_lean"] for c, report in run["concurrency"].items()}
        rows.append(
            f"webhook/inline req/s, {run['backend']} +{run['delay_ms']} ms, by connections: {ratios}; "
            f"webhook/lean: {lean}; ledger rows applied {run['inline_applied']} "
            f"(inline + lean 2xx in measured rounds {run['inline_2xx_measured']})"
        )
    return "\n".join(rows)


def lag_table(runs: list[dict]) -> str:
    rows = [
        "Lag a subscriber feels: signed events POSTed at a steady rate, 2 workers; lag per event from the "
        "ledger's received_at (web) to processed_at (the applying transaction); the first seconds are a warm-up, "
        "not counted",
        "",
        "| database | events/s asked | achieved | seconds counted | events (counted) | ledger outcomes | p50 ms "
        "| p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in runs:
        cells = (
            r["backend"], r["rate"], r["achieved_rate"], r["seconds"], f"{r['events']} ({r['counted']})", r["outcomes"],
            r["p50_ms"], r["p95_ms"], r["p99_ms"], r["max_ms"],
        )  # fmt: skip
        rows.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(rows)


def burst_table(runs: list[dict]) -> str:
    rows = [
        "Burst: the apply mix POSTed to the webhook by wrk (8 connections) as fast as it takes it, "
        "while N workers drain the inbox",
        "",
        "| database | workers | deliveries | accepted in s | accepted/s | non-2xx | peak backlog | drained in s "
        "| ledger / unique events |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        cells = (
            r["backend"], r["workers"], r["deliveries"], r["accepted_s"], r["accept_rate"], r["posted"]["non2xx"],
            r["peak_backlog"], r["drained_s"], f"{r['in_ledger']} / {r['unique_events']}",
        )  # fmt: skip
        rows.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(rows)


def buttons_table(r: dict) -> str:
    rows = [
        f"Button latency: one signed-in user's form posts, one click at a time, {r['plan']['clicks']} per target "
        f"in {r['plan']['rounds']} rotating rounds; sandbox as Stripe, no added latency",
        "",
        "| target | what it is | clicks | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|",
    ]
    what = {
        "bare": "bare Flask route, 303",
        "portal": "POST /api/billing/portal (form, 303)",
        "checkout": "POST /api/billing/checkout (form, 303)",
        "direct_portal": "stripe-python portal session create, straight to the sandbox",
        "direct_checkout": "stripe-python Checkout Session create, straight to the sandbox",
    }
    for name, description in what.items():
        t = r[name]
        rows.append(f"| {name} | {description} | {t['clicks']} | {t['p50_ms']} | {t['p99_ms']} |")
    rows += [
        "",
        f"the service's own part of a click (p50: service - bare - direct): portal {r['portal_own_p50_ms']} ms, "
        f"checkout {r['checkout_own_p50_ms']} ms",
    ]
    return "\n".join(rows)


def memory_table(r: dict) -> str:
    plan = r["plan"]
    rows = [
        f"Memory after warm-up, MiB (gunicorn -w {plan['web_workers']}, gthread; {plan['workers']} workers after "
        f"applying {plan['events']} deliveries). PSS shares each shared page among its sharers; USS is a "
        "process's own; peak is VmHWM",
        "",
        "| process | preload_app | RSS | PSS | USS | peak RSS |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for web in r["web"]:
        m, w = web["master"], web["worker_mean"]
        flag = "yes" if web["preload"] else "no"
        rows.append(f"| web master | {flag} | {m['rss']} | {m['pss']} | {m['uss']} | {m['peak_rss']} |")
        rows.append(f"| web worker (mean of {len(web['workers'])}) | {flag} | {w['rss']} | {w['pss']} | {w['uss']} "
                    f"| {w['peak_rss']} |")  # fmt: skip
    for n, w in enumerate(r["worker"]["workers"]):
        rows.append(f"| worker {n + 1} | - | {w['rss']} | {w['pss']} | {w['uss']} | {w['peak_rss']} |")
    for w in r["worker"]["children"]:
        rows.append(f"| RQ scheduler (a worker's child) | - | {w['rss']} | {w['pss']} | {w['uss']} | {w['peak_rss']} |")
    rows.append("")
    rows.append(
        "web PSS total (master + workers): "
        + ", ".join(f"{'preload' if w['preload'] else 'no preload'} {w['pss_total']}" for w in r["web"])
    )
    return "\n".join(rows)
