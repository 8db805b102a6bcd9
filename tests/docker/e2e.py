#!/usr/bin/env python3
"""rinit against a real Docker engine, end to end.

    python3 tests/docker/e2e.py --rinit target/x86_64-unknown-linux-gnu/release/rinit

Starts a private dockerd (its own data-root, exec-root and socket in a
temporary directory; no bridge, no iptables, every container with
`--network none`), builds small images FROM scratch (the static rinit and
busybox-static) and an image from Dockerfile.example's runtime stage (on a
local stand-in for python:3.11-slim-bookworm assembled from the host's
Python), runs each check as a named test, and tears everything down, also on
Ctrl-C. A second, short-lived dockerd with a daemon.json setting
"init-path" to rinit checks `docker run --init` with rinit as docker-init.
Then podman (a private storage and containers.conf) runs a few of the checks
on the same images, unless --no-podman.

Exits 1 if any test failed, 2 if the engine or the images could not be set
up, 130 when interrupted. Needs root, dockerd (Debian's docker.io), the
docker client, /bin/busybox (busybox-static), podman, Debian's python3.11,
useradd, groupadd and nologin (for the stand-in python image), and pip for
the Python running this script (the example's requirements come from PyPI).
Python 3 standard library only. docs/testing.md has more.
"""

import argparse
import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = "rinit-e2e"


class Failure(Exception):
    """A test's expectation was not met: what was expected and what was seen."""


class SetupError(Exception):
    """The engine or an image could not be set up: no test can run."""


def log(message):
    print(message, flush=True)


