#!/usr/bin/env bash
# The release images under a real Docker engine: release/Dockerfile built
# for linux/amd64 and linux/arm64 from dist/ (release/build.sh first), each
# checked for its architecture and its one file, and run: the arm64 one
# through qemu-user registered with binfmt_misc, so that the kernel itself
# hands the container's aarch64 binaries to qemu.
#
#   bash release/test-image.sh        (root; about 15 s)
#
# Starts a private dockerd (its data-root, exec-root and socket in a
# temporary folder; no bridge, no iptables; containers with --network none)
# and stops it at the end, as tests/docker/e2e.py does. binfmt_misc is
# mounted and qemu-aarch64 registered only if they were not, and put back as
# they were afterwards. Exits 0 when every check passed, 1 when one failed,
# and 0 with "skip" when this machine cannot do it (no root, binfmt_misc
# cannot be mounted, dockerd will not start): said on one line, never silent.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root" || exit 2
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; }
skip() { echo "skip release/test-image.sh: $1"; echo "0 passed, 0 failed, 1 skipped"; exit 0; }

[ "$(id -u)" = 0 ] || skip "needs root (dockerd, binfmt_misc)"
for f in dist/rinit-amd64 dist/rinit-arm64; do
    [ -x "$f" ] || { echo "release/test-image.sh: no $f: run release/build.sh first" >&2; exit 2; }
