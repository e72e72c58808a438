#!/usr/bin/env python3
"""run_peers.py: what `make bench-peers` runs. flbench against PyTorch eager (torch_lr.py) on the
same LR training step, measured ALTERNATELY (flbench, torch, flbench, torch, ...) so that both
see the same load on a shared machine; prints each pair's ratio (torch / flbench) and their
median, and writes results/bench/peers.csv. Also the ratio of each side's fastest step (min),
which others' load on a shared machine disturbs less than the median.

  python3 bench/peers/run_peers.py [--workloads W1,W2] [--pairs 5] [--reps 5] [--threads 2]

Set-up: PyTorch lives in .venv-peers/ (git-ignored), made on the first run and reused after:
a current CPU build from PyPI (the CPU wheel index of PyTorch first, when it can be reached;
else plain PyPI `torch`, which also pulls CUDA libraries: about 5 GB and a few minutes).
Each measurement is one process: `flbench bench --methods lr --no-floor` and `torch_lr.py`,
both the median of --reps steps after --warmup untimed steps, both with --threads threads,
both with the same OMP_WAIT_POLICY: passive by default, flbench's own default, because spinning
OpenMP threads lose their core to other users of a shared machine (PyTorch W1 here: 166 ms
passive against 300-400 ms spinning at a load average of 3); --wait-policy default leaves
PyTorch at its own (spinning) default.
"""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(REPO, ".venv-peers")
VENV_PY = os.path.join(VENV, "bin", "python")
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PEER = os.path.join(REPO, "bench", "peers", "torch_lr.py")


def log(msg):
    print(msg, flush=True)


