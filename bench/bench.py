#!/usr/bin/env python3
"""rinit's benchmark: rinit, tini-static and dumb-init (and supervisord where it
applies) as PID 1 of a fresh PID namespace, side by side in one run, with many
interleaved repetitions and medians. Prints one table per measure and rinit's
ratio to the best peer. Needs root (unshare), the release binary and the probe
(cargo build --release --bins --examples). See docs/performance.md."""

import argparse
import os
import random
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "x86_64-unknown-linux-gnu", "release")
RINIT = os.path.join(TARGET, "rinit")
PROBE = os.path.join(TARGET, "examples", "probe")
NS = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
SIZE_GOAL = 1 << 20
QUICK = False  # --quick: too few rounds to judge a goal on timing

PEERS = {
    "rinit": [RINIT, "--"],
    "tini-static": ["tini-static", "--"],
    "dumb-init": ["dumb-init", "--"],
}


def median_ms(samples):
    return statistics.median(samples) * 1e3


def ratio_line(label, values, lower_is_better=True, goal=None):
    peers = {k: v for k, v in values.items() if k != "rinit" and v is not None}
    best_name = min(peers, key=peers.get) if lower_is_better else max(peers, key=peers.get)
    best = peers[best_name]
    ratio = values["rinit"] / best if best else float("inf")
    verdict = ""
    if goal is not None and QUICK:
        verdict = "  goal <= %.2fx: not judged in a quick run" % goal
    elif goal is not None:
        verdict = "  goal <= %.2fx: %s" % (goal, "met" if ratio <= goal else "NOT MET")
    print("  rinit / best peer (%s): %.2fx%s" % (best_name, ratio, verdict))


def table(title, unit, values, fmt="%.3f"):
    print("\n%s (%s)" % (title, unit))
    for name, value in values.items():
        print("  %-12s %s" % (name, "n/a" if value is None else fmt % value))


def startup(reps):
    """Time of `unshare ... TOOL -- /bin/true` minus that of `unshare ... /bin/true`."""
    variants = {"bare": []}
    variants.update(PEERS)
    samples = {k: [] for k in variants}
    order = list(variants)
    for _ in range(reps):
        random.shuffle(order)
        for name in order:
            begin = time.perf_counter()
            subprocess.run(NS + variants[name] + ["/bin/true"], check=True)
            samples[name].append(time.perf_counter() - begin)
    bare = median_ms(samples["bare"])
    overhead = {k: median_ms(samples[k]) - bare for k in PEERS}
    table("start-up overhead over bare `unshare ... /bin/true` (%.3f ms), median of %d" % (bare, reps), "ms", overhead)
    ratio_line("start-up", overhead, goal=1.1)
    return overhead


def orphans(reps, count):
    """PID 1 reaps `count` orphans left at once by the probe; the probe times it."""
    samples = {k: [] for k in PEERS}
    order = list(PEERS)
    for round_ in range(reps + 1):
        random.shuffle(order)
        for name in order:
            out = subprocess.run(NS + PEERS[name] + [PROBE, "orphans", str(count)], capture_output=True, text=True, check=True).stdout
            line = next(l for l in out.splitlines() if l.startswith("reaped "))
            zombies = next(l for l in out.splitlines() if l.startswith("zombies="))
            if zombies != "zombies=0":
                sys.exit("%s left %s" % (name, zombies))
            if round_ > 0:  # the first round only warms caches up
                samples[name].append(int(line.split()[3]) / 1e6)
    values = {k: median_ms(v) for k, v in samples.items()}
    table("reaping a burst of %d orphans, median of %d" % (count, reps), "ms", values, "%.1f")
    ratio_line("orphans", values, goal=1.1)
    return values


