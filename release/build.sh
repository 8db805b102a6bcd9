#!/usr/bin/env bash
# The release artefacts: static binaries users COPY into their images.
#
#   bash release/build.sh        (as root, or with the packages below installed)
#
# writes dist/rinit-amd64 (x86_64, static-pie), dist/rinit-arm64 (aarch64,
# static-pie), dist/SHA256SUMS (sha256sum's format, names relative) and
# dist/BUILDINFO (commit, SOURCE_DATE_EPOCH, the toolchain's versions), and
# prints each size. Two runs from the same commit with the same Debian
# packages give the same bytes, wherever the tree is (release/test-reproducible.sh
# checks it; docs/testing.md, "The release path").
#
# How: Debian 12's rustc-web (a current stable rustc, from bookworm-security)
# with its rust-src, and -Z build-std, which compiles the standard library
# with rinit instead of linking the prebuilt one. That is what makes both
# possible at once: a cross-compiled standard library for aarch64 (rustup's
# targets cannot be fetched on our build machines) and a smaller one for
# both, built for size (optimize_for_size), with panics that abort on the
# spot (panic = "immediate-abort": no panic message, no backtrace printer and
# no DWARF symbolizer), without unwind tables for Rust code
# (-C force-unwind-tables=no: nothing unwinds once panics abort) and without
# source locations (-Z location-detail=none). A PID 1 never unwinds and has
# no terminal to print a backtrace to; what these remove is in
# docs/performance.md ("The release build").
# RUSTC_BOOTSTRAP=1 unlocks those -Z options on this stable compiler. The
# everyday `cargo build --release` is untouched: stable toolchain, the flags of
# .cargo/config.toml, target/x86_64-unknown-linux-gnu. This build has a target
# directory of its own (target/release-build) so that neither disturbs the
# other.
#
# Why a shell script and not an xtask: the work is installing Debian packages
# and calling another toolchain's cargo with an environment (RUSTC,
# RUSTC_BOOTSTRAP, per-target flags) — what a shell does in a few lines and
# what a Rust program would only wrap in Command calls. A script runs on a
# fresh machine with nothing compiled first (the xtask itself would need the
# stable toolchain), CI calls it as it calls test.sh and fuzz/run.sh, and
# the workspace and its Cargo.lock stay rinit's alone.
#
# Environment: RINIT_DIST (default dist), RINIT_RELEASE_TARGET_DIR (default
# target/release-build), SOURCE_DATE_EPOCH (default: the last commit's time;
# required where the tree is not a git checkout).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root"
# cargo splits the per-target flags below on white space.
case $root in *[[:space:]]*) echo "release/build.sh: the tree's path has white space: $root" >&2; exit 1 ;; esac
dist=${RINIT_DIST:-dist}
target_dir=${RINIT_RELEASE_TARGET_DIR:-target/release-build}

# --- the toolchain ---------------------------------------------------------
# rustc-web, cargo-web: rustc and cargo (/usr/bin/rustc, /usr/bin/cargo);
# rust-web-src: the standard library's source, for -Z build-std;
# gcc, libc6-dev: the x86_64 linker and static glibc;
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross: the same for aarch64.
packages=(rustc-web cargo-web rust-web-src gcc libc6-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "release/build.sh: missing Debian packages; as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "release/build.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's compiler by its path: rustup's proxies (~/.cargo/bin) may come
# first in PATH and would pick the stable toolchain, which has no rust-src.
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
cargo=/usr/bin/cargo
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS RUSTC_WRAPPER CARGO_BUILD_RUSTC_WRAPPER
sysroot=$("$RUSTC" --print sysroot)
rust_src=$sysroot/lib/rustlib/src/rust
[ -d "$rust_src/library/std" ] || { echo "release/build.sh: no standard library source in $rust_src (rust-web-src)" >&2; exit 1; }
commit_hash=$("$RUSTC" -vV | sed -n 's/^commit-hash: //p')
cargo_home=${CARGO_HOME:-$HOME/.cargo}

# --- reproducibility ------------------------------------------------------
# Nothing in a stripped binary built this way holds a date, but tools that
# honour SOURCE_DATE_EPOCH get the commit's, not the clock's.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) || {
        echo "release/build.sh: not a git checkout: set SOURCE_DATE_EPOCH" >&2
        exit 1
    }
fi
export SOURCE_DATE_EPOCH
export LC_ALL=C TZ=UTC
# Paths the compiler sees, each mapped to a name that does not depend on the
# machine: the tree (and the target directory inside it), cargo's home (the
# registry's sources) and the standard library's source (by its link and
# its real path), the last as rustup's own builds name it, /rustc/HASH.
# rustc applies the last prefix that matches, so the longer ones come last.
remap=(
    "--remap-path-prefix=$root=/rinit"
    "--remap-path-prefix=$cargo_home=/cargo"
    "--remap-path-prefix=$(realpath "$rust_src")=/rustc/$commit_hash"
    "--remap-path-prefix=$rust_src=/rustc/$commit_hash"
)

