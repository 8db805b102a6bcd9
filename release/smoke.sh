#!/usr/bin/env bash
# Smoke tests of a release artefact: does this binary do rinit's job on this
# machine? For the binary of another architecture (dist/rinit-arm64 on an
# x86_64 host) every rinit runs under qemu-user (qemu-aarch64-static), and
# the commands rinit starts are the host's own (sh, sleep): qemu passes
# rinit's execve to the kernel.
#
#   bash release/smoke.sh dist/rinit-amd64 dist/rinit-arm64
#
# Bash and coreutils only (qemu-user-static is installed with apt when an
# arm64 binary is given and it is missing). As root, rinit runs as PID 1 of
# a PID namespace of its own (unshare --pid --fork --mount-proc), as in a
# container; without root (or where unshare is refused) the same tests run
# without the namespace, and those that need PID 1 say why they are
# skipped. What runs under emulation and what cannot: docs/testing.md, "The
# release path". Prints "ok NAME" or "FAIL NAME: why" per test and
# "N passed, N failed, N skipped"; exits 1 if a test failed. KEEP=1 keeps
# the files each test wrote (configurations, outputs).
set -uo pipefail

[ $# -gt 0 ] || { echo "usage: release/smoke.sh BINARY..." >&2; exit 2; }

passed=0 failed=0 skipped=0
work=$(mktemp -d "${TMPDIR:-/tmp}/rinit-smoke.XXXXXX")
children=()
cleanup() {
    local p
    for p in "${children[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok   $label $1 ($((SECONDS - t0)) s)"; }
fail() { failed=$((failed + 1)); echo "FAIL $label $1: $2"; }
skip() { skipped=$((skipped + 1)); echo "skip $label $1: $2"; }

# "${R[@]}" ARGS...: the binary under test, through qemu where it needs it
# (set for each binary below). "${ns[@]}" before it: as PID 1 of a new PID
# namespace, where we can (else empty).

# verdict NAME PROBLEMS: ok when there are none.
verdict() { if [ -z "$2" ]; then ok "$1"; else fail "$1" "$2"; fi; }

# wait_for FILE TEXT SECONDS: until FILE holds TEXT (a fixed string).
wait_for() {
    local deadline=$((SECONDS + $3))
    until grep -qF -- "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.05
    done
}

# rinit_pid PID: rinit's pid, where PID is unshare's (its one child) or rinit's.
rinit_pid() {
    if [ "$namespaces" = 1 ]; then
        local deadline=$((SECONDS + 10)) c=
        while [ -z "$c" ] && [ $SECONDS -lt $deadline ]; do
            c=$(cat "/proc/$1/task/$1/children" 2>/dev/null) || true
            [ -n "$c" ] || sleep 0.05
        done
        echo "${c%% *}"
    else
        echo "$1"
    fi
}

# finish PID SECONDS: wait for a background job, at most SECONDS; its exit
# code, or 255 after a SIGKILL at the deadline.
finish() {
    local deadline=$((SECONDS + $2))
    while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
    kill -0 "$1" 2>/dev/null && { kill -KILL "$1"; wait "$1" 2>/dev/null; return 255; }
    wait "$1"
}

# --- the tests -------------------------------------------------------------

test_version() {
    local out
    local out got
    out=$(timeout 20 "${R[@]}" --version)
    got=$?
    if [ "$got" = 0 ] && [[ $out == "rinit "* ]]; then ok version; else fail version "got '$out' (exit $got)"; fi
}

test_exit_codes() {
    local cmd want got bad=
    for case in 'exit 0:0' 'exit 3:3' 'exit 255:255' 'kill -TERM $$:143' 'kill -KILL $$:137' 'kill -HUP $$:129'; do
        cmd=${case%:*} want=${case##*:}
        timeout 20 "${R[@]}" -- sh -c "$cmd" 2>/dev/null
        got=$?
        [ "$got" = "$want" ] || bad+=" '$cmd' gave $got, not $want;"
    done
    timeout 20 "${R[@]}" -- /nonexistent/command 2>"$work/missing.err"
    got=$?
    [ "$got" = 127 ] || bad+=" a missing command gave $got, not 127;"
    grep -q 'cannot run "/nonexistent/command"' "$work/missing.err" || bad+=" no 'cannot run' message;"
    verdict exit_codes "$bad"
}

# A child that traps a signal gets it from rinit, and its exit code is
# rinit's: SIGUSR1 (forwarded like any signal) and SIGTERM (forwarded in
# single-command mode: the command decides when it ends).
test_signals() {
    local sig code out p rp got bad=
    for case in USR1:42 TERM:43 HUP:44; do
        sig=${case%:*} code=${case#*:} out=$work/signal-$sig
        "${ns[@]}" "${R[@]}" -- sh -c "trap 'echo got $sig; exit $code' $sig; echo ready; while :; do sleep 0.05; done" >"$out" 2>&1 &
        p=$!
        children+=("$p")
        if ! wait_for "$out" ready 20; then bad+=" $sig: the child never started;"; kill -KILL "$p"; continue; fi
        rp=$(rinit_pid "$p")
        kill -"$sig" "$rp"
        finish "$p" 20
        got=$?
        [ "$got" = "$code" ] && grep -q "got $sig" "$out" || bad+=" $sig: exit $got (want $code), output: $(tr '\n' ' ' <"$out");"
    done
    verdict signals "$bad"
}

# An orphan (a sleep whose parent has exited) is adopted by rinit and reaped
# when it exits (-w reports it); no zombie is left.
test_orphans() {
    if [ "$namespaces" = 0 ] && [ ${#runner[@]} -gt 0 ]; then
        skip orphans "needs PID 1 (root and unshare): under qemu-user rinit cannot become a child subreaper"
        return
    fi
    local out=$work/orphans got
    # shellcheck disable=SC2016 # the script is sh's
    timeout 30 "${ns[@]}" "${R[@]}" -w -- sh -c '
        ( sleep 0.3 & )
        sleep 1.5
        echo zombies: $(for s in /proc/[0-9]*/stat; do read -r _ _ st _ <"$s" && [ "$st" = Z ] && echo z; done 2>/dev/null | wc -l)
        exit 5' >"$out" 2>&1
    got=$?
    if [ "$got" = 5 ] && grep -q 'reaped pid .* which rinit did not start' "$out" && grep -q 'zombies: 0' "$out"; then
        ok orphans
    else
        fail orphans "exit $got (want 5), output: $(tr '\n' ' ' <"$out")"
    fi
}

# Not PID 1, rinit becomes a child subreaper, so that orphans still come to
# it. qemu-user refuses PR_SET_CHILD_SUBREAPER (EINVAL): under emulation the
# test expects rinit's warning instead, so that a qemu that allows it is
# noticed (docs/testing.md, "The release path").
test_subreaper() {
    local out=$work/subreaper got
    # shellcheck disable=SC2016 # the script is sh's
    timeout 30 "${R[@]}" -w -- sh -c '( sleep 0.3 & ); sleep 1; exit 6' >"$out" 2>&1
    got=$?
    if [ ${#runner[@]} = 0 ]; then
        if [ "$got" = 6 ] && grep -q 'reaped pid .* which rinit did not start' "$out"; then
            ok subreaper
        else
            fail subreaper "exit $got (want 6), output: $(tr '\n' ' ' <"$out")"
        fi
    elif [ "$got" = 6 ] && grep -q 'could not become a child subreaper (Invalid argument)' "$out"; then
        ok "subreaper (refused by qemu-user, as expected)"
    else
        fail subreaper "exit $got (want 6, and the warning that qemu refused), output: $(tr '\n' ' ' <"$out")"
    fi
}

test_check() {
    local dir=$work/check got bad=
    mkdir -p "$dir"
    cat >"$dir/good.toml" <<'EOF'
[program.web]
command = "sleep 1000"

[program.worker]
command = ["sh", "-c", "exec sleep 1000"]
after = ["web"]
EOF
    cat >"$dir/bad.toml" <<'EOF'
[program.web]
comand = "sleep 1000"
EOF
    timeout 20 "${R[@]}" check -c "$dir/good.toml" >"$dir/good.out" 2>&1
    got=$?
    [ "$got" = 0 ] && grep -q '2 programs, in start order' "$dir/good.out" || bad+=" good file: exit $got, $(tr '\n' ' ' <"$dir/good.out");"
    timeout 20 "${R[@]}" check -c "$dir/bad.toml" >"$dir/bad.out" 2>&1
    got=$?
    [ "$got" = 2 ] && grep -qF "bad.toml:2:1: program web: key comand: unknown key \`comand\`: did you mean \`command\`?" "$dir/bad.out" ||
        bad+=" bad file: exit $got (want 2), $(tr '\n' ' ' <"$dir/bad.out");"
    verdict check "$bad"
}

# A Procfile becomes rinit TOML, which rinit check then accepts.
test_import() {
    local dir=$work/import got bad=
    mkdir -p "$dir"
    printf 'web: sleep 1000\nclock: while true; do sleep 60; done\n' >"$dir/Procfile"
    timeout 20 "${R[@]}" import "$dir/Procfile" >"$dir/out.toml" 2>"$dir/err"
    got=$?
    [ "$got" = 0 ] || bad+=" import exit $got: $(cat "$dir/err");"
    grep -q '^\[program.web\]$' "$dir/out.toml" && grep -q '^\[program.clock\]$' "$dir/out.toml" &&
        grep -qF 'command = ["sh", "-c", "while true; do sleep 60; done"]' "$dir/out.toml" || bad+=" output: $(tr '\n' ' ' <"$dir/out.toml");"
    timeout 20 "${R[@]}" check -c - <"$dir/out.toml" >"$dir/check" 2>&1 || bad+=" rinit check of the output: $(tr '\n' ' ' <"$dir/check");"
    verdict import "$bad"
}

# The table: web ready, restarted once after a SIGKILL.
table_shows_web_restarted() {
    timeout 20 "${R[@]}" status -c "$conf" >"$dir/table" 2>&1
    grep -qE '^web +ready +[0-9]+ +[0-9a-z]+ +1 +SIGKILL$' "$dir/table" || { bad+=" the table: $(tr '\n' '|' <"$dir/table")"; return 1; }
}

# status_until NAME PATTERN SECONDS: until `rinit status --json NAME` holds
# PATTERN (an extended regular expression).
status_until() {
    local deadline=$((SECONDS + $3))
    until timeout 20 "${R[@]}" status --json -c "$conf" "$1" 2>&1 | grep -qE -- "$2"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

# Supervisor mode through the control socket: two programs start in order
# and become ready (web by a ready file); a SIGKILL to web (rinit signal)
# is followed by a restart; rinit restart and rinit stop act on worker and
# answer; rinit status reports it all; SIGTERM ends rinit with exit 0.
test_supervisor() {
    local dir=$work/supervisor p rp got bad=''
    mkdir -p "$dir"
    conf=$dir/rinit.toml
    cat >"$conf" <<EOF
[rinit]
control_socket = "$dir/rinit.sock"

[program.web]
command = ["sh", "-c", "touch $dir/web.ready; exec sleep 1000"]
ready = { file = "$dir/web.ready" }
restart = "always"
restart_delay = "0"
critical = true

[program.worker]
command = "sleep 1000"
after = ["web"]
EOF
    timeout 20 "${R[@]}" status -q -c "$conf" 2>"$dir/unreachable"
    got=$?
    [ "$got" = 3 ] && grep -q "cannot reach rinit at $dir/rinit.sock" "$dir/unreachable" ||
        bad+=" status before rinit runs: exit $got (want 3), $(cat "$dir/unreachable");"
    "${ns[@]}" "${R[@]}" -c "$conf" >"$dir/out" 2>&1 &
    p=$!
    children+=("$p")
    step() { # WHAT COMMAND...: run COMMAND, note WHAT on failure
        local what=$1
        shift
        "$@" || { bad+=" $what;"; return 1; }
    }
    step "web never ready" status_until web '"name":"web","state":"ready".*"restarts":0' 30 &&
        step "worker never ready after web" status_until worker '"name":"worker","state":"ready"' 30 &&
        step "rinit status exit $? with web ready" timeout 20 "${R[@]}" status -q -c "$conf" &&
        step "rinit signal KILL web" timeout 20 "${R[@]}" signal -c "$conf" KILL web >"$dir/signal" 2>&1 &&
        step "web not restarted after SIGKILL" status_until web '"name":"web","state":"ready".*"restarts":1,"last_exit":"SIGKILL"' 30 &&
        step "rinit restart worker" timeout 30 "${R[@]}" restart -c "$conf" worker >"$dir/restart" 2>&1 &&
        step "worker not ready after rinit restart" status_until worker '"name":"worker","state":"ready"' 30 &&
        step "rinit stop worker" timeout 30 "${R[@]}" stop -c "$conf" worker >"$dir/stop" 2>&1 &&
        step "worker not stopped" status_until worker '"name":"worker","state":"stopped"' 30 &&
        step "rinit status table" table_shows_web_restarted
    rp=$(rinit_pid "$p")
    kill -TERM "$rp" 2>/dev/null
    finish "$p" 20
    got=$?
    [ "$got" = 0 ] || bad+=" exit $got after SIGTERM, not 0;"
    [ -z "$bad" ] || bad+=" rinit's output: $(tr '\n' ' ' <"$dir/out" | cut -c1-600)"
    verdict supervisor "$bad"
}

# --- each binary -----------------------------------------------------------

host=$(uname -m)
namespaces=0 ns=()
if [ "$(id -u)" = 0 ] && unshare --pid --fork --mount-proc true 2>/dev/null; then
    namespaces=1 ns=(unshare --pid --fork --mount-proc --kill-child)
fi
for bin in "$@"; do
    [ -x "$bin" ] || { echo "release/smoke.sh: $bin: not an executable file" >&2; exit 2; }
    bin=$(realpath "$bin")
    machine=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
    runner=()
    case $machine:$host in
        *X86-64:x86_64 | AArch64:aarch64) ;;
        AArch64:*)
            if ! command -v qemu-aarch64-static >/dev/null; then
                [ "$(id -u)" = 0 ] || { echo "release/smoke.sh: needs qemu-aarch64-static (apt-get install qemu-user-static)" >&2; exit 2; }
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
            fi
            runner=(qemu-aarch64-static)
            ;;
        *) echo "release/smoke.sh: $bin: $machine cannot run on $host" >&2; exit 2 ;;
    esac
    R=("${runner[@]}" "$bin")
    label=$(basename "$bin")
    echo "== $label ($machine${runner:+, under ${runner[*]}}; $([ $namespaces = 1 ] && echo 'as PID 1 of a PID namespace' || echo 'not PID 1'))"
    for t in version exit_codes signals orphans subreaper check import supervisor; do
        t0=$SECONDS
        "test_$t"
    done
done
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]
