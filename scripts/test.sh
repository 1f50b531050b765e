#!/usr/bin/env bash
# test.sh: what `make test` runs after go vet. One package at a time (-p 1):
# the real-server tests measure real-time behaviour, and a CPU-bound package
# beside them on a 2-core machine would measure the machine instead. The
# packages that start real servers run first, before the CPU-bound ones
# (simulations, resampler measurements): on the CI machines the real-time
# tests failed most often right after a long CPU-bound package.
#
# The machines CI runs on are virtual and now and then lose the CPU to
# their host for milliseconds (jackd, real-time itself, then reports
# xruns). The real-server tests already repeat a run disturbed that way
# (cmd/sgbridge: realtime); packages that still failed are run once more,
# said loudly, and only a second failure fails the run.
set -uo pipefail
export JACK_NO_START_SERVER=1
out=$(mktemp)
trap 'rm -f "$out"' EXIT

pkgs=$(go list "$@") || exit 1
servers='/(bridge/jack|bridge/pipewire|cmd/sgbridge|device/uio|device/portaudio)$'
first=$(grep -E "$servers" <<<"$pkgs")
rest=$(grep -vE "$servers" <<<"$pkgs")

status=0
for group in "$first" "$rest"; do
	[ -n "$group" ] || continue
	go test -p 1 -count=1 -timeout 20m $group 2>&1 | tee -a "$out"
	[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
[ "$status" -eq 0 ] && exit 0

failed=$(awk '$1 == "FAIL" && $2 ~ /\// {print $2}' "$out" | sort -u)
if [ -z "$failed" ]; then
	exit "$status" # a build failure: nothing to repeat
fi
echo
echo "test.sh: RERUNNING packages that failed once (real-time tests on a virtual machine): $(echo $failed)"
echo
go test -p 1 -count=1 -timeout 20m $failed
