#!/usr/bin/env bash
# Instructions per call of each figure of benches/codec.rs, counted by
# callgrind: the difference between a run of N1 and a run of N2 calls,
# divided by N2 - N1, so that start-up and set-up cancel out. Unlike a
# rate, the count does not move with the load on the machine.
#
# Usage: runtime/rsvp/benches/count_instructions.sh [FIGURE...]
# FIGUREs: parse view emit emit_vec (all four by default).
set -euo pipefail
cd "$(dirname "$0")/../../.."
command -v valgrind >/dev/null || { echo "skipped: valgrind not found"; exit 0; }

bin=$(cargo bench -p fairshare-rsvp --bench codec --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -x "$bin" ] || { echo "bench binary not found" >&2; exit 1; }

n1=20000
n2=120000
total() {
    local out
    out=$(mktemp)
    FAIRSHARE_BENCH_ONLY=$1 FAIRSHARE_BENCH_ITERS=$2 \
        valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" >/dev/null 2>&1
    sed -n 's/^summary: \([0-9]*\).*/\1/p' "$out"
    rm -f "$out"
}
for figure in "${@:-parse view emit emit_vec}"; do
    for f in $figure; do
        a=$(total "$f" $n1)
        b=$(total "$f" $n2)
        echo "$f: $(( (b - a) / (n2 - n1) )) instructions per message"
    done
done
