#!/usr/bin/env bash
# The test command, on a fresh Debian machine, as root: installs what the
# tests need, then runs them all — `cargo test` (rinit as PID 1 of new PID
# namespaces and of runc containers) and the Docker end-to-end tests
# (tests/docker/e2e.py: a private dockerd, images FROM scratch, the real
# engine). Nothing is skipped: a missing tool or an engine that cannot start
# is a failure.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: run it as root (sudo ./test.sh): the tests make PID namespaces, containers and a Docker engine" >&2
    exit 1
fi

echo "== installing what the tests need"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# runc: container tests; util-linux: unshare and setpriv; python3: a real
# sd_notify client, tcp listeners, the e2e driver; redis-server and celery:
# the warm-shutdown test (tests/it/celery.rs); strace: the
# never-signal-a-reaped-pid test (tests/it/faults.rs); procps: ps; docker.io,
# busybox-static, podman and catatonit (the pause process of podman's pods):
# the Docker (and podman) end-to-end tests, with curl for the pod's liveness
# probe (tests/docker/e2e.py, podman_kube), which
# also use Debian's python3.11 and passwd/login (useradd, nologin) for their
# stand-in Python image; chromium, tesseract-ocr and fonts-dejavu-core: the
# status page opened in a headless browser and its screenshot read back
# (tests/it/page.rs); tzdata: the zones of the schedule tests (src/schedule/).
apt-get install -y -qq --no-install-recommends runc util-linux python3 python3-venv redis-server strace \
    procps docker.io busybox-static podman catatonit curl passwd login chromium tesseract-ocr fonts-dejavu-core tzdata >/dev/null
# The tests' Python packages go into a virtual environment of their own, not
# into Debian's python3 (which refuses pip: PEP 668, "externally managed"):
# celery's redis transport needs its "redis" extra (kombu's redis support);
# prometheus_client's parser reads /metrics in tests/it/http.rs; pip itself
# builds the stand-in Python image of the Docker tests. Its python3 comes
# first in PATH for everything below.
venv=target/test-venv
[ -x "$venv/bin/python3" ] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/python3" -m pip install -q --disable-pip-version-check 'celery[redis]' prometheus_client
export PATH="$PWD/$venv/bin:$PATH"

echo "== cargo test"
cargo test

echo "== Docker end-to-end (the static release binary in a real engine)"
cargo build --release --bins
python3 tests/docker/e2e.py --rinit target/x86_64-unknown-linux-gnu/release/rinit
