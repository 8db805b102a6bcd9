#!/usr/bin/env bash
# Are the release artefacts reproducible? Builds them twice and compares the
# bytes: once in this tree (release/build.sh; where it has run already, as
# in CI, cargo finds everything up to date and this takes a second, so the
# artefacts checked are the ones shipped), and once in a copy of the tree at
# another path, of another length, with a cargo home at another path, so
# that any build path left in a binary would show as a difference.
#
#   bash release/test-reproducible.sh        (about 80 s on 2 cores)
#
# Exits 0 when dist/rinit-amd64, dist/rinit-arm64 and dist/SHA256SUMS are
# byte for byte the same in both, 1 otherwise (with where they differ).
# The copy is removed afterwards unless KEEP=1.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root"
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export SOURCE_DATE_EPOCH

echo "== build in $root"
log=$(mktemp)
bash release/build.sh >"$log" 2>&1 || { cat "$log"; rm -f "$log"; echo "the build in $root failed"; exit 1; }
rm -f "$log"

# The copy: the files git knows of (tracked, and untracked but not ignored:
# the tree as it is, uncommitted changes included), without target/ or
# dist/. The copy is no git checkout: SOURCE_DATE_EPOCH comes from here.
work=$(mktemp -d "${TMPDIR:-/tmp}/rinit-reproducible.XXXXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
copy=$work/another/path/to/the/tree
mkdir -p "$copy"
git ls-files -z --cached --others --exclude-standard |
    tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$copy"

# Another cargo home. Its registry is this one's, through a link, so that
# nothing is downloaded again; cargo names the sources by the new path.
home=${CARGO_HOME:-$HOME/.cargo}
mkdir -p "$work/cargo-home"
for entry in registry git config.toml config credentials.toml; do
    [ -e "$home/$entry" ] && ln -s "$home/$entry" "$work/cargo-home/$entry"
done

echo "== build in $copy"
start=$SECONDS
CARGO_HOME=$work/cargo-home bash "$copy/release/build.sh" >"$work/build.log" 2>&1 || {
    cat "$work/build.log"
    echo "the build in the copy failed"
    exit 1
}
echo "   $((SECONDS - start)) s"

status=0
for f in rinit-amd64 rinit-arm64 SHA256SUMS; do
    if cmp -s "dist/$f" "$copy/dist/$f"; then
        echo "same: $f ($(stat -c %s "dist/$f") bytes)"
    else
        status=1
        echo "DIFFERENT: $f: $(stat -c %s "dist/$f") and $(stat -c %s "$copy/dist/$f") bytes," \
            "$(cmp -l "dist/$f" "$copy/dist/$f" 2>/dev/null | wc -l) bytes differ"
        if [ "$f" != SHA256SUMS ]; then
            # What differs, where strings show it.
            diff <(strings -n 8 "dist/$f") <(strings -n 8 "$copy/dist/$f") | head -20 || true
        fi
    fi
done
[ $status -eq 0 ] && echo "reproducible: two builds at two paths gave the same bytes" || echo "NOT reproducible"
exit $status