class Pid1:
    """TOOL -- probe signals, as PID 1, with its stdout readable."""

    def __init__(self, prefix, args):
        self.proc = subprocess.Popen(NS + prefix + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.out = self.proc.stdout

    def readline(self, timeout=20):
        ready, _, _ = select.select([self.out], [], [], timeout)
        if not ready:
            raise RuntimeError("no output within %ss" % timeout)
        return self.out.readline().decode().strip()

    def pid1(self):
        with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
            return int(f.read().split()[0])

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def signal_latency(reps):
    """From kill(PID 1, SIGUSR1) to the probe's "got SIGUSR1" line. Everything
    (this script, each PID 1 and its probe) runs on CPU 0: otherwise the figure
    is dominated by whether the kernel happened to place a process on an idle
    CPU, whose wake-up costs ~100 us more in a VM, not by the forwarding path."""
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    tools = {k: Pid1(v, [PROBE, "signals"]) for k, v in PEERS.items()}
    for tool in tools.values():
        assert tool.readline() == "ready"
    samples = {k: [] for k in PEERS}
    order = list(PEERS)
    for _ in range(reps):
        random.shuffle(order)
        for name in order:
            tool = tools[name]
            pid = tool.pid1()
            begin = time.perf_counter()
            os.kill(pid, signal.SIGUSR1)
            line = tool.readline()
            samples[name].append(time.perf_counter() - begin)
            assert line == "got SIGUSR1", (name, line)
    for tool in tools.values():
        tool.stop()
    os.sched_setaffinity(0, own)
    values = {k: median_ms(v) * 1e3 for k, v in samples.items()}
    table("signal forwarding latency (all on one CPU), median of %d" % reps, "us", values, "%.1f")
    ratio_line("signal", values)
    return values


def status_fields(pid, keys):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keys:
                fields[key] = int(value.split()[0])
    return fields


def idle(seconds):
    """All tools at once, each PID 1 over `sleep`: memory, and context switches over `seconds`."""
    conf_dir = tempfile.mkdtemp(prefix="rinit-bench-")
    conf = os.path.join(conf_dir, "supervisord.conf")
    with open(conf, "w") as f:
        f.write("[supervisord]\nnodaemon=true\nlogfile=/dev/null\nlogfile_maxbytes=0\npidfile=%s/pid\n"
                "[program:sleep]\ncommand=sleep 100000\nstdout_logfile=/dev/null\nstderr_logfile=/dev/null\n" % conf_dir)
    commands = {k: NS + v + ["sleep", "100000"] for k, v in PEERS.items()}
    commands["supervisord"] = NS + ["supervisord", "-c", conf]
    procs = {k: subprocess.Popen(v, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for k, v in commands.items()}
    # Each PID 1 is ready once its `sleep` runs.
    pids = {}
    deadline = time.time() + 30
    while len(pids) < len(procs) and time.time() < deadline:
        for name, proc in procs.items():
            try:
                with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
                    first = f.read().split()
                if first:
                    pid = int(first[0])
                    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                        if f.read().split():
                            pids[name] = pid
            except (FileNotFoundError, IndexError):
                pass
        time.sleep(0.05)
    time.sleep(1)  # let start-up settle (supervisord's first ticks)
    keys = ("VmRSS", "RssAnon", "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
    before = {k: status_fields(p, keys) for k, p in pids.items()}
    time.sleep(seconds)
    after = {k: status_fields(p, keys) for k, p in pids.items()}
    for proc in procs.values():
        proc.kill()
        proc.wait()
    switches = {k: (after[k]["voluntary_ctxt_switches"] + after[k]["nonvoluntary_ctxt_switches"])
                - (before[k]["voluntary_ctxt_switches"] + before[k]["nonvoluntary_ctxt_switches"]) for k in pids}
    table("idle context switches of PID 1 over %d s" % seconds, "count", switches, "%d")
    rss = {k: after[k]["VmRSS"] for k in pids}
    anon = {k: after[k]["RssAnon"] for k in pids}
    table("idle VmRSS of PID 1", "kB", rss, "%d")
    ratio_line("rss", {k: v for k, v in rss.items() if k != "supervisord"})
    table("idle RssAnon of PID 1", "kB", anon, "%d")
    ratio_line("anon", {k: v for k, v in anon.items() if k != "supervisord"})
    print("  goals: rinit 0 switches: %s; VmRSS <= 1024 kB: %s; RssAnon <= 128 kB: %s" % (
        "met" if switches["rinit"] == 0 else "NOT MET",
        "met" if rss["rinit"] <= 1024 else "NOT MET",
        "met" if anon["rinit"] <= 128 else "NOT MET"))
    return switches, rss, anon


def sizes():
    values = {"rinit": os.path.getsize(RINIT)}
    for name, path in (("tini-static", "/usr/bin/tini-static"), ("dumb-init", "/usr/bin/dumb-init")):
        values[name] = os.path.getsize(path)
    def kind(path):
        out = subprocess.run(["file", "-b", path], capture_output=True, text=True).stdout
        return next((k for k in ("static-pie linked", "statically linked", "dynamically linked") if k in out), "?")
    kinds = {k: kind(p) for k, p in (("rinit", RINIT), ("tini-static", "/usr/bin/tini-static"), ("dumb-init", "/usr/bin/dumb-init"))}
    print("\nbinary size (bytes)")
    for name, value in values.items():
        print("  %-12s %8d  %s" % (name, value, kinds[name]))
    print("  rinit goal <= %d (1 MiB): %s" % (SIZE_GOAL, "met" if values["rinit"] <= SIZE_GOAL else "NOT MET (%.2f MiB)" % (values["rinit"] / SIZE_GOAL)))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few repetitions: checks the script works, figures are rough")
    args = parser.parse_args()
    global QUICK
    QUICK = args.quick
    if os.geteuid() != 0:
        sys.exit("bench.py needs root (unshare --pid)")
    for path in (RINIT, PROBE):
        if not os.path.exists(path):
            sys.exit("%s missing: run `cargo build --release --bins --examples`" % path)
    reps = 30 if args.quick else 300
    print("rinit benchmark%s: %s, %d CPUs, kernel %s" % (" (quick)" if args.quick else "", time.strftime("%Y-%m-%d"), os.cpu_count(), os.uname().release))
    sizes()
    startup(reps)
    orphans(5 if args.quick else 25, 10000)
    signal_latency(reps)
    idle(2 if args.quick else 10)


if __name__ == "__main__":
    main()
