#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test with
# the peers required (a test whose peer is missing fails instead of skipping).
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -p fairshare-rsvp   # extra arguments go to cargo test
#
# Real BMv2: the tests that run simple_switch, simple_switch_CLI and
# simple_switch_grpc (the differential tests, and the P4Runtime client
# driving simple_switch_grpc in runtime/switch-p4rt/tests/client_bmv2.rs)
# use the build named by FAIRSHARE_BMV2 (a folder with bin/), else
# ../shared/bmv2, else the binaries on PATH:
#
#   FAIRSHARE_BMV2=/opt/bmv2 bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

# Debian packages: tshark and editcap decode the RSVP we emit; iproute2's
# `ip` makes the veth pairs of the live-port tests.
missing=()
command -v tshark >/dev/null 2>&1 || missing+=(tshark)
command -v editcap >/dev/null 2>&1 || missing+=(wireshark-common)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq "${missing[@]}" >/dev/null || die "could not install ${missing[*]}"
fi

# Python peers, in a venv under target/: scapy for RSVP, and the official
# P4Runtime bindings through p4runtime-shell, which pins p4runtime 1.4.1 with
# protobuf 3.20 (a set that imports; p4runtime 1.6 with a current protobuf
# does not).
venv="$root/target/venv"
if ! "$venv/bin/python" -c 'import scapy, p4.v1.p4runtime_pb2, p4runtime_sh' >/dev/null 2>&1; then
    say "creating $venv with scapy and p4runtime-shell"
    python3 -m venv "$venv" || die "could not create a venv at $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check scapy==2.6.1 p4runtime-shell==0.0.5 \
        || die "could not install scapy and p4runtime-shell into $venv"
    "$venv/bin/python" -c 'import scapy, p4.v1.p4runtime_pb2, p4runtime_sh' \
        || die "the Python peers do not import"
fi
export FAIRSHARE_PYTHON="$venv/bin/python"

# Real BMv2 from ../shared when present (its runtime libraries need installing once).
if [ -z "${FAIRSHARE_BMV2:-}" ] && [ -x "$root/../shared/bmv2/bin/simple_switch" ]; then
    export FAIRSHARE_BMV2="$root/../shared/bmv2"
fi
if [ -n "${FAIRSHARE_BMV2:-}" ] && [ -f "$FAIRSHARE_BMV2/install-deps.sh" ]; then
    if ! "$FAIRSHARE_BMV2/bin/simple_switch" --version >/dev/null 2>&1; then
        say "installing BMv2's runtime libraries"
        bash "$FAIRSHARE_BMV2/install-deps.sh" >/dev/null || die "BMv2's install-deps.sh failed"
    fi
fi

export FAIRSHARE_REQUIRE_PEERS=1
# BMv2 is required where ../shared provides it (CI); elsewhere the BMv2 tests
# skip with a reason unless FAIRSHARE_BMV2 points at a build.
if [ -n "${FAIRSHARE_BMV2:-}" ] || [ "${CI:-}" = true ]; then
    export FAIRSHARE_REQUIRE_BMV2=1
fi
say "cargo test"
cargo test --workspace --locked "$@"
