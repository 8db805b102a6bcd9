"""Schedules (bench.py --part schedules): rinit's `schedule` against Debian's
cron and busybox crond (supercronic is not packaged for Debian, and only
Debian's archives are reachable here), each as PID 1 of its own PID and mount
namespace, with its own crontab:

- firing accuracy: how late a run starts after its time, p50 and p99: rinit
  with `@every 1s` (against its beat, the earliest run of a job counted as
  on time), and every tool with `* * * * *` at the wall clock's minute (cron
  has no seconds);
- idle cost with 100 schedules none of which is due: context switches of the
  daemon over a window that holds a minute boundary, and its memory; and
  what the schedules cost rinit: the same 100 programs scheduled, against
  held (`autostart = false`, no schedule), and against no program at all.

Each job runs `date +%s.%N >> FILE` under sh, the same command everywhere."""

import os
import shutil
import statistics
import subprocess
import tempfile
import time

NS = ["unshare", "--pid", "--fork", "--mount-proc", "--mount", "--kill-child"]


def pid1_of(proc, timeout=10):
    """The PID 1 (host pid) under an `unshare --fork` process."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
                children = f.read().split()
            if children:
                return int(children[0])
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    raise RuntimeError("no PID 1 under %d" % proc.pid)


def status(pid, keys=("VmRSS", "RssAnon", "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keys:
                fields[key] = int(value.split()[0])
    return fields


def job(out):
    return "date +%%s.%%N >> %s" % out


def start_rinit(rinit, workdir, tag, programs):
    """rinit with `programs` (name -> (schedule, command); no schedule: held with
    autostart = false), and a sleeper so that it runs on."""
    conf = os.path.join(workdir, "%s.toml" % tag)
    with open(conf, "w") as f:
        f.write('[rinit]\ncontrol_socket = ""\n[program.sleeper]\ncommand = ["sleep", "100000"]\n')
        for name, (schedule, command) in programs.items():
            when = 'schedule = "%s"' % schedule if schedule else "autostart = false"
            f.write('[program.%s]\ncommand = ["sh", "-c", %s]\n%s\n' % (name, json_str(command), when))
    return subprocess.Popen(NS + [rinit, "-q", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def json_str(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def start_cron(workdir, tag, lines):
    """Debian's cron in the foreground, with /etc/cron.d, /etc/crontab and the spool of its own."""
    base = os.path.join(workdir, tag)
    for sub in ("cron.d", "spool"):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    with open(os.path.join(base, "cron.d", "bench"), "w") as f:
        f.writelines("%s root %s\n" % (schedule, command) for schedule, command in lines)
    os.chmod(os.path.join(base, "cron.d", "bench"), 0o644)
    open(os.path.join(base, "crontab"), "w").close()
    script = ("mount --bind {b}/cron.d /etc/cron.d && mount --bind {b}/crontab /etc/crontab && "
              "mkdir -p /var/spool/cron/crontabs && mount --bind {b}/spool /var/spool/cron/crontabs && "
              "exec cron -f").format(b=base)
    return subprocess.Popen(NS + ["sh", "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_busybox(workdir, tag, lines):
    """busybox crond in the foreground, its crontab directory holding root's."""
    spool = os.path.join(workdir, tag, "crontabs")
    os.makedirs(spool, exist_ok=True)
    with open(os.path.join(spool, "root"), "w") as f:
        f.writelines("%s %s\n" % (schedule, command) for schedule, command in lines)
    return subprocess.Popen(NS + ["busybox", "crond", "-f", "-l", "8", "-c", spool],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc):
    proc.kill()
    proc.wait()


def times_in(path):
    try:
        with open(path) as f:
            return [float(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def every_second(rinit, workdir, programs, seconds):
    """rinit, `programs` jobs at @every 1s for `seconds`: lateness against each job's beat."""
    outs = {"j%d" % i: os.path.join(workdir, "every-%d" % i) for i in range(programs)}
    proc = start_rinit(rinit, workdir, "every", {n: ("@every 1s", job(o)) for n, o in outs.items()})
    time.sleep(seconds + 0.5)
    stop(proc)
    late = []
    for out in outs.values():
        # Each run's offset from its beat; the earliest counts as on time
        # (so lateness is never below 0, and never understated).
        offsets = [t - k for k, t in enumerate(times_in(out))]
        late.extend((o - min(offsets)) * 1e3 for o in offsets)
    return late


def at_the_minute(rinit, workdir, jobs, minutes):
    """Each tool in turn, `jobs` lines of `* * * * *` for `minutes` minute boundaries: how
    late after the minute each run started."""
    late = {}
    for name in ("rinit", "cron", "busybox crond"):
        out = os.path.join(workdir, "minute-" + name.replace(" ", "-"))
        lines = [("* * * * *", job(out))] * jobs
        # Start 5 s after a minute, stop 5 s after the last boundary measured.
        time.sleep((65 - time.time() % 60) % 60)
        if name == "rinit":
            proc = start_rinit(rinit, workdir, "minute", {"m%d" % i: line for i, line in enumerate(lines)})
        elif name == "cron":
            proc = start_cron(workdir, "cron-minute", lines)
        else:
            proc = start_busybox(workdir, "busybox-minute", lines)
        time.sleep(60 * minutes)
        stop(proc)
        late[name] = [(t % 60) * 1e3 for t in times_in(out)]
    return late


def idle(rinit, workdir, seconds):
    """Each tool with 100 schedules none due (1 January, 00:00), all at once: context switches
    over `seconds`, and memory; rinit also without schedules, for its growth."""
    never = [("0 0 1 1 *", job("/dev/null"))] * 100
    procs = {
        "rinit": start_rinit(rinit, workdir, "idle100", {"n%d" % i: line for i, line in enumerate(never)}),
        "rinit, 100 held": start_rinit(rinit, workdir, "idle100held",
                                       {"n%d" % i: (None, c) for i, (_, c) in enumerate(never)}),
        "rinit, no program": start_rinit(rinit, workdir, "idle0", {}),
        "cron": start_cron(workdir, "cron-idle", never),
        "busybox crond": start_busybox(workdir, "busybox-idle", never),
    }
    pids = {name: pid1_of(proc) for name, proc in procs.items()}
    time.sleep(1.5)  # start-up settles
    before = {name: status(pid) for name, pid in pids.items()}
    time.sleep(seconds)
    after = {name: status(pid) for name, pid in pids.items()}
    for proc in procs.values():
        stop(proc)
    switches = {n: sum(after[n][k] - before[n][k] for k in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
                for n in pids}
    return switches, {n: after[n]["VmRSS"] for n in pids}, {n: after[n]["RssAnon"] for n in pids}


def run(rinit, quick):
    print("\n== schedules: rinit, Debian's cron and busybox crond, each PID 1 of its own namespaces ==")
    if not shutil.which("cron") or not shutil.which("busybox"):
        print("  cron or busybox missing (apt-get install cron busybox): skipped")
        return
    workdir = tempfile.mkdtemp(prefix="rinit-bench-cron-")
    try:
        programs, seconds = (2, 5) if quick else (10, 11)
        late = every_second(rinit, workdir, programs, seconds)
        print("-- rinit @every 1s, %d runs of %d jobs: lateness against the beat (the earliest run of a job counted"
              " as on time), ms" % (len(late), programs))
        print("  p50 %.2f  p99 %.2f  max %.2f   goal p99 <= 10 ms: %s" % (
            statistics.median(late), percentile(late, 99), max(late),
            "not judged in a quick run" if quick else ("met" if percentile(late, 99) <= 10 else "NOT MET")))
        window = 3 if quick else 65
        switches, rss, anon = idle(rinit, workdir, window)
        print("-- 100 schedules, none due: the daemon over %d s%s" % (
            window, "" if quick else " (a minute boundary inside)"))
        print("  %-20s %10s %10s %10s" % ("", "switches", "VmRSS kB", "RssAnon kB"))
        for name in switches:
            print("  %-20s %10d %10d %10d" % (name, switches[name], rss[name], anon[name]))
        growth = anon["rinit"] - anon["rinit, 100 held"]
        print("  rinit's RssAnon for the 100 schedules (scheduled - held): %d kB   goal <= 64 kB: %s; "
              "rinit 0 switches: %s" % (growth, "met" if growth <= 64 else "NOT MET",
                                       "met" if switches["rinit"] == 0 else "NOT MET"))
        print("  (the 100 programs themselves, held - no program: %d kB)" % (
            anon["rinit, 100 held"] - anon["rinit, no program"]))
        if not quick:
            minute = at_the_minute(rinit, workdir, 50, 2)
            print("-- `* * * * *`, 50 jobs, 2 minute boundaries each (one tool at a time): "
                  "start after the minute, ms")
            print("  %-20s %6s %10s %10s %10s" % ("", "runs", "p50", "p99", "max"))
            for name, values in minute.items():
                if values:
                    print("  %-20s %6d %10.1f %10.1f %10.1f" % (
                        name, len(values), statistics.median(values), percentile(values, 99), max(values)))
                else:
                    print("  %-20s no run" % name)
            best = min((statistics.median(v), n) for n, v in minute.items() if v and n != "rinit")
            if minute["rinit"]:
                print("  rinit / best peer (%s), p50: %.3gx" % (best[1], statistics.median(minute["rinit"]) / best[0]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