done
export DEBIAN_FRONTEND=noninteractive
need=()
command -v dockerd >/dev/null || need+=(docker.io)
[ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || need+=(qemu-user-static)
[ ${#need[@]} = 0 ] || apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/rinit-image.XXXXXX")
mounted=0 registered='' dockerd_pid=''
entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
cleanup() {
    if [ -n "$dockerd_pid" ]; then
        "${docker[@]}" ps -aq 2>/dev/null | xargs -r "${docker[@]}" rm -f >/dev/null 2>&1
        kill -TERM "$dockerd_pid" 2>/dev/null
        for _ in $(seq 300); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$dockerd_pid" 2>/dev/null
        # dockerd's own mounts under the folder, should it have left any.
        grep -F " $work/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
    fi
    case $registered in
        new) echo -1 >"$entry" ;;     # remove the entry this script added
        enabled) echo 0 >"$entry" ;;  # disable it again, as it was
    esac
    [ $mounted = 1 ] && umount /proc/sys/fs/binfmt_misc
    rm -rf "$work"
}
trap cleanup EXIT

# --- binfmt_misc ------------------------------------------------------------
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>"$work/mount.err" ||
        skip "binfmt_misc cannot be mounted here: $(cat "$work/mount.err")"
    mounted=1
fi
# qemu-user-static's own entry (/usr/share/binfmts/qemu-aarch64: aarch64
# ELF headers, executables and static-pie alike), written to the kernel
# directly rather than through binfmt-support, with the flags P (argv[0]
# kept) and F: the kernel opens qemu at registration, so it is found
# inside containers too, which do not have it.
if [ -e "$entry" ]; then
    if ! grep -q '^enabled' "$entry"; then echo 1 >"$entry" && registered=enabled; fi
else
    magic=$(sed -n 's/^magic //p' /usr/share/binfmts/qemu-aarch64)
    mask=$(sed -n 's/^mask //p' /usr/share/binfmts/qemu-aarch64)
    echo ":qemu-aarch64:M:0:$magic:$mask:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:PF" \
        >/proc/sys/fs/binfmt_misc/register 2>"$work/binfmt.err" ||
        skip "qemu-aarch64 cannot be registered: $(cat "$work/binfmt.err")"
    registered=new
fi
grep -q '^flags: .*F' "$entry" ||
    skip "qemu-aarch64 is registered without the F flag: containers would not find qemu"

# --- a private dockerd -------------------------------------------------------
client=/usr/bin/docker
[ -x "$client" ] || client=docker
export DOCKER_HOST=unix://$work/sock DOCKER_BUILDKIT=0 DOCKER_CONFIG=$work/client
unset DOCKER_CONTEXT
docker=("$client")
printf '{}\n' >"$work/daemon.json"
setsid dockerd --iptables=false --ip6tables=false --bridge=none \
    --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/pid" \
    -H "$DOCKER_HOST" --config-file "$work/daemon.json" \
    --containerd-namespace "rinit-release-$$" --containerd-plugins-namespace "rinit-release-$$-plugins" \
    </dev/null >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 300); do
    kill -0 "$dockerd_pid" 2>/dev/null || skip "dockerd exited: $(tail -5 "$work/dockerd.log")"
    "${docker[@]}" version >/dev/null 2>&1 && break
    sleep 0.1
done
"${docker[@]}" version >/dev/null 2>&1 || skip "dockerd did not answer within 30 s"

# --- the images -------------------------------------------------------------
for arch in amd64 arm64; do
    image=rinit-release:$arch
    # BuildKit (built into dockerd 20.10; the classic builder gives a FROM
    # scratch image's ARG step the host's platform and then refuses the
    # COPY: "does not match the specified platform"). BuildKit sets
    # TARGETARCH from --platform, as it does for users.
    if ! DOCKER_BUILDKIT=1 "${docker[@]}" build -q --platform "linux/$arch" \
        -f release/Dockerfile -t "$image" dist >"$work/build-$arch" 2>&1; then
        fail "$arch build" "$(cat "$work/build-$arch")"
        continue
    fi
    got=$("${docker[@]}" image inspect -f '{{.Os}}/{{.Architecture}}' "$image")
    if [ "$got" = "linux/$arch" ]; then ok "$arch image is linux/$arch"; else fail "$arch image" "is $got"; fi

    # One layer, one file: /rinit, the very bytes of dist/.
    "${docker[@]}" save "$image" | tar -xf - -C "$work" --one-top-level="save-$arch"
    layers=("$work/save-$arch"/*/layer.tar)
    files=$(tar -tf "${layers[0]}" | tr '\n' ' ')
    if [ ${#layers[@]} = 1 ] && [ "$files" = "rinit " ] &&
        tar -xOf "${layers[0]}" rinit | cmp -s - "dist/rinit-$arch"; then
        ok "$arch image holds one file, /rinit, equal to dist/rinit-$arch"
    else
        fail "$arch image content" "${#layers[@]} layers, files: $files"
    fi

    run=("${docker[@]}" run --rm --network none --platform "linux/$arch" "$image")
    got=$("${run[@]}" /rinit --version 2>&1)
    if [[ $got == "rinit "* ]]; then ok "$arch docker run IMAGE /rinit --version: $got"; else fail "$arch run" "$got"; fi
    # rinit as PID 1 of the container, starting a child (rinit again, the
    # only program in the image): the child's exit code is the container's.
    "${run[@]}" /rinit -- /rinit -- /missing >"$work/run-$arch" 2>&1
    got=$?
    if [ "$got" = 127 ] && grep -q 'cannot run "/missing"' "$work/run-$arch"; then
        ok "$arch rinit as PID 1 passes on its child's exit code (127)"
    else
        fail "$arch exit code" "$got (want 127): $(cat "$work/run-$arch")"
    fi
    "${run[@]}" /rinit check -c /missing.toml >"$work/check-$arch" 2>&1
    got=$?
    if [ "$got" = 2 ] && grep -q '/missing.toml' "$work/check-$arch"; then
        ok "$arch rinit check of a missing file exits 2"
    else
        fail "$arch check" "$got (want 2): $(cat "$work/check-$arch")"
    fi
done
# What README.md and docs/docker.md tell users to write: the rinit image of
# the build's own architecture, by TARGETARCH, copied into theirs. BuildKit
# sets TARGETARCH from --platform, and FROM can use it undeclared; a
# declaration before the first FROM would make it empty on Docker 20.10
# ("rinit-release:": invalid reference format). The classic builder
# needs the declaration and --build-arg TARGETARCH=ARCH.
mkdir -p "$work/buildkit" "$work/classic"
cat >"$work/buildkit/Dockerfile" <<'EOF'
FROM rinit-release:${TARGETARCH} AS rinit
FROM scratch
COPY --from=rinit /rinit /sbin/rinit
EOF
{ echo 'ARG TARGETARCH'; cat "$work/buildkit/Dockerfile"; } >"$work/classic/Dockerfile"
for arch in amd64 arm64; do
    for builder in buildkit classic; do
        if [ $builder = buildkit ]; then
            build=(env DOCKER_BUILDKIT=1 "${docker[@]}" build)
        else
            build=("${docker[@]}" build --build-arg "TARGETARCH=$arch")
        fi
        got=
        if "${build[@]}" -q --platform "linux/$arch" -t "user-$builder:$arch" "$work/$builder" >"$work/user-$builder-$arch" 2>&1 &&
            got=$("${docker[@]}" run --rm --network none --platform "linux/$arch" "user-$builder:$arch" /sbin/rinit --version 2>&1) &&
            [[ $got == "rinit "* ]] &&
            [ "$("${docker[@]}" image inspect -f '{{.Architecture}}' "user-$builder:$arch")" = "$arch" ]; then
            ok "$arch an image FROM rinit-release:\${TARGETARCH} ($builder) gets the $arch rinit"
        else
            fail "$arch user image ($builder)" "$(tail -3 "$work/user-$builder-$arch") $got"
        fi
    done
done
echo "$passed passed, $failed failed"
[ $failed = 0 ]
