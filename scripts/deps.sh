#!/bin/sh
# Installs the Debian packages that building and testing cuttle need:
# only those missing, and "apt-get update" only when something is.
# Package names given as arguments are installed too (scripts/bench).
set -eu

pkgs="build-essential pkg-config libyaml-dev zlib1g-dev libjansson-dev libssl-dev libcrypt-dev libmaxminddb-dev libpcre2-dev libc-ares-dev libhiredis-dev check mandoc perl libio-socket-ssl-perl libmaxmind-db-writer-perl curl openssl apache2-utils whois $*"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
	    missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "deps: need root (or sudo) to install:$missing" >&2
		exit 1
	fi
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
