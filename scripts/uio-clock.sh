#!/bin/sh
# uio-clock.sh [SECONDS] [PPM]: how the device clock of the UIO path
# follows the emulated grabber. It starts `sgbridge emu` (sine, at PPM,
# default 150) under a temporary root and a private jackd (dummy, 48
# kHz/256), bridges the emulator into it, and prints each second what
# `sgbridge status` says: the device clock's measured ppm (the truth is
# PPM), its error from PPM, and the share of device stamps that were
# arrivals (interrupt wake-ups) rather than brackets from the register
# watch. Needs bin/sgbridge (make build) and jackd.
set -eu
secs=${1:-40}
ppm=${2:-150}
dir=$(mktemp -d)
export JACK_DEFAULT_SERVER="sgbuio$$" JACK_NO_START_SERVER=1
export XDG_RUNTIME_DIR="$dir"
name="uioclk$$"
jackd -n "$JACK_DEFAULT_SERVER" -r -d dummy -r 48000 -p 256 >"$dir/jackd.log" 2>&1 &
jackd=$!
bin/sgbridge emu --root "$dir/root" --signal sine --ppm "$ppm" >"$dir/emu.log" 2>&1 &
emu=$!
trap 'kill $sgb $emu $jackd 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
sleep 1
bin/sgbridge run --device uio:sgrab --uio-root "$dir/root" --name "$name" >"$dir/run.log" 2>&1 &
sgb=$!
echo "second device_ppm error_ppm arrival_share lock"
i=0
while [ "$i" -lt "$secs" ]; do
	sleep 1
	i=$((i + 1))
	bin/sgbridge status --name "$name" --json 2>/dev/null |
		python3 -c 'import json, sys
d = json.load(sys.stdin)
print("%6d %10.3f %+9.3f %13.2f %s" % (int(sys.argv[1]), d["device_ppm"], d["device_ppm"] - float(sys.argv[2]), d.get("arrival_share", 0), d.get("lock", "")))' "$i" "$ppm" ||
		echo "$i (no status yet)"
done
