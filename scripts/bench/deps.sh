#!/bin/sh
# What the benchmark needs beyond the build: the proxies it compares
# against, the load tools, and the redis-server that section 13's nodes
# share, installed only when missing.
set -eu
exec sh "$(dirname "$0")/../deps.sh" nginx libnginx-mod-stream haproxy wrk valgrind util-linux linux-perf liburing-dev apache2-utils dante-server tinyproxy-bin redis-server
