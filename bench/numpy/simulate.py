#!/usr/bin/env python3
"""The same canary rollout simulated request by request with NumPy: the yardstick of
bench/exact-engine.mjs (part c), written as one would in Python, vectorised per window.

It follows DESIGN.md's scenario semantics, as rehearse's `sample` engine does:

- per run, each candidate multiplier times an independent factor uniform in [1 - run, 1 + run];
- per check window and arm: a Poisson count of requests (requests_per_minute x minutes x share),
  a common factor ~ Normal(1, check) (clamped at 0) on the window's latencies, token counts and
  rates;
- per request: one uniform decides the status (error with error_rate, else refusal with
  refusal_rate, else ok), a thumbs-down uniform on ok requests, and for every request that is not
  an error a latency and input/output token counts from their lognormals (through p50 and p99),
  tokens rounded to the nearest integer and at least 1, cost = (in x in_price + out x out_price) / 1e6;
- per window: the mean cost and the p99 latency of each arm (np.quantile, linear: numpy's
  default, the interpolation DESIGN.md names), and two ratio gates (canary / baseline > max_ratio
  halts the run).

Every step of a window is one vectorised NumPy call over all its requests; only windows and runs
are Python loops. The random streams differ from rehearse's (PCG64 here), so results agree in
distribution only.

Input: a JSON job on stdin (bench/exact-engine.mjs writes it):
  { "seed", "runs", "requestsPerMinute", "windows": [{ "minutes", "percent" }],
    "baseline": { "latency_ms": {p50, p99}, "output_tokens": ..., "input_tokens": ...,
                  "error_rate", "refusal_rate", "thumbs_down_rate" },
    "price": { "input_per_million", "output_per_million" },
    "candidate": { "latency", "latency_tail", "output_length", "price", "error_rate",
                   "refusal_rate", "thumbs_down_rate" },
    "nondeterminism": { "run", "check" },
    "gates": { "costMaxRatio", "p99MaxRatio" } }
Output: one JSON line on stdout: the requests simulated, the seconds (wall and CPU) the simulation
took, timed inside this process (interpreter start-up and imports excluded, and reported apart:
importSeconds, and processCpuSeconds for the whole process), the runs
promoted, and the baseline's mean cost and p99 latency averaged over the checks (a sanity check).
"""
import json
import math
import sys
import time

T_START = time.perf_counter()
try:
    import numpy as np
except ImportError as err:  # the bench reports this and skips the comparison
    print(json.dumps({"ok": False, "error": f"numpy is not importable: {err}"}))
    sys.exit(3)
T_IMPORTED = time.perf_counter()

Z99 = 2.3263478740408408
CANDIDATE_FIELDS = ["latency", "latency_tail", "output_length", "price", "error_rate", "refusal_rate", "thumbs_down_rate"]


def sigma_of(q):
    return math.log(q["p99"] / q["p50"]) / Z99


def arm_law(job, m):
    """The per-request laws of one arm given the candidate multipliers (all 1 for the baseline)."""
    b, price = job["baseline"], job["price"]
    return {
        "mu_lat": math.log(b["latency_ms"]["p50"] * m["latency"]),
        "s_lat": sigma_of(b["latency_ms"]) * m["latency_tail"],
        "mu_out": math.log(b["output_tokens"]["p50"] * m["output_length"]),
        "s_out": sigma_of(b["output_tokens"]),
        "mu_in": math.log(b["input_tokens"]["p50"]),
        "s_in": sigma_of(b["input_tokens"]),
        "p_in": price["input_per_million"] * m["price"] / 1e6,
        "p_out": price["output_per_million"] * m["price"] / 1e6,
        "err": min(1.0, b["error_rate"] * m["error_rate"]),
        "ref": min(1.0, b["refusal_rate"] * m["refusal_rate"]),
        "td": min(1.0, b["thumbs_down_rate"] * m["thumbs_down_rate"]),
    }


def lognormal(rng, mu, sigma, size, factor):
    x = rng.standard_normal(size)
    x *= sigma
    x += mu
    np.exp(x, out=x)
    x *= factor
    return x


