#!/bin/sh
# Installs what the benchmark needs beyond "make deps": the proxies it
# compares against and the load tools.  Only missing packages are
# installed, and "apt-get update" runs only when something is missing.
set -eu

pkgs="nginx libnginx-mod-stream haproxy wrk valgrind util-linux perl curl"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
	    missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "bench deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "bench deps: need root (or sudo) to install:$missing" >&2
		exit 1
	fi
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
