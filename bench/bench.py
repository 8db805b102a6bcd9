#!/usr/bin/env python3
"""rinit's benchmark: rinit, tini-static and dumb-init (and supervisord where it
applies) as PID 1 of a fresh PID namespace, side by side in one run, with many
interleaved repetitions and medians. Prints one table per measure and rinit's
ratio to the best peer. Then supervisor mode: rinit with a configuration file
against supervisord (and s6-svscan when installed) for restart latency, start,
idle cost, 1,000 programs and prefixed output, with rinit's ratio to each,
and rinit's HTTP status page against supervisord's XML-RPC (also alone: --part http;
the output table alone: --part output),
and schedules against cron and busybox crond (bench/schedules.py, --part schedules).
Needs root (unshare), the release binary and the probe
(cargo build --release --bins --examples). See docs/performance.md."""

import argparse
import ctypes
import json
import os
import random
import select
import shlex
import shutil
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
SIZE_BUDGET = 2097152  # .ci/run: 2 MiB since schedules (with production operation and reload to come)
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
    shutil.rmtree(conf_dir)
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
    print("  rinit budget <= %d (%.1f MiB, checked by .ci/run): %s" % (
        SIZE_BUDGET, SIZE_BUDGET / 1048576, "within" if values["rinit"] <= SIZE_BUDGET else "OVER"))


# ---------------------------------------------------------------------------
# Supervisor mode: rinit with a configuration file against supervisord (and
# s6-svscan when installed), each as PID 1 of its own PID namespace.

SLEEP = ["sleep", "1000"]
SUPERVISORS = ["rinit", "supervisord"] + (["s6"] if shutil.which("s6-svscan") else [])
LIVE = []  # Supervisor objects not yet closed: main's `finally` closes them
UPTIME = 1.2  # s a program runs before it is killed: s6-supervise restarts at once only after 1 s of readiness


class Prog:
    """A program to supervise: NAME, argv, how many copies, whether to restart it."""

    def __init__(self, name, argv, instances=1, restart=True):
        self.name, self.argv, self.instances, self.restart = name, argv, instances, restart


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().rstrip("\n")
    except (FileNotFoundError, ProcessLookupError):
        return None