def wait_for(what, predicate, timeout, interval=0.1):
    """Polls predicate until it returns something truthy, at most timeout s."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise Failure(f"{what} within {timeout}s")
        time.sleep(interval)


# --------------------------------------------------------------------------
# The engine


class Engine:
    """One private dockerd, all of whose state lives under `root`."""

    def __init__(self, root, docker, daemon_config=None):
        self.root = root
        self.docker_bin = docker
        self.sock = os.path.join(root, "sock")
        self.proc = None
        os.makedirs(root)
        # The client too: this engine's socket, the legacy builder, no
        # context or configuration of the host's.
        self.env = dict(os.environ, DOCKER_HOST="unix://" + self.sock, DOCKER_BUILDKIT="0",
                        DOCKER_CONFIG=os.path.join(root, "client"))
        self.env.pop("DOCKER_CONTEXT", None)
        args = [
            "dockerd",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--data-root", os.path.join(root, "data"),
            "--exec-root", os.path.join(root, "exec"),
            "--pidfile", os.path.join(root, "pid"),
            "-H", "unix://" + self.sock,
            # Should dockerd find a system containerd and use it rather than
            # start its own, these namespaces keep this engine's containers
            # apart from any other dockerd's ("moby").
            "--containerd-namespace", f"{PREFIX}-{os.getpid()}",
            "--containerd-plugins-namespace", f"{PREFIX}-{os.getpid()}-plugins",
        ]
        # Never the host's /etc/docker/daemon.json: this one, or an empty one.
        path = os.path.join(root, "daemon.json")
        with open(path, "w") as f:
            json.dump(daemon_config or {}, f)
        args += ["--config-file", path]
        self.log_path = os.path.join(root, "dockerd.log")
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise SetupError("dockerd not found: apt-get install docker.io")
        with open(self.log_path, "wb") as out:
            # Its own session: a Ctrl-C on the terminal reaches this script
            # only, which then removes the containers and stops dockerd.
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise SetupError(f"dockerd exited with {self.proc.returncode}:\n{self.tail_log()}")
            if os.path.exists(self.sock):
                r = self.run("version", "--format", "{{.Server.Version}}", check=False, timeout=10)
                if r.returncode == 0:
                    self.version = r.stdout.strip()
                    break
            if time.monotonic() > deadline:
                raise SetupError(f"dockerd did not answer within 30s:\n{self.tail_log()}")
            time.sleep(0.1)

    def tail_log(self, lines=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def cmd(self, *args):
        return [self.docker_bin, *args]

    def import_tar(self, path, tag, *changes):
        """docker import of the tarball at `path` as `tag`, with `-c` changes."""
        argv = ["import"]
        for change in changes:
            argv += ["-c", change]
        with open(path, "rb") as f:
            r = subprocess.run(self.cmd(*argv, "-", tag), stdin=f, env=self.env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=120)
        if r.returncode != 0:
            raise Failure(f"{self.docker_bin} import of {tag} failed: {r.stdout}")

    def run(self, *args, check=True, timeout=60, input=None):
        """docker ARGS...: stdout and stderr together in .stdout."""
        r = subprocess.run(self.cmd(*args), env=self.env, input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, text=True, errors="replace")
        if check and r.returncode != 0:
            raise Failure(f"docker {' '.join(args)} exited {r.returncode}: {r.stdout.strip()[-2000:]}")
        return r

    def out(self, *args, **kw):
        return self.run(*args, **kw).stdout

    def stop(self):
        """Removes every container, stops dockerd, waits for it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            ids = self.run("ps", "-aq", check=False, timeout=20).stdout.split()
            if ids:
                self.run("rm", "-f", *ids, check=False, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        # The stand-in tagged python:3.11-slim-bookworm must not outlive the
        # run (the data-root goes too, but a reused engine would keep it).
        self.run("rmi", "-f", "python:3.11-slim-bookworm", check=False, timeout=60)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Podman(Engine):
    """podman with every path of its own under `root`: storage, run and
    temporary directories, and a containers.conf of its own (no network
    namespace setup, ulimits the host's hard limits allow)."""

    def __init__(self, root, podman):
        self.root = root
        self.docker_bin = podman
        self.proc = None
        self.existed = [path for path in self.OUTSIDE if os.path.exists(path)]
        os.makedirs(root)

        def at_most(limit, value):
            hard = resource.getrlimit(limit)[1]
            return value if hard == resource.RLIM_INFINITY else min(value, hard)
        nofile = at_most(resource.RLIMIT_NOFILE, 1024)
        nproc = at_most(resource.RLIMIT_NPROC, 4096)
        conf = os.path.join(root, "containers.conf")
        with open(conf, "w") as f:
            f.write("[containers]\n"
                    f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
                    'netns = "none"\n'
                    "[network]\n"
                    f'network_config_dir = "{root}/networks"\n'
                    "[engine]\n"
                    'cgroup_manager = "cgroupfs"\n'
                    'events_logger = "file"\n')
        storage = os.path.join(root, "storage.conf")
        with open(storage, "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{root}/root"\nrunroot = "{root}/run"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=conf, CONTAINERS_STORAGE_CONF=storage,
                        XDG_RUNTIME_DIR=os.path.join(root, "xdg"))
        os.makedirs(self.env["XDG_RUNTIME_DIR"])
        r = self.run("version", "--format", "{{.Client.Version}}", check=False, timeout=30)
        if r.returncode != 0:
            raise SetupError(f"podman does not run: {r.stdout}")
        self.version = r.stdout.strip()

    def cmd(self, *args):
        return [self.docker_bin, "--root", os.path.join(self.root, "root"),
                "--runroot", os.path.join(self.root, "run"), "--tmpdir", os.path.join(self.root, "tmp"),
                *args]

    # What podman makes outside its own directories: removed after it
    # unless it was there before.
    OUTSIDE = ("/run/containers", "/var/lib/containers", "/etc/containers/networks")

    def stop(self):
        self.run("rm", "-f", "-a", check=False, timeout=60)
        self.run("rmi", "-f", "-a", check=False, timeout=60)
        for path in self.OUTSIDE:
            if path not in self.existed:
                shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------
# Images


def add_file(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar, name, mode=0o755):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def add_symlink(tar, name, target):
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def busybox_tar(path, busybox, rinit=None, merged_usr=False):
    """A root file system: busybox and its applets, /etc/passwd, and rinit."""
    applets = subprocess.run([busybox, "--list"], stdout=subprocess.PIPE, text=True,
                             check=True).stdout.split()
    with open(busybox, "rb") as f:
        busybox_data = f.read()
    with tarfile.open(path, "w") as tar:
        bindir = "usr/bin" if merged_usr else "bin"
        for d in ["usr", "usr/bin", "usr/sbin", "usr/local", "usr/local/bin", "etc", "root", "proc",
                  "sys", "dev", "run"] + ([] if merged_usr else ["bin", "sbin"]):
            add_dir(tar, d)
        add_dir(tar, "tmp", 0o1777)
        if merged_usr:
            add_symlink(tar, "bin", "usr/bin")
            add_symlink(tar, "sbin", "usr/sbin")
        add_file(tar, f"{bindir}/busybox", busybox_data, 0o755)
        for applet in applets:
            if applet != "busybox":
                add_symlink(tar, f"{bindir}/{applet}", "busybox")
        add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                 b"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
        add_file(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        if rinit is not None:
            with open(rinit, "rb") as f:
                add_file(tar, "sbin/rinit" if not merged_usr else "usr/sbin/rinit", f.read(), 0o755)


def build(engine, tag, context, files, dockerfile, expect_ok=True):
    """docker build of `dockerfile` with `files` ({name: text}) in a fresh
    context directory. Returns the build's output."""
    os.makedirs(context)
    for name, text in files.items():
        with open(os.path.join(context, name), "w") as f:
            f.write(text)
    with open(os.path.join(context, "Dockerfile"), "w") as f:
        f.write(dockerfile)
    r = engine.run("build", "--network", "none", "--rm", "-t", tag, context,
                   check=False, timeout=120)
    if expect_ok and r.returncode != 0:
        raise Failure(f"docker build {tag} failed:\n{r.stdout[-3000:]}")
    return r


SUPERVISED = """\
[program.ticker]
# Ignores SIGHUP (and so do its sleeps): only hupper reacts to one.
command = ["sh", "-c", "trap '' HUP; while :; do echo tick; sleep 1; done"]
output = "prefix"

[program.hupper]
# Logs each SIGHUP it gets: `wait` returns as soon as a trapped signal arrives.
command = ["sh", "-c", "trap 'echo got HUP' HUP; echo waiting for signals; while :; do sleep 5 & wait $!; done"]
output = "prefix"

[program.quiet]
command = ["sh", "-c", "trap '' HUP; exec sleep 1000"]
"""

DERIVED_BASE = """\
[rinit]
include = ["/etc/rinit.d/*.toml"]

[program.web]
command = ["sh", "-c", "echo serving; exec sleep 1000"]
output = "prefix"
"""

DERIVED_WORKER = """\
[program.worker]
command = ["sh", "-c", "echo working; exec sleep 1000"]
after = ["web"]
output = "prefix"
"""

STUBBORN = """\
[program.stubborn]
command = ["sh", "-c", "trap '' TERM; echo ignoring SIGTERM; while :; do sleep 1; done"]
stop_timeout = "2s"
output = "prefix"

[program.ticker]
command = "sh -c 'while :; do echo tick; sleep 1; done'"
output = "prefix"
"""

# Under another init (tini), rinit is a subreaper: the `sleep 600` that the
# subshell leaves becomes rinit's child, not PID 1's.
ORPHANS = SUPERVISED + """
[program.leaver]
command = ["sh", "-c", "trap '' HUP; (sleep 600 &); exec sleep 1000"]
"""

HEALTHY = """\
[program.web]
command = "sh -c 'while :; do sleep 1; done'"
critical = true
ready = { file = "/tmp/web.ready" }

[program.announce]
type = "oneshot"
command = "touch /tmp/web.ready"
"""

NEVER_READY = """\
[program.web]
command = "sh -c 'while :; do sleep 1; done'"
critical = true
ready = { file = "/tmp/never" }
"""

# The pod of docs/kubernetes.md, cut to what podman 4.3 runs: rinit serves
# /livez and /readyz; `setup` makes the files the health checks look for;
# `worker` is restarted by rinit when its check fails; `stuck`, critical,
# ignores SIGTERM while unhealthy (a wedged program), so /livez says 503
# for the liveness probe to see; `web` notes when its SIGTERM came, after
# the drain. rinit's stderr goes to the host through the `out` volume
# (podman removes the logs with the pod).
KUBE_RINIT_TOML = """\
[rinit]
http = "127.0.0.1:9001"
drain = "2s"

[program.setup]
type = "oneshot"
command = "touch /tmp/worker-ok /tmp/stuck-ok"

[program.web]
command = "sh -c 'trap \\"cat /proc/uptime > /out/web-term; exit 0\\" TERM; while :; do sleep 0.2; done'"
after = ["setup"]
critical = true

[program.stuck]
command = "sh -c 'trap \\"test -f /tmp/stuck-ok && exit 0\\" TERM; while :; do sleep 0.2; done'"
after = ["setup"]
critical = true
stop_timeout = "5s"
health = { command = ["test", "-f", "/tmp/stuck-ok"], interval = "1s", retries = 1 }

[program.worker]
command = "sleep 100000"
after = ["setup"]
health = { command = ["test", "-f", "/tmp/worker-ok"], interval = "1s", retries = 1 }
"""

KUBE_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: rinit-e2e
spec:
  terminationGracePeriodSeconds: 8
  containers:
    - name: app
      image: localhost/{image}
      command: ["/bin/sh", "-c", "exec /sbin/rinit 2>>/out/rinit.log"]
      volumeMounts:
        - {{ name: out, mountPath: /out }}
      readinessProbe:
        httpGet: {{ path: /readyz, port: 9001 }}
        periodSeconds: 1
      livenessProbe:
        httpGet: {{ path: /livez, port: 9001 }}
        periodSeconds: 1
        failureThreshold: 1
  volumes:
    - name: out
      hostPath: {{ path: {out}, type: Directory }}
"""


# A supervisord.conf as images have it, run by rinit directly (`-c`): two
# programs, one of them twice (numprocs), a group, %(ENV_X)s and priorities.
SUPERVISORD_CONF = """\
[supervisord]
nodaemon=true
logfile=/dev/null

[program:web]
command=/bin/sh -c 'echo "web says %(ENV_GREETING)s"; exec sleep 1000'
priority=10
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
stopwaitsecs=3

[program:worker]
command=/bin/sh -c 'echo "worker $RINIT_INSTANCE up"; exec sleep 1000'
process_name=%(program_name)s_%(process_num)s
numprocs=2
priority=20
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0

[group:app]
programs=web,worker
"""

BAD_CONFIG = """\
[program.web]
command = "sleep 1000"
stop_timeout = "7 seconds"
"""


# --------------------------------------------------------------------------
# The stand-in for python:3.11-slim-bookworm


def ldd(paths):
    """Every shared library the ELF files in `paths` load, as ldd resolves them."""
    libs = set()
    for p in paths:
        r = subprocess.run(["ldd", p], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in r.stdout.splitlines():
            m = re.search(r"(/\S+) \(0x", line)
            if m:
                libs.add(m.group(1))
    return sorted(libs)


def python_rootfs(path, work, busybox, requirements):
    """A Debian-like root file system with the host's python3.11 as
    /usr/local/bin/python (where the official image has it), pip, the
    example's requirements already installed (so that the Dockerfile's
    `pip install -r requirements.txt` finds them satisfied: no network), busybox
    for /bin/sh and the usual tools, and the host's useradd."""
    python = "/usr/bin/python3.11"
    stdlib = "/usr/lib/python3.11"
    useradd = "/usr/sbin/useradd"
    tools = [useradd, "/usr/sbin/groupadd", "/usr/sbin/nologin"]
    for p in [python, stdlib] + tools:
        if not os.path.exists(p):
            raise SetupError(f"{p} is missing: the stand-in python image is made from the host's "
                             "Debian python3.11, useradd and nologin (apt-get install python3.11 passwd login)")
    site = os.path.join(work, "site")
    pip = [sys.executable, "-m", "pip"]
    if subprocess.run(pip + ["--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
        raise SetupError(f"{sys.executable} has no pip: apt-get install python3-pip")
    # Pure-Python wheels for CPython 3.11, whatever Python runs this script.
    r = subprocess.run(pip + ["install", "--quiet", "--no-compile", "--disable-pip-version-check",
                              "--target", site, "--only-binary", ":all:", "--python-version", "3.11",
                              "--implementation", "cp", "--platform", "manylinux2014_x86_64",
                              "-r", requirements, "pip"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise SetupError(f"pip install --target for the stand-in python image failed:\n{r.stdout}")
    dynload = os.path.join(stdlib, "lib-dynload")
    elves = [python] + tools + [os.path.join(dynload, n) for n in os.listdir(dynload) if n.endswith(".so")]
    skip = {"EXTERNALLY-MANAGED", "test", "idlelib", "tkinter", "turtledemo", "config-3.11-x86_64-linux-gnu"}

    def stdlib_filter(info):
        parts = info.name.split("/")
        if len(parts) > 3 and parts[3] in skip:
            return None
        return info

    with tarfile.open(path, "w") as tar:
        busybox_part = os.path.join(work, "busybox.tar")
        busybox_tar(busybox_part, busybox, merged_usr=True)
        with tarfile.open(busybox_part) as bb:
            for member in bb.getmembers():
                tar.addfile(member, bb.extractfile(member) if member.isfile() else None)
        for d in ["usr/lib", "usr/lib64", "usr/lib/x86_64-linux-gnu", "usr/local/lib",
                  "usr/local/lib/python3.11", "etc/default", "srv", "var", "var/log", "home"]:
            add_dir(tar, d)
        add_symlink(tar, "lib", "usr/lib")
        add_symlink(tar, "lib64", "usr/lib64")
        names = set()
        for lib in ldd(elves):
            name = os.path.join(os.path.realpath(os.path.dirname(lib)), os.path.basename(lib))
            if name not in names:
                names.add(name)
                tar.add(os.path.realpath(lib), arcname=name.lstrip("/"))
        tar.add(python, arcname="usr/bin/python3.11")
        tar.add(stdlib, arcname="usr/lib/python3.11", filter=stdlib_filter)
        for tool in tools:
            tar.add(tool, arcname=tool.lstrip("/"))
        tar.add("/etc/login.defs", arcname="etc/login.defs")
        add_file(tar, "etc/shadow", b"root:*:19000:0:99999:7:::\n", 0o640)
        add_file(tar, "etc/gshadow", b"root:*::\n", 0o640)
        for name in ("python", "python3", "python3.11"):
            add_symlink(tar, f"usr/local/bin/{name}", "/usr/bin/python3.11")
        for name in sorted(os.listdir(site)):
            if name == "bin":
                continue
            tar.add(os.path.join(site, name), arcname=f"usr/local/lib/python3.11/dist-packages/{name}")
        for name in sorted(os.listdir(os.path.join(site, "bin"))):
            with open(os.path.join(site, "bin", name), "rb") as f:
                text = f.read()
            if text.startswith(b"#!"):
                text = b"#!/usr/local/bin/python" + text[text.index(b"\n"):]
            add_file(tar, f"usr/local/bin/{name}", text, 0o755)


def stage(dockerfile_text, name):
    """A Dockerfile from its `FROM ... AS name` line to the next FROM (or the end)."""
    lines = dockerfile_text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if re.match(rf"(?i)^FROM\s+\S+\s+AS\s+{name}\s*$", line):
            rest = [j for j in range(i + 1, len(lines)) if re.match(r"(?i)^FROM\s", lines[j])]
            return "".join(lines[i:rest[0] if rest else len(lines)])
    raise SetupError(f"no `FROM ... AS {name}` line")


# --------------------------------------------------------------------------
# The tests


class Suite:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.engine = None
        self.results = []
        self.serial = 0

    # helpers

    def name(self, what):
        self.serial += 1
        return f"{PREFIX}-{what}-{self.serial}"

    def run_detached(self, image, *options, name=None, engine=None):
        engine = engine or self.engine
        name = name or self.name("ct")
        engine.run("run", "-d", "--network", "none", "--name", name, *options, image)
        return name

    def logs(self, ct, engine=None):
        return (engine or self.engine).run("logs", ct, check=False).stdout

    def wait_log(self, ct, pattern, timeout=10, engine=None, count=1):
        """Waits for `count` lines of `docker logs` matching regex `pattern`."""
        regex = re.compile(pattern, re.M)

        def seen():
            return len(regex.findall(self.logs(ct, engine))) >= count
        try:
            wait_for(f"{count} line(s) matching {pattern!r} in docker logs", seen, timeout, 0.2)
        except Failure as e:
            raise Failure(f"{e}; logs were:\n{self.logs(ct, engine)[-2000:]}")

    def status(self, ct, *args, engine=None):
        return (engine or self.engine).run("exec", ct, "/sbin/rinit", "status", *args, check=False)

    def wait_ready(self, ct, names, timeout=10, engine=None):
        """Polls `rinit status` until each of `names` is ready."""
        def all_ready():
            r = self.status(ct, engine=engine)
            states = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines()[1:] if line.split()}
            return r if all(states.get(n) == "ready" for n in names) else None
        try:
            return wait_for(f"rinit status showing {names} ready", all_ready, timeout, 0.2)
        except Failure as e:
            raise Failure(f"{e}; last status:\n{self.status(ct, engine=engine).stdout}\nlogs:\n"
                          f"{self.logs(ct, engine)[-1500:]}")

    def exit_code(self, ct, engine=None):
        return int((engine or self.engine).out("wait", ct, timeout=30).strip())

    def timed_stop(self, ct, engine=None):
        start = time.monotonic()
        (engine or self.engine).run("stop", ct, timeout=30)
        return time.monotonic() - start

    def proc_table(self, ct, engine=None):
        """{pid: (comm, state, ppid, cmdline)} of every process in the container."""
        out = (engine or self.engine).out(
            "exec", ct, "sh", "-c",
            "for p in /proc/[0-9]*; do echo \"$(cat $p/stat) :: $(tr '\\0' ' ' < $p/cmdline)\"; done 2>/dev/null; true")
        return parse_stat(out)

    def health(self, ct):
        return self.engine.out("inspect", "-f", "{{.State.Health.Status}}", ct).strip()

    def wait_healthy(self, ct, timeout, interval, detail):
        """Polls ct's health until it is healthy; returns every state seen.
        On failure the message adds detail() (status, logs)."""
        seen = []

        def healthy():
            state = self.health(ct)
            seen.append(state)
            return state == "healthy"
        try:
            wait_for("health status healthy", healthy, timeout, interval)
        except Failure as e:
            raise Failure(f"{e}: saw {sorted(set(seen))}; {detail()}")
        return seen

    # running

    def test(self, name, fn):
        start = time.monotonic()
        try:
            fn()
        except (Failure, SetupError) as e:
            self.results.append((name, False, time.monotonic() - start))
            log(f"FAIL {name}: {e}")
        except subprocess.TimeoutExpired as e:
            self.results.append((name, False, time.monotonic() - start))
            log(f"FAIL {name}: timed out: {e}")
        else:
            self.results.append((name, True, time.monotonic() - start))
            log(f"ok {name} ({time.monotonic() - start:.1f}s)")

    def setup_images(self):
        base = os.path.join(self.work, "base.tar")
        busybox_tar(base, self.args.busybox, rinit=self.args.rinit)
        try:
            self.engine.import_tar(base, f"{PREFIX}/base")
        except Failure as e:
            raise SetupError(str(e))
        for tag, config, extra in [
            ("supervised", SUPERVISED, ""),
            ("stubborn", STUBBORN, ""),
            ("orphans", ORPHANS, ""),
            ("healthy", HEALTHY, 'HEALTHCHECK --interval=1s --timeout=2s CMD ["/sbin/rinit", "status", "-q"]\n'),
            ("never-ready", NEVER_READY,
             'HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD ["/sbin/rinit", "status", "-q"]\n'),
        ]:
            try:
                build(self.engine, f"{PREFIX}/{tag}", os.path.join(self.work, "ctx-" + tag),
                      {"rinit.toml": config},
                      f"FROM {PREFIX}/base\nCOPY rinit.toml /etc/rinit.toml\n{extra}CMD [\"/sbin/rinit\"]\n")
            except Failure as e:
                raise SetupError(str(e))
        try:
            build(self.engine, f"{PREFIX}/single", os.path.join(self.work, "ctx-single"), {},
                  f'FROM {PREFIX}/base\nENTRYPOINT ["/sbin/rinit", "--"]\nCMD ["sh"]\n')
        except Failure as e:
            raise SetupError(str(e))

    # -- supervisor mode

    def t_supervisor_up(self):
        ct = self.run_detached(f"{PREFIX}/supervised")
        r = self.wait_ready(ct, ["ticker", "hupper", "quiet"])
        if r.returncode != 0:
            raise Failure(f"rinit status exited {r.returncode} with every program ready:\n{r.stdout}")
        pids = {line.split()[0]: line.split()[2] for line in r.stdout.splitlines()[1:]}
        procs = self.proc_table(ct)
        if procs.get(1, ("",))[0] != "rinit":
            raise Failure(f"PID 1 should be rinit, /proc/1/stat says {procs.get(1)}")
        for name, pid in pids.items():
            if int(pid) not in procs or procs[int(pid)][2] != 1:
                raise Failure(f"{name}'s pid {pid} should be a child of PID 1: {procs.get(int(pid))}")
        self.wait_log(ct, r"^ticker \| tick$")
        self.wait_log(ct, r"^hupper \| waiting for signals$")
        self.supervised = ct

    def t_stop_fast(self):
        ct = self.supervised
        took = self.timed_stop(ct)
        code = self.exit_code(ct)
        if code != 0 or took >= 2:
            raise Failure(f"docker stop: expected exit code 0 within 2 s, saw exit code {code} after "
                          f"{took:.2f}s; logs:\n{self.logs(ct)[-1500:]}")

    def t_stop_timeout_kills(self):
        ct = self.run_detached(f"{PREFIX}/stubborn")
        self.wait_log(ct, r"^stubborn \| ignoring SIGTERM$")
        took = self.timed_stop(ct)
        code = self.exit_code(ct)
        logs = self.logs(ct)
        problems = []
        if not 1.8 <= took <= 4.5:
            problems.append(f"docker stop took {took:.2f}s, expected about 2 s (stop_timeout)")
        if code != 1:
            problems.append(f"exit code {code}, expected 1 (an unclean end: SIGKILL after stop_timeout)")
        if "rinit: stubborn did not stop within 2s: sending SIGKILL" not in logs:
            problems.append("no 'stubborn did not stop within 2s: sending SIGKILL' in the logs")
        if problems:
            raise Failure("; ".join(problems) + f"; logs:\n{logs[-1500:]}")

    def t_hup_forwarded(self):
        ct = self.run_detached(f"{PREFIX}/supervised")
        self.wait_log(ct, r"^hupper \| waiting for signals$")
        for n in (1, 2):
            self.engine.run("kill", "-s", "HUP", ct)
            self.wait_log(ct, r"^hupper \| got HUP$", timeout=5, count=n)
        # The others ignore SIGHUP: nothing ended, so the stop is clean.
        self.engine.run("stop", ct)
        code = self.exit_code(ct)
        if code != 0 or "SIGHUP" in self.logs(ct):
            raise Failure(f"after SIGHUP and docker stop: exit code {code} (expected 0); logs:\n{self.logs(ct)}")

    # -- single-command mode

    def single(self, *command):
        ct = self.name("single")
        self.engine.run("run", "--network", "none", "--name", ct, f"{PREFIX}/single", *command,
                        check=False, timeout=60)
        return self.exit_code(ct), self.logs(ct)

    def t_exit_code(self):
        code, logs = self.single("sh", "-c", "exit 7")
        if code != 7:
            raise Failure(f"sh -c 'exit 7': expected exit code 7, saw {code}; logs: {logs}")

    def t_exit_signal(self):
        code, logs = self.single("sh", "-c", "kill -TERM $$")
        if code != 143:
            raise Failure(f"sh -c 'kill -TERM $$': expected 143 (128+SIGTERM), saw {code}; logs: {logs}")

    def t_missing_command(self):
        code, logs = self.single("no-such-command")
        expected = 'rinit: cannot run "no-such-command": command not found in PATH'
        if code != 127 or expected not in logs:
            raise Failure(f"expected exit code 127 and {expected!r}, saw {code} and {logs!r}")

    def t_zombies_reaped(self):
        # Two orphans (their parent subshells exit at once), adopted by rinit
        # as PID 1; they die 2 s later and must not stay zombies.
        ct = self.name("single")
        self.engine.run("run", "-d", "--network", "none", "--name", ct, f"{PREFIX}/single", "sh", "-c",
                        "(sleep 2 &); (sleep 2 &); exec sleep 1000")

        def orphans():
            table = self.proc_table(ct)
            found = [pid for pid, (_, _, ppid, cmd) in table.items() if ppid == 1 and cmd == "sleep 2"]
            return found if len(found) == 2 else None
        try:
            adopted = wait_for("two orphaned `sleep 2` adopted by PID 1", orphans, 5)
        except Failure as e:
            raise Failure(f"{e}: {self.proc_table(ct)}")

        def reaped():
            table = self.proc_table(ct)
            return table if not any(pid in table for pid in adopted) else None
        try:
            table = wait_for("the orphans reaped after they died", reaped, 6)
        except Failure as e:
            raise Failure(f"{e}: {({p: v for p, v in self.proc_table(ct).items() if p in adopted})}")
        zombies = {pid: v for pid, v in table.items() if v[1] == "Z"}
        if zombies:
            raise Failure(f"zombies left: {zombies}")
        self.engine.run("stop", ct)
        code = self.exit_code(ct)
        if code != 143:
            raise Failure(f"docker stop: SIGTERM forwarded to `sleep 1000` should give 143, saw {code}")

    # -- read-only, non-root, no capability

    def t_readonly_nonroot(self):
        # The image's /run is root's, mode 0755, as in Debian images; runc
        # gives the tmpfs that mode too, so it must be uid 1000's.
        ct = self.run_detached(f"{PREFIX}/supervised", "--read-only", "--user", "1000",
                               "--cap-drop", "ALL", "--tmpfs", "/run:uid=1000")
        r = self.wait_ready(ct, ["ticker", "hupper", "quiet"])
        if r.returncode != 0:
            raise Failure(f"rinit status as uid 1000 exited {r.returncode}: {r.stdout}")
        status = self.engine.out("exec", ct, "cat", "/proc/1/status")
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields["Uid"].split()[0] != "1000" or fields["CapEff"].strip() != "0000000000000000":
            raise Failure(f"rinit should run as uid 1000 with no capability: Uid {fields['Uid']}, "
                          f"CapEff {fields['CapEff']}")
        write = self.engine.run("exec", ct, "touch", "/probe", check=False)
        if write.returncode == 0:
            raise Failure("the root file system is writable: --read-only did not apply")
        took = self.timed_stop(ct)
        code = self.exit_code(ct)
        if code != 0 or took >= 2:
            raise Failure(f"docker stop: exit code {code} after {took:.2f}s, expected 0 within 2 s")

    def t_readonly_no_socket(self):
        ct = self.run_detached(f"{PREFIX}/supervised", "--read-only", "--user", "1000",
                               "--cap-drop", "ALL")
        # Programs run on: ticks keep coming after the warning.
        self.wait_log(ct, r"^ticker \| tick$", count=3, timeout=10)
        logs = self.logs(ct)
        warnings = re.findall(r"^rinit: control socket /run/rinit\.sock: .*running without it.*$", logs, re.M)
        if len(warnings) != 1:
            raise Failure(f"expected one warning about the control socket, saw {len(warnings)}:\n{logs}")
        r = self.status(ct)
        if r.returncode != 3:
            raise Failure(f"rinit status without a socket: expected exit code 3, saw {r.returncode}: {r.stdout}")
        took = self.timed_stop(ct)
        code = self.exit_code(ct)
        if code != 0 or took >= 2:
            raise Failure(f"docker stop: exit code {code} after {took:.2f}s, expected 0 within 2 s")

    def t_tmpfs_run_is_roots(self):
        """A plain --tmpfs /run over the image's /run (root's, 0755) is
        root's, 0755 too: rinit as uid 1000 cannot make its socket there, says
        so once (Permission denied) and runs on. What docs/docker.md says,
        and why it says `--tmpfs /run:uid=1000`."""
        ct = self.run_detached(f"{PREFIX}/supervised", "--read-only", "--user", "1000",
                               "--cap-drop", "ALL", "--tmpfs", "/run")
        self.wait_log(ct, r"^ticker \| tick$", count=2, timeout=10)
        mode = self.engine.out("exec", ct, "stat", "-c", "%a %u", "/run").strip()
        warnings = re.findall(r"^rinit: control socket /run/rinit\.sock: Permission denied; running without it",
                              self.logs(ct), re.M)
        if mode != "755 0" or len(warnings) != 1:
            raise Failure(f"expected /run root's with mode 755 and one 'Permission denied' warning, saw "
                          f"mode {mode!r} and logs:\n{self.logs(ct)}")
        self.engine.run("rm", "-f", ct)

    # -- under Docker's own init

    def t_docker_init(self):
        ct = self.run_detached(f"{PREFIX}/orphans", "--init")
        self.wait_ready(ct, ["ticker", "hupper", "quiet", "leaver"])
        procs = self.proc_table(ct)
        comm1 = procs.get(1, ("?",))[0]
        rinits = [pid for pid, (comm, _, _, _) in procs.items() if comm == "rinit"]
        if comm1 != "docker-init" or len(rinits) != 1 or rinits[0] == 1 or procs[rinits[0]][2] != 1:
            raise Failure(f"expected docker-init as PID 1 and rinit its child: /proc/1/comm {comm1}, "
                          f"rinit pids {rinits}, table {procs}")
        rinit = rinits[0]
        # The `sleep 600` that leaver's subshell left is rinit's (a
        # subreaper), not PID 1's.
        longest = [pid for pid, (_, _, ppid, cmd) in procs.items() if cmd == "sleep 600"]
        if len(longest) != 1 or procs[longest[0]][2] != rinit:
            raise Failure(f"expected one orphaned `sleep 600` re-parented to rinit (pid {rinit}), saw "
                          f"{longest} in {procs}")
        orphan = longest[0]
        self.engine.run("exec", ct, "kill", str(orphan))

        def gone():
            state = self.proc_table(ct).get(orphan)
            return state is None
        try:
            wait_for("the killed orphan reaped", gone, 5)
        except Failure:
            raise Failure(f"orphan {orphan} killed but not reaped by rinit: {self.proc_table(ct).get(orphan)}")
        self.engine.run("kill", "-s", "HUP", ct)
        self.wait_log(ct, r"^hupper \| got HUP$", timeout=5)
        took = self.timed_stop(ct)
        code = self.exit_code(ct)
        if took >= 2 or code != 0:
            raise Failure(f"docker stop: expected exit code 0 (tini passing rinit's on) within 2 s, saw "
                          f"{code} after {took:.2f}s; logs:\n{self.logs(ct)[-1500:]}")

    def t_init_path(self):
        """A second engine whose daemon.json sets init-path to rinit: `docker
        run --init` runs rinit as docker-init (PID 1), in an image that has
        no rinit of its own."""
        rinit_copy = os.path.join(self.work, "init", "rinit")
        os.makedirs(os.path.dirname(rinit_copy))
        shutil.copy(self.args.rinit, rinit_copy)
        engine = Engine(os.path.join(self.work, "e2"), self.engine.docker_bin,
                        {"init-path": rinit_copy})
        self.second = engine
        try:
            bare = os.path.join(self.work, "bare.tar")
            busybox_tar(bare, self.args.busybox)
            engine.import_tar(bare, f"{PREFIX}/bare")

            def once(*command):
                ct = self.name("initpath")
                engine.run("run", "--init", "--network", "none", "--name", ct, f"{PREFIX}/bare",
                           *command, check=False)
                return self.exit_code(ct, engine), self.logs(ct, engine)
            code, out = once("sh", "-c", "cat /proc/1/comm; /proc/1/exe --version; exit 7")
            if code != 7 or not re.search(r"^docker-init$", out, re.M) or not re.search(r"^rinit ", out, re.M):
                raise Failure(f"expected PID 1 docker-init being rinit (its --version) and exit code 7, "
                              f"saw {code}:\n{out}")
            code, out = once("no-such-command")
            if code != 127 or 'rinit: cannot run "no-such-command"' not in out:
                raise Failure(f"expected 127 and rinit's message, saw {code}:\n{out}")
            code, out = once("sh", "-c", "kill -TERM $$")
            if code != 143:
                raise Failure(f"expected 143, saw {code}:\n{out}")
        finally:
            engine.stop()

    # -- health

    def t_healthy(self):
        ct = self.run_detached(f"{PREFIX}/healthy")
        seen = self.wait_healthy(ct, 15, 0.2, lambda: f"status:\n{self.status(ct).stdout}")
        if "unhealthy" in seen:
            raise Failure(f"went through unhealthy on its way: {seen}")
        self.engine.run("rm", "-f", ct)

    def t_unhealthy(self):
        ct = self.run_detached(f"{PREFIX}/never-ready")
        seen = []

        def settled():
            state = self.health(ct)
            seen.append(state)
            return state != "starting"
        wait_for("health status other than starting", settled, 15, 0.2)
        r = self.status(ct, "web")
        if seen[-1] != "unhealthy" or not re.search(r"^web\s+running\s", r.stdout, re.M) or r.returncode != 1:
            raise Failure(f"expected unhealthy with web running but not ready (status exit 1): health "
                          f"{seen[-1]}, status exit {r.returncode}:\n{r.stdout}")
        self.engine.run("rm", "-f", ct)

    # -- docker build

    def t_build_check_bad(self):
        r = build(self.engine, f"{PREFIX}/bad", os.path.join(self.work, "ctx-bad"),
                  {"rinit.toml": BAD_CONFIG},
                  f'FROM {PREFIX}/base\nCOPY rinit.toml /etc/rinit.toml\nRUN ["/sbin/rinit", "check"]\n',
                  expect_ok=False)
        expected = ('rinit: /etc/rinit.toml:3:16: program web: key stop_timeout: invalid duration '
                    '"7 seconds"')
        if r.returncode == 0 or expected not in r.stdout:
            raise Failure(f"expected the build to fail with {expected!r}; exit {r.returncode}:\n{r.stdout}")

    def t_build_check_good(self):
        r = build(self.engine, f"{PREFIX}/good", os.path.join(self.work, "ctx-good"),
                  {"rinit.toml": SUPERVISED},
                  f'FROM {PREFIX}/base\nCOPY rinit.toml /etc/rinit.toml\nRUN ["/sbin/rinit", "check"]\n',
                  expect_ok=False)
        if r.returncode != 0 or "ticker" not in r.stdout:
            raise Failure(f"expected the build to pass and print the plan; exit {r.returncode}:\n{r.stdout}")

    # -- supervisord.conf read directly

    def t_supervisord_conf(self):
        """CMD ["/sbin/rinit", "-c", "/etc/supervisor/supervisord.conf"]: the
        one-line switch from supervisord. `RUN rinit check -c` passes and prints
        the plan; the container runs every program, in priority order, with
        %(ENV_GREETING)s from `docker run -e`, and stops cleanly."""
        r = build(self.engine, f"{PREFIX}/supervisord-conf", os.path.join(self.work, "ctx-supervisord-conf"),
                  {"supervisord.conf": SUPERVISORD_CONF},
                  f"FROM {PREFIX}/base\nCOPY supervisord.conf /etc/supervisor/supervisord.conf\n"
                  "ENV GREETING=from-the-image\n"
                  'RUN ["/sbin/rinit", "check", "-c", "/etc/supervisor/supervisord.conf"]\n'
                  'CMD ["/sbin/rinit", "-c", "/etc/supervisor/supervisord.conf"]\n')
        plan = r.stdout
        # Lines of the plan (the findings above it name worker before web).
        web, worker = plan.find("\nweb: "), plan.find("\nworker (instances")
        if web < 0 or worker < web:
            raise Failure(f"expected check's plan to start web, then worker:\n{plan[-2000:]}")
        ct = self.run_detached(f"{PREFIX}/supervisord-conf", "-e", "GREETING=hello from docker run")
        self.wait_log(ct, r"web says hello from docker run$")
        self.wait_log(ct, r"worker [01] up$", count=2)
        took = self.timed_stop(ct)
        code = self.exit_code(ct)
        if code != 0 or took >= 10:
            raise Failure(f"docker stop: expected exit code 0 within Docker's 10 s, saw {code} after "
                          f"{took:.2f}s; logs:\n{self.logs(ct)[-2000:]}")

    # -- a base image and a derived one that adds a program through /etc/rinit.d

    def t_derived_image(self):
        """The base image's /etc/rinit.toml includes /etc/rinit.d/*.toml (empty
        there: the pattern matches nothing, and the base runs web alone); a
        derived image adds worker.toml without touching the base's file,
        `RUN rinit check` shows where worker came from, and the container
        runs both. A file added to the running container then starts with
        `rinit reload`, web keeping its pid."""
        build(self.engine, f"{PREFIX}/app-base", os.path.join(self.work, "ctx-app-base"),
              {"rinit.toml": DERIVED_BASE},
              f"FROM {PREFIX}/base\nRUN mkdir /etc/rinit.d\nCOPY rinit.toml /etc/rinit.toml\nCMD [\"/sbin/rinit\"]\n")
        r = build(self.engine, f"{PREFIX}/app-derived", os.path.join(self.work, "ctx-app-derived"),
                  {"worker.toml": DERIVED_WORKER},
                  f"FROM {PREFIX}/app-base\nCOPY worker.toml /etc/rinit.d/worker.toml\n"
                  'RUN ["/sbin/rinit", "check"]\n')
        if "    from /etc/rinit.d/worker.toml" not in r.stdout:
            raise Failure(f"expected check to show worker from /etc/rinit.d/worker.toml:\n{r.stdout[-2000:]}")
        base = self.run_detached(f"{PREFIX}/app-base")
        r = self.wait_ready(base, ["web"])
        if "worker" in r.stdout:
            raise Failure(f"the base image runs web alone:\n{r.stdout}")
        self.engine.run("rm", "-f", base)
        ct = self.run_detached(f"{PREFIX}/app-derived")
        r = self.wait_ready(ct, ["web", "worker"])
        web = [line.split()[2] for line in r.stdout.splitlines() if line.startswith("web ")]
        self.wait_log(ct, r"^worker \| working$")
        self.engine.run("exec", ct, "sh", "-c",
                        "printf '[program.extra]\\ncommand = \"sleep 1000\"\\n' > /etc/rinit.d/extra.toml")
        r = self.engine.run("exec", ct, "/sbin/rinit", "reload", check=False)
        if r.returncode != 0 or "started extra" not in r.stdout or "unchanged 2" not in r.stdout:
            raise Failure(f"rinit reload: exit {r.returncode}:\n{r.stdout}")
        r = self.wait_ready(ct, ["web", "worker", "extra"])
        now = [line.split()[2] for line in r.stdout.splitlines() if line.startswith("web ")]
        if now != web:
            raise Failure(f"web's pid changed across the reload: {web} -> {now}")
        took = self.timed_stop(ct)
        code = self.exit_code(ct)
        if code != 0 or took >= 10:
            raise Failure(f"docker stop: expected exit code 0 within 10 s, saw {code} after {took:.2f}s")

    # -- Dockerfile.example

    def t_rinit_image(self):
        """The repository's Dockerfile, `--target rinit`: its `rinit` stage
        verbatim on a stand-in for the build stage (no registry here), tagged
        as Dockerfile.example copies it from; the image holds /rinit alone."""
        with open(os.path.join(ROOT, "Dockerfile")) as f:
            rinit_stage = stage(f.read(), "rinit")
        context = os.path.join(self.work, "ctx-rinit-image")
        os.makedirs(context)
        shutil.copy(self.args.rinit, os.path.join(context, "rinit"))
        with open(os.path.join(context, "Dockerfile"), "w") as f:
            f.write("FROM scratch AS build\nCOPY rinit /rinit\n\n" + rinit_stage)
        r = self.engine.run("build", "--network", "none", "--target", "rinit", "-t", "rinit:latest", context,
                            check=False, timeout=120)
        if r.returncode != 0:
            raise Failure(f"docker build --target rinit failed:\n{r.stdout[-3000:]}")
        saved = os.path.join(self.work, "rinit-image.tar")
        self.engine.run("save", "-o", saved, "rinit:latest")
        files = []
        with tarfile.open(saved) as image:
            manifest = json.load(image.extractfile("manifest.json"))
            for layer in manifest[0]["Layers"]:
                with tarfile.open(fileobj=image.extractfile(layer)) as tar:
                    files += [m.name for m in tar.getmembers() if not m.isdir()]
        if files != ["rinit"]:
            raise Failure(f"expected the rinit image to hold the one file rinit, it holds {files}")
        self.rinit_image_built = True

    def t_dockerfile_example(self):
        if not getattr(self, "rinit_image_built", False):
            raise Failure("no rinit:latest image to copy from: rinit_image failed")
        with open(os.path.join(ROOT, "Dockerfile.example")) as f:
            runtime = stage(f.read(), "runtime")
        rootfs = os.path.join(self.work, "python.tar")
        python_rootfs(rootfs, self.work, self.args.busybox,
                      os.path.join(ROOT, "examples", "docker-app", "requirements.txt"))
        self.engine.import_tar(rootfs, "python:3.11-slim-bookworm",
                               "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
                               "ENV LANG=C.UTF-8", 'CMD ["python3"]')
        context = os.path.join(self.work, "ctx-example")
        os.makedirs(os.path.join(context, "examples"))
        shutil.copytree(os.path.join(ROOT, "examples", "docker-app"),
                        os.path.join(context, "examples", "docker-app"))
        with open(os.path.join(context, "Dockerfile"), "w") as f:
            f.write(runtime)
        r = self.engine.run("build", "--network", "none", "-t", f"{PREFIX}/example", context,
                            check=False, timeout=180)
        if r.returncode != 0:
            raise Failure(f"building the runtime stage failed:\n{r.stdout[-3000:]}")
        if self.args.verbose:
            log(r.stdout)
        for package in ("gunicorn", "celery"):
            if not re.search(rf"Requirement already satisfied: {package}==", r.stdout):
                raise Failure(f"pip did not find {package} already installed:\n{r.stdout[-3000:]}")
        ct = self.run_detached(f"{PREFIX}/example", "--health-interval", "1s")
        self.wait_healthy(ct, 60, 0.3, lambda: f"status:\n{self.status(ct).stdout}\nlogs:\n{self.logs(ct)[-3000:]}")
        r = self.wait_ready(ct, ["web", "worker"], timeout=30)
        user = self.engine.out("exec", ct, "sh", "-c", "id; cat /proc/1/comm").split()
        if user[:2] != ["uid=10001(app)", "gid=10001(app)"] or user[-1] != "rinit":
            raise Failure(f"expected uid 10001(app), gid 10001(app) and rinit as PID 1, saw {user}")
        out = self.engine.out("exec", ct, "python", "-c",
                              "import urllib.request; print(urllib.request.urlopen("
                              "'http://127.0.0.1:8000/add?x=2&y=3', timeout=10).read().decode())")
        m = re.search(r"queued (\S+)", out)
        if not m:
            raise Failure(f"GET /add should answer 'queued ID', answered {out!r}")
        self.wait_log(ct, rf"^worker \| .*Task tasks\.add\[{re.escape(m.group(1))}\] succeeded in .*: 5$",
                      timeout=30)
        took = self.timed_stop(ct)
        code = self.exit_code(ct)
        if self.args.verbose:
            log(self.logs(ct))
        if code != 0 or took >= 10:
            raise Failure(f"docker stop: expected exit code 0 within Docker's 10 s, saw {code} after "
                          f"{took:.2f}s; logs:\n{self.logs(ct)[-2000:]}")
        self.example_built = True

    def t_dockerfile_example_read_only(self):
        """The same image as Dockerfile.example's comment says to run it
        read-only: a tmpfs /run for uid 10001 and a tmpfs /tmp."""
        if not getattr(self, "example_built", False):
            raise Failure("no image: dockerfile_example failed")
        ct = self.run_detached(f"{PREFIX}/example", "--read-only", "--tmpfs", "/run:uid=10001",
                               "--tmpfs", "/tmp", "--cap-drop", "ALL", "--health-interval", "1s")
        self.wait_healthy(ct, 60, 0.3, lambda: f"logs:\n{self.logs(ct)[-3000:]}")
        self.wait_ready(ct, ["web", "worker"], timeout=30)
        took = self.timed_stop(ct)
        code = self.exit_code(ct)
        if code != 0 or took >= 10:
            raise Failure(f"docker stop: expected exit code 0 within Docker's 10 s, saw {code} after "
                          f"{took:.2f}s; logs:\n{self.logs(ct)[-2000:]}")

    # -- podman

    def t_podman(self):
        """The same images and a few of the checks with podman: the programs
        up, SIGHUP forwarded, a fast clean stop, the healthcheck (run by hand:
        podman runs them from systemd timers, which a test host may not
        have), and exit codes in single-command mode."""
        if shutil.which("podman") is None:
            raise Failure("podman not found (apt-get install podman), or run with --no-podman")
        pm = Podman(os.path.join(self.work, "podman"), shutil.which("podman"))
        self.podman = pm
        try:
            pm.import_tar(os.path.join(self.work, "base.tar"), f"{PREFIX}/base")
            for tag, config, check in [("supervised", SUPERVISED, "--retries=3"),
                                       ("never-ready", NEVER_READY, "--retries=1")]:
                context = os.path.join(self.work, f"pctx-{tag}")
                os.makedirs(context)
                with open(os.path.join(context, "rinit.toml"), "w") as f:
                    f.write(config)
                with open(os.path.join(context, "Containerfile"), "w") as f:
                    f.write(f'FROM {PREFIX}/base\nCOPY rinit.toml /etc/rinit.toml\nRUN ["/sbin/rinit", "check"]\n'
                            f'HEALTHCHECK --interval=1s {check} CMD ["/sbin/rinit", "status", "-q"]\n'
                            'CMD ["/sbin/rinit"]\n')
                # The docker format keeps HEALTHCHECK (OCI images have none).
                pm.run("build", "--format", "docker", "--network", "none", "-t", f"{PREFIX}/{tag}", context,
                       timeout=120)
            ct = self.name("podman")
            pm.run("run", "-d", "--name", ct, f"{PREFIX}/supervised")
            self.wait_ready(ct, ["ticker", "hupper", "quiet"], engine=pm)
            health = pm.run("healthcheck", "run", ct, check=False)
            if health.returncode != 0:
                raise Failure(f"podman healthcheck run: expected 0 (healthy), saw {health.returncode}: "
                              f"{health.stdout}")
            self.wait_log(ct, r"^hupper \| waiting for signals$", engine=pm)
            pm.run("kill", "-s", "HUP", ct)
            self.wait_log(ct, r"^hupper \| got HUP$", timeout=5, engine=pm)
            took = self.timed_stop(ct, engine=pm)
            code = self.exit_code(ct, engine=pm)
            if code != 0 or took >= 2:
                raise Failure(f"podman stop: expected exit code 0 within 2 s, saw {code} after {took:.2f}s")
            ct = self.name("podman")
            pm.run("run", "-d", "--name", ct, f"{PREFIX}/never-ready")
            wait_for("rinit status showing web running (not ready)",
                     lambda: re.search(r"^web\s+running\s", self.status(ct, "web", engine=pm).stdout, re.M), 10)
            health = pm.run("healthcheck", "run", ct, check=False)
            if health.returncode != 1 or "unhealthy" not in health.stdout:
                raise Failure(f"podman healthcheck run with web not ready: expected 1 and unhealthy, saw "
                              f"{health.returncode}: {health.stdout}")
            pm.run("rm", "-f", ct)
            for command, expected in ((["sh", "-c", "exit 7"], 7), (["sh", "-c", "kill -TERM $$"], 143),
                                      (["no-such-command"], 127)):
                r = pm.run("run", "--rm", "--entrypoint", '["/sbin/rinit", "--"]', f"{PREFIX}/base", *command,
                           check=False)
                if r.returncode != expected:
                    raise Failure(f"podman run {command}: expected exit code {expected}, saw {r.returncode}: "
                                  f"{r.stdout}")
            if 'rinit: cannot run "no-such-command"' not in r.stdout:
                raise Failure(f"expected rinit's message for a missing command, saw {r.stdout!r}")
        finally:
            pm.stop()

    def t_podman_kube(self):
        """`podman kube play` of a pod with rinit as PID 1 (the pod of
        docs/kubernetes.md, cut down): rinit restarts a program whose health
        check fails; podman turns the httpGet liveness probe into a curl
        healthcheck, which sees /livez fail while a critical program is
        unhealthy (run by hand, as podman runs them from systemd timers);
        `podman pod stop` is a SIGTERM that rinit drains for 2 s, then a
        clean stop well within the grace period. podman 4.3 ignores the
        readiness probe and terminationGracePeriodSeconds (its stop timeout
        stays 10 s), and its `kube down` kills without a SIGTERM."""
        if shutil.which("podman") is None or shutil.which("curl") is None:
            raise Failure("podman or curl not found (apt-get install podman catatonit curl), or run with --no-podman")
        pm = Podman(os.path.join(self.work, "podman-kube"), shutil.which("podman"))
        self.podman_kube = pm
        out = os.path.join(self.work, "kube-out")
        os.makedirs(out)
        image = os.path.join(self.work, "kube.tar")
        kube_image(image, os.path.join(self.work, "base.tar"), KUBE_RINIT_TOML)
        pod = os.path.join(self.work, "pod.yaml")
        with open(pod, "w") as f:
            f.write(KUBE_POD.format(image=f"{PREFIX}/kube", out=out))
        ct = "rinit-e2e-app"
        try:
            pm.import_tar(image, f"localhost/{PREFIX}/kube", 'CMD ["/sbin/rinit"]', "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin")
            pm.run("kube", "play", pod, timeout=120)
            self.wait_ready(ct, ["web", "stuck", "worker"], engine=pm)
            check = pm.out("inspect", "-f", "{{json .Config.Healthcheck.Test}}", ct)
            if "http://localhost:9001/livez" not in check:
                raise Failure(f"podman's healthcheck from the liveness probe: expected curl of /livez, saw {check}")
            health = pm.run("healthcheck", "run", ct, check=False)
            if health.returncode != 0:
                raise Failure(f"podman healthcheck run: expected 0 (healthy), saw {health.returncode}: {health.stdout}")
            # A failing health check: rinit restarts the program.
            pm.run("exec", ct, "rm", "/tmp/worker-ok")
            wait_for("rinit restarting worker", lambda: re.search(
                r"^worker\s+\S+\s+\S+\s+\S+\s+[1-9]", self.status(ct, engine=pm).stdout, re.M), 10)
            pm.run("exec", ct, "touch", "/tmp/worker-ok")
            self.wait_ready(ct, ["worker"], engine=pm)
            # The pod stopped as the kubelet does: SIGTERM, the drain, then
            # the orderly stop. (podman 4.3's `kube down` removes the pod
            # with SIGKILL at once: no SIGTERM reaches rinit; `pod stop`
            # sends it.)
            asked = uptime()
            pm.run("pod", "stop", "rinit-e2e", timeout=60)
            took = uptime() - asked
            pm.run("kube", "down", pod, timeout=60)
            with open(os.path.join(out, "web-term")) as f:
                web_term = float(f.read().split()[0]) - asked
            with open(os.path.join(out, "rinit.log")) as f:
                rinit_log = f.read()
            if not 1.9 <= web_term < 4 or took >= 8:
                raise Failure(f"pod stop: expected web's SIGTERM after the 2 s drain and an end within the 8 s "
                              f"grace period, saw SIGTERM at {web_term:.2f}s, down in {took:.2f}s; rinit's log:\n"
                              f"{rinit_log[-1500:]}")
            for line in ("rinit: SIGTERM: draining for 2s", "rinit: the drain (2s) is over",
                         "rinit: worker is unhealthy: its health check failed once: stopping it"):
                if line not in rinit_log:
                    raise Failure(f"expected {line!r} in rinit's log, saw:\n{rinit_log[-1500:]}")
            # The liveness probe's view: a critical program unhealthy.
            pm.run("kube", "play", pod, timeout=120)
            self.wait_ready(ct, ["stuck"], engine=pm)
            started = pm.out("inspect", "-f", "{{.State.StartedAt}}", ct)
            pm.run("exec", ct, "rm", "/tmp/stuck-ok")
            wait_for("stuck unhealthy", lambda: re.search(r"^stuck\s+unhealthy", self.status(ct, engine=pm).stdout,
                                                          re.M), 10)
            pm.run("healthcheck", "run", ct, check=False)

            # podman acts on the failure: it stops the container and tries to
            # start it again, which sometimes fails without systemd (it then
            # stays exited, unhealthy) and sometimes succeeds (running again,
            # health "starting"). Either way the check's log keeps curl's 503
            # and the container did not just run on.
            def acted():
                seen = pm.out("inspect", "-f", "{{.State.StartedAt}}|{{.State.Status}}|{{.State.Health.Status}}|"
                              "{{json .State.Health.Log}}", ct, check=False)
                now, status, health, log = (seen.split("|", 3) + ["", "", ""])[:4]
                acted_on = now != started or status != "running" or health == "unhealthy"
                return seen if acted_on and "returned error: 503" in log else None
            try:
                wait_for("podman acting on the failed liveness check", acted, 20)
            except Failure:
                seen = pm.out("inspect", "-f", "{{.State.Status}} {{.State.Health.Status}} "
                              "{{json .State.Health.Log}}", ct, check=False)
                raise Failure(f"podman's liveness check with stuck unhealthy: expected curl's 503 and the "
                              f"container stopped or restarted, saw {seen[:600]}")
            pm.run("kube", "down", pod, timeout=60)
        finally:
            pm.stop()


def kube_image(path, base, rinit_toml):
    """`base` (busybox and rinit) with curl and its libraries, which podman
    4.3 runs for an httpGet liveness probe, and /etc/rinit.toml."""
    shutil.copy(base, path)
    with tarfile.open(path, "a") as tar:
        for p in ["/usr/bin/curl"] + ldd(["/usr/bin/curl"]):
            tar.add(os.path.realpath(p), arcname=p.lstrip("/"))
        add_file(tar, "etc/rinit.toml", rinit_toml.encode())


def uptime():
    """The host's /proc/uptime, which a container reads the same."""
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def parse_stat(text):
    """{pid: (comm, state, ppid, cmdline)} from lines `STAT :: CMDLINE`."""
    table = {}
    for line in text.splitlines():
        m = re.match(r"^(\d+) \((.*)\) (\S) (\d+) .* :: ?(.*)$", line)
        if m:
            table[int(m.group(1))] = (m.group(2), m.group(3), int(m.group(4)), m.group(5).strip())
    return table


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rinit", required=True, help="the static rinit binary")
    parser.add_argument("--busybox", default="/bin/busybox", help="a static busybox (busybox-static)")
    parser.add_argument("--docker", default=shutil.which("docker"), help="the docker client")
    parser.add_argument("--no-podman", action="store_true", help="skip the podman checks")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this test (repeatable), to look into one failure")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the build output and logs of Dockerfile.example's container")
    args = parser.parse_args()
    args.rinit = os.path.abspath(args.rinit)
    started = time.monotonic()
    for path, what in ((args.rinit, "--rinit"), (args.busybox, "busybox (apt-get install busybox-static)")):
        if not os.path.isfile(path):
            log(f"FAIL setup: {what}: {path} not found")
            return 2
    if args.docker is None:
        log("FAIL setup: no docker client (apt-get install docker.io)")
        return 2
    if os.geteuid() != 0:
        log("FAIL setup: dockerd needs root")
        return 2

    def on_term(signo, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    work = tempfile.mkdtemp(prefix="rinit-e2e.")
    suite = Suite(args, work)
    suite.second = None
    suite.podman = None
    code = 0
    try:
        try:
            suite.engine = Engine(os.path.join(work, "e1"), args.docker)
            log(f"dockerd {suite.engine.version} up in {time.monotonic() - started:.1f}s")
            suite.setup_images()
            log(f"images built at {time.monotonic() - started:.1f}s")
        except (SetupError, Failure, subprocess.TimeoutExpired) as e:
            log(f"FAIL setup: {e}")
            code = 2
        else:
            for name, fn in [
                ("supervisor_up", suite.t_supervisor_up),
                ("stop_fast", suite.t_stop_fast),
                ("stop_timeout_kills", suite.t_stop_timeout_kills),
                ("hup_forwarded", suite.t_hup_forwarded),
                ("exit_code", suite.t_exit_code),
                ("exit_signal", suite.t_exit_signal),
                ("missing_command", suite.t_missing_command),
                ("zombies_reaped", suite.t_zombies_reaped),
                ("readonly_nonroot", suite.t_readonly_nonroot),
                ("readonly_no_socket", suite.t_readonly_no_socket),
                ("tmpfs_run_is_roots", suite.t_tmpfs_run_is_roots),
                ("docker_init", suite.t_docker_init),
                ("healthy", suite.t_healthy),
                ("unhealthy", suite.t_unhealthy),
                ("build_check_bad", suite.t_build_check_bad),
                ("build_check_good", suite.t_build_check_good),
                ("supervisord_conf", suite.t_supervisord_conf),
                ("derived_image", suite.t_derived_image),
                ("rinit_image", suite.t_rinit_image),
                ("dockerfile_example", suite.t_dockerfile_example),
                ("dockerfile_example_read_only", suite.t_dockerfile_example_read_only),
                ("init_path", suite.t_init_path),
            ] + ([] if args.no_podman else [("podman", suite.t_podman), ("podman_kube", suite.t_podman_kube)]):
                if args.only and name not in args.only:
                    continue
                if name == "stop_fast" and not hasattr(suite, "supervised"):
                    suite.results.append((name, False, 0))
                    log("FAIL stop_fast: no container: supervisor_up failed")
                    continue
                suite.test(name, fn)
    except KeyboardInterrupt:
        log("interrupted: tearing down")
        code = 130
    finally:
        teardown = time.monotonic()
        for engine in (suite.podman, getattr(suite, "podman_kube", None), suite.second, suite.engine):
            if engine is not None:
                engine.stop()
        left = mounts_under(work)
        for mount in reversed(left):
            subprocess.run(["umount", "-l", mount], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
        if left:
            log(f"FAIL teardown: mounts left under {work}: {left}")
            code = code or 1
        if os.path.exists(work):
            log(f"FAIL teardown: {work} could not be removed")
            code = code or 1
        log(f"torn down in {time.monotonic() - teardown:.1f}s")
    failed = [name for name, ok, _ in suite.results if not ok]
    log(f"{len(suite.results) - len(failed)} passed, {len(failed)} failed"
        f"{': ' + ', '.join(failed) if failed else ''}; total {time.monotonic() - started:.1f}s")
    if code == 0 and failed:
        code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
