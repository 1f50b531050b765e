#!/usr/bin/env bash
# deps.sh: install the Debian packages sgbridge builds and tests with.
# Idempotent and quiet: it asks apt only for what dpkg says is missing.
set -euo pipefail

pkgs=(
	build-essential pkg-config
	jackd2 libjack-jackd2-dev jack-capture
	pipewire pipewire-bin pipewire-jack wireplumber libpipewire-0.3-dev
	portaudio19-dev libasound2-dev libasound2-plugins
	libzita-resampler-dev zita-ajbridge
	sox procps
)

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# jackd2 asks whether to enable realtime scheduling; the tests do not need it.
echo "jackd2 jackd/tweak_rt_limits boolean false" | "${sudo[@]}" debconf-set-selections
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