def draw_arm(rng, law, n, f):
    """One arm's requests in one window: (mean cost, p99 latency, thumbs-down) over its requests."""
    err = min(1.0, law["err"] * f)
    refusal_cut = err + (1.0 - err) * min(1.0, law["ref"] * f)
    u = rng.random(n)
    served = u >= err  # errors are out of the latency, token and cost statistics
    m = int(np.count_nonzero(served))
    ok = int(np.count_nonzero(u >= refusal_cut))
    thumbs_down = int(np.count_nonzero(rng.random(ok) < min(1.0, law["td"] * f)))
    if m == 0:
        return math.nan, math.nan, thumbs_down
    latency = lognormal(rng, law["mu_lat"], law["s_lat"], m, f)
    tokens_in = np.maximum(1.0, np.rint(lognormal(rng, law["mu_in"], law["s_in"], m, f)))
    tokens_out = np.maximum(1.0, np.rint(lognormal(rng, law["mu_out"], law["s_out"], m, f)))
    cost = tokens_in * law["p_in"] + tokens_out * law["p_out"]
    return float(cost.mean()), float(np.quantile(latency, 0.99)), thumbs_down


def check_factor(rng, c):
    return max(0.0, 1.0 + c * rng.standard_normal()) if c > 0 else 1.0


def ratio(canary, baseline):
    if baseline == 0:
        return math.inf if canary > 0 else 1.0
    return canary / baseline


def simulate(job, runs, seed):
    nd = job["nondeterminism"]
    baseline_law = arm_law(job, {k: 1.0 for k in CANDIDATE_FIELDS})
    cost_max, p99_max = job["gates"]["costMaxRatio"], job["gates"]["p99MaxRatio"]
    rpm = job["requestsPerMinute"]
    requests = promoted = checks = 0
    sum_cost = sum_p99 = 0.0
    for run in range(runs):
        rng = np.random.default_rng([seed, run])
        cand = dict(job["candidate"])
        if nd["run"] > 0:
            for k in CANDIDATE_FIELDS:
                cand[k] *= 1 + nd["run"] * (2 * rng.random() - 1)
        canary_law = arm_law(job, cand)
        halted = False
        for w in job["windows"]:
            lam = rpm * w["minutes"]
            n_canary = int(rng.poisson(lam * w["percent"] / 100))
            n_baseline = int(rng.poisson(lam * (100 - w["percent"]) / 100))
            f_canary, f_baseline = check_factor(rng, nd["check"]), check_factor(rng, nd["check"])
            c_cost, c_p99, _ = draw_arm(rng, canary_law, n_canary, f_canary)
            b_cost, b_p99, _ = draw_arm(rng, baseline_law, n_baseline, f_baseline)
            requests += n_canary + n_baseline
            checks += 1
            sum_cost += b_cost
            sum_p99 += b_p99
            # A NaN statistic (no requests) abstains, as rehearse's judge does.
            if (not math.isnan(c_cost) and not math.isnan(b_cost) and ratio(c_cost, b_cost) > cost_max) or (
                not math.isnan(c_p99) and not math.isnan(b_p99) and ratio(c_p99, b_p99) > p99_max
            ):
                halted = True
                break
        if not halted:
            promoted += 1
    return {"requests": requests, "promoted": promoted, "checks": checks, "meanBaselineCost": sum_cost / checks, "meanBaselineP99": sum_p99 / checks}


def main():
    job = json.load(sys.stdin)
    # Warm-up, untimed: one short run at 1% of the traffic, so lazily loaded NumPy paths
    # (quantile, the Generator's methods) are in place before the clock starts.
    simulate({**job, "requestsPerMinute": max(1, job["requestsPerMinute"] / 100)}, 1, job["seed"] + 1_000_003)
    t0, c0 = time.perf_counter(), time.process_time()
    result = simulate(job, job["runs"], job["seed"])
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    print(
        json.dumps(
            {
                "ok": True,
                "python": sys.version.split()[0],
                "numpy": np.__version__,
                "runs": job["runs"],
                "seconds": seconds,
                "cpuSeconds": cpu_seconds,
                # All the CPU this process used, start-up included (time.process_time: every thread).
                "processCpuSeconds": time.process_time(),
                "importSeconds": T_IMPORTED - T_START,
                **result,
            }
        )
    )


if __name__ == "__main__":
    main()