# --- aarch64: static-pie ---------------------------------------------------
# rustc's built-in aarch64-unknown-linux-gnu does not declare static-pie
# support, so +crt-static gives a static binary at a fixed address (gcc
# -static -no-pie), and -static-pie added on top links the wrong start
# file (crt1.o) and crashes at start. glibc and gcc do support it (rcrt1.o).
# The target spec is therefore the compiler's own, printed by this very
# rustc, with that one property set; its file name keeps the triple. No
# -z pack-relative-relocs there: Debian 12's aarch64 binutils (2.40)
# ignores it with a warning (RELR came to aarch64 in binutils 2.41).
spec_dir=$target_dir/spec
mkdir -p "$spec_dir"
arm_spec=$(cd "$spec_dir" && pwd -P)/aarch64-unknown-linux-gnu.json
"$RUSTC" -Z unstable-options --print target-spec-json --target aarch64-unknown-linux-gnu |
    sed 's/^{$/{\n  "static-position-independent-executables": true,/' >"$arm_spec.new"
grep -q '"static-position-independent-executables": true' "$arm_spec.new"
if cmp -s "$arm_spec.new" "$arm_spec"; then rm "$arm_spec.new"; else mv "$arm_spec.new" "$arm_spec"; fi

# --- flags -----------------------------------------------------------------
# -Z location-detail=none changes no byte today (immediate-abort already
# drops every use of a panic's location: measured), and the remapping above
# none either (with strip, no path reaches the binary: measured by building
# without it at another path). Both stay as guards: should either setting
# change, file names would otherwise come back into the bytes.
# Per target, so that one cargo run builds both (two link-time
# optimisations in parallel on two cores). cargo appends these to
# .cargo/config.toml's rustflags for x86_64 (+crt-static and
# -z pack-relative-relocs, as in the everyday build).
# release/no-unwind-tables.ld leaves the C objects' unwind tables out too
# (its comment says why that is safe).
common=(-C target-feature=+crt-static -C force-unwind-tables=no -Z location-detail=none "${remap[@]}"
    -C "link-arg=-Wl,-T,$root/release/no-unwind-tables.ld")
CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="${common[*]}"
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="${common[*]}"
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# The release profile of Cargo.toml (opt-level "z", LTO, one codegen unit,
# strip), with panic = "abort" made "immediate-abort".
CARGO_PROFILE_RELEASE_PANIC=immediate-abort
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER CARGO_PROFILE_RELEASE_PANIC

# --- build -----------------------------------------------------------------
echo "release/build.sh: $("$RUSTC" -V), $("$cargo" -V), SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
"$cargo" build --release --locked --bin rinit \
    -Z build-std=std,panic_abort -Z build-std-features=optimize_for_size \
    -Z panic-immediate-abort -Z json-target-spec \
    --target x86_64-unknown-linux-gnu --target "$arm_spec" \
    --target-dir "$target_dir"

mkdir -p "$dist"
# dist/ is never committed; the ignore file lives in it so that the
# repository's .gitignore stays as it is.
printf '*\n' >"$dist/.gitignore"
install -m 0755 "$target_dir/x86_64-unknown-linux-gnu/release/rinit" "$dist/rinit-amd64"
install -m 0755 "$target_dir/aarch64-unknown-linux-gnu/release/rinit" "$dist/rinit-arm64"

# --- checks ----------------------------------------------------------------
# Static (static-pie: no interpreter, type DYN), the right machine, and no
# build path left in the bytes.
check() { # FILE MACHINE
    local f=$1 machine=$2 header
    header=$(readelf -hl "$f")
    grep -q "Machine: *$machine" <<<"$header" || { echo "$f: not $machine" >&2; exit 1; }
    grep -q 'Type: *DYN' <<<"$header" || { echo "$f: not position-independent (static-pie)" >&2; exit 1; }
    ! grep -q 'INTERP' <<<"$header" || { echo "$f: has a program interpreter: not static" >&2; exit 1; }
    ! readelf -d "$f" | grep -q NEEDED || { echo "$f: needs shared libraries" >&2; exit 1; }
    ! readelf -SW "$f" | grep -q '\.eh_frame' || { echo "$f: has unwind tables (release/no-unwind-tables.ld)" >&2; exit 1; }
    local leaked
    leaked=$(strings -n 6 "$f" | grep -F -e "$root" -e "$cargo_home" -e "$rust_src" -e "$(realpath "$rust_src")" \
        -e /registry/src/ -e /rustlib/ -e "$HOME/" || true)
    [ -z "$leaked" ] || { echo "$f: holds build paths:" >&2; echo "$leaked" >&2; exit 1; }
}
check "$dist/rinit-amd64" 'Advanced Micro Devices X86-64'
check "$dist/rinit-arm64" 'AArch64'

(cd "$dist" && sha256sum rinit-amd64 rinit-arm64 >SHA256SUMS)
{
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git status --porcelain 2>/dev/null | grep -q . && echo ' (with uncommitted changes)')"
    echo "SOURCE_DATE_EPOCH: $SOURCE_DATE_EPOCH"
    "$RUSTC" -V
    "$cargo" -V
    dpkg-query -W -f='${Package} ${Version}\n' "${packages[@]}" binutils binutils-aarch64-linux-gnu
} >"$dist/BUILDINFO"

for f in rinit-amd64 rinit-arm64; do
    printf '%s: %s bytes\n' "$dist/$f" "$(stat -c %s "$dist/$f")"
done
cat "$dist/SHA256SUMS"