def ensure_venv():
    """Returns the torch version in .venv-peers, installing it there first if needed."""
    probe = [VENV_PY, "-c", "import torch; print(torch.__version__)"]
    if os.path.exists(VENV_PY):
        r = subprocess.run(probe, capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.strip()
    log(f"bench-peers: installing PyTorch into {VENV} (once; later runs reuse it)")
    if not os.path.exists(VENV_PY):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    pip = [VENV_PY, "-m", "pip", "install", "--quiet", "--progress-bar", "off"]
    subprocess.check_call(pip + ["--upgrade", "pip"])
    try:
        urllib.request.urlopen(TORCH_CPU_INDEX + "/torch/", timeout=10)
        reachable = True
    except Exception as e:  # no network route, DNS failure, timeout
        log(f"bench-peers: {TORCH_CPU_INDEX} not reachable ({type(e).__name__}); installing torch from PyPI (large)")
        reachable = False
    if reachable:
        subprocess.check_call(pip + ["--index-url", TORCH_CPU_INDEX, "torch"])
    else:
        subprocess.check_call(pip + ["torch"])
    subprocess.check_call(pip + ["numpy"])  # torch warns at import without it
    return subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()


def peer_env(policy):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    env.pop("OMP_WAIT_POLICY", None)
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    return env


def run_flbench(flbench, wl, reps, warmup, threads, tmp_csv, policy):
    if os.path.exists(tmp_csv):
        os.remove(tmp_csv)
    cmd = [flbench, "bench", "--workload", wl, "--methods", "lr", "--reps", str(reps), "--warmup", str(warmup),
           "--threads", str(threads), "--no-floor", "--out", tmp_csv]
    r = subprocess.run(cmd, capture_output=True, text=True, env=peer_env(policy))
    if r.returncode != 0 or not os.path.exists(tmp_csv):
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    with open(tmp_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise RuntimeError(f"{' '.join(cmd)}: no row written\n{r.stdout}")
    row = rows[-1]
    return {"ms": float(row["step_ms_median"]), "min": float(row["step_ms_min"]), "max": float(row["step_ms_max"]),
            "gflop": float(row["gemm_gflop"]), "rev": row["git_rev"], "device": row["device"], "blas": row["blas"]}


def run_torch(python, peer, wl, reps, warmup, threads, policy):
    cmd = [python, peer, "--workload", wl, "--reps", str(reps), "--warmup", str(warmup), "--threads", str(threads)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=peer_env(policy))
    line = next((l for l in r.stdout.splitlines() if l.startswith("peer=")), None)
    if r.returncode != 0 or line is None:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    kv = dict(tok.split("=", 1) for tok in line.split())
    return {"ms": float(kv["step_ms_median"]), "min": float(kv["step_ms_min"]), "max": float(kv["step_ms_max"]),
            "gflop": float(kv["gemm_gflop"]), "torch": kv["torch"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", default="W1,W2")
    ap.add_argument("--pairs", type=int, default=0, help="pairs per workload (default: W1 7, W2 3)")
    ap.add_argument("--reps", type=int, default=5, help="timed steps per measurement (at least 5)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--wait-policy", choices=["passive", "active", "default"], default="passive",
                    help="OMP_WAIT_POLICY of both sides (default passive; 'default': each program's own)")
    ap.add_argument("--flbench", default=os.environ.get("FLBENCH", os.path.join(REPO, "build", "flbench")))
    ap.add_argument("--out", default=os.path.join(REPO, "results", "bench", "peers.csv"))
    ap.add_argument("--peer-python", default=None,
                    help="interpreter of the peer (default: .venv-peers' python, installed on first use)")
    ap.add_argument("--peer", default=PEER, help="the peer script (default bench/peers/torch_lr.py)")
    a = ap.parse_args()
    wls = [w for w in a.workloads.split(",") if w]
    bad = [w for w in wls if w not in ("W1", "W2")]
    if bad or not wls:
        print(f"run_peers.py: --workloads: expected W1, W2 or W1,W2, found '{a.workloads}'", file=sys.stderr)
        return 2
    if a.reps < 5:
        print(f"run_peers.py: --reps: at least 5 timed steps, found {a.reps}", file=sys.stderr)
        return 2
    if not os.access(a.flbench, os.X_OK):
        print(f"run_peers.py: --flbench {a.flbench}: not an executable (make first)", file=sys.stderr)
        return 2
    if a.peer_python:
        torch_version = f"(the peer's own: {a.peer})"
    else:
        torch_version = ensure_venv()
        a.peer_python = VENV_PY
    # a private copy of flbench: the same binary for every pair, even if the tree is rebuilt
    fd, private = tempfile.mkstemp(prefix="flbench-peers.")
    os.close(fd)
    shutil.copy2(a.flbench, private)
    a.flbench = private
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    tmp_csv = a.out + ".tmp-flbench.csv"
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load = os.getloadavg()[0]
    log(f"bench-peers: flbench {a.flbench} vs torch {torch_version} eager; {cpu}, {a.threads} threads and OMP_WAIT_POLICY {a.wait_policy} each; "
        f"load average {load:.2f} at the start (a shared machine: others' work slows both sides)")
    fresh = not os.path.exists(a.out)
    out = open(a.out, "a", newline="")
    w = csv.writer(out)
    if fresh:
        w.writerow(["git_rev", "timestamp", "cpu", "threads", "blas", "torch", "workload", "budget", "pair", "reps",
                    "flbench_ms_median", "flbench_ms_min", "flbench_ms_max", "torch_ms_median", "torch_ms_min",
                    "torch_ms_max", "ratio_torch_over_flbench", "ratio_of_min_steps", "flbench_gemm_gflop", "torch_gemm_gflop",
                    "load_avg_1min", "omp_wait_policy"])
    summary = []
    try:
        for wl in wls:
            pairs = a.pairs if a.pairs > 0 else (7 if wl == "W1" else 3)
            log(f"\n{wl}: {pairs} pairs, each side the median of {a.reps} steps after {a.warmup} warm-up")
            log(f"{'pair':>4} {'flbench ms':>11} {'torch ms':>11} {'torch/flbench':>14}   "
                f"{'flbench min':>11} {'torch min':>11} {'ratio of mins':>13}")
            ratios, min_ratios = [], []
            for p in range(1, pairs + 1):
                fb = run_flbench(a.flbench, wl, a.reps, a.warmup, a.threads, tmp_csv, a.wait_policy)
                tc = run_torch(a.peer_python, a.peer, wl, a.reps, a.warmup, a.threads, a.wait_policy)
                ratio = tc["ms"] / fb["ms"]
                min_ratio = tc["min"] / fb["min"]
                ratios.append(ratio)
                min_ratios.append(min_ratio)
                log(f"{p:>4} {fb['ms']:>11.1f} {tc['ms']:>11.1f} {ratio:>14.2f}   "
                    f"{fb['min']:>11.1f} {tc['min']:>11.1f} {min_ratio:>13.2f}")
                budget = 32 if wl == "W1" else 16
                w.writerow([fb["rev"], stamp, cpu, a.threads, fb["blas"], tc["torch"], wl, budget, p, a.reps,
                            f"{fb['ms']:.3f}", f"{fb['min']:.3f}", f"{fb['max']:.3f}", f"{tc['ms']:.3f}",
                            f"{tc['min']:.3f}", f"{tc['max']:.3f}", f"{ratio:.4f}", f"{min_ratio:.4f}", f"{fb['gflop']:.3f}",
                            f"{tc['gflop']:.3f}", f"{os.getloadavg()[0]:.2f}", a.wait_policy])
                out.flush()
            med = statistics.median(ratios)
            med_min = statistics.median(min_ratios)
            log(f"{wl}: median ratio torch / flbench = {med:.2f} over {pairs} pairs "
                f"(range {min(ratios):.2f} .. {max(ratios):.2f}); of the fastest steps: {med_min:.2f}; "
                f"GEMM GFLOP per step: flbench {fb['gflop']:.1f}, torch {tc['gflop']:.1f}")
            summary.append((wl, med, med_min))
    finally:
        out.close()
        for f in (tmp_csv, private):
            if os.path.exists(f):
                os.remove(f)
    log("\nbench-peers: PyTorch time / flbench time, median of pairs (above 1: flbench faster): "
        + ", ".join(f"{wl} {m:.2f}" for wl, m, _ in summary)
        + "; of each side's fastest step (less sensitive to others' load): "
        + ", ".join(f"{wl} {m:.2f}" for wl, _, m in summary))
    log(f"bench-peers: rows appended to {os.path.relpath(a.out, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
