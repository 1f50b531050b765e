#!/bin/sh
# jack-clock.sh [SECONDS]: how steady a private jackd's dummy driver's
# frame clock is, as the drift tests see it. It starts jackd (-R, dummy,
# 48 kHz/256) and, on it, a small C client (scripts/jackclock/client)
# that records each cycle's wake-up and published cycle time, with
# sgbridge bridging the simulator as in the tests (bin/sgbridge: make
# build); then prints the frame clock's rate over windows of the server's
# life (scripts/jackclock). With KEEP=FILE the client's lines are kept
# there too (bridge/drift/testdata/README.md). Needs gcc and
# libjack-jackd2-dev.
set -eu
secs=${1:-46}
here=$(dirname "$0")
dir=$(mktemp -d)
export JACK_DEFAULT_SERVER="sgbclk$$" JACK_NO_START_SERVER=1
export XDG_RUNTIME_DIR="$dir"
cc -O2 -Wall -o "$dir/client" "$here/jackclock/client/client.c" -ljack
jackd -n "$JACK_DEFAULT_SERVER" --port-max 64 -R -P 70 -d dummy -r 48000 -p 256 >"$dir/jackd.log" 2>&1 &
jackd=$!
trap 'kill $jackd 2>/dev/null; wait $jackd 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.3
"$dir/client" "$secs" >"$dir/cycles.txt" &
client=$!
sleep 1.2
bin/sgbridge run --device sim --sim-signal sine --sim-ppm 200 --latency 1000 --name sgbclk >"$dir/sgbridge.log" 2>&1 &
sgb=$!
wait $client
kill -INT $sgb
wait $sgb || true
if [ -n "${KEEP:-}" ]; then cp "$dir/cycles.txt" "$KEEP"; fi
go run "./$here/jackclock" <"$dir/cycles.txt"
