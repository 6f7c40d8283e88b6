#!/usr/bin/env bash
# Builds `fairshare` and the switch's throughput benchmark with
# profile-guided optimisation (PGO): an instrumented build runs a training
# workload, and the profile it writes guides the optimised build (what to
# inline, how to lay out branches).
#
#   bash scripts/pgo.sh          # target/pgo/<host>/release/fairshare and the benchmark
#   bash scripts/pgo.sh --bench  # the same, then runs the benchmark on one core
#
# Training: the benchmark's own packets through the fairshare DC pipeline
# (64- and 1,500-byte), every pcap regression case of bmv2-tests/ and, when
# ../shared/conformance is there, p4c's STF conformance programs.
#
# Needs the `llvm-profdata` of the compiler's own LLVM, from rustup's
# llvm-tools component (installed here if missing). The builds go to
# target/pgo-gen and target/pgo: the normal target/release is left alone.
# The profile flags replace any `build.rustflags` of a cargo config.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'pgo.sh: %s\n' "$*" >&2; exit 1; }

run_bench=false
for a in "$@"; do
    case "$a" in
    --bench) run_bench=true ;;
    *) die "unknown argument '$a' (the only one is --bench)" ;;
    esac
done

host=$(rustc -vV | sed -n 's/^host: //p')
[ -n "$host" ] || die "rustc -vV names no host"
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
    say "installing rustup's llvm-tools (llvm-profdata)"
    rustup component add llvm-tools >/dev/null || die "could not install llvm-tools: run 'rustup component add llvm-tools'"
    [ -x "$profdata" ] || die "no llvm-profdata at $profdata after installing llvm-tools"
fi

data="$root/target/pgo-data"
merged="$root/target/pgo.profdata"

# Builds the binary and the benchmark into target dir $1 with the rustc
# flag $2 (one flag, so a path with spaces stays whole); sets `bench` to the
# benchmark's path. `--target` keeps the flag off build scripts and proc
# macros, which would otherwise write profiles while building.
bench=
build() {
    local dir=$1 flag=$2 json
    CARGO_ENCODED_RUSTFLAGS="$flag" CARGO_TARGET_DIR="$dir" cargo build --release \
        --target "$host" --bin fairshare || die "cargo build failed ($dir)"
    json=$(CARGO_ENCODED_RUSTFLAGS="$flag" CARGO_TARGET_DIR="$dir" cargo bench \
        -p fairshare-switch --bench pipeline --target "$host" --no-run \
        --message-format=json) || die "cargo bench --no-run failed ($dir)"
    bench=$(printf '%s\n' "$json" | grep -o '"executable":"[^"]*pipeline-[^"]*"' |
        tail -n 1 | cut -d'"' -f4) || true
    [ -n "$bench" ] && [ -x "$bench" ] ||
        die "cargo named no benchmark executable for target dir $dir"
}

say "instrumented build (target/pgo-gen)"
rm -rf "$data" "$merged"
mkdir -p "$data"
build "$root/target/pgo-gen" "-Cprofile-generate=$data"
gen_bench=$bench
gen_bin="$root/target/pgo-gen/$host/release/fairshare"

say "training"
FAIRSHARE_BENCH_PACKETS=400000 FAIRSHARE_BENCH_LOAD=0 "$gen_bench" --bench >/dev/null ||
    die "the benchmark failed under instrumentation"
"$gen_bin" test bmv2-tests >/dev/null || die "fairshare test failed under instrumentation"
if [ -d ../shared/conformance/cases ]; then
    "$gen_bin" stf --dir ../shared/conformance/cases >/dev/null ||
        die "fairshare stf failed under instrumentation"
else
    say "no ../shared/conformance: training without the STF programs"
fi
ls "$data"/*.profraw >/dev/null 2>&1 || die "training wrote no profile into $data"
"$profdata" merge -o "$merged" "$data" || die "llvm-profdata merge failed"

say "optimised build (target/pgo)"
build "$root/target/pgo" "-Cprofile-use=$merged"
use_bench=$bench
use_bin="$root/target/pgo/$host/release/fairshare"
say "built $use_bin"
say "built $use_bench (run it with --bench; FAIRSHARE_BENCH_* as in benches/pipeline.rs)"
if $run_bench; then
    # As BENCHMARKS.md measures it: pinned to one core, 1M packets a size.
    pin=()
    if command -v taskset >/dev/null 2>&1; then
        pin=(taskset -c "$(($(nproc) - 1))")
    fi
    FAIRSHARE_BENCH_LOAD=0 FAIRSHARE_BENCH_PACKETS=1000000 "${pin[@]}" "$use_bench" --bench
fi