def rinit_argv(workdir, programs, output, http=None):
    """Every program restarts at once (restart_delay 0) and without start limit, like the peers'
    configurations. `http`: a port for rinit's HTTP server on 127.0.0.1."""
    lines = ["[rinit]", 'control_socket = ""']
    if output == "timestamps":
        lines += ['output = "prefix"', "timestamps = true"]
    else:
        lines.append('output = "%s"' % output)
    if http:
        lines.append('http = "127.0.0.1:%d"' % http)
    for p in programs:
        lines += ["", "[program.%s]" % p.name, "command = %s" % json.dumps(p.argv),
                  'restart = "%s"' % ("always" if p.restart else "no"), 'restart_delay = "0"', "start_limit_burst = 0"]
        if p.instances > 1:
            lines.append("instances = %d" % p.instances)
    path = os.path.join(workdir, "rinit.toml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return [RINIT, "-c", path]


def supervisord_argv(workdir, programs, output, http=None):
    """autorestart=true, startsecs=0; output to /dev/null, or with output="stdout" to supervisord's
    stdout. `http`: a port for its XML-RPC interface on 127.0.0.1 ([inet_http_server], no password)."""
    logfile = "/dev/stdout" if output == "stdout" else "/dev/null"
    total = sum(p.instances for p in programs)
    lines = ["[supervisord]", "nodaemon=true", "logfile=/dev/null", "logfile_maxbytes=0",
             "pidfile=%s/supervisord.pid" % workdir, "childlogdir=%s" % workdir, "minfds=%d" % (1024 + 4 * total)]
    if http:
        lines += ["", "[inet_http_server]", "port=127.0.0.1:%d" % http, "", "[rpcinterface:supervisor]",
                  "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface"]
    for p in programs:
        lines += ["", "[program:%s]" % p.name, "command=%s" % shlex.join(p.argv),
                  "autorestart=%s" % ("true" if p.restart else "false"), "startsecs=0",
                  "stdout_logfile=%s" % logfile, "stdout_logfile_maxbytes=0",
                  "stderr_logfile=%s" % logfile, "stderr_logfile_maxbytes=0"]
        if p.instances > 1:
            lines += ["numprocs=%d" % p.instances, "process_name=%(program_name)s_%(process_num)d"]
    path = os.path.join(workdir, "supervisord.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return ["supervisord", "-c", path]


def s6_argv(workdir, programs, output, http=None):
    """One service directory per program (per copy); the run script reports readiness on fd 3,
    without which s6-supervise always waits 1 s before a restart."""
    scan = os.path.join(workdir, "s6")
    os.mkdir(scan)
    total = 0
    for p in programs:
        for i in range(p.instances):
            service = os.path.join(scan, p.name if p.instances == 1 else "%s-%d" % (p.name, i))
            os.mkdir(service)
            with open(os.path.join(service, "run"), "w") as f:
                f.write("#!/bin/sh\necho >&3\nexec %s\n" % shlex.join(p.argv))
            os.chmod(os.path.join(service, "run"), 0o755)
            with open(os.path.join(service, "notification-fd"), "w") as f:
                f.write("3\n")
            total += 1
    return ["s6-svscan", "-c", str(max(500, 2 * total)), scan]


ARGV = {"rinit": rinit_argv, "supervisord": supervisord_argv, "s6": s6_argv}


class Supervisor:
    """One supervisor as PID 1 of a fresh PID namespace, its configuration in a fresh folder of `workdir`."""

    def __init__(self, kind, workdir, programs, output="inherit", stdout=subprocess.DEVNULL, http=None):
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix=kind + "-", dir=workdir)
        argv = ARGV[kind](self.dir, programs, output, http)
        self.pid1 = None
        self.known = set()  # pids seen running the program (exec done)
        self.proc = subprocess.Popen(NS + argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.DEVNULL)
        LIVE.append(self)

    def wait_exec(self, timeout=10):
        """Spins until PID 1 runs the supervisor (comm no longer unshare's); returns that moment."""
        deadline = time.perf_counter() + timeout
        while True:
            if self.pid1 is None:
                kids = children(self.proc.pid)
                if kids:
                    self.pid1 = kids[0]
            if self.pid1 is not None and comm(self.pid1) not in (None, "unshare"):
                return time.perf_counter()
            if self.proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError("%s did not start (exit status %s)" % (self.kind, self.proc.poll()))

    def parents(self):
        """The processes whose children are the programs."""
        return children(self.pid1) if self.kind == "s6" else [self.pid1]

    def tree(self):
        """The supervisor's own processes: PID 1, and for s6 its s6-supervise processes."""
        return [self.pid1] + (children(self.pid1) if self.kind == "s6" else [])

    def running(self, name="sleep"):
        """Pids of the programs that have exec'd `name`."""
        pids = []
        for parent in self.parents():
            for pid in children(parent):
                if pid in self.known or comm(pid) == name:
                    self.known.add(pid)
                    pids.append(pid)
        return pids

    def wait_running(self, count, timeout, pause=0.0):
        """Polls (every `pause` s; 0: spins) until `count` programs run; returns that moment, or None."""
        deadline = time.perf_counter() + timeout
        while True:
            if len(self.running()) >= count:
                return time.perf_counter()
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited (status %s) with %d of %d programs running" % (self.kind, self.proc.poll(), len(self.running()), count))
            if time.perf_counter() > deadline:
                return None
            if pause:
                time.sleep(pause)

    def stop(self, timeout):
        """SIGTERM to PID 1; the time until it has exited (its namespace empty), or None past `timeout`."""
        begin = time.perf_counter()
        os.kill(self.pid1, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return time.perf_counter() - begin

    def close(self):
        """SIGKILL to PID 1 takes the whole namespace down; unshare returns once it is empty."""
        if self.proc.poll() is None:
            try:
                if self.pid1 is not None:
                    os.kill(self.pid1, signal.SIGKILL)
                else:
                    self.proc.kill()  # --kill-child: PID 1, if forked already, gets SIGKILL too
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self in LIVE:
            LIVE.remove(self)
        shutil.rmtree(self.dir, ignore_errors=True)


def cleanup(workdir):
    """Closes every supervisor still up, then kills and reaps any orphaned PID 1 left to this
    process (a child subreaper), and removes the temp folder."""
    for sup in list(LIVE):
        sup.close()
    for _ in range(5):  # a killed unshare's PID 1 comes here next
        left = children(os.getpid())
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)


class Capped(float):
    """A time that passed the cap: shown as "> CAP"."""


def fmt_value(value, fmt):
    if value is None:
        return "n/a"
    if isinstance(value, Capped):
        return "> " + fmt % value
    return fmt % value


def sup_table(title, unit, values, fmt="%.2f", note=None):
    print("\n%s (%s)" % (title, unit))
    for name, value in values.items():
        print("  %-12s %s%s" % (name, fmt_value(value, fmt), ("  " + note[name]) if note and name in note else ""))


def sup_ratios(values, base="rinit"):
    """rinit's figure divided by each peer's; a capped peer gives an upper bound."""
    parts = []
    for name, value in values.items():
        if name == base or value is None or values[base] is None or isinstance(values[base], Capped):
            continue
        ratio = values[base] / value if value else float("inf")
        parts.append("rinit / %s: %s%.3gx" % (name, "< " if isinstance(value, Capped) else "", ratio))
    if parts:
        print("  " + "; ".join(parts))


def verdict(ok):
    """For a timing goal: a quick run has too few rounds to judge it."""
    if QUICK:
        return "not judged in a quick run"
    return "met" if ok else "NOT MET"


def sup_restart(workdir, rounds):
    """From kill -9 of the supervised program to its successor having exec'd `sleep`,
    spinning on the supervisor's children list. Each program has run UPTIME s before it is killed."""
    sups = {k: Supervisor(k, workdir, [Prog("a", SLEEP)]) for k in SUPERVISORS}
    for sup in sups.values():
        sup.wait_exec()
        if sup.wait_running(1, timeout=30, pause=0.01) is None:
            raise RuntimeError("%s: the program did not start" % sup.kind)
    since = {k: time.perf_counter() for k in sups}
    samples = {k: [] for k in sups}
    failed = {}
    order = list(sups)
    for _ in range(rounds):
        random.shuffle(order)
        for name in order:
            if name in failed:
                continue
            sup = sups[name]
            time.sleep(max(0.0, since[name] + UPTIME - time.perf_counter()))
            old = sup.running()
            sup.known.clear()
            begin = time.perf_counter()
            os.kill(old[0], signal.SIGKILL)
            while True:
                new = [p for p in sup.running() if p not in old]
                now = time.perf_counter()
                if new:
                    break
                if now - begin > 10:
                    failed[name] = "no new program within 10 s of kill -9 (round %d)" % (len(samples[name]) + 1)
                    break
            samples[name].append(now - begin)
            since[name] = now
    for sup in sups.values():
        sup.close()
    values = {k: None if k in failed else median_ms(v) for k, v in samples.items()}
    sup_table("restart after kill -9 (to the new `sleep` exec'd), median of %d" % rounds, "ms", values, "%.2f", failed)
    sup_ratios(values)
    if values["rinit"] is not None:
        print("  goal rinit <= 5 ms: %s" % verdict(values["rinit"] <= 5))
    return values


def sup_startup(workdir, rounds):
    """From PID 1's exec of the supervisor to both of 2 programs having exec'd `sleep`."""
    samples = {k: [] for k in SUPERVISORS}
    order = list(SUPERVISORS)
    for _ in range(rounds):
        random.shuffle(order)
        for name in order:
            sup = Supervisor(name, workdir, [Prog("a", SLEEP), Prog("b", SLEEP)])
            begin = sup.wait_exec()
            end = sup.wait_running(2, timeout=30)
            sup.close()
            if end is None:
                raise RuntimeError("%s: 2 programs not running within 30 s" % name)
            samples[name].append(end - begin)
    values = {k: median_ms(v) for k, v in samples.items()}
    sup_table("start: exec of the supervisor to 2 programs running, median of %d" % rounds, "ms", values, "%.2f")
    sup_ratios(values)
    print("  goal rinit <= 10 ms: %s" % verdict(values["rinit"] <= 10))
    return values


def tree_status(pids, keys):
    """Sum of /proc/PID/status fields, and of Pss (smaps_rollup), over the supervisor's processes."""
    total = dict.fromkeys(keys + ("Pss",), 0)
    for pid in pids:
        for key, value in status_fields(pid, keys).items():
            total[key] += value
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    total["Pss"] += int(line.split()[1])
    return total


def sup_idle(workdir, counts, seconds):
    """All supervisors at once over `count` programs: context switches of the supervisor's
    processes over `seconds` once start-up has settled, and their memory."""
    keys = ("VmRSS", "RssAnon", "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
    results = {}
    for count in counts:
        progs = [Prog("p%d" % i, SLEEP) for i in range(count)]
        sups = {k: Supervisor(k, workdir, progs) for k in SUPERVISORS}
        for sup in sups.values():
            sup.wait_exec()
        for sup in sups.values():
            if sup.wait_running(count, timeout=60, pause=0.05) is None:
                raise RuntimeError("%s: %d programs not running within 60 s" % (sup.kind, count))
        time.sleep(2)  # let start-up settle
        trees = {k: s.tree() for k, s in sups.items()}
        before = {k: tree_status(t, keys) for k, t in trees.items()}
        time.sleep(seconds)
        after = {k: tree_status(t, keys) for k, t in trees.items()}
        for sup in sups.values():
            sup.close()
        switches = {k: (after[k]["voluntary_ctxt_switches"] + after[k]["nonvoluntary_ctxt_switches"])
                    - (before[k]["voluntary_ctxt_switches"] + before[k]["nonvoluntary_ctxt_switches"]) for k in sups}
        note = {"s6": "(s6-svscan + %d s6-supervise)" % count} if "s6" in sups else None
        sup_table("idle context switches of the supervisor over %d s, %d programs" % (seconds, count), "count", switches, "%d", note)
        for key, title in (("VmRSS", "VmRSS"), ("RssAnon", "RssAnon"), ("Pss", "Pss")):
            values = {k: after[k][key] for k in sups}
            sup_table("idle %s of the supervisor, %d programs" % (title, count), "kB", values, "%d", note)
            sup_ratios(values)
        results[count] = switches, after
    top = max(counts)
    print("  goal rinit 0 wake-ups with %d programs: %s%s" % (
        top, "met" if results[top][0]["rinit"] == 0 else "NOT MET", " (over %d s, not 10)" % seconds if seconds != 10 else ""))
    return results


def sup_many(workdir, counts, cap):
    """counts[KIND] copies of `sleep` (rinit: instances; supervisord: numprocs; s6: one service
    each): from exec of the supervisor until all run, and from SIGTERM to it until it has exited.
    Either wait gives up at `cap` s."""
    start, stop, codes = {}, {}, {}
    order = list(SUPERVISORS)
    random.shuffle(order)
    for name in order:
        sup = Supervisor(name, workdir, [Prog("s", SLEEP, instances=counts[name])])
        begin = sup.wait_exec(timeout=cap)
        end = sup.wait_running(counts[name], timeout=cap, pause=0.002)
        if end is None:
            start[name] = Capped(cap)
            stop[name] = None
        else:
            start[name] = end - begin
            took = sup.stop(cap)
            stop[name] = Capped(cap) if took is None else took
            codes[name] = sup.proc.returncode
        sup.close()
    start = {k: start[k] for k in SUPERVISORS}
    stop = {k: stop[k] for k in SUPERVISORS}
    same = {k: v for k, v in counts.items() if v == counts["rinit"]}
    note = {k: "(%d copies)" % n for k, n in counts.items() if n != counts["rinit"]}
    sup_table("start of %d copies of `sleep`: exec of the supervisor to all running" % counts["rinit"], "s", start, "%.3f", note)
    sup_ratios({k: start[k] for k in same})
    for k, code in codes.items():
        if code:
            note[k] = note.get(k, "") + " (exit status %d)" % code
    sup_table("stop of them: SIGTERM to the supervisor until it has exited", "s", stop, "%.3f", note)
    sup_ratios({k: stop[k] for k in same})
    print("  goal rinit start < 2 s: %s; stop < 2 s: %s" % (
        verdict(not isinstance(start["rinit"], Capped) and start["rinit"] < 2),
        verdict(stop["rinit"] is not None and not isinstance(stop["rinit"], Capped) and stop["rinit"] < 2)))
    return start, stop


PRODUCER = r'''
import os, sys, time
size, timefile = int(sys.argv[1]), sys.argv[2]
lines = b"".join(b"%07d %s\n" % (i, b"x" * 71) for i in range(1024))  # 1024 lines of 80 bytes
view = memoryview(lines)
chunks = [view[i:i + 8192] for i in range(0, len(lines), 8192)]  # stdio-like 8 KiB writes
begin = time.perf_counter()
done = 0
while done < size:
    for chunk in chunks:
        while chunk:
            chunk = chunk[os.write(1, chunk):]
    done += len(lines)
took = time.perf_counter() - begin
with open(timefile + ".tmp", "w") as f:
    f.write("%d %.9f\n" % (done, took))
os.rename(timefile + ".tmp", timefile)
'''


def check_prefix(workdir, producer):
    """rinit's output = "prefix" must pass every line through whole: ~1 MB, compared byte for byte."""
    out_path = os.path.join(workdir, "prefix.out")
    timefile = os.path.join(workdir, "check.time")
    with open(out_path, "wb") as out:
        sup = Supervisor("rinit", workdir, [Prog("out", [sys.executable, producer, str(1 << 20), timefile], restart=False)], output="prefix", stdout=out)
        try:
            sup.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise RuntimeError("rinit, output = \"prefix\", one program writing 1 MB: not exited within 60 s")
        finally:
            sup.close()
    with open(out_path, "rb") as f:
        got = f.read()
    os.unlink(out_path)
    with open(timefile) as f:
        written = int(f.read().split()[0])
    block = b"".join(b"out | %07d %s\n" % (i, b"x" * 71) for i in range(1024))
    expected = block * (written // 81920)
    if got != expected:
        at = next((i for i in range(min(len(got), len(expected))) if got[i] != expected[i]), min(len(got), len(expected)))
        raise RuntimeError("rinit, output = \"prefix\": %d bytes out, %d expected, first difference at byte %d" % (len(got), len(expected), at))


# The rows of the output table: what runs the producer, and how its output is written.
OUTPUT_MODES = [
    ("rinit prefix", "rinit", "prefix", 0.9),
    ("rinit prefix+timestamps", "rinit", "timestamps", 0.8),
    ("rinit json", "rinit", "json", 0.7),
    ("supervisord", "supervisord", "stdout", None),
    ("cat", None, None, None),
]


def sup_output(workdir, size, rounds):
    """A program writing `size` bytes of 80-byte lines in 8 KiB writes, timed by itself from its
    first write to its last: through rinit with output = "prefix", "prefix" with timestamps and
    "json" (rinit's stdout: /dev/null), through supervisord (stdout_logfile=/dev/stdout,
    supervisord's stdout: /dev/null; it passes the bytes on as they are), and piped through
    `cat > /dev/null`. The modes take turns in a shuffled order each round."""
    producer = os.path.join(workdir, "producer.py")
    with open(producer, "w") as f:
        f.write(PRODUCER)
    check_prefix(workdir, producer)
    labels = [m[0] for m in OUTPUT_MODES]
    samples = {k: [] for k in labels}
    for round_ in range(rounds):
        order = list(OUTPUT_MODES)
        random.shuffle(order)
        for label, kind, output, _ in order:
            timefile = os.path.join(workdir, "%s-%d.time" % (label.replace(" ", "_"), round_))
            argv = [sys.executable, producer, str(size), timefile]
            if kind is None:
                proc = subprocess.Popen(NS + ["sh", "-c", "%s | cat > /dev/null" % shlex.join(argv)])
                proc.wait(timeout=300)
            else:
                sup = Supervisor(kind, workdir, [Prog("out", argv, restart=False)], output=output)
                try:
                    deadline = time.perf_counter() + 300
                    while not os.path.exists(timefile):
                        if time.perf_counter() > deadline:
                            raise RuntimeError("%s: the program did not write %d bytes within 300 s" % (label, size))
                        time.sleep(0.01)
                    if kind == "rinit":
                        try:
                            sup.proc.wait(timeout=30)  # rinit exits once its only program has ended
                        except subprocess.TimeoutExpired:
                            raise RuntimeError("rinit did not exit within 30 s of its only program's end")
                finally:
                    sup.close()
            with open(timefile) as f:
                written, took = f.read().split()
            samples[label].append(int(written) / float(took) / 1e6)
    values = {k: statistics.median(samples[k]) for k in labels}
    print("\n-- output of a program writing %d MB of 80-byte lines in 8 KiB writes, median of %d rounds"
          " (MB/s, timed by the program; rinit's and supervisord's stdout: /dev/null)" % (size // 1000000, rounds))
    print("  %-26s %9s %8s %14s  %s" % ("", "MB/s", "/ cat", "/ supervisord", "goal"))
    for label, kind, _, goal in OUTPUT_MODES:
        v = values[label]
        goals = []
        if goal is not None:
            goals.append(">= %.1fx cat: %s" % (goal, verdict(v >= goal * values["cat"])))
            goals.append(">= supervisord: %s" % verdict(v >= values["supervisord"]))
        print("  %-26s %9.0f %7.2fx %13.2fx  %s" % (label, v, v / values["cat"], v / values["supervisord"], "; ".join(goals)))
    return values


def sup_control(workdir, rounds, idle_seconds):
    """`rinit status` against `supervisorctl status`, each on its supervisor's unix socket with
    2 programs: the whole command (process start included), and for rinit the request alone
    (one connect, request and answer from Python). Then rinit's wake-ups while its socket is open."""
    rdir = tempfile.mkdtemp(prefix="rinit-ctl-", dir=workdir)
    rsock = os.path.join(rdir, "rinit.sock")
    rconf = os.path.join(rdir, "rinit.toml")
    with open(rconf, "w") as f:
        f.write('[rinit]\ncontrol_socket = "%s"\n[program.a]\ncommand = %s\n[program.b]\ncommand = %s\n'
                % (rsock, json.dumps(SLEEP), json.dumps(SLEEP)))
    sdir = tempfile.mkdtemp(prefix="supervisord-ctl-", dir=workdir)
    ssock = os.path.join(sdir, "supervisor.sock")
    sconf = os.path.join(sdir, "supervisord.conf")
    with open(sconf, "w") as f:
        f.write("[supervisord]\nnodaemon=true\nlogfile=/dev/null\nlogfile_maxbytes=0\npidfile=%s/pid\n"
                "[unix_http_server]\nfile=%s\n[rpcinterface:supervisor]\n"
                "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
                "[supervisorctl]\nserverurl=unix://%s\n" % (sdir, ssock, ssock))
        for name in ("a", "b"):
            f.write("[program:%s]\ncommand=%s\nstartsecs=0\n" % (name, shlex.join(SLEEP)))
    procs = [subprocess.Popen(NS + argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for argv in ([RINIT, "-c", rconf], ["supervisord", "-c", sconf])]
    try:
        commands = {"rinit": [RINIT, "status", "-q", "-c", rconf], "supervisord": ["supervisorctl", "-c", sconf, "status"]}
        for name, argv in commands.items():
            deadline = time.perf_counter() + 30
            while subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
                if time.perf_counter() > deadline:
                    raise RuntimeError("%s: status never succeeded" % name)
                time.sleep(0.05)
        samples = {k: [] for k in commands}
        raw = []
        order = list(commands)
        for _ in range(rounds):
            random.shuffle(order)
            for name in order:
                begin = time.perf_counter()
                subprocess.run(commands[name], stdout=subprocess.DEVNULL, check=True)
                samples[name].append(time.perf_counter() - begin)
            import socket
            begin = time.perf_counter()
            with socket.socket(socket.AF_UNIX) as conn:
                conn.connect(rsock)
                conn.sendall(b"rinit/1 status\n")
                while conn.recv(65536):
                    pass
            raw.append(time.perf_counter() - begin)
        values = {k: median_ms(v) for k, v in samples.items()}
        sup_table("status round trip: the whole `rinit status` / `supervisorctl status` command, 2 programs, median of %d"
                  % rounds, "ms", values, "%.2f")
        print("  rinit / supervisord: %.3fx" % (values["rinit"] / values["supervisord"]))
        print("  the request alone (connect, rinit/1 status, answer): %.3f ms" % median_ms(raw))
        print("  goal rinit status <= 2 ms: %s" % verdict(values["rinit"] <= 2))
        restart = {"rinit": [RINIT, "restart", "-c", rconf, "a"], "supervisord": ["supervisorctl", "-c", sconf, "restart", "a"]}
        samples = {k: [] for k in restart}
        for _ in range(max(3, rounds // 5)):
            random.shuffle(order)
            for name in order:
                begin = time.perf_counter()
                subprocess.run(restart[name], stdout=subprocess.DEVNULL, check=True)
                samples[name].append(time.perf_counter() - begin)
        values = {k: median_ms(v) for k, v in samples.items()}
        sup_table("restart of one program until it runs again (`rinit restart a` / `supervisorctl restart a`), median of %d"
                  % len(samples["rinit"]), "ms", values, "%.2f")
        print("  rinit / supervisord: %.3fx" % (values["rinit"] / values["supervisord"]))
        pid1 = children(procs[0].pid)[0]
        before = status_fields(pid1, ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
        time.sleep(idle_seconds)
        after = status_fields(pid1, ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
        switches = sum(after.values()) - sum(before.values())
        print("  rinit's context switches over %d s with its control socket open and nobody connected: %d (goal 0: %s)"
              % (idle_seconds, switches, "met" if switches == 0 else "NOT MET"))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def sup_reload(workdir, rounds, count=100):
    """`rinit reload` against `supervisorctl update` with `count` programs: the whole command
    for an unchanged configuration, and the processes it touched (children of the supervisor
    whose pid changed or that went); then one program's command changed: which restarted."""
    def rinit_conf(path, sock, changed):
        with open(path, "w") as f:
            f.write('[rinit]\ncontrol_socket = "%s"\n' % sock)
            for i in range(count):
                argv = ["sleep", "1001" if changed and i == count // 2 else "1000"]
                f.write("[program.p%d]\ncommand = %s\n" % (i, json.dumps(argv)))

    def supervisord_conf(path, sdir, ssock, changed):
        with open(path, "w") as f:
            f.write("[supervisord]\nnodaemon=true\nlogfile=/dev/null\nlogfile_maxbytes=0\npidfile=%s/pid\n"
                    "[unix_http_server]\nfile=%s\n[rpcinterface:supervisor]\n"
                    "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
                    "[supervisorctl]\nserverurl=unix://%s\n" % (sdir, ssock, ssock))
            for i in range(count):
                f.write("[program:p%d]\ncommand=sleep %s\nstartsecs=0\n" % (i, "1001" if changed and i == count // 2 else "1000"))

    rdir = tempfile.mkdtemp(prefix="rinit-reload-", dir=workdir)
    rsock, rconf = os.path.join(rdir, "rinit.sock"), os.path.join(rdir, "rinit.toml")
    sdir = tempfile.mkdtemp(prefix="supervisord-reload-", dir=workdir)
    ssock, sconf = os.path.join(sdir, "supervisor.sock"), os.path.join(sdir, "supervisord.conf")
    rinit_conf(rconf, rsock, False)
    supervisord_conf(sconf, sdir, ssock, False)
    procs = {"rinit": subprocess.Popen(NS + [RINIT, "-c", rconf], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             "supervisord": subprocess.Popen(NS + ["supervisord", "-c", sconf], stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)}
    update = {"rinit": [RINIT, "reload", "-c", rconf], "supervisord": ["supervisorctl", "-c", sconf, "update"]}
    try:
        supervisors = {}
        for name, proc in procs.items():
            deadline = time.perf_counter() + 60
            while True:
                below = children(proc.pid)
                kids = children(below[0]) if below else []
                if len(kids) == count:
                    supervisors[name] = below[0]
                    break
                if time.perf_counter() > deadline:
                    raise RuntimeError("%s: %d programs not running within 60 s" % (name, count))
                time.sleep(0.05)
        order = list(update)
        samples = {k: [] for k in update}
        touched = dict.fromkeys(update, 0)
        for _ in range(rounds):
            random.shuffle(order)
            for name in order:
                before = set(children(supervisors[name]))
                begin = time.perf_counter()
                subprocess.run(update[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                samples[name].append(time.perf_counter() - begin)
                touched[name] += len(before - set(children(supervisors[name])))
        values = {k: median_ms(v) for k, v in samples.items()}
        sup_table("reload of an unchanged configuration of %d programs (`rinit reload` / `supervisorctl update`), "
                  "the whole command, median of %d" % (count, rounds), "ms", values, "%.2f")
        print("  rinit / supervisord: %.3fx" % (values["rinit"] / values["supervisord"]))
        print("  processes touched over %d reloads: rinit %d, supervisord %d" % (rounds, touched["rinit"], touched["supervisord"]))
        print("  goal rinit <= 20 ms and 0 processes touched: %s" % verdict(values["rinit"] <= 20 and touched["rinit"] == 0))
        rinit_conf(rconf, rsock, True)
        supervisord_conf(sconf, sdir, ssock, True)
        changed = {}
        for name in order:
            before = set(children(supervisors[name]))
            begin = time.perf_counter()
            subprocess.run(update[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            took = time.perf_counter() - begin
            deadline = time.perf_counter() + 10
            while len(children(supervisors[name])) < count and time.perf_counter() < deadline:
                time.sleep(0.01)
            after = set(children(supervisors[name]))
            changed[name] = (len(before - after), len(after - before), took * 1000)
        for name, (gone, new, took) in changed.items():
            print("  one command changed among %d, %s: %d process(es) stopped, %d started, the command took %.1f ms"
                  % (count, name, gone, new, took))
        print("  goal only the changed program restarts (rinit): %s" % verdict(changed["rinit"][:2] == (1, 1)))
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


def sup_health(workdir, seconds):
    """rinit with 100 programs, each with `health = { http = ..., interval = "1s" }` against one
    local HTTP server: rinit's CPU time and wake-ups per check."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir)
    rdir = tempfile.mkdtemp(prefix="rinit-health-", dir=workdir)
    rconf = os.path.join(rdir, "rinit.toml")
    with open(rconf, "w") as f:
        f.write('[rinit]\ncontrol_socket = ""\n')
        for i in range(100):
            f.write('[program.p%d]\ncommand = %s\nhealth = { http = "127.0.0.1:%d/", interval = "1s", timeout = "1s" }\n'
                    % (i, json.dumps(SLEEP), port))
    proc = subprocess.Popen(NS + [RINIT, "-c", rconf], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        pid1 = children(proc.pid)[0]
        keys = ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
        def cpu():
            with open("/proc/%d/stat" % pid1) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        before, cpu_before = status_fields(pid1, keys), cpu()
        time.sleep(seconds)
        after, cpu_after = status_fields(pid1, keys), cpu()
        checks = 100 * seconds
        switches = sum(after.values()) - sum(before.values())
        print("\n-- 100 programs, an http health check each every second, over %d s (about %d checks)" % (seconds, checks))
        print("  rinit's CPU: %.3f s (%.1f us a check); wake-ups: %d (%.2f a check)"
              % (cpu_after - cpu_before, 1e6 * (cpu_after - cpu_before) / checks, switches, switches / checks))
    finally:
        proc.kill()
        proc.wait()
        server.kill()
        server.wait()


# ---------------------------------------------------------------------------
# The HTTP status page: rinit's `http` server against supervisord's XML-RPC.

def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_ms(pid):
    """utime + stime of `pid` from /proc/PID/stat, in ms (clock-tick resolution: 10 ms at 100 Hz)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1e3 / os.sysconf("SC_CLK_TCK")


class HTTPClient:
    """One HTTP/1.1 keep-alive connection on a raw socket, the least a client can do: sends a
    request's bytes, reads the head and exactly Content-Length bytes of body (or to the close when
    there is none), opens a new connection only when the server closed the last. Counts its connects.
    Bytes past Content-Length when no other answer is due, or an answer that does not come within
    5 s, are errors: they tell a wrong Content-Length."""

    def __init__(self, port):
        self.port, self.sock, self.buf, self.connects, self.reopened = port, None, bytearray(), 0, 0

    def request(self, data, answers=1):
        import socket
        for retry in (True, False):
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.buf.clear()
                self.connects += 1
                retry = False
            try:
                self.sock.sendall(data)
                if retry and not self.fill():  # a kept connection the server closed meanwhile: a new one, as clients do
                    self.close()
                    self.reopened += 1
                    continue
            except ConnectionError:
                if not retry:
                    raise
                self.close()
                self.reopened += 1
                continue
            break
        got = [self.answer(data.startswith(b"HEAD ")) for _ in range(answers)]
        if self.buf:
            raise RuntimeError("port %d: %d bytes past the answer's Content-Length: %r" % (self.port, len(self.buf), bytes(self.buf[:80])))
        return got[0] if answers == 1 else got

    def fill(self):
        chunk = self.sock.recv(1 << 18)
        self.buf += chunk
        return len(chunk)

    def answer(self, head_only=False):
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            if not self.fill():
                raise RuntimeError("port %d closed the connection before an answer's head" % self.port)
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[:end + 4]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        if "content-length" in headers:
            length = 0 if head_only else int(headers["content-length"])
            while len(self.buf) < length:
                if not self.fill():
                    raise RuntimeError("port %d closed the connection %d bytes short of Content-Length %d"
                                       % (self.port, length - len(self.buf), length))
            close = headers.get("connection", "").lower() == "close" or (
                head[0].startswith("HTTP/1.0") and headers.get("connection", "").lower() != "keep-alive")
        else:
            while self.fill():
                pass
            length, close = len(self.buf), True
        body = bytes(self.buf[:length])
        del self.buf[:length]
        if close:
            self.close()
        return head[0], headers, body

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def xmlrpc_proxy(port):
    """supervisord's own client library: xmlrpc.client, whose Transport keeps its HTTP/1.1
    connection; `proxy.connects` counts the connections it opened."""
    import xmlrpc.client

    class Counting(xmlrpc.client.Transport):
        connects = 0

        def make_connection(self, host):
            conn = super().make_connection(host)
            if not getattr(conn, "counted", False):
                connect = conn.connect
                def counted():
                    self.connects += 1
                    connect()
                conn.connect, conn.counted = counted, True
            return conn

    transport = Counting()
    proxy = xmlrpc.client.ServerProxy("http://127.0.0.1:%d/RPC2" % port, transport=transport)
    return proxy, transport


def http_checks(client, count):
    """What the timed loop relies on, checked once: /status is the JSON of `count` instances,
    /metrics one rinit_program_up line per instance and a final newline, HEAD's Content-Length is
    GET's, three pipelined requests get three answers, and HTTP/1.0 closes."""
    status, headers, body = client.request(b"GET /status HTTP/1.1\r\nHost: bench\r\n\r\n")
    if not status.endswith(" 200 OK") or len(json.loads(body)) != count:
        raise RuntimeError("rinit GET /status: %s, %d bytes, not %d instances" % (status, len(body), count))
    status, headers, body = client.request(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
    ups = [l for l in body.decode().split("\n") if l.startswith("rinit_program_up{")]
    if not status.endswith(" 200 OK") or len(ups) != count or not body.endswith(b"\n"):
        raise RuntimeError("rinit GET /metrics: %s, %d rinit_program_up lines, not %d" % (status, len(ups), count))
    _, head_headers, head_body = client.request(b"HEAD /livez HTTP/1.1\r\nHost: bench\r\n\r\n")
    _, get_headers, get_body = client.request(b"GET /livez HTTP/1.1\r\nHost: bench\r\n\r\n")
    length = get_headers.get("content-length")
    if head_body or head_headers.get("content-length") != length or length != str(len(get_body)):
        raise RuntimeError("rinit HEAD /livez: Content-Length %s, GET's %s" % (head_headers.get("content-length"), get_headers.get("content-length")))
    answers = client.request(b"GET /livez HTTP/1.1\r\nHost: bench\r\n\r\n" * 3, answers=3)
    if [a[0] for a in answers] != ["HTTP/1.1 200 OK"] * 3:
        raise RuntimeError("rinit, 3 pipelined requests: %r" % [a[0] for a in answers])
    before = client.connects
    client.request(b"GET /livez HTTP/1.0\r\n\r\n")
    if client.sock is not None or client.connects != before:
        raise RuntimeError("rinit did not close an HTTP/1.0 connection")


def cpu_clock(pid):
    """CPU time of process `pid` in ms from its CPU-time clock (clock_getcpuclockid: ns resolution)."""
    return time.clock_gettime(((~pid) << 3) | 2) * 1e3


def sup_http(workdir, requests, blocks, idle_seconds, start_rounds):
    """rinit with `http` and supervisord with [inet_http_server] and its rpcinterface, each over the
    same 100 `sleep` programs: sequential requests on one keep-alive connection each, GET /status and
    GET /metrics against supervisor.getAllProcessInfo (through xmlrpc.client, and the same request's
    bytes through the raw client rinit's requests use, which leaves out xmlrpc.client's own parsing).
    requests["rinit"] of each of rinit's, requests["supervisord"] of each of supervisord's, in
    `blocks` blocks run in random order so that machine noise hits all alike: latency p50/p99,
    requests per second (requests / time spent in them), and the server's CPU time per 1,000
    requests (PID 1's CPU-time clock, and utime + stime of /proc/PID/stat). Then rinit's wake-ups
    idle with its port open and no client, and rinit's start with `http` on and off."""
    import xmlrpc.client
    count = 100
    progs = [Prog("p%d" % i, SLEEP) for i in range(count)]
    ports = {"rinit": free_port(), "supervisord": free_port()}
    sups = {k: Supervisor(k, workdir, progs, http=ports[k]) for k in ("rinit", "supervisord")}
    try:
        for sup in sups.values():
            sup.wait_exec()
        for sup in sups.values():
            if sup.wait_running(count, timeout=60, pause=0.05) is None:
                raise RuntimeError("%s: %d programs not running within 60 s" % (sup.kind, count))
        fresh = status_fields(sups["rinit"].pid1, ("VmRSS", "RssAnon"))  # before any request
        deadline = time.perf_counter() + 10
        while True:  # supervisord listens once it has started its programs
            try:
                proxy, transport = xmlrpc_proxy(ports["supervisord"])
                infos = proxy.supervisor.getAllProcessInfo()
                break
            except (ConnectionError, OSError):
                if time.perf_counter() > deadline:
                    raise
                time.sleep(0.05)
        if len(infos) != count or any(i["statename"] != "RUNNING" for i in infos):
            raise RuntimeError("supervisord getAllProcessInfo: %d processes, not %d running" % (len(infos), count))
        clients = {"status": HTTPClient(ports["rinit"]), "metrics": HTTPClient(ports["rinit"]), "raw": HTTPClient(ports["supervisord"])}
        http_checks(clients["status"], count)
        rpc = xmlrpc.client.dumps((), "supervisor.getAllProcessInfo").encode()
        raw_rpc = (b"POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n"
                   % (ports["supervisord"], len(rpc))) + rpc
        if len(xmlrpc.client.loads(clients["raw"].request(raw_rpc)[2])[0][0]) != count:
            raise RuntimeError("supervisord, raw POST /RPC2: not %d processes" % count)
        get = {k: b"GET /%s HTTP/1.1\r\nHost: bench\r\n\r\n" % k.encode() for k in ("status", "metrics")}
        targets = {
            "status": ("rinit", lambda: clients["status"].request(get["status"])[2]),
            "metrics": ("rinit", lambda: clients["metrics"].request(get["metrics"])[2]),
            "xmlrpc": ("supervisord", proxy.supervisor.getAllProcessInfo),
            "raw": ("supervisord", lambda: clients["raw"].request(raw_rpc)[2]),
        }
        pids = {k: s.pid1 for k, s in sups.items()}
        sizes = {k: len(targets[k][1]()) for k in ("status", "metrics", "raw")}
        sizes["xmlrpc"] = sizes["raw"]
        for _, call in targets.values():  # warm-up: connections open, caches and buffers grown
            for _ in range(5):
                call()
        opened = lambda: {k: (transport.connects if k == "xmlrpc" else clients[k].connects) for k in targets}
        figures = http_timing(targets, pids, requests, blocks, opened)
        for name in targets:
            figures[name]["bytes"] = sizes[name]
        http_table(figures, count, blocks)
        for c in clients.values():
            c.close()
        transport.close()
        time.sleep(0.5)  # rinit sees the closes
        keys = ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
        before = {k: status_fields(p, keys) for k, p in pids.items()}
        time.sleep(idle_seconds)
        after = {k: status_fields(p, keys) for k, p in pids.items()}
        switches = {k: sum(after[k].values()) - sum(before[k].values()) for k in pids}
        memory = {k: status_fields(p, ("VmRSS", "RssAnon")) for k, p in pids.items()}
        print("  idle over %d s with the port open and no client: rinit %d context switches (goal 0: %s), supervisord %d"
              % (idle_seconds, switches["rinit"], "met" if switches["rinit"] == 0 else "NOT MET", switches["supervisord"]))
        print("  then VmRSS / RssAnon: rinit %d / %d kB (%d / %d kB before its first request), supervisord %d / %d kB" % (
            memory["rinit"]["VmRSS"], memory["rinit"]["RssAnon"], fresh["VmRSS"], fresh["RssAnon"],
            memory["supervisord"]["VmRSS"], memory["supervisord"]["RssAnon"]))
    finally:
        for sup in sups.values():
            sup.close()
    http_startup(workdir, start_rounds)
    return figures, switches


def http_timing(targets, pids, requests, blocks, opened):
    """Runs targets[NAME] = (server, call) requests[server] times, in `blocks` blocks in shuffled
    order; each call timed, and the server's CPU (pids[server]) over each block. `opened()`:
    connections each target has opened so far."""
    connects = opened()
    samples = {k: [] for k in targets}
    cpu = {k: [0.0, 0.0] for k in targets}  # ms: CPU-time clock, /proc/PID/stat
    order = list(targets)
    for _ in range(blocks):
        random.shuffle(order)
        for name in order:
            server, call = targets[name]
            pid = pids[server]
            clock, ticks = cpu_clock(pid), cpu_ms(pid)
            for _ in range(max(1, requests[server] // blocks)):
                begin = time.perf_counter()
                call()
                samples[name].append(time.perf_counter() - begin)
            cpu[name][0] += cpu_clock(pid) - clock
            cpu[name][1] += cpu_ms(pid) - ticks
    connects = {k: v - connects[k] for k, v in opened().items()}
    figures = {}
    for name in targets:
        ordered, done = sorted(samples[name]), len(samples[name])
        figures[name] = {"n": done, "p50": 1e3 * ordered[done // 2], "p99": 1e3 * ordered[min(done - 1, int(done * 0.99))],
                         "rate": done / sum(ordered), "cpu": 1e3 * cpu[name][0] / done, "ticks": 1e3 * cpu[name][1] / done,
                         "connects": connects[name]}
    return figures


def http_table(figures, count, blocks):
    """sup_http's table, rinit's ratios to supervisord and the goals."""
    labels = {"status": "rinit /status", "metrics": "rinit /metrics", "xmlrpc": "sup. xmlrpc.client", "raw": "sup. raw"}
    targets = list(labels)
    print("\n-- HTTP status: %d programs, sequential requests on one keep-alive connection each, in %d shuffled blocks"
          % (count, blocks))
    line = "  %-30s" + " %18s" * len(targets)
    print(line % (("",) + tuple(labels[k] for k in targets)))
    for title, key, fmt in (("requests", "n", "%d"), ("latency p50 (ms)", "p50", "%.3f"), ("latency p99 (ms)", "p99", "%.3f"),
                            ("requests/s", "rate", "%.0f"), ("server CPU / 1,000 req (ms)", "cpu", "%.1f"),
                            ("  same, /proc/PID/stat (ms)", "ticks", "%.0f"), ("answer body (bytes)", "bytes", "%d"),
                            ("connections opened", "connects", "%d")):
        print(line % ((title,) + tuple(fmt % figures[k][key] for k in targets)))
    print("  (sup.: supervisor.getAllProcessInfo; xmlrpc.client: Python's XML-RPC client, XML parsing included;"
          " raw: the same POST through rinit's raw client)")
    for name in ("status", "metrics"):
        f, raw, rpc_ = figures[name], figures["raw"], figures["xmlrpc"]
        print("  rinit %-8s / sup. raw: p50 %.3gx, p99 %.3gx, requests/s %.3gx, CPU %.3gx;  / sup. xmlrpc.client: p50 %.3gx, requests/s %.3gx"
              % ("/" + name, f["p50"] / raw["p50"], f["p99"] / raw["p99"], f["rate"] / raw["rate"], f["cpu"] / raw["cpu"],
                 f["p50"] / rpc_["p50"], f["rate"] / rpc_["rate"]))
    slowest = min(figures["status"]["rate"], figures["metrics"]["rate"])
    print("  goal /metrics p50 <= 1 ms: %s (%.3f ms); rinit's requests/s >= 10x supervisord's (rinit's slower page"
          " against sup. raw): %s (%.0fx)" % (verdict(figures["metrics"]["p50"] <= 1), figures["metrics"]["p50"],
                                              verdict(slowest >= 10 * figures["raw"]["rate"]), slowest / figures["raw"]["rate"]))


def http_part(workdir, quick):
    """supervisord answers getAllProcessInfo some 20 times a second: 2,000 of its requests alone
    would take minutes, so it gets a tenth of rinit's."""
    if quick:
        return sup_http(workdir, {"rinit": 100, "supervisord": 10}, 2, 2, 5)
    return sup_http(workdir, {"rinit": 2000, "supervisord": 200}, 10, 10, 50)


def http_startup(workdir, rounds):
    """rinit's start (exec to 2 programs running) with `http` off and on, interleaved."""
    port = free_port()
    samples = {"off": [], "on": []}
    order = list(samples)
    for _ in range(rounds):
        random.shuffle(order)
        for name in order:
            sup = Supervisor("rinit", workdir, [Prog("a", SLEEP), Prog("b", SLEEP)], http=port if name == "on" else None)
            begin = sup.wait_exec()
            end = sup.wait_running(2, timeout=30)
            sup.close()
            if end is None:
                raise RuntimeError("rinit, http %s: 2 programs not running within 30 s" % name)
            samples[name].append(end - begin)
    values = {k: median_ms(v) for k, v in samples.items()}
    print("  rinit's start, exec to 2 programs running, median of %d: http off %.2f ms, on %.2f ms (%+.2f ms)"
          % (rounds, values["off"], values["on"], values["on"] - values["off"]))
    return values


def validation(workdir, rounds):
    """`rinit check` on large configurations: validation must be linear."""
    programs = os.path.join(workdir, "programs.toml")
    with open(programs, "w") as f:
        for i in range(30000):
            f.write('[program.p%d]\ncommand = "true"\n%s' % (i, 'after = ["p%d"]\n' % (i - 1) if i else ""))
    env = os.path.join(workdir, "env.toml")
    with open(env, "w") as f:
        f.write("[env]\n")
        for i in range(200000):
            f.write('K%d = "v"\n' % i)
        f.write('[program.a]\ncommand = "true"\n')
    print("\n-- rinit check on large configurations (median of %d; goal: each under 1 s)" % rounds)
    for label, path in (("30,000 programs, each after the previous", programs), ("200,000 [env] keys", env)):
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            subprocess.run([RINIT, "check", "-c", path], stdout=subprocess.DEVNULL, check=True)
            samples.append(time.perf_counter() - started)
        took = statistics.median(samples)
        print("  %-42s %8.3f s   goal < 1 s: %s" % (label, took, verdict(took < 1.0)))


def supervisor_mode(quick):
    print("\n== supervisor mode: %s, each as PID 1 of its own PID namespace ==" % ", ".join(SUPERVISORS))
    workdir = tempfile.mkdtemp(prefix="rinit-bench-sup-")
    try:
        sup_restart(workdir, 5 if quick else 20)
        sup_startup(workdir, 5 if quick else 20)
        sup_idle(workdir, (2, 100), 2 if quick else 10)
        many = dict.fromkeys(SUPERVISORS, 1000)
        if quick:
            many["supervisord"] = 100  # ~20 s at 1000
        sup_many(workdir, many, 60)
        sup_output(workdir, 20000000 if quick else 200000000, 1 if quick else 7)
        sup_control(workdir, 5 if quick else 50, 2 if quick else 10)
        sup_reload(workdir, 5 if quick else 20)
        sup_health(workdir, 3 if quick else 10)
        http_part(workdir, quick)
        validation(workdir, 1 if quick else 5)
    finally:
        cleanup(workdir)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few repetitions: checks the script works, figures are rough")
    parser.add_argument("--part", choices=("all", "single", "supervisor", "http", "output", "reload", "schedules"), default="all",
                        help="single-command mode against tini and dumb-init, supervisor mode against supervisord and s6, or both"
                        " (default); http: only the HTTP status page against supervisord's XML-RPC, output: only the output"
                        " throughput table, reload: rinit reload against supervisorctl update (all three part of supervisor mode);"
                        " schedules: against cron and busybox crond (bench/schedules.py; part of all)")
    args = parser.parse_args()
    global QUICK
    QUICK = args.quick
    if os.geteuid() != 0:
        sys.exit("bench.py needs root (unshare --pid)")
    for path in (RINIT, PROBE):
        if not os.path.exists(path):
            sys.exit("%s missing: run `cargo build --release --bins --examples`" % path)
    # A PID 1 whose unshare has died is re-parented here, so that cleanup() can kill and reap it.
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda n, _: sys.exit(128 + n))
    reps = 30 if args.quick else 300
    print("rinit benchmark%s: %s, %d CPUs, kernel %s" % (" (quick)" if args.quick else "", time.strftime("%Y-%m-%d"), os.cpu_count(), os.uname().release))
    try:
        if args.part in ("all", "single"):
            sizes()
            startup(reps)
            orphans(5 if args.quick else 25, 10000)
            signal_latency(reps)
            idle(2 if args.quick else 10)
        if args.part in ("all", "supervisor"):
            supervisor_mode(args.quick)
        if args.part in ("all", "schedules"):
            import schedules
            schedules.run(RINIT, args.quick)
        if args.part in ("http", "output", "reload"):
            workdir = tempfile.mkdtemp(prefix="rinit-bench-%s-" % args.part)
            try:
                if args.part == "http":
                    http_part(workdir, args.quick)
                elif args.part == "reload":
                    sup_reload(workdir, 5 if args.quick else 20)
                else:
                    sup_output(workdir, 20000000 if args.quick else 200000000, 1 if args.quick else 7)
            finally:
                cleanup(workdir)
    finally:
        cleanup(None)

if __name__ == "__main__":
    main()
