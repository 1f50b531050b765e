#!/bin/sh
# gc-stall.sh [BIN [RUN-ARGS...]]: how long the interrupt loop stalls
# while a goroutine inside sgbridge allocates 500 MB/s. It starts a
# private jackd (dummy driver, 48 kHz/256), bridges the simulator into it,
# records 20 s with jack_capture, and prints the exit line's underruns and
# worst_stall_us. BIN defaults to bin/sgbridge (make build).
set -eu
bin=${1:-bin/sgbridge}
[ $# -gt 0 ] && shift
dir=$(mktemp -d)
export JACK_DEFAULT_SERVER="sgbgc$$" JACK_NO_START_SERVER=1
jackd -n "$JACK_DEFAULT_SERVER" -r -d dummy -r 48000 -p 256 >"$dir/jackd.log" 2>&1 &
jackd=$!
trap 'kill $jackd 2>/dev/null; wait $jackd 2>/dev/null; rm -rf "$dir"' EXIT
sleep 1
"$bin" run --device sim --sim-signal sine --sim-ppm 200 --channels 2 \
	--gc-stress 500 --latency 1000 --name sgbgc "$@" >"$dir/sgbridge.log" 2>&1 &
sgb=$!
sleep 3
timeout 30 jack_capture -d 20 -c 2 -p 'sgbgc:capture_*' "$dir/rec.wav" >/dev/null 2>&1
kill -INT $sgb
wait $sgb || true
grep -o 'underruns=[0-9]*\|worst_stall_us=[0-9]*' "$dir/sgbridge.log" | tr '\n' ' '
echo
