#!/usr/bin/env python3
"""rinit's soak test, run by hand (not in CI): rinit as PID 1 of a fresh PID
namespace supervises programs with every kind of readiness (notify, tcp,
file, command), all with prefixed output, one that leaves orphans, and one
that prints as fast as it can; for DURATION seconds a random program's main
process gets SIGKILL every 0.1-0.5 s, and rinit's stdout reader stalls now
and then. Every 5 s it samples rinit's RSS, descriptors, CPU time and
zombies. At the end: SIGTERM, and the time rinit took to exit.

    python3 bench/soak.py [--seconds 600]

Needs root (unshare) and the release binary (cargo build --release). The
figures of a recorded run are in docs/testing.md."""

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RINIT = os.path.join(ROOT, "target", "x86_64-unknown-linux-gnu", "release", "rinit")

NOTIFY = (
    "import os,socket,time\n"
    "time.sleep(0.05)\n"
    "a=os.environ['NOTIFY_SOCKET']; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
    "s.sendto(b'READY=1', '\\0'+a[1:])\n"
    "while True: print('notify alive', flush=True); time.sleep(1)\n"
)
TCP = (
    "import socket,sys,time\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
    "while True: print('tcp alive', flush=True); time.sleep(1)\n"
)


def config(workdir, port):
    flag = os.path.join(workdir, "flag")
    programs = {
        "notify": ('["python3", "-c", %s]' % toml_string(NOTIFY), 'type = "notify"'),
        "tcp": ('["python3", "-c", %s, "%d"]' % (toml_string(TCP), port), 'ready = { tcp = "127.0.0.1:%d" }' % port),
        "file": ('["sh", "-c", "rm -f %s; sleep 0.05; touch %s; exec sleep 100000"]' % (flag, flag), 'ready = { file = "%s" }' % flag),
        "command": ('["sleep", "100000"]', 'ready = { command = ["true"] }'),
        "orphans": ('["sh", "-c", "while :; do (sleep 0.3 &); sleep 0.1; done"]', ""),
        "chatty": ('["sh", "-c", "while :; do echo chatty line; done"]', ""),
    }
    text = '[rinit]\noutput = "prefix"\nshutdown_timeout = "9s"\n'
    for name, (command, extra) in programs.items():
        text += ('[program.%s]\ncommand = %s\n%s\nrestart = "always"\nrestart_delay = "50ms"\n'
                 'restart_max_delay = "1s"\nstart_limit_burst = 0\nready_timeout = "10s"\n' % (name, command, extra))
    return text, list(programs)


def toml_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def state_and_cmdline(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return state, f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None, ""


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=600)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("soak.py needs root (unshare --pid)")
    if not os.path.exists(RINIT):
        sys.exit("%s missing: run `cargo build --release`" % RINIT)
    workdir = tempfile.mkdtemp(prefix="rinit-soak-")
    text, names = config(workdir, free_port())
    path = os.path.join(workdir, "rinit.toml")
    with open(path, "w") as f:
        f.write(text)
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", RINIT, "-c", path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd="/")
    counts = {"stdout lines": 0, "stderr lines": 0, "restarts logged": 0, "dropped notices": 0}
    stall = threading.Event()

    def read(stream, key):
        for line in stream:
            while stall.is_set():
                time.sleep(0.05)
            counts[key] += 1
            if b"restarting in" in line:
                counts["restarts logged"] += 1
            if b"lines dropped" in line:
                counts["dropped notices"] += 1

    for stream, key in ((proc.stdout, "stdout lines"), (proc.stderr, "stderr lines")):
        threading.Thread(target=read, args=(stream, key), daemon=True).start()
    time.sleep(2)
    rinit = children(proc.pid)[0]
    samples = []
    kills = 0
    stuck = 0
    started = time.monotonic()
    next_sample = started
    next_stall = started + random.uniform(5, 15)
    previous_zombies = set()
    try:
        while time.monotonic() - started < args.seconds:
            if proc.poll() is not None:
                sys.exit("rinit exited during the soak: %s" % proc.returncode)
            now = time.monotonic()
            if now >= next_stall:
                stall.set()
                time.sleep(random.uniform(1, 3))
                stall.clear()
                next_stall = time.monotonic() + random.uniform(5, 15)
            victims = []
            zombies = set()
            for pid in children(rinit):
                state, cmdline = state_and_cmdline(pid)
                if state == "Z":
                    zombies.add(pid)
                elif state and not cmdline.startswith("sleep 0.3"):
                    victims.append(pid)
            if now >= next_sample:
                stuck_now = zombies & previous_zombies
                stuck += len(stuck_now)
                samples.append((now - started, status(rinit, "VmRSS"), len(os.listdir("/proc/%d/fd" % rinit)),
                                cpu_seconds(rinit), len(stuck_now)))
                previous_zombies = zombies
                next_sample = now + 5
            if victims:
                os.kill(random.choice(victims), signal.SIGKILL)
                kills += 1
            time.sleep(random.uniform(0.1, 0.5))
        peak = status(rinit, "VmHWM")
        asked = time.monotonic()
        os.kill(rinit, signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - asked
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["rm", "-rf", workdir])
    rss = [s[1] for s in samples]
    fds = [s[2] for s in samples]
    cpu = samples[-1][3] - samples[0][3] if len(samples) > 1 else 0.0
    span = samples[-1][0] - samples[0][0] if len(samples) > 1 else 1.0
    print("rinit soak: %d s, %d programs (%s), %d SIGKILLs" % (args.seconds, len(names), ", ".join(names), kills))
    print("  VmRSS kB: first %d, min %d, max %d, last %d; peak VmHWM %d" % (rss[0], min(rss), max(rss), rss[-1], peak))
    print("  open fds: first %d, min %d, max %d, last %d" % (fds[0], min(fds), max(fds), fds[-1]))
    print("  rinit CPU: %.1f s over %.0f s (%.1f %%)" % (cpu, span, 100 * cpu / span))
    print("  zombies seen in two samples 5 s apart: %d" % stuck)
    print("  %s" % ", ".join("%s %d" % item for item in counts.items()))
    print("  SIGTERM to exit: %.2f s, exit code %d" % (took, code))
    ok = stuck == 0 and took <= 9.5 and peak < 8192 and max(fds) - fds[0] <= 8
    print("  verdict: %s" % ("ok" if ok else "NOT OK"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
