#!/usr/bin/env bash
# run.sh: what `make run` does. Runs the simulated grabber into the JACK
# graph that is reachable, or, when none is, into a private dummy-driver
# jackd started here and stopped on exit. Extra arguments go to
# `sgbridge run`.
set -euo pipefail

bin=${SGBRIDGE:-bin/sgbridge}
export JACK_NO_START_SERVER=1
jackd_pid=
cleanup() {
	if [ -n "$jackd_pid" ]; then
		kill "$jackd_pid" 2>/dev/null || true
		wait "$jackd_pid" 2>/dev/null || true
		echo "run: stopped private JACK server $JACK_DEFAULT_SERVER" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sink=()
if ! jack_lsp >/dev/null 2>&1; then
	export JACK_DEFAULT_SERVER=sgbridge-run-$$
	echo "run: no JACK server running; starting a private one ($JACK_DEFAULT_SERVER: dummy driver, 48 kHz, period 256)" >&2
	jackd -n "$JACK_DEFAULT_SERVER" --port-max 64 -r -d dummy -r 48000 -p 256 >/tmp/$JACK_DEFAULT_SERVER.log 2>&1 &
	jackd_pid=$!
	sink=(--sink jack) # the server we started, even if PipeWire runs too
	for _ in $(seq 100); do
		jack_lsp >/dev/null 2>&1 && break
		kill -0 "$jackd_pid" 2>/dev/null || { cat /tmp/$JACK_DEFAULT_SERVER.log >&2; exit 1; }
		sleep 0.1
	done
fi
echo "run: Ctrl-C stops; in another shell: JACK_DEFAULT_SERVER=${JACK_DEFAULT_SERVER:-default} jack_lsp -l" >&2
"$bin" run --device sim --status-every 1s "${sink[@]}" "$@" &
child=$!
trap 'kill -INT $child 2>/dev/null || true' INT TERM
wait "$child" || true
wait "$child" 2>/dev/null || true
