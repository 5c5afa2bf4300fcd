#!/usr/bin/env bash
# wua's public surface and unsafe blocks, per crate.
#
#   scripts/surface-count.sh          # the working tree
#   scripts/surface-count.sh REV      # any commit (read with `git archive`, nothing checked out)
#
# pub items: lines under `crates/<crate>/src/` declaring `pub fn|struct|enum|trait|type|const|
#   static|mod|use|union|macro` (also `pub const fn`, `pub async fn`, `pub unsafe fn|trait|impl`);
#   `pub(crate)`, `pub(super)` and `pub(in ...)` are not counted, nor are fields and variants.
#   Methods declared `pub` count as items: a `pub fn` in an impl is surface too.
# unsafe: lines containing `unsafe {` in every `.rs` file of the crate (src, tests, benches,
#   examples); `unsafe impl` and `unsafe fn` are not blocks.
set -euo pipefail

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
base=$repo
if [ $# -ge 1 ]; then
    base=$(mktemp -d)
    trap 'rm -rf "$base"' EXIT
    git -C "$repo" archive "$1" crates | tar -x -C "$base"
    echo "at $(git -C "$repo" rev-parse --short "$1")"
fi

pub_re='^[[:space:]]*pub[[:space:]]+((const|async|unsafe|extern "[^"]*")[[:space:]]+)*(fn|struct|enum|trait|type|const|static|mod|use|union|macro|impl)[[:space:]]'

count() { # pattern dir [grep options]
    local pattern=$1 dir=$2
    shift 2
    [ -d "$dir" ] || { echo 0; return; }
    { grep -rE "$@" --include='*.rs' -h -- "$pattern" "$dir" || true; } | wc -l
}

printf '%-20s %9s %8s\n' crate 'pub items' unsafe
total_pub=0
total_unsafe=0
for dir in "$base"/crates/*/; do
    crate=$(basename "$dir")
    pub=$(count "$pub_re" "$dir/src")
    unsafe=$(count 'unsafe \{' "$dir")
    printf '%-20s %9d %8d\n' "$crate" "$pub" "$unsafe"
    total_pub=$((total_pub + pub))
    total_unsafe=$((total_unsafe + unsafe))
done
printf '%-20s %9d %8d\n' total "$total_pub" "$total_unsafe"
