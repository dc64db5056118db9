#!/usr/bin/env bash
# cuttle benchmark: cuttle against nginx and HAProxy on loopback, and its
# forward and SOCKS modes against tinyproxy and dante (section 10).
#
#   make bench                     # builds cuttle, runs this, writes docs/BENCHMARKS.md
#   BENCH_ROUNDS=9 BENCH_DURATION=10 scripts/bench/run.sh
#   BENCH_ONLY=tls BENCH_ROUNDS=3 BENCH_DURATION=3 BENCH_OUT=/tmp/tls.md \
#       scripts/bench/run.sh       # a quick look at the TLS scenarios alone
#   BENCH_ONLY=proxy BENCH_ROUNDS=3 BENCH_OUT=/tmp/proxy.md \
#       scripts/bench/run.sh       # the forward and SOCKS tunnels alone
#   BENCH_ONLY=approval BENCH_ROUNDS=3 BENCH_OUT=/tmp/approval.md \
#       scripts/bench/run.sh       # operator approval alone (section 11)
#   BENCH_ONLY=cache BENCH_ROUNDS=3 BENCH_OUT=/tmp/cache.md \
#       scripts/bench/run.sh       # the HTTP cache alone (section 12)
#   BENCH_ONLY=cluster BENCH_ROUNDS=3 BENCH_OUT=/tmp/cluster.md \
#       scripts/bench/run.sh       # the cluster through Redis alone (section 13)
#
# Layout: every proxy runs with one worker pinned to CPU 0; the origin (an
# nginx with one worker) and the load generators are pinned to CPU 1.  All
# three proxies stay up for the whole run and take turns, round by round
# (cuttle, nginx, HAProxy, cuttle, nginx, HAProxy, ...), so that slow drifts
# of the machine hit every proxy alike; the report gives medians over the
# rounds and, for each round, each proxy's ratio to nginx in that round.
#
# Everything listens on 127.0.0.1 on free ports; every process started is
# tracked by PID and stopped on exit, and the work directory is removed.
#
# Section 10 runs last, once the proxies above are stopped: cuttle with one
# worker (two for the idle tunnels of 10c) and its socks and forward
# listeners, dante's danted (SOCKS) and tinyproxy (HTTP CONNECT), all on
# CPU 0 and taking turns in the same way.
#
# Section 11 measures listeners with operator approval: cuttle's section 6
# run again with every client approved by a decision, idle against held
# (parked) clients in a fresh worker, and how long a decision takes to
# let 1,000 held connections on 2 workers go on.  11d runs with section
# 10b: a socks listener whose client is approved for its destination.
#
# Section 12 runs last, with instances of its own: cache hits of a 1 KiB
# and a 100 KiB object through cuttle, nginx (proxy_cache) and HAProxy
# (its cache), taking turns as above, then 1,000 concurrent requests for
# one cold key through cuttle with 2 workers, and how many of them the
# origin saw.
#
# Section 13 measures the cluster through Redis, with a redis-server of
# its own (on CPU 1, no persistence, stopped by PID): 13a is cuttle's
# section 6 run again with a redis section, against a fresh Redis; 13b
# and 13c run once, not in rounds, on three nodes (one worker each, on
# CPU 0) that share a fresh one: the CPU each master uses while the
# cluster is idle, then how long a decision made on one node takes to
# be listed by the other two.
#
# Knobs (environment): BENCH_ROUNDS (7), BENCH_DURATION seconds per run (5),
# BENCH_CONNS wrk connections (50), BENCH_IDLE_CONNS (5000),
# BENCH_IDLE_TUNNELS (10000, fewer through a proxy whose processes'
# open-files limits cannot hold them), BENCH_CALLGRIND_REQS (2000),
# BENCH_BULK_MB (1024), BENCH_PARKED_CONNS (5000, held clients of 11b),
# BENCH_HELD_CONNS (1000, held connections of 11c), BENCH_COLLAPSE_CONNS
# (1000, concurrent requests for one cold key in 12c),
# BENCH_CLUSTER_DECISIONS (200, decisions of 13c), BENCH_OUT (the
# report), CUTTLE_BIN (build/cuttle), CUTTLECTL_BIN (build/cuttlectl),
# BENCH_ONLY (empty: every scenario; "tls": the TLS scenarios of section 8
# alone; "proxy": the forward and SOCKS tunnels of section 10 alone;
# "approval": section 11 alone, with cuttle's run of section 6 that 11a
# compares with; "cache": section 12 alone; "cluster": section 13 alone,
# with cuttle's run of section 6 that 13a compares with; "plain": all
# but those, 11a and 13a excepted, which are part of section 6).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$ROOT/scripts/bench
CUTTLE=${CUTTLE_BIN:-$ROOT/build/cuttle}
CUTTLECTL=${CUTTLECTL_BIN:-$ROOT/build/cuttlectl}
ROUNDS=${BENCH_ROUNDS:-7}
DURATION=${BENCH_DURATION:-5}
CONNS=${BENCH_CONNS:-50}
IDLE_N=${BENCH_IDLE_CONNS:-5000}
IDLE_TUN_WANT=${BENCH_IDLE_TUNNELS:-10000}
CG_REQS=${BENCH_CALLGRIND_REQS:-2000}
BULK_MB=${BENCH_BULK_MB:-1024}
PARK_N=${BENCH_PARKED_CONNS:-5000}
HELD_N=${BENCH_HELD_CONNS:-1000}
COLLAPSE_N=${BENCH_COLLAPSE_CONNS:-1000}
DECISIONS_N=${BENCH_CLUSTER_DECISIONS:-200}
OUT=${BENCH_OUT:-$ROOT/docs/BENCHMARKS.md}
ONLY=${BENCH_ONLY:-}
PROXY_CPU=0
LOAD_CPU=1
NGINX_STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so

START_TIME=$(date +%s)
WORK=$(mktemp -d /tmp/cuttle-bench.XXXXXX)
# The origin's worker may run as an unprivileged user: it must read www/.
chmod 755 "$WORK"
PIDS=()
SUFFIX=

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# want PART: whether the scenarios of PART ("plain", "tls", "proxy",
# "approval", "cache" or "cluster") are run.  want_main: whether cuttle, nginx and HAProxy of sections 1 to 9 are.
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
want_main() { want plain || want tls; }
case $ONLY in
'' | plain | tls | proxy | approval | cache | cluster) ;;
*) die "BENCH_ONLY=$ONLY: empty, plain, tls, proxy, approval, cache or cluster" ;;
esac

# Stops every process this script started: SIGTERM first so that masters
# take their workers down, SIGKILL for whatever is still there after 5 s.
# Children seen while running are in PIDS too, so no worker outlives us.
cleanup() {
	local pid i
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for ((i = 0; i < 50; i++)); do
		local alive=0
		for pid in "${PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		((alive)) || break
		sleep 0.1
	done
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

USED_PORTS=" "
# Prints a TCP port of 127.0.0.1 that nothing listens on, never the same
# one twice in a run.
free_port() {
	local p
	for _ in $(seq 50); do
		p=$(perl -MIO::Socket::INET -e '
		    my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
		        LocalPort => 0, Listen => 1) or die "$!\n";
		    print $s->sockport;')
		case $USED_PORTS in *" $p "*) continue ;; esac
		USED_PORTS="$USED_PORTS$p "
		echo "$p"
		return 0
	done
	die "no free port"
}

# Waits up to $2 seconds (default 10) for 127.0.0.1:$1 to accept; fails
# if it does not, or if the process $3, when given, exits first.
port_up() {
	local port=$1 limit=${2:-10} pid=${3:-} i
	for ((i = 0; i < limit * 10; i++)); do
		[ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 1
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

wait_port() {
	port_up "$1" "${2:-10}" || die "nothing listens on 127.0.0.1:$1 after ${2:-10}s"
}

# start NAME CPU CMD...: runs CMD pinned to CPU, output to $WORK/NAME.log,
# and sets STARTED_PID.
start() {
	local name=$1 cpu=$2
	shift 2
	taskset -c "$cpu" "$@" >"$WORK/$name.log" 2>&1 &
	STARTED_PID=$!
	PIDS+=("$STARTED_PID")
}

# The PIDs of a proxy: its main process and its direct children.
proc_tree() {
	local pid=$1
	echo "$pid"
	pgrep -P "$pid" || true
}

# The worker of a proxy: its only child if it has one (cuttle, nginx),
# else the process itself (HAProxy in the foreground).
worker_of() {
	local kids
	kids=$(pgrep -P "$1" || true)
	if [ -n "$kids" ]; then
		head -1 <<<"$kids"
	else
		echo "$1"
	fi
}

# proc_ticks PID: "utime stime cutime cstime" of one process, in clock
# ticks, from /proc/PID/stat; fails when it is gone.  The command name
# may hold spaces and parentheses, so the fields are counted after the
# last ')'.
proc_ticks() {
	local stat rest
	local -a f
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	rest=${stat##*) }
	read -ra f <<<"$rest"
	echo "${f[11]} ${f[12]} ${f[13]} ${f[14]}"
}

# CPU time, in clock ticks, used so far by a proxy's processes: "utime
# stime", summed from proc_ticks; "0 0" for PID 0 (no proxy).  The main
# process's cutime and cstime add the children that have exited and been
# waited for: danted ends children it no longer needs and forks others
# under load.
cpu_ticks() {
	local user=0 sys=0 p t u s cu cs
	[ "$1" != 0 ] || { echo 0 0; return; }
	for p in $(proc_tree "$1"); do
		t=$(proc_ticks "$p") || continue
		read -r u s cu cs <<<"$t"
		user=$((user + u))
		sys=$((sys + s))
		if [ "$p" = "$1" ]; then
			user=$((user + cu))
			sys=$((sys + cs))
		fi
	done
	echo "$user $sys"
}

# Busy clock ticks of the load CPU so far (all of /proc/stat's time but
# idle and iowait): how much of it a run left unused says whether the
# client and the origin, rather than the proxy, set the pace.
load_ticks() {
	awk -v c="cpu$LOAD_CPU" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# Function-call interrupts that the proxies' CPU has received so far
# (/proc/interrupts; the row is CAL on x86): mostly how the kernel wakes a
# process on a CPU that sleeps, paid for by the waking CPU.  Empty where
# the kernel has no such row.
ipi_count() {
	awk -v col=$((PROXY_CPU + 2)) '/Function call interrupts/ { print $col; exit }' /proc/interrupts
}

# ipi_delta BEFORE AFTER: the interrupts between two ipi_count()s, or
# nothing (n/a in the report) if either is missing.
ipi_delta() {
	if [ -n "$1" ] && [ -n "$2" ]; then
		echo $(($2 - $1))
	fi
}

# tls_cert DIR: the certificate that all three proxies present, ECDSA
# P-256 for bench.test, made anew for each run: DIR/server.crt and
# DIR/server.key, and DIR/combined.pem with both, the form HAProxy reads.
tls_cert() {
	local dir=$1
	mkdir -p "$dir"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
	    -subj /CN=bench.test -addext subjectAltName=DNS:bench.test \
	    -keyout "$dir/server.key" -out "$dir/server.crt" >"$dir/openssl.log" 2>&1 ||
	    die "openssl req failed: $(cat "$dir/openssl.log")"
	cat "$dir/server.crt" "$dir/server.key" >"$dir/combined.pem"
}

# redis_start NAME: a redis-server of the run on a free port of
# 127.0.0.1, on CPU 1 with the other services, with no persistence
# (nothing saved, no append-only file); sets REDIS_PORT and REDIS_PID.
# The caller stops it with stop_wait.
redis_start() {
	REDIS_PORT=$(free_port)
	start "$1" "$LOAD_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
	    --appendonly no --dir "$WORK"
	REDIS_PID=$STARTED_PID
	port_up "$REDIS_PORT" 10 "$REDIS_PID" || die "redis-server: $(tail -c 300 "$WORK/$1.log")"
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

fd_count() {
	find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

# run_load SCENARIO PROXY ROUND PID CMD...: one run of a load generator
# CMD on the load CPU against a proxy (PID 0: the origin itself, no
# proxy).  CMD prints a line "WRK requests bytes duration_us p50_us p99_us
# errors non2xx [tried resumed]" (stats.lua, tlsload); its figures, the
# proxy's CPU ticks, the load CPU's busy ticks, the proxy's user-space
# ticks, the IPIs its CPU received and, from tlsload -r, the handshakes
# that could resume and those resumed go to results.tsv.
run_load() {
	local scen=$1 proxy=$2 round=$3 pid=$4
	shift 4
	local u0 u1 s0 s1 l0 l1 w0 w1 i0 i1 ticks out line resumed=
	local req bytes dur p50 p99 errs non2xx tried reused
	ticks=$(cpu_ticks "$pid")
	read -r u0 s0 <<<"$ticks"
	l0=$(load_ticks)
	i0=$(ipi_count)
	w0=$(date +%s%N)
	out=$(taskset -c "$LOAD_CPU" "$@" 2>&1) || die "$1 failed: $out"
	w1=$(date +%s%N)
	i1=$(ipi_count)
	l1=$(load_ticks)
	ticks=$(cpu_ticks "$pid")
	read -r u1 s1 <<<"$ticks"
	line=$(grep '^WRK ' <<<"$out") || die "$1 printed no summary: $out"
	read -r _ req bytes dur p50 p99 errs non2xx tried reused <<<"$line"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" \
	    "$proxy" "$round" "$req" "$bytes" "$dur" "$p50" "$p99" "$errs" "$non2xx" \
	    "$((u1 + s1 - u0 - s0))" "$((l1 - l0))" "$(((w1 - w0) / 1000))" "$((u1 - u0))" \
	    "$(ipi_delta "$i0" "$i1")" "$tried" "$reused" >>"$WORK/results.tsv"
	[ -z "$tried" ] || [ "$tried$reused" = 00 ] || resumed=", resumed $reused of $tried tried"
	log "  $scen $proxy round $round: $req requests in ${DURATION}s, p99 ${p99}us, errors $errs, non-2xx $non2xx$resumed"
	if [ -n "$tried" ] && ((reused * 10 < tried * 9)); then
		log "  $scen $proxy round $round: fewer than 90 % of the handshakes resumed"
	fi
}

# run_wrk SCENARIO PROXY ROUND PID URL [wrk args...]: run_load with wrk.
run_wrk() {
	local scen=$1 proxy=$2 round=$3 pid=$4 url=$5
	shift 5
	run_load "$scen" "$proxy" "$round" "$pid" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
	    -s "$BENCH/stats.lua" "$@" "$url"
}

# run_tls SCENARIO PROXY ROUND PID PORT [tlsload args...]: run_load with
# tlsload's loop of TLS connections, one request each.
run_tls() {
	local scen=$1 proxy=$2 round=$3 pid=$4 port=$5
	shift 5
	run_load "$scen" "$proxy" "$round" "$pid" "$WORK/tlsload" -c"$CONNS" -d"$DURATION" "$@" \
	    "$port" /small
}

# run_bulk SCENARIO PROXY ROUND PID CMD...: downloads the large file once
# with CMD (sink.pl, tlsload -g: it prints "status bytes seconds") through
# a TCP listener (PID 0: from the origin itself) and appends bytes, time
# and ticks to results.tsv.
run_bulk() {
	local scen=$1 proxy=$2 round=$3 pid=$4 u0 u1 s0 s1 l0 l1 w0 w1 i0 i1 ticks out size secs code
	shift 4
	ticks=$(cpu_ticks "$pid")
	read -r u0 s0 <<<"$ticks"
	l0=$(load_ticks)
	i0=$(ipi_count)
	w0=$(date +%s%N)
	out=$(taskset -c "$LOAD_CPU" "$@") || die "$scen download through $proxy failed"
	w1=$(date +%s%N)
	i1=$(ipi_count)
	l1=$(load_ticks)
	ticks=$(cpu_ticks "$pid")
	read -r u1 s1 <<<"$ticks"
	read -r code size secs <<<"$out"
	if [ "$code" != 200 ] || [ "$size" -ne $((BULK_MB * 1048576)) ]; then
		die "$scen download through $proxy: status $code, $size bytes"
	fi
	printf '%s\t%s\t%s\t1\t%s\t%s\t0\t0\t0\t0\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$proxy" \
	    "$round" "$size" "$(awk -v s="$secs" 'BEGIN { printf "%d", s * 1e6 }')" \
	    "$((u1 + s1 - u0 - s0))" "$((l1 - l0))" "$(((w1 - w0) / 1000))" "$((u1 - u0))" \
	    "$(ipi_delta "$i0" "$i1")" >>"$WORK/results.tsv"
	log "  $scen $proxy round $round: $size bytes in ${secs}s"
}

# ---------------------------------------------------------------------------
# Set-up
# ---------------------------------------------------------------------------

[ -x "$CUTTLE" ] || die "$CUTTLE is missing: run make first"
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (proxies on CPU 0, load on CPU 1)"
HAVE_HAPROXY=1
command -v haproxy >/dev/null 2>&1 || { HAVE_HAPROXY=0; log "haproxy not installed: left out"; }
[ -e "$NGINX_STREAM_MODULE" ] || die "$NGINX_STREAM_MODULE missing: apt-get install libnginx-mod-stream"
# 13a runs with section 6, and all of section 13 needs a Redis.
if want plain || want cluster; then
	command -v redis-server >/dev/null 2>&1 || die "redis-server missing: apt-get install redis-server"
fi
ulimit -n "$(ulimit -Hn)"

PROXIES="cuttle nginx"
((HAVE_HAPROXY)) && PROXIES="$PROXIES haproxy"

mkdir -p "$WORK/www/cache" "$WORK/nginx-origin" "$WORK/nginx-proxy" "$WORK/nginx-cg" "$WORK/cg"
head -c 102400 /dev/urandom >"$WORK/www/f100k"
# Section 12's objects, in a folder of their own that the origin lets be
# cached and logs.
head -c 1024 /dev/urandom >"$WORK/www/cache/1k"
head -c 102400 /dev/urandom >"$WORK/www/cache/100k"
truncate -s "${BULK_MB}M" "$WORK/www/big"
# Read once so that its pages are in the page cache before the first
# download: otherwise whoever goes first in round 1 pays for filling it.
cat "$WORK/www/big" >/dev/null
: >"$WORK/results.tsv"
TLS=$WORK/tls
tls_cert "$TLS"
if want tls; then
	"${CC:-cc}" -O2 -o "$WORK/tlsload" "$BENCH/tlsload.c" -lssl -lcrypto \
	    >"$WORK/tlsload-cc.log" 2>&1 || die "tlsload.c: $(head -c 300 "$WORK/tlsload-cc.log")"
fi

# Each proxy listens for HTTP and TCP, and for both over TLS (HTTPS_PORT,
# TLS_TCP_PORT) with the certificate of tls_cert.
ORIGIN=$(free_port)
declare -A HTTP_PORT TCP_PORT HTTPS_PORT TLS_TCP_PORT PID
for p in $PROXIES; do
	HTTP_PORT[$p]=$(free_port)
	TCP_PORT[$p]=$(free_port)
	HTTPS_PORT[$p]=$(free_port)
	TLS_TCP_PORT[$p]=$(free_port)
done
# cuttle alone: an HTTP listener with basic authentication (bcrypt, cost
# 10), against the same cuttle without it (section 9).
AUTH_PORT=$(free_port)
AUTH_HEADER="Authorization: Basic $(printf 'bench:bench-password' | base64)"
htpasswd -c -B -C 10 -b "$WORK/htpasswd" bench bench-password >/dev/null 2>&1 ||
    die "htpasswd (apache2-utils) could not make the password file"

# The origin: one nginx worker; a fixed small answer, a 100 KiB file and
# the bulk file.  Keep-alive without a request limit, so that neither wrk
# nor the proxies' pools reconnect during a run.  Section 12's objects
# may be kept for an hour, and the origin logs each request for them:
# how section 12 knows that its measured requests were all hits.
# nginx_conf_head DIR CONNECTIONS: how the origin's and section 12's
# nginx configurations start, up to the first lines of an http block
# that the caller goes on with and closes.
nginx_conf_head() {
	cat <<EOF
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections $2; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    sendfile on;
EOF
}
{
	nginx_conf_head "$WORK/nginx-origin" 10000
	cat <<EOF
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$ORIGIN backlog=4096;
        root $WORK/www;
        location = /small { return 200 "hello world\n"; }
        location /cache/ {
            expires 1h;
            access_log $WORK/nginx-origin/cache.log;
        }
        location / { }
    }
}
EOF
} >"$WORK/nginx-origin/nginx.conf"

# The proxies' idle upstream pools hold 64 connections, more than wrk's
# $CONNS: with a smaller cap a pool closes connections whenever a lull
# leaves more idle than it keeps and opens new ones in the next burst,
# and keep-alive on both legs would then be measured with a connect and
# a close per few requests.  HAProxy's pool (http-reuse always) has no
# such cap.
cat >"$WORK/cuttle.yaml" <<EOF
workers: 1
worker_connections: 12000
worker_rlimit_nofile: 20000
error_log: {path: "$WORK/cuttle.err", level: warn}
upstreams:
  origin:
    keepalive: {max_idle: 64, idle_timeout: 60s}
    servers:
      - {address: 127.0.0.1:$ORIGIN}
listeners:
  - name: http
    listen: 127.0.0.1:${HTTP_PORT[cuttle]}
    mode: http
    timeouts: {idle: 300s, header: 300s}
    routes:
      - upstream: origin
  - name: tcp
    listen: 127.0.0.1:${TCP_PORT[cuttle]}
    mode: tcp
    upstream: origin
    timeouts: {idle: 300s}
  - name: http_auth
    listen: 127.0.0.1:$AUTH_PORT
    mode: http
    timeouts: {idle: 300s, header: 300s}
    auth: {basic: {realm: bench, htpasswd: "$WORK/htpasswd"}}
    routes:
      - upstream: origin
  - name: https
    listen: 127.0.0.1:${HTTPS_PORT[cuttle]}
    mode: http
    timeouts: {idle: 300s, header: 300s}
    tls:
      certificates:
        - {cert: "$TLS/server.crt", key: "$TLS/server.key"}
      protocols: [TLSv1.2, TLSv1.3]
      session_tickets: true
    routes:
      - upstream: origin
  - name: tls_tcp
    listen: 127.0.0.1:${TLS_TCP_PORT[cuttle]}
    mode: tcp
    upstream: origin
    timeouts: {idle: 300s}
    tls:
      certificates:
        - {cert: "$TLS/server.crt", key: "$TLS/server.key"}
      protocols: [TLSv1.2, TLSv1.3]
      session_tickets: true
EOF

# nginx as a proxy; $1 is "on" for the usual master and one worker, "off"
# for the single process run under valgrind.  proxy_buffers hold a whole
# 100 KiB answer so that nginx does not spill it to a temporary file.
# With $5 and $6, the HTTPS and the TLS TCP ports, it terminates TLS there
# too.
nginx_proxy_conf() {
	local master=$1 dir=$2 http=$3 tcp=$4 https=${5:-} tls_tcp=${6:-} tls
	tls="ssl_certificate $TLS/server.crt;
        ssl_certificate_key $TLS/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;"
	cat <<EOF
load_module $NGINX_STREAM_MODULE;
worker_processes 1;
worker_rlimit_nofile 20000;
master_process $master;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 12000; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    proxy_buffers 32 8k;
    upstream origin {
        server 127.0.0.1:$ORIGIN;
        keepalive 64;
        keepalive_requests 10000000;
    }
    server {
        listen 127.0.0.1:$http backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
$(if [ -n "$https" ]; then cat <<TLS
    server {
        listen 127.0.0.1:$https ssl backlog=4096;
        $tls
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
TLS
fi)
}
stream {
    upstream origin_tcp { server 127.0.0.1:$ORIGIN; }
    server {
        listen 127.0.0.1:$tcp backlog=4096;
        proxy_pass origin_tcp;
    }
$(if [ -n "$tls_tcp" ]; then cat <<TLS
    server {
        listen 127.0.0.1:$tls_tcp ssl backlog=4096;
        $tls
        proxy_pass origin_tcp;
    }
TLS
fi)
}
EOF
}
nginx_proxy_conf on "$WORK/nginx-proxy" "${HTTP_PORT[nginx]}" "${TCP_PORT[nginx]}" \
    "${HTTPS_PORT[nginx]}" "${TLS_TCP_PORT[nginx]}" >"$WORK/nginx-proxy/nginx.conf"

# haproxy_conf_head: what HAProxy's configurations here share: the
# global and default settings and the HTTP backend of the origin.
haproxy_conf_head() {
	cat <<EOF
global
    nbthread 1
    maxconn 9000
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
    maxconn 9000
backend origin_http
    mode http
    http-reuse always
    server origin 127.0.0.1:$ORIGIN
EOF
}

if ((HAVE_HAPROXY)); then
	{
		haproxy_conf_head
		cat <<EOF
frontend http_in
    mode http
    bind 127.0.0.1:${HTTP_PORT[haproxy]}
    default_backend origin_http
frontend tcp_in
    mode tcp
    bind 127.0.0.1:${TCP_PORT[haproxy]}
    default_backend origin_tcp
backend origin_tcp
    mode tcp
    server origin 127.0.0.1:$ORIGIN
frontend https_in
    mode http
    bind 127.0.0.1:${HTTPS_PORT[haproxy]} ssl crt $TLS/combined.pem
    default_backend origin_http
frontend tls_tcp_in
    mode tcp
    bind 127.0.0.1:${TLS_TCP_PORT[haproxy]} ssl crt $TLS/combined.pem
    default_backend origin_tcp
EOF
	} >"$WORK/haproxy.cfg"
fi

"$CUTTLE" -t -c "$WORK/cuttle.yaml" >/dev/null 2>&1 || die "cuttle refused its configuration"

start origin "$LOAD_CPU" nginx -p "$WORK/nginx-origin" -c "$WORK/nginx-origin/nginx.conf" \
    -e "$WORK/nginx-origin/error.log"
wait_port "$ORIGIN"
# proxy_start NAME: starts a proxy on CPU 0, waits for its listeners and
# sets PID[NAME]; its children are tracked too, so that cleanup reaches
# them if the master dies.
proxy_start() {
	local p=$1 k
	case $p in
	cuttle) start cuttle "$PROXY_CPU" "$CUTTLE" -c "$WORK/cuttle$SUFFIX.yaml" ;;
	nginx) start nginx "$PROXY_CPU" nginx -p "$WORK/nginx-proxy" \
	    -c "$WORK/nginx-proxy/nginx$SUFFIX.conf" -e "$WORK/nginx-proxy/error.log" ;;
	haproxy) start haproxy "$PROXY_CPU" haproxy -db -f "$WORK/haproxy$SUFFIX.cfg" ;;
	esac
	PID[$p]=$STARTED_PID
	wait_port "${HTTP_PORT[$p]}"
	wait_port "${TCP_PORT[$p]}"
	wait_port "${HTTPS_PORT[$p]}"
	wait_port "${TLS_TCP_PORT[$p]}"
	sleep 0.5
	for k in $(pgrep -P "${PID[$p]}" || true); do PIDS+=("$k"); done
}

# stop_wait PID: stops a process this script started and waits for it,
# up to 10 s.
stop_wait() {
	local i
	kill -TERM "$1" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	wait "$1" 2>/dev/null || true
}

# proxy_stop NAME: stops a proxy and waits for it (its master takes its
# workers down).
proxy_stop() {
	stop_wait "${PID[$1]}"
}

# With BENCH_ONLY=proxy, none of them runs: section 10 starts its own.
STARTED_PROXIES=$PROXIES
want_main || STARTED_PROXIES=
for p in $STARTED_PROXIES; do
	proxy_start "$p"
done
for k in $(pgrep -P "${PIDS[0]}" || true); do PIDS+=("$k"); done

# Two reference relays for scenarios 1 and 4c (relay.c): one origin
# connection per client and the bytes passed on unparsed, driven by epoll
# or by io_uring.
# They show what relaying a keep-alive request costs on this machine when
# no proxying work is done at all.  One that cannot run here (no liburing,
# io_uring disabled) is left out, and the log says why.
declare -A RELAY_PID RELAY_PORT
RELAYS=
RELAY_MODES="epoll uring"
if ! want plain; then
	RELAY_MODES=
elif ! "${CC:-cc}" -O2 -o "$WORK/relay" "$BENCH/relay.c" -luring >"$WORK/relay-cc.log" 2>&1; then
	log "relay uring left out: $(head -c 300 "$WORK/relay-cc.log")"
	RELAY_MODES=epoll
	"${CC:-cc}" -O2 -DRELAY_NO_URING -o "$WORK/relay" "$BENCH/relay.c" >"$WORK/relay-cc.log" 2>&1 ||
	    RELAY_MODES=
fi
if [ -n "$RELAY_MODES" ]; then
	for m in $RELAY_MODES; do
		RELAY_PORT[$m]=$(free_port)
		start "relay-$m" "$PROXY_CPU" "$WORK/relay" "$m" "${RELAY_PORT[$m]}" "$ORIGIN"
		RELAY_PID[$m]=$STARTED_PID
		code=
		port_up "${RELAY_PORT[$m]}" 5 "${RELAY_PID[$m]}" &&
		    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${RELAY_PORT[$m]}/small" || true)
		if [ "$code" = 200 ]; then
			RELAYS="$RELAYS $m"
		else
			log "relay $m left out: $(head -c 300 "$WORK/relay-$m.log")"
			kill "${RELAY_PID[$m]}" 2>/dev/null || true
		fi
	done
elif want plain; then
	log "reference relays left out: $(head -c 300 "$WORK/relay-cc.log")"
fi

# Every path answers 200 through every proxy before anything is measured.
for p in $STARTED_PROXIES; do
	for path in small f100k; do
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${HTTP_PORT[$p]}/$path")
		[ "$code" = 200 ] || die "$p http /$path answered $code"
	done
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Connection: close' \
	    "http://127.0.0.1:${TCP_PORT[$p]}/small")
	[ "$code" = 200 ] || die "$p tcp /small answered $code"
	# Over TLS, the certificate checked against the one made for the run.
	for port in "${HTTPS_PORT[$p]}" "${TLS_TCP_PORT[$p]}"; do
		code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Connection: close' \
		    --cacert "$TLS/server.crt" --resolve "bench.test:$port:127.0.0.1" \
		    "https://bench.test:$port/small" || true)
		[ "$code" = 200 ] || die "$p TLS port $port /small answered $code"
	done
done

# ---------------------------------------------------------------------------
# Scenarios 1 to 4 (4a, 4b, 4c) and 8 (8a to 8d): rounds of throughput runs
# ---------------------------------------------------------------------------

# round_plain ROUND: one round of scenarios 1 to 4.
round_plain() {
	for p in $PROXIES; do
		run_wrk http_keepalive "$p" "$1" "${PID[$p]}" "http://127.0.0.1:${HTTP_PORT[$p]}/small"
	done
	for m in $RELAYS; do
		run_wrk http_keepalive "relay_$m" "$1" "${RELAY_PID[$m]}" "http://127.0.0.1:${RELAY_PORT[$m]}/small"
	done
	for p in $PROXIES; do
		run_wrk http_close "$p" "$1" "${PID[$p]}" "http://127.0.0.1:${HTTP_PORT[$p]}/small" \
		    -H "Connection: close"
	done
	for p in $PROXIES; do
		run_wrk http_100k "$p" "$1" "${PID[$p]}" "http://127.0.0.1:${HTTP_PORT[$p]}/f100k"
	done
	run_wrk http_100k direct "$1" 0 "http://127.0.0.1:$ORIGIN/f100k"
	for p in $PROXIES; do
		run_wrk tcp_small "$p" "$1" "${PID[$p]}" "http://127.0.0.1:${TCP_PORT[$p]}/small" \
		    -H "Connection: close"
	done
	# 4c: the same small request through the TCP listener, with wrk
	# keeping its connections: each proxy holds one origin connection
	# per client connection and relays small messages on it, as a tunnel
	# does.  The byte relays are the floor here as in 1.
	for p in $PROXIES; do
		run_wrk tcp_keepalive "$p" "$1" "${PID[$p]}" "http://127.0.0.1:${TCP_PORT[$p]}/small"
	done
	# 9: section 1 through cuttle's listener with basic authentication.
	run_wrk http_auth cuttle "$1" "${PID[cuttle]}" "http://127.0.0.1:$AUTH_PORT/small" \
	    -H "$AUTH_HEADER"
	for m in $RELAYS; do
		run_wrk tcp_keepalive "relay_$m" "$1" "${RELAY_PID[$m]}" "http://127.0.0.1:${RELAY_PORT[$m]}/small"
	done
	for p in $PROXIES; do
		run_bulk tcp_bulk "$p" "$1" "${PID[$p]}" perl "$BENCH/sink.pl" 127.0.0.1 "${TCP_PORT[$p]}" /big
	done
	run_bulk tcp_bulk direct "$1" 0 perl "$BENCH/sink.pl" 127.0.0.1 "$ORIGIN" /big
}

# round_tls ROUND: one round of scenario 8, TLS terminated by the proxy
# with the certificate of tls_cert.  8a: tlsload, each request a new
# connection with a full TLS 1.3 handshake (wrk would resume sessions, see
# tlsload.c).  8b: the same, each connection offering the session ticket
# of its slot's previous one; tlsload counts how many were resumed.  8c:
# wrk keeping its connections over TLS, as in 1; its 50 handshakes are
# negligible.  8d: one download of the bulk file through the TLS TCP
# listener to the origin's plain HTTP port, as in 4b.
round_tls() {
	for p in $PROXIES; do
		run_tls tls_full "$p" "$1" "${PID[$p]}" "${HTTPS_PORT[$p]}"
	done
	for p in $PROXIES; do
		run_tls tls_resumed "$p" "$1" "${PID[$p]}" "${HTTPS_PORT[$p]}" -r
	done
	for p in $PROXIES; do
		run_wrk tls_keepalive "$p" "$1" "${PID[$p]}" "https://127.0.0.1:${HTTPS_PORT[$p]}/small"
	done
	for p in $PROXIES; do
		run_bulk tls_bulk "$p" "$1" "${PID[$p]}" "$WORK/tlsload" -g "${TLS_TCP_PORT[$p]}" /big
	done
}

want_main && log "warm-up"
for p in $STARTED_PROXIES; do
	if want plain; then
		taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:${HTTP_PORT[$p]}/small" >/dev/null
	fi
	if want tls; then
		taskset -c "$LOAD_CPU" "$WORK/tlsload" -c"$CONNS" -d1 "${HTTPS_PORT[$p]}" /small >/dev/null
	fi
done
for m in $RELAYS; do
	taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:${RELAY_PORT[$m]}/small" >/dev/null
done
# Section 9 measures what a client pays after its first request: the
# bcrypt checks of wrk's first requests (all at once, before any is
# cached) are left to the warm-up.
if want plain; then
	taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d3s --timeout 10s -H "$AUTH_HEADER" \
	    "http://127.0.0.1:$AUTH_PORT/small" >/dev/null
fi

for ((r = 1; r <= ROUNDS; r++)); do
	want_main || break
	log "round $r of $ROUNDS"
	if want plain; then
		round_plain "$r"
	fi
	if want tls; then
		round_tls "$r"
	fi
done

# ---------------------------------------------------------------------------
# Scenario 7, run while the proxies are up: system calls per request
# ---------------------------------------------------------------------------

# One extra wrk run per proxy and scenario, outside the timed rounds, with
# perf counting the proxy's system calls (the raw_syscalls tracepoint):
# unlike time, a count barely moves with the machine's noise.  Left out
# where perf or its tracepoints are missing.
: >"$WORK/syscalls.tsv"
if want plain && command -v perf >/dev/null 2>&1 &&
    perf stat -x, -e raw_syscalls:sys_enter -o /dev/null true >/dev/null 2>&1; then
	for scen in http_keepalive http_close tcp_small tcp_keepalive; do
		for p in $PROXIES; do
			args=()
			url=http://127.0.0.1:${HTTP_PORT[$p]}/small
			case $scen in http_close | tcp_small) args=(-H "Connection: close") ;; esac
			case $scen in tcp_*) url=http://127.0.0.1:${TCP_PORT[$p]}/small ;; esac
			perf stat -x, -e raw_syscalls:sys_enter -o "$WORK/perf.out" \
			    -p "$(proc_tree "${PID[$p]}" | paste -sd,)" &
			perf_pid=$!
			PIDS+=("$perf_pid")
			sleep 0.5
			out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d3s -s "$BENCH/stats.lua" \
			    "${args[@]}" "$url" 2>&1) || die "wrk failed: $out"
			kill -INT "$perf_pid"
			wait "$perf_pid" 2>/dev/null || true
			read -r _ req _ <<<"$(grep '^WRK ' <<<"$out")"
			calls=$(awk -F, '/raw_syscalls:sys_enter/ { print $1 }' "$WORK/perf.out")
			printf '%s\t%s\t%s\t%s\n' "$scen" "$p" "$req" "$calls" >>"$WORK/syscalls.tsv"
			log "syscalls $scen $p: $calls for $req requests"
		done
	done
elif want plain; then
	log "perf cannot count system calls here: scenario 7 left out"
fi

# ---------------------------------------------------------------------------
# Scenario 5: memory of idle client connections
# ---------------------------------------------------------------------------

# Proxies allocate connection slots up front (cuttle and nginx touch them
# all at start), so the growth of one instance hides part of the cost.  Each
# proxy is therefore started fresh twice: with a limit of 256 connections
# and no client (the baseline), then with a limit of N + 256 and N idle
# clients.  Fresh instances also keep memory freed by the throughput runs
# out of the figures.  SUFFIX selects the configuration files of a limit.
idle_confs() {
	local limit=$1
	sed "s/^worker_connections: .*/worker_connections: $limit/" "$WORK/cuttle.yaml" \
	    >"$WORK/cuttle-$limit.yaml"
	sed "s/worker_connections [0-9]*;/worker_connections $limit;/" \
	    "$WORK/nginx-proxy/nginx.conf" >"$WORK/nginx-proxy/nginx-$limit.conf"
	if ((HAVE_HAPROXY)); then
		sed "s/maxconn [0-9]*/maxconn $limit/" "$WORK/haproxy.cfg" >"$WORK/haproxy-$limit.cfg"
	fi
}
if want plain; then
	SMALL_LIMIT=256
	BIG_LIMIT=$((IDLE_N + 256))
	idle_confs "$SMALL_LIMIT"
	idle_confs "$BIG_LIMIT"
	: >"$WORK/idle.tsv"
	for p in $PROXIES; do
		proxy_stop "$p"
		SUFFIX=-$SMALL_LIMIT
		proxy_start "$p"
		sleep 1
		rss_base=$(rss_kb "$(worker_of "${PID[$p]}")")
		proxy_stop "$p"
		SUFFIX=-$BIG_LIMIT
		proxy_start "$p"
		SUFFIX=
		w=$(worker_of "${PID[$p]}")
		sleep 1
		rss0=$(rss_kb "$w")
		fd0=$(fd_count "$w")
		start "idle-$p" "$LOAD_CPU" perl "$BENCH/idle.pl" 127.0.0.1 "${HTTP_PORT[$p]}" "$IDLE_N"
		ipid=$STARTED_PID
		for ((i = 0; i < 600; i++)); do
			grep -q ready "$WORK/idle-$p.log" && break
			kill -0 "$ipid" 2>/dev/null || die "idle.pl against $p: $(cat "$WORK/idle-$p.log")"
			sleep 0.1
		done
		grep -q ready "$WORK/idle-$p.log" || die "idle.pl against $p did not finish connecting"
		# Wait for the worker to have accepted them all.
		for ((i = 0; i < 300; i++)); do
			fd1=$(fd_count "$w")
			((fd1 - fd0 >= IDLE_N)) && break
			sleep 0.1
		done
		sleep 1
		fd1=$(fd_count "$w")
		rss1=$(rss_kb "$w")
		kill -TERM "$ipid"
		wait "$ipid" 2>/dev/null || true
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$IDLE_N" "$rss_base" "$rss0" "$rss1" "$((fd1 - fd0))" >>"$WORK/idle.tsv"
		log "idle $p: RSS ${rss_base} kB at limit $SMALL_LIMIT, ${rss0} kB -> ${rss1} kB with $((fd1 - fd0)) more descriptors"
	done
fi

# ---------------------------------------------------------------------------
# Scenario 6: instructions per request under callgrind
# ---------------------------------------------------------------------------

# The throughput proxies are stopped first so that nothing else runs on
# CPU 0; the origin stays.
for p in $STARTED_PROXIES; do
	proxy_stop "$p"
done
for m in $RELAYS; do
	kill -TERM "${RELAY_PID[$m]}" 2>/dev/null || true
done

# cg_conf_edit HEAD SED: cuttle-cg.yaml with the top-level lines HEAD put
# before it and the sed expression SED applied to it: how a variant of
# cuttle's run differs from it.
cg_conf_edit() {
	{
		printf '%s\n' "$1"
		sed -e "$2" "$WORK/cuttle-cg.yaml"
	} >"$WORK/cuttle-cg.yaml.tmp"
	mv "$WORK/cuttle-cg.yaml.tmp" "$WORK/cuttle-cg.yaml"
}

# callgrind_run NAME NREQ: starts the proxy NAME under callgrind, sends NREQ
# keep-alive requests, stops it, and sets CG_IR to the Ir of its worker.
# Not run in a subshell, so that the PIDs it starts reach the cleanup.
callgrind_run() {
	local name=$1 n=$2 port pid w ir file i
	port=$(free_port)
	rm -f "$WORK/cg/"*
	if [ "${name%%_*}" = cuttle ]; then
		sed -e "s/127.0.0.1:${HTTP_PORT[cuttle]}/127.0.0.1:$port/" \
		    -e "s/127.0.0.1:${TCP_PORT[cuttle]}/127.0.0.1:$(free_port)/" \
		    "$WORK/cuttle.yaml" >"$WORK/cuttle-cg.yaml"
		case $name in
		cuttle_guarded)
			# The same with a limit and a rule that a request is checked
			# against but never stopped by.
			cg_conf_edit 'limits:
  never: {key: [client_ip], rate: 1000000000/s, burst: 1000}' \
			    "0,/^      - upstream: origin$/s//      - {upstream: origin, limits: [never], rules: [{name: never, action: deny, match: {path: '^\/never\/'}}]}/"
			;;
		cuttle_approved)
			# The same with approval: the policy refuses every client,
			# and a decision in the state file, read at start, lets the
			# client's address in.  A client it did not cover would be
			# answered 403, and reqloop.pl would fail.
			printf '%s\n' '{"cuttle":"approvals","version":1}' \
			    '{"address":"127.0.0.1/32","prefix":32,"verdict":"allow","origin":"operator","by":"bench"}' \
			    >"$WORK/approvals.jsonl"
			cg_conf_edit "approvals: {state_file: \"$WORK/approvals.jsonl\"}" \
			    "0,/^    routes:$/s//    approval: {policy: deny}\n    routes:/"
			;;
		cuttle_redis)
			# The same as a node of a cluster (13a): its master links to
			# the Redis of REDIS_PORT, its worker does not.
			cg_conf_edit "redis: {address: 127.0.0.1:$REDIS_PORT, prefix: bench, node: cg}" ''
			;;
		esac
		"$CUTTLE" -t -c "$WORK/cuttle-cg.yaml" >/dev/null 2>&1 || die "cuttle refused $name's configuration"
		start cg-cuttle "$PROXY_CPU" valgrind --tool=callgrind --trace-children=yes \
		    --callgrind-out-file="$WORK/cg/callgrind.out.%p" "$CUTTLE" -c "$WORK/cuttle-cg.yaml"
	else
		nginx_proxy_conf off "$WORK/nginx-cg" "$port" "$(free_port)" >"$WORK/nginx-cg/nginx.conf"
		start cg-nginx "$PROXY_CPU" valgrind --tool=callgrind \
		    --callgrind-out-file="$WORK/cg/callgrind.out.%p" \
		    nginx -p "$WORK/nginx-cg" -c "$WORK/nginx-cg/nginx.conf" -e "$WORK/nginx-cg/error.log"
	fi
	pid=$STARTED_PID
	wait_port "$port" 60
	sleep 1
	w=$(worker_of "$pid")
	PIDS+=("$w")
	if ((n > 0)); then
		taskset -c "$LOAD_CPU" perl "$BENCH/reqloop.pl" 127.0.0.1 "$port" /small "$n" ||
		    die "reqloop.pl through $name failed"
	fi
	kill -TERM "$pid"
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$pid" 2>/dev/null || true
	file=$WORK/cg/callgrind.out.$w
	[ -s "$file" ] || die "no callgrind output for the $name worker ($w)"
	ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$file")
	[ -n "$ir" ] || die "no Ir total in $file"
	CG_IR=$ir
}

# BENCH_ONLY=approval runs cuttle with and without approval alone, and
# BENCH_ONLY=cluster with and without a redis section (13a), which has
# a fresh Redis of its own for its two runs.
CG_RUNS=
if want plain; then
	CG_RUNS="cuttle cuttle_guarded"
elif want approval || want cluster; then
	CG_RUNS=cuttle
fi
if want plain || want approval; then CG_RUNS="$CG_RUNS cuttle_approved"; fi
if want plain || want cluster; then CG_RUNS="$CG_RUNS cuttle_redis"; fi
want plain && CG_RUNS="$CG_RUNS nginx"
if [ -n "$CG_RUNS" ]; then
	: >"$WORK/callgrind.tsv"
	for p in $CG_RUNS; do
		[ "$p" != cuttle_redis ] || redis_start redis-cg
		log "callgrind: $p, baseline without requests"
		callgrind_run "$p" 0
		ir0=$CG_IR
		log "callgrind: $p, $CG_REQS requests"
		callgrind_run "$p" "$CG_REQS"
		ir1=$CG_IR
		printf '%s\t%s\t%s\t%s\n' "$p" "$CG_REQS" "$ir0" "$ir1" >>"$WORK/callgrind.tsv"
		log "callgrind $p: Ir $ir0 idle, $ir1 with $CG_REQS requests"
		[ "$p" != cuttle_redis ] || stop_wait "$REDIS_PID"
	done
fi

# ---------------------------------------------------------------------------
# Scenario 10: forward (HTTP CONNECT) and SOCKS 5 tunnels
# ---------------------------------------------------------------------------

# cuttle with one worker, a socks and a forward listener, against danted
# for SOCKS 5 and tinyproxy for CONNECT, all started now that nothing else
# runs on CPU 0.  The client is tunload.c, on CPU 1 with the origin: 10a
# downloads the bulk file through a tunnel, 10b opens a new tunnel for
# each small request, 10c holds idle tunnels to tunload -s, with cuttle
# started anew with two workers.  A proxy that is not installed is left
# out, as HAProxy is.
declare -A SOCKS_PORT CONNECT_PORT TPID
TUN_SOCKS=cuttle
TUN_CONNECT=cuttle
if want proxy; then
	if command -v danted >/dev/null 2>&1; then
		TUN_SOCKS="$TUN_SOCKS dante"
	else
		log "danted (dante-server) not installed: left out"
	fi
	if command -v tinyproxy >/dev/null 2>&1; then
		TUN_CONNECT="$TUN_CONNECT tinyproxy"
	else
		log "tinyproxy not installed: left out"
	fi
	for p in $TUN_SOCKS; do SOCKS_PORT[$p]=$(free_port); done
	for p in $TUN_CONNECT; do CONNECT_PORT[$p]=$(free_port); done
	# 11d: cuttle's SOCKS listener with approval at the destination.
	SOCKS_PORT[cuttle_dest]=$(free_port)
	HOLD_PORT=$(free_port)
	"${CC:-cc}" -O2 -o "$WORK/tunload" "$BENCH/tunload.c" >"$WORK/tunload-cc.log" 2>&1 ||
	    die "tunload.c: $(head -c 300 "$WORK/tunload-cc.log")"
fi

# 10c: a tunnel costs two descriptors in the process that holds it, and
# cuttle's worker keeps up to a sixteenth of its limit free for upstream
# connections (worker_connections in cuttle.yaml(5)): (limit - limit / 16
# - 64) / 2 tunnels fit in one process, the 64 for listeners, logs and the
# loop.  The hard limit cannot be raised here, and the answer to a limit
# per process is more processes: cuttle runs TUN_WORKERS workers in 10c,
# each with its own limit, over which SO_REUSEPORT spreads the tunnels,
# and dante spreads its sessions over its I/O children.  tinyproxy serves
# every client in one process (a thread each): it gets TUN_ONE, the N
# that fits one process, and the report says so.
TUN_WORKERS=2
TUN_NOFILE=$(ulimit -Hn)
[ "$TUN_NOFILE" != unlimited ] || TUN_NOFILE=$(cat /proc/sys/fs/nr_open)
TUN_FIT=$(((TUN_NOFILE - TUN_NOFILE / 16 - 64) / 2))
# What is started from here on may use all of it: danted, tinyproxy, tunload.
if want proxy; then
	ulimit -Sn "$TUN_NOFILE" || die "cannot raise the open-files limit to $TUN_NOFILE"
fi
TUN_ONE=$IDLE_TUN_WANT
if want proxy && ((TUN_ONE > TUN_FIT)); then
	TUN_ONE=$((TUN_FIT / 100 * 100))
	log "idle tunnels through tinyproxy: $TUN_ONE instead of $IDLE_TUN_WANT: an open-files limit of $TUN_NOFILE holds $TUN_FIT in one process"
fi
# The kernel hashes each connection's addresses to pick the worker, so
# the workers' shares differ by a few dozen at 10,000 (the standard
# deviation is sqrt(N) / 2 for two): each worker has room for TUN_SPREAD
# tunnels beyond its even share, within what one process holds.
TUN_SPREAD=512
IDLE_TUN=$IDLE_TUN_WANT
if want proxy && (((IDLE_TUN + TUN_WORKERS - 1) / TUN_WORKERS + TUN_SPREAD > TUN_FIT)); then
	IDLE_TUN=$(((TUN_FIT - TUN_SPREAD) * TUN_WORKERS / 100 * 100))
	log "idle tunnels: $IDLE_TUN instead of $IDLE_TUN_WANT: an open-files limit of $TUN_NOFILE holds $TUN_FIT in each of cuttle's $TUN_WORKERS workers"
fi
# The client (tunload -i) and the destination (tunload -s) hold a
# descriptor per tunnel each, in one process each, and a few more: the
# standard streams, the listener or the epoll instance.
if want proxy && ((IDLE_TUN + 64 > TUN_NOFILE)); then
	IDLE_TUN=$(((TUN_NOFILE - 64) / 100 * 100))
	log "idle tunnels: $IDLE_TUN instead of $IDLE_TUN_WANT: tunload holds at most that many in one process"
fi
((TUN_ONE <= IDLE_TUN)) || TUN_ONE=$IDLE_TUN
# Each of cuttle's workers in 10c.
TUN_WORKER_CONNS=$(((IDLE_TUN + TUN_WORKERS - 1) / TUN_WORKERS + TUN_SPREAD))

# tun_cuttle_conf NAME WORKERS LIMIT: cuttle-tun-NAME.yaml, cuttle's
# configuration with WORKERS workers of worker_connections LIMIT each:
# "run" for 10a and 10b, "base" for the baseline of 10c (256 connections,
# as in section 5), "idle" for its tunnels.  Its third listener (11d) has
# approval with policy deny: a decision in the state file, read at start,
# lets 127.0.0.1 go to the origin's port only, so that every request of
# the run pays the lookup of a client and its destination, and one it
# did not cover would be refused and counted as an error.
tun_cuttle_conf() {
	printf '%s\n' '{"cuttle":"approvals","version":1}' \
	    "{\"address\":\"127.0.0.1/32\",\"prefix\":32,\"verdict\":\"allow\",\"destination\":\"127.0.0.1:$ORIGIN\",\"origin\":\"operator\",\"by\":\"bench\"}" \
	    >"$WORK/tun-approvals.jsonl"
	cat >"$WORK/cuttle-tun-$1.yaml" <<EOF
workers: $2
worker_connections: $3
worker_rlimit_nofile: $TUN_NOFILE
error_log: {path: "$WORK/cuttle-tun.err", level: warn}
approvals: {state_file: "$WORK/tun-approvals.jsonl"}
listeners:
  - name: socksask
    listen: 127.0.0.1:${SOCKS_PORT[cuttle_dest]}
    mode: socks
    timeouts: {idle: 300s}
    approval: {policy: deny}
  - name: socks
    listen: 127.0.0.1:${SOCKS_PORT[cuttle]}
    mode: socks
    timeouts: {idle: 300s}
  - name: forward
    listen: 127.0.0.1:${CONNECT_PORT[cuttle]}
    mode: forward
    forward: {connect_ports: [$ORIGIN, $HOLD_PORT]}
    timeouts: {idle: 300s}
EOF
	"$CUTTLE" -t -c "$WORK/cuttle-tun-$1.yaml" >/dev/null 2>&1 || die "cuttle refused cuttle-tun-$1.yaml"
}

# danted: one main server (-N 1), which forks its own children (a monitor,
# negotiate, request and I/O children, one I/O child per 32 sessions),
# no authentication, CONNECT to loopback only, errors to a file.
# tinyproxy 1.11 runs a thread per client and has no pool of servers to
# size (StartServers and the like are gone): MaxClients above its N is all
# it takes never to turn a client away.  Timeout 600 keeps idle tunnels up.
tun_confs() {
	tun_cuttle_conf run 1 $((TUN_ONE + 256))
	tun_cuttle_conf base "$TUN_WORKERS" 256
	tun_cuttle_conf idle "$TUN_WORKERS" "$TUN_WORKER_CONNS"
	if [ -n "${SOCKS_PORT[dante]:-}" ]; then
		cat >"$WORK/danted.conf" <<EOF
logoutput: $WORK/danted-out.log
internal: 127.0.0.1 port = ${SOCKS_PORT[dante]}
external: 127.0.0.1
socksmethod: none
clientmethod: none
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 command: connect }
EOF
		danted -V -f "$WORK/danted.conf" >"$WORK/danted-check.log" 2>&1 ||
		    die "danted refused its configuration: $(head -c 300 "$WORK/danted-check.log")"
	fi
	if [ -n "${CONNECT_PORT[tinyproxy]:-}" ]; then
		cat >"$WORK/tinyproxy.conf" <<EOF
Port ${CONNECT_PORT[tinyproxy]}
Listen 127.0.0.1
Timeout 600
MaxClients $((TUN_ONE + 256))
LogLevel Critical
LogFile "$WORK/tinyproxy-out.log"
ConnectPort $ORIGIN
ConnectPort $HOLD_PORT
EOF
	fi
}

# tun_track NAME: the children a proxy has now go to the cleanup (danted
# forks more under load).
tun_track() {
	local k
	for k in $(pgrep -P "${TPID[$1]}" || true); do PIDS+=("$k"); done
}

# tun_start NAME [CONF]: starts a proxy of section 10 on CPU 0 (cuttle
# with cuttle-tun-CONF.yaml, default "run") and sets TPID[NAME] once its
# ports accept.
tun_start() {
	local p=$1 conf=${2:-run} port
	case $p in
	cuttle) start cuttle-tun "$PROXY_CPU" "$CUTTLE" -c "$WORK/cuttle-tun-$conf.yaml" ;;
	dante) start danted "$PROXY_CPU" danted -f "$WORK/danted.conf" -N 1 ;;
	tinyproxy) start tinyproxy "$PROXY_CPU" tinyproxy -d -c "$WORK/tinyproxy.conf" ;;
	esac
	TPID[$p]=$STARTED_PID
	for port in ${SOCKS_PORT[$p]:-} ${CONNECT_PORT[$p]:-}; do
		port_up "$port" 10 "$STARTED_PID" || die "$p does not listen on $port"
	done
	sleep 0.5
	tun_track "$p"
}

# tree_stop PID: stops a proxy and waits for it and for the children it
# had, which are killed if they outlive it by 5 s.
tree_stop() {
	local kids k i alive
	kids=$(pgrep -P "$1" || true)
	for k in $kids; do PIDS+=("$k"); done
	stop_wait "$1"
	for ((i = 0; i < 50; i++)); do
		alive=
		for k in $kids; do kill -0 "$k" 2>/dev/null && alive=1; done
		[ -n "$alive" ] || return 0
		sleep 0.1
	done
	for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
}

# tun_stop NAME: tree_stop for a proxy of section 10.
tun_stop() {
	tree_stop "${TPID[$1]}"
}

# tree_mem_kb PID: "rss threads processes pss": VmRSS and Pss
# (smaps_rollup) summed over a proxy's processes, in kB, and how many
# threads and processes it has; pss is empty where the kernel has no
# smaps_rollup.
tree_mem_kb() {
	local rss=0 pss=0 threads=0 procs=0 p v
	for p in $(proc_tree "$1"); do
		v=$(rss_kb "$p" 2>/dev/null) || continue
		rss=$((rss + ${v:-0}))
		procs=$((procs + 1))
		v=$(awk '/^Threads:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || true
		threads=$((threads + ${v:-0}))
		if [ -n "$pss" ]; then
			v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || v=
			if [ -n "$v" ]; then pss=$((pss + v)); else pss=; fi
		fi
	done
	echo "$rss $threads $procs $pss"
}

# round_tunnel ROUND: one round of 10a and 10b.  10a: one download of the
# bulk file through each tunnel, and one from the origin itself (sink.pl,
# as in 4b); 10b: tunload's loop of new tunnels, each carrying one GET
# /small with Connection: close.
round_tunnel() {
	local p
	for p in $TUN_SOCKS; do
		run_bulk socks_bulk "$p" "$1" "${TPID[$p]}" "$WORK/tunload" -x socks5 -g \
		    "${SOCKS_PORT[$p]}" "$ORIGIN" /big
	done
	for p in $TUN_CONNECT; do
		run_bulk connect_bulk "$p" "$1" "${TPID[$p]}" "$WORK/tunload" -x connect -g \
		    "${CONNECT_PORT[$p]}" "$ORIGIN" /big
	done
	run_bulk tunnel_bulk direct "$1" 0 perl "$BENCH/sink.pl" 127.0.0.1 "$ORIGIN" /big
	for p in $TUN_SOCKS; do
		run_load socks_conn "$p" "$1" "${TPID[$p]}" "$WORK/tunload" -x socks5 -c "$CONNS" \
		    -d "$DURATION" "${SOCKS_PORT[$p]}" "$ORIGIN" /small
	done
	run_load socks_conn cuttle_dest "$1" "${TPID[cuttle]}" "$WORK/tunload" -x socks5 \
	    -c "$CONNS" -d "$DURATION" "${SOCKS_PORT[cuttle_dest]}" "$ORIGIN" /small
	for p in $TUN_CONNECT; do
		run_load connect_conn "$p" "$1" "${TPID[$p]}" "$WORK/tunload" -x connect -c "$CONNS" \
		    -d "$DURATION" "${CONNECT_PORT[$p]}" "$ORIGIN" /small
	done
}

# splice_count KIND PORT: one more download through cuttle's KIND
# listener, outside the rounds, with perf counting its worker's splice
# and read calls: appends "kind bytes splice reads" to splice.tsv.
splice_count() {
	local kind=$1 port=$2 w perf_pid out splices reads
	w=$(worker_of "${TPID[cuttle]}")
	perf stat -x, -e syscalls:sys_enter_splice,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read \
	    -o "$WORK/perf-splice.out" -p "$w" &
	perf_pid=$!
	PIDS+=("$perf_pid")
	sleep 0.5
	out=$(taskset -c "$LOAD_CPU" "$WORK/tunload" -x "$kind" -g "$port" "$ORIGIN" /big) ||
	    die "the $kind download for perf failed"
	kill -INT "$perf_pid"
	wait "$perf_pid" 2>/dev/null || true
	splices=$(awk -F, '$3 == "syscalls:sys_enter_splice" { print $1 }' "$WORK/perf-splice.out")
	reads=$(awk -F, '$3 ~ /sys_enter_(recvfrom|read)$/ { n += $1 } END { print n + 0 }' \
	    "$WORK/perf-splice.out")
	read -r _ size _ <<<"$out"
	printf '%s\t%s\t%s\t%s\n' "$kind" "$size" "$splices" "$reads" >>"$WORK/splice.tsv"
	log "splice $kind: $splices splice and $reads read calls for $size bytes"
}

# idle_tunnels PROXY KIND: 10c for one proxy: a fresh instance (cuttle's
# baseline from one more with the same workers at 256 connections each,
# as in section 5), a fresh destination, N tunnels of KIND held through
# it (TUN_ONE through tinyproxy, IDLE_TUN through the others); appends a
# row to tunnels.tsv, with the tunnels that each of cuttle's workers
# holds (two descriptors each) in its last column.
idle_tunnels() {
	local p=$1 kind=$2 n=$IDLE_TUN port base base_pss before before_pss with with_pss hold h0 h1
	local ipid i up failed t0 t1 threads procs k kids= shares=
	local -A fd0
	if [ "$kind" = socks5 ]; then port=${SOCKS_PORT[$p]}; else port=${CONNECT_PORT[$p]}; fi
	[ "$p" != tinyproxy ] || n=$TUN_ONE
	if [ "$p" = cuttle ]; then
		tun_start cuttle base
		sleep 1
		read -r base _ _ base_pss <<<"$(tree_mem_kb "${TPID[cuttle]}")"
		tun_stop cuttle
	fi
	tun_start "$p" idle
	sleep 1
	read -r before _ _ before_pss <<<"$(tree_mem_kb "${TPID[$p]}")"
	[ "$p" = cuttle ] || { base=$before; base_pss=$before_pss; }
	if [ "$p" = cuttle ]; then
		kids=$(pgrep -P "${TPID[cuttle]}" || true)
		for k in $kids; do fd0[$k]=$(fd_count "$k"); done
	fi
	start "hold-$p-$kind" "$LOAD_CPU" "$WORK/tunload" -s "$HOLD_PORT"
	hold=$STARTED_PID
	port_up "$HOLD_PORT" 10 "$hold" || die "tunload -s: $(cat "$WORK/hold-$p-$kind.log")"
	sleep 0.2
	h0=$(fd_count "$hold")
	t0=$(date +%s%N)
	start "tunnels-$p-$kind" "$LOAD_CPU" "$WORK/tunload" -x "$kind" -i "$n" -c 100 "$port" "$HOLD_PORT"
	ipid=$STARTED_PID
	for ((i = 0; i < 1300; i++)); do
		grep -qs '^ready' "$WORK/tunnels-$p-$kind.log" && break
		kill -0 "$ipid" 2>/dev/null || die "tunload -i through $p: $(cat "$WORK/tunnels-$p-$kind.log")"
		sleep 0.1
	done
	t1=$(date +%s%N)
	read -r _ up failed <<<"$(grep '^ready' "$WORK/tunnels-$p-$kind.log")" ||
	    die "tunload -i through $p did not finish"
	tun_track "$p"
	sleep 1
	read -r with threads procs with_pss <<<"$(tree_mem_kb "${TPID[$p]}")"
	h1=$(fd_count "$hold")
	for k in $kids; do
		shares="$shares${shares:+/}$((($(fd_count "$k") - ${fd0[$k]}) / 2))"
	done
	kill -TERM "$ipid" "$hold" 2>/dev/null || true
	wait "$ipid" "$hold" 2>/dev/null || true
	tun_stop "$p"
	# proxy kind n up failed at_destination base before with (RSS kB)
	# base before with (PSS kB) threads processes setup_ms shares
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$kind" \
	    "$n" "$up" "$failed" "$((h1 - h0))" "$base" "$before" "$with" "$base_pss" \
	    "$before_pss" "$with_pss" "$threads" "$procs" "$(((t1 - t0) / 1000000))" "$shares" \
	    >>"$WORK/tunnels.tsv"
	log "idle tunnels $p $kind: $up of $n up${shares:+ ($shares per worker)}, $((h1 - h0)) at the destination, RSS $before kB -> $with kB"
}

if want proxy; then
	tun_confs
	for p in $TUN_SOCKS $TUN_CONNECT; do
		[ -n "${TPID[$p]:-}" ] || tun_start "$p"
	done
	# A real client first, through each proxy: curl's connection goes to
	# the proxy's port (%{remote_port}) and the origin's answer comes back.
	for p in $TUN_SOCKS; do
		out=$(curl -s --noproxy '' -o /dev/null -w '%{http_code} %{remote_port}' \
		    --socks5 "127.0.0.1:${SOCKS_PORT[$p]}" "http://127.0.0.1:$ORIGIN/small" || true)
		[ "$out" = "200 ${SOCKS_PORT[$p]}" ] || die "curl --socks5 through $p: $out"
	done
	for p in $TUN_CONNECT; do
		out=$(curl -s --noproxy '' -o /dev/null -w '%{http_code} %{remote_port}' -p \
		    -x "http://127.0.0.1:${CONNECT_PORT[$p]}" "http://127.0.0.1:$ORIGIN/small" || true)
		[ "$out" = "200 ${CONNECT_PORT[$p]}" ] || die "curl -p -x through $p: $out"
	done
	log "section 10: warm-up"
	for p in $TUN_SOCKS; do
		taskset -c "$LOAD_CPU" "$WORK/tunload" -x socks5 -c "$CONNS" -d 1 "${SOCKS_PORT[$p]}" \
		    "$ORIGIN" /small >/dev/null
	done
	for p in $TUN_CONNECT; do
		taskset -c "$LOAD_CPU" "$WORK/tunload" -x connect -c "$CONNS" -d 1 "${CONNECT_PORT[$p]}" \
		    "$ORIGIN" /small >/dev/null
	done
	for p in $TUN_SOCKS $TUN_CONNECT; do tun_track "$p"; done
	for ((r = 1; r <= ROUNDS; r++)); do
		log "section 10, round $r of $ROUNDS"
		round_tunnel "$r"
	done
	: >"$WORK/splice.tsv"
	if command -v perf >/dev/null 2>&1 &&
	    perf stat -x, -e syscalls:sys_enter_splice -o /dev/null true >/dev/null 2>&1; then
		splice_count socks5 "${SOCKS_PORT[cuttle]}"
		splice_count connect "${CONNECT_PORT[cuttle]}"
	else
		log "perf cannot count splice calls here: left out"
	fi
	for p in $TUN_SOCKS $TUN_CONNECT; do
		[ -z "${TPID[$p]:-}" ] || tun_stop "$p"
		TPID[$p]=
	done
	: >"$WORK/tunnels.tsv"
	for p in $TUN_SOCKS; do idle_tunnels "$p" socks5; done
	for p in $TUN_CONNECT; do idle_tunnels "$p" connect; done
fi

# ---------------------------------------------------------------------------
# Scenario 11: operator approval (11a is cuttle_approved in section 6)
# ---------------------------------------------------------------------------

# pending_total SOCKET: the clients held for a decision, as the admin API
# counts them in every worker's connection entries.
pending_total() {
	"$CUTTLECTL" -s "$1" pending --json 2>/dev/null |
	    perl -MJSON::PP -e 'my $j = eval { decode_json(join "", <STDIN>) }; print $j ? $j->{total} : -1'
}

# wait_pending SOCKET N SECS: waits until N clients are held; fails
# after SECS seconds.
wait_pending() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(pending_total "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# wait_line FILE PATTERN PID SECS: waits for a line matching PATTERN in
# FILE while PID lives; fails after SECS seconds.
wait_line() {
	local i
	for ((i = 0; i < $4 * 10; i++)); do
		grep -qs "$2" "$1" && return 0
		kill -0 "$3" 2>/dev/null || { grep -qs "$2" "$1"; return; }
		sleep 0.1
	done
	return 1
}

# cuttle_workers PID: the worker processes of a cuttle master (not its
# admin process, which holds no client).
cuttle_workers() {
	local k
	for k in $(pgrep -P "$1" || true); do
		case $(tr '\0' ' ' <"/proc/$k/cmdline" 2>/dev/null) in *worker*) echo "$k" ;; esac
	done
}

# cuttle_conf_head NAME SOCKET WORKERS UPSTREAM PORT: how the
# configuration of a cuttle of sections 11 and 13 starts: WORKERS
# workers, the error log in cuttle-NAME.err, the admin API on SOCKET and
# one upstream, UPSTREAM, whose server is 127.0.0.1:PORT; the caller
# adds the rest.
cuttle_conf_head() {
	cat <<EOF
workers: $3
error_log: {path: "$WORK/cuttle-$1.err", level: warn}
admin: {socket: "$2"}
upstreams:
  $4:
    servers:
      - {address: 127.0.0.1:$5}
EOF
}

if want approval; then
	"${CC:-cc}" -O2 -o "$WORK/parkload" "$BENCH/parkload.c" >"$WORK/parkload-cc.log" 2>&1 ||
	    die "parkload.c: $(head -c 300 "$WORK/parkload-cc.log")"
	[ -x "$CUTTLECTL" ] || die "$CUTTLECTL is missing: run make first"
	APPROVAL_SOCK=$WORK/admin.sock

	# 11b: the same fresh worker (one worker, a limit of N + 256, slots
	# allocated up front as in section 5) twice: N idle clients on an
	# http listener, then N clients held on an http listener with
	# approval ask; what a held client costs beyond an idle one is the
	# difference of the two growths.  Nothing is sent, so the idle ones
	# wait for their request head and the held ones for a decision, each
	# with its timer.
	PARK_IDLE_PORT=$(free_port)
	PARK_HELD_PORT=$(free_port)
	park_nofile=$((PARK_N * 2 + 1024))
	((park_nofile >= 20000)) || park_nofile=20000
	{
		cuttle_conf_head park "$APPROVAL_SOCK" 1 origin "$ORIGIN"
		cat <<EOF
worker_connections: $((PARK_N + 256))
worker_rlimit_nofile: $park_nofile
listeners:
  - name: idle
    listen: 127.0.0.1:$PARK_IDLE_PORT
    mode: http
    timeouts: {idle: 300s, header: 300s}
    routes:
      - upstream: origin
  - name: held
    listen: 127.0.0.1:$PARK_HELD_PORT
    mode: http
    timeouts: {idle: 300s, header: 300s}
    approval: {policy: ask, wait: 1h, max_pending: $((PARK_N + 256))}
    routes:
      - upstream: origin
EOF
	} >"$WORK/cuttle-park.yaml"
	"$CUTTLE" -t -c "$WORK/cuttle-park.yaml" >/dev/null 2>&1 || die "cuttle refused cuttle-park.yaml"
	: >"$WORK/park_mem.tsv"
	for kind in idle held; do
		if [ "$kind" = idle ]; then port=$PARK_IDLE_PORT; else port=$PARK_HELD_PORT; fi
		start cuttle-park "$PROXY_CPU" "$CUTTLE" -c "$WORK/cuttle-park.yaml"
		cpid=$STARTED_PID
		{ port_up "$PARK_IDLE_PORT" 10 "$cpid" && port_up "$PARK_HELD_PORT" 10 "$cpid"; } ||
		    die "cuttle-park.yaml: $(tail -c 300 "$WORK/cuttle-park.log")"
		sleep 1
		for k in $(pgrep -P "$cpid" || true); do PIDS+=("$k"); done
		w=$(cuttle_workers "$cpid" | head -1)
		[ -n "$w" ] || die "cuttle-park.yaml: no worker"
		rss0=$(rss_kb "$w")
		fd0=$(fd_count "$w")
		start "park-$kind" "$LOAD_CPU" perl "$BENCH/idle.pl" 127.0.0.1 "$port" "$PARK_N"
		ipid=$STARTED_PID
		wait_line "$WORK/park-$kind.log" ready "$ipid" 120 ||
		    die "idle.pl against the $kind listener: $(cat "$WORK/park-$kind.log")"
		for ((i = 0; i < 300; i++)); do
			fd1=$(fd_count "$w")
			((fd1 - fd0 >= PARK_N)) && break
			sleep 0.1
		done
		held=0
		if [ "$kind" = held ]; then
			wait_pending "$APPROVAL_SOCK" "$PARK_N" 30 ||
			    log "11b: $(pending_total "$APPROVAL_SOCK") of $PARK_N clients held"
			held=$(pending_total "$APPROVAL_SOCK")
		fi
		sleep 1
		fd1=$(fd_count "$w")
		rss1=$(rss_kb "$w")
		kill -TERM "$ipid"
		wait "$ipid" 2>/dev/null || true
		stop_wait "$cpid"
		# kind N before with (worker RSS kB) new-fds held
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$PARK_N" "$rss0" "$rss1" "$((fd1 - fd0))" \
		    "$held" >>"$WORK/park_mem.tsv"
		log "11b $kind: RSS ${rss0} kB -> ${rss1} kB with $((fd1 - fd0)) more descriptors, $held held"
	done

	# 11c: cuttle with 2 workers (on CPU 0, as every proxy here) and a tcp
	# listener with approval ask in front of parkload's echo server.  In
	# each round parkload opens HELD_N connections from 127.0.0.1 and
	# sends a byte on each; once the admin API lists them all as held,
	# it is signalled, takes the time, runs cuttlectl approve 127.0.0.1
	# and takes the time at which each byte comes back.  The decision is
	# revoked after each round, so that the next one holds its clients
	# again.
	ECHO_PORT=$(free_port)
	HELD_PORT=$(free_port)
	{
		cuttle_conf_head held "$APPROVAL_SOCK" 2 echo "$ECHO_PORT"
		cat <<EOF
worker_connections: $((HELD_N * 2 + 256))
listeners:
  - name: held
    listen: 127.0.0.1:$HELD_PORT
    mode: tcp
    upstream: echo
    timeouts: {idle: 300s}
    approval: {policy: ask, wait: 10m, max_pending: $((HELD_N + 256))}
EOF
	} >"$WORK/cuttle-held.yaml"
	"$CUTTLE" -t -c "$WORK/cuttle-held.yaml" >/dev/null 2>&1 || die "cuttle refused cuttle-held.yaml"
	start echo "$LOAD_CPU" "$WORK/parkload" -s "$ECHO_PORT"
	echo_pid=$STARTED_PID
	port_up "$ECHO_PORT" 10 "$echo_pid" || die "parkload -s: $(cat "$WORK/echo.log")"
	start cuttle-held "$PROXY_CPU" "$CUTTLE" -c "$WORK/cuttle-held.yaml"
	cpid=$STARTED_PID
	port_up "$HELD_PORT" 10 "$cpid" || die "cuttle-held.yaml: $(tail -c 300 "$WORK/cuttle-held.log")"
	sleep 1
	for k in $(pgrep -P "$cpid" || true); do PIDS+=("$k"); done
	held_workers=$(cuttle_workers "$cpid")
	: >"$WORK/held.tsv"
	for ((r = 1; r <= ROUNDS; r++)); do
		declare -A hfd0=()
		for k in $held_workers; do hfd0[$k]=$(fd_count "$k"); done
		start "held-$r" "$LOAD_CPU" "$WORK/parkload" -n "$HELD_N" "$HELD_PORT" \
		    "$CUTTLECTL" -s "$APPROVAL_SOCK" approve 127.0.0.1
		hpid=$STARTED_PID
		wait_line "$WORK/held-$r.log" '^ready' "$hpid" 60 ||
		    die "parkload -n: $(cat "$WORK/held-$r.log")"
		read -r _ up _ <<<"$(grep '^ready' "$WORK/held-$r.log")"
		wait_pending "$APPROVAL_SOCK" "$up" 30 ||
		    die "11c: $(pending_total "$APPROVAL_SOCK") of $up connections held after 30 s"
		shares=
		for k in $held_workers; do
			shares="$shares${shares:+/}$(($(fd_count "$k") - ${hfd0[$k]}))"
		done
		kill -USR1 "$hpid"
		wait_line "$WORK/held-$r.log" '^PARK' "$hpid" 30 ||
		    die "parkload -n printed no result: $(cat "$WORK/held-$r.log")"
		read -r _ up echoed early lost cmd_rc cmd_us first_us last_us \
		    <<<"$(grep '^PARK' "$WORK/held-$r.log")"
		[ "$cmd_rc" = 0 ] || die "cuttlectl approve exited $cmd_rc: $(cat "$WORK/held-$r.log")"
		[ "$early" = 0 ] || die "11c: $early connections were not held"
		wait "$hpid" 2>/dev/null || true
		"$CUTTLECTL" -s "$APPROVAL_SOCK" revoke 127.0.0.1 >/dev/null || die "cuttlectl revoke failed"
		# round n up echoed lost decided_us first_us last_us shares
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$HELD_N" "$up" "$echoed" "$lost" \
		    "$cmd_us" "$first_us" "$last_us" "$shares" >>"$WORK/held.tsv"
		log "11c round $r: $echoed of $up held connections ($shares per worker) echoed, the last $((last_us / 1000)) ms after the mark; cuttlectl done after $((cmd_us / 1000)) ms"
		sleep 1
	done
	stop_wait "$cpid"
	kill -TERM "$echo_pid" 2>/dev/null || true
	wait "$echo_pid" 2>/dev/null || true
fi

# ---------------------------------------------------------------------------
# Scenario 12: the HTTP cache
# ---------------------------------------------------------------------------

# 12a and 12b: each proxy with a cache in front of the origin, one worker
# on CPU 0 as in sections 1 to 4, started now that nothing else runs
# there.  Every measured request is a hit on an object stored before the
# rounds: each proxy must mark a warm-up request as a hit, and a run
# during which the origin logged a request for the objects stops the
# benchmark, since its figures would not be those of hits.  The zones are
# far larger than the two objects, so nothing is evicted.
#
# - cuttle: a 64m zone; shm_size must hold it and the 16m of cuttle's
#   own tables.
# - nginx: proxy_cache in files under the work directory, with sendfile
#   and open_file_cache, as a cache of files is run: without them every
#   hit would open its file and copy the object through user space.
# - HAProxy: its memory cache.  Its max-age defaults to 60 s, which would
#   expire the objects during the rounds; its max-object-size (a 256th of
#   the cache unless set) is set to cuttle's max_object.
#
# Each labels its hits (cuttle's Cache-Status, an X-Cache field from the
# other two) on every answer, so that all three pay for a field.
declare -A CACHE_PORT CPID
CACHE_PATHS="1k 100k"
COLLAPSE_WORKERS=2
# What the slow origin of 12c waits before it answers: long enough that
# all the requests arrive while the first is still being fetched.
COLLAPSE_DELAY_MS=200

# cache_cuttle_conf NAME WORKERS LIMIT PORT ORIGIN_PORT: cuttle-NAME.yaml,
# an http listener on PORT whose only route caches ORIGIN_PORT's answers.
cache_cuttle_conf() {
	cat >"$WORK/cuttle-$1.yaml" <<EOF
workers: $2
worker_connections: $3
worker_rlimit_nofile: 20000
shm_size: 96m
error_log: {path: "$WORK/cuttle-$1.err", level: warn}
caches:
  main: {size: 64m, max_object: 1m}
upstreams:
  origin:
    keepalive: {max_idle: 64, idle_timeout: 60s}
    servers:
      - {address: 127.0.0.1:$5}
listeners:
  - name: cache
    listen: 127.0.0.1:$4
    mode: http
    timeouts: {idle: 300s, header: 300s}
    routes:
      - upstream: origin
        cache: {zone: main}
EOF
	"$CUTTLE" -t -c "$WORK/cuttle-$1.yaml" >/dev/null 2>&1 || die "cuttle refused cuttle-$1.yaml"
}

cache_confs() {
	cache_cuttle_conf cache 1 4096 "${CACHE_PORT[cuttle]}" "$ORIGIN"
	mkdir -p "$WORK/nginx-cache"
	{
		nginx_conf_head "$WORK/nginx-cache" 4096
		cat <<EOF
    open_file_cache max=1000 inactive=1h;
    proxy_buffers 32 8k;
    proxy_cache_path $WORK/nginx-cache/store levels=1:2 keys_zone=bench:8m max_size=64m
        inactive=1h use_temp_path=off;
    upstream origin {
        server 127.0.0.1:$ORIGIN;
        keepalive 64;
        keepalive_requests 10000000;
    }
    server {
        listen 127.0.0.1:${CACHE_PORT[nginx]} backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_valid 200 1h;
            add_header X-Cache \$upstream_cache_status;
        }
    }
}
EOF
	} >"$WORK/nginx-cache/nginx.conf"
	if ((HAVE_HAPROXY)); then
		{
			haproxy_conf_head
			cat <<EOF
cache bench
    total-max-size 64
    max-object-size 1048576
    max-age 3600
frontend cache_in
    mode http
    bind 127.0.0.1:${CACHE_PORT[haproxy]}
    http-request cache-use bench
    http-response cache-store bench
    http-response set-header X-Cache %[res.cache_hit]
    default_backend origin_http
EOF
		} >"$WORK/haproxy-cache.cfg"
		haproxy -c -q -f "$WORK/haproxy-cache.cfg" >"$WORK/haproxy-cache-check.log" 2>&1 ||
		    die "haproxy refused haproxy-cache.cfg: $(head -c 300 "$WORK/haproxy-cache-check.log")"
	fi
}

# cache_start NAME: starts a proxy of section 12 on CPU 0 and sets
# CPID[NAME] once its port accepts.
cache_start() {
	local p=$1 k
	case $p in
	cuttle) start cuttle-cache "$PROXY_CPU" "$CUTTLE" -c "$WORK/cuttle-cache.yaml" ;;
	nginx) start nginx-cache "$PROXY_CPU" nginx -p "$WORK/nginx-cache" \
	    -c "$WORK/nginx-cache/nginx.conf" -e "$WORK/nginx-cache/error.log" ;;
	haproxy) start haproxy-cache "$PROXY_CPU" haproxy -db -f "$WORK/haproxy-cache.cfg" ;;
	esac
	CPID[$p]=$STARTED_PID
	port_up "${CACHE_PORT[$p]}" 10 "$STARTED_PID" ||
	    die "$p does not listen on ${CACHE_PORT[$p]}: $(tail -c 300 "$WORK/$p-cache.log")"
	sleep 0.5
	for k in $(pgrep -P "$STARTED_PID" || true); do PIDS+=("$k"); done
}

# cache_hit PROXY PATH: whether the proxy answers GET /cache/PATH with 200
# and marks the answer as a hit; the head goes to $WORK/cache-head.
cache_hit() {
	local head
	head=$(curl -s -o /dev/null -D - "http://127.0.0.1:${CACHE_PORT[$1]}/cache/$2" | tr -d '\r') || true
	printf '%s\n' "$head" >"$WORK/cache-head"
	grep -q '^HTTP/1.1 200 ' <<<"$head" || return 1
	case $1 in
	cuttle) grep -qi '^Cache-Status: cuttle; hit' <<<"$head" ;;
	nginx) grep -qi '^X-Cache: HIT$' <<<"$head" ;;
	haproxy) grep -qi '^X-Cache: 1$' <<<"$head" ;;
	esac
}

# The requests for section 12's objects that the origin has logged.
cache_origin_count() {
	if [ -e "$WORK/nginx-origin/cache.log" ]; then
		wc -l <"$WORK/nginx-origin/cache.log"
	else
		echo 0
	fi
}

if want cache; then
	for p in $PROXIES; do CACHE_PORT[$p]=$(free_port); done
	cache_confs
	for p in $PROXIES; do cache_start "$p"; done
	# The first request of an object may be a miss that stores it;
	# the next two must be hits.
	for p in $PROXIES; do
		for path in $CACHE_PATHS; do
			cache_hit "$p" "$path" || true
			for i in 1 2; do
				cache_hit "$p" "$path" ||
				    die "12: warm-up $((i + 1)) of /cache/$path through $p is no hit: $(paste -sd' ' "$WORK/cache-head")"
			done
		done
	done
	log "section 12: warm-up"
	for p in $PROXIES; do
		for path in $CACHE_PATHS; do
			taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d1s \
			    "http://127.0.0.1:${CACHE_PORT[$p]}/cache/$path" >/dev/null
		done
	done
	: >"$WORK/cache_origin.tsv"
	for ((r = 1; r <= ROUNDS; r++)); do
		log "section 12, round $r of $ROUNDS"
		for path in $CACHE_PATHS; do
			for p in $PROXIES; do
				n0=$(cache_origin_count)
				run_wrk "cache_$path" "$p" "$r" "${CPID[$p]}" \
				    "http://127.0.0.1:${CACHE_PORT[$p]}/cache/$path"
				n1=$(cache_origin_count)
				printf '%s\t%s\t%s\t%s\n' "cache_$path" "$p" "$r" "$((n1 - n0))" \
				    >>"$WORK/cache_origin.tsv"
				((n1 == n0)) ||
				    die "12: $((n1 - n0)) requests of the /cache/$path run through $p reached the origin"
			done
		done
	done
	for p in $PROXIES; do tree_stop "${CPID[$p]}"; done

	# 12c: cuttle with COLLAPSE_WORKERS workers in front of cacheload's
	# slow origin.  In each round cacheload opens COLLAPSE_N connections,
	# then sends a GET for a new key on each at once; the origin's log
	# says how many reached it.  One more request afterwards says
	# whether the object was stored.
	"${CC:-cc}" -O2 -o "$WORK/cacheload" "$BENCH/cacheload.c" >"$WORK/cacheload-cc.log" 2>&1 ||
	    die "cacheload.c: $(head -c 300 "$WORK/cacheload-cc.log")"
	SLOW_PORT=$(free_port)
	COLLAPSE_PORT=$(free_port)
	cache_cuttle_conf collapse "$COLLAPSE_WORKERS" $((COLLAPSE_N * 2 + 256)) "$COLLAPSE_PORT" "$SLOW_PORT"
	start slow-origin "$LOAD_CPU" "$WORK/cacheload" -s "$SLOW_PORT" "$COLLAPSE_DELAY_MS"
	slow_pid=$STARTED_PID
	port_up "$SLOW_PORT" 10 "$slow_pid" || die "cacheload -s: $(cat "$WORK/slow-origin.log")"
	start cuttle-collapse "$PROXY_CPU" "$CUTTLE" -c "$WORK/cuttle-collapse.yaml"
	cpid=$STARTED_PID
	port_up "$COLLAPSE_PORT" 10 "$cpid" ||
	    die "cuttle-collapse.yaml: $(tail -c 300 "$WORK/cuttle-collapse.log")"
	sleep 1
	for k in $(pgrep -P "$cpid" || true); do PIDS+=("$k"); done
	: >"$WORK/collapse.tsv"
	for ((r = 1; r <= ROUNDS; r++)); do
		path=/collapse/$r
		out=$(taskset -c "$LOAD_CPU" "$WORK/cacheload" -n "$COLLAPSE_N" "$COLLAPSE_PORT" "$path") ||
		    die "cacheload -n: $out"
		line=$(grep '^COLLAPSE' <<<"$out") || die "cacheload -n printed no result: $out"
		read -r _ up failed answered ok hits first_us last_us <<<"$line"
		fetched=$(grep -c "^REQ $path\$" "$WORK/slow-origin.log" || true)
		head=$(curl -s -o /dev/null -D - "http://127.0.0.1:$COLLAPSE_PORT$path" | tr -d '\r') || true
		stored=0
		if grep -qi '^Cache-Status: cuttle; hit' <<<"$head"; then stored=1; fi
		# round n up failed answered ok hits first_us last_us origin stored
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$COLLAPSE_N" "$up" "$failed" \
		    "$answered" "$ok" "$hits" "$first_us" "$last_us" "$fetched" "$stored" >>"$WORK/collapse.tsv"
		log "12c round $r: $ok of $up requests answered 200 ($hits hits), the last after $((last_us / 1000)) ms; the origin saw $fetched"
	done
	tree_stop "$cpid"
	stop_wait "$slow_pid"
fi

# ---------------------------------------------------------------------------
# Scenario 13: the cluster through Redis (13a is cuttle_redis in section 6)
# ---------------------------------------------------------------------------

# 13b and 13c: a fresh redis-server and CLUSTER_NODES cuttle nodes that
# share its prefix, each with one worker on CPU 0, an admin socket and a
# tcp listener with approval (decisions name it), started now that
# nothing else runs there.  13b: the nodes idle for CLUSTER_IDLE_S, with
# only their heartbeats and the timers that look for changes; the CPU
# that each master used (its own utime and stime, not its children's)
# and that redis-server used go to cluster_cpu.tsv.  13c: propagate.pl,
# on CPU 1, makes DECISIONS_N decisions, each on one node in turn, and
# takes the time until the others all list it.
CLUSTER_NODES=3
CLUSTER_IDLE_S=$((DURATION * 4))
((CLUSTER_IDLE_S >= 20)) || CLUSTER_IDLE_S=20

# cluster_live SOCKET: how many nodes the registry of the node at SOCKET
# has live, -1 if it does not answer.
cluster_live() {
	curl -s --unix-socket "$1" http://bench/api/v1/cluster 2>/dev/null |
	    perl -MJSON::PP -e 'my $j = eval { decode_json(join "", <STDIN>) }; print $j && defined $j->{live} ? $j->{live} : -1'
}

# cluster_wait I: waits until node I's registry has every node live and
# tracks its children; fails after 10 s.
cluster_wait() {
	local i=$1 t k sock=$WORK/node$1.sock
	for ((t = 0; t < 100; t++)); do
		[ "$(cluster_live "$sock")" = "$CLUSTER_NODES" ] && break
		kill -0 "${NODE_PID[$i]}" 2>/dev/null || die "node$i: $(tail -c 300 "$WORK/cuttle-node$i.log")"
		sleep 0.1
	done
	[ "$(cluster_live "$sock")" = "$CLUSTER_NODES" ] ||
	    die "13: node$i's registry has $(cluster_live "$sock") of $CLUSTER_NODES nodes live after 10 s"
	for k in $(pgrep -P "${NODE_PID[$i]}" || true); do PIDS+=("$k"); done
}

# cluster_sample PID: "ticks ns", the utime + stime of one process and
# the ns it ran (/proc/PID/schedstat, which a tick does not round; empty
# where the kernel has none); fails when it is gone.
cluster_sample() {
	local t u s ns=''
	t=$(proc_ticks "$1") || return 1
	read -r u s _ <<<"$t"
	read -r ns _ <"/proc/$1/schedstat" 2>/dev/null || true
	echo "$((u + s)) $ns"
}

# cluster_cpu NAME PID SAMPLE0 WALL_NS: a row of cluster_cpu.tsv, the
# CPU that PID used since cluster_sample gave SAMPLE0, WALL_NS ago (date
# +%s%N): "name ticks run_ns wall_us live", live being the nodes that a
# node's registry has live now (empty for redis-server).
cluster_cpu() {
	local name=$1 pid=$2 t0 n0 t1 n1 s now run='' live=''
	read -r t0 n0 <<<"$3"
	s=$(cluster_sample "$pid") || die "13b: $name is gone"
	now=$(date +%s%N)
	read -r t1 n1 <<<"$s"
	[ -z "$n0" ] || [ -z "$n1" ] || run=$((n1 - n0))
	[ "$name" = redis ] || live=$(cluster_live "$WORK/$name.sock")
	printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$((t1 - t0))" "$run" "$(((now - $4) / 1000))" "$live" \
	    >>"$WORK/cluster_cpu.tsv"
	log "13b $name: $((t1 - t0)) ticks${run:+ ($((run / 1000)) us run)} in $(((now - $4) / 1000000)) ms${live:+, $live nodes live}"
}

if want cluster; then
	redis_start redis-cluster
	declare -A NODE_PID NODE_T0
	for ((i = 1; i <= CLUSTER_NODES; i++)); do
		{
			cuttle_conf_head "node$i" "$WORK/node$i.sock" 1 origin "$ORIGIN"
			cat <<EOF
listeners:
  - name: tcp
    listen: 127.0.0.1:$(free_port)
    mode: tcp
    upstream: origin
    timeouts: {idle: 300s}
    approval: {policy: deny}
redis:
  address: 127.0.0.1:$REDIS_PORT
  prefix: bench
  node: node$i
EOF
		} >"$WORK/cuttle-node$i.yaml"
		"$CUTTLE" -t -c "$WORK/cuttle-node$i.yaml" >/dev/null 2>&1 || die "cuttle refused cuttle-node$i.yaml"
		start "cuttle-node$i" "$PROXY_CPU" "$CUTTLE" -c "$WORK/cuttle-node$i.yaml"
		NODE_PID[$i]=$STARTED_PID
	done
	for ((i = 1; i <= CLUSTER_NODES; i++)); do cluster_wait "$i"; done
	# A few heartbeats go by before the interval starts.
	sleep 2
	log "13b: $CLUSTER_NODES idle nodes for ${CLUSTER_IDLE_S}s"
	for ((i = 1; i <= CLUSTER_NODES; i++)); do NODE_T0[$i]=$(cluster_sample "${NODE_PID[$i]}"); done
	NODE_T0[redis]=$(cluster_sample "$REDIS_PID")
	w0=$(date +%s%N)
	sleep "$CLUSTER_IDLE_S"
	: >"$WORK/cluster_cpu.tsv"
	for ((i = 1; i <= CLUSTER_NODES; i++)); do
		cluster_cpu "node$i" "${NODE_PID[$i]}" "${NODE_T0[$i]}" "$w0"
	done
	cluster_cpu redis "$REDIS_PID" "${NODE_T0[redis]}" "$w0"

	log "13c: $DECISIONS_N decisions"
	socks=()
	for ((i = 1; i <= CLUSTER_NODES; i++)); do socks+=("$WORK/node$i.sock"); done
	taskset -c "$LOAD_CPU" perl "$BENCH/propagate.pl" "$DECISIONS_N" tcp "${socks[@]}" \
	    >"$WORK/cluster_prop.tsv" 2>"$WORK/propagate.log" ||
	    die "propagate.pl: $(tail -c 300 "$WORK/propagate.log")"
	log "13c: $(awk '$4 >= 0 { n++ } END { print n + 0 }' "$WORK/cluster_prop.tsv") of $DECISIONS_N decisions listed by every other node"
	for ((i = 1; i <= CLUSTER_NODES; i++)); do tree_stop "${NODE_PID[$i]}"; done
	stop_wait "$REDIS_PID"
fi

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc=$(nproc)"
	echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "kernel=$(uname -sr)"
	# Kernel TLS is there only when "tls" is an upper-layer protocol (CONFIG_TLS).
	if grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
		echo "ktls=yes"
	else
		echo "ktls=no"
	fi
	echo "cuttle=$("$CUTTLE" -v 2>&1 | head -1)"
	echo "nginx=$(nginx -v 2>&1 | head -1)"
	if ((HAVE_HAPROXY)); then
		echo "haproxy=$(haproxy -v 2>&1 | head -1)"
	fi
	echo "wrk=$(wrk -v 2>&1 | head -1)"
	echo "valgrind=$(valgrind --version 2>&1)"
	echo "rounds=$ROUNDS"
	echo "duration=$DURATION"
	echo "conns=$CONNS"
	echo "bulk_mb=$BULK_MB"
	echo "only=$ONLY"
	if want approval; then
		echo "park_n=$PARK_N"
		echo "held_n=$HELD_N"
		echo "held_workers=2"
	fi
	if want cluster; then
		echo "redis=$(redis-server --version 2>&1 | head -1)"
		echo "cluster_nodes=$CLUSTER_NODES"
		echo "cluster_idle_s=$CLUSTER_IDLE_S"
		echo "cluster_decisions=$DECISIONS_N"
	fi
	if want cache; then
		echo "collapse_n=$COLLAPSE_N"
		echo "collapse_workers=$COLLAPSE_WORKERS"
		echo "collapse_delay_ms=$COLLAPSE_DELAY_MS"
	fi
	if want proxy; then
		if [ -n "${SOCKS_PORT[dante]:-}" ]; then
			echo "danted=$(danted -v 2>&1 | head -1 | sed 's/\.  Copyright.*//')"
		fi
		if [ -n "${CONNECT_PORT[tinyproxy]:-}" ]; then
			echo "tinyproxy=$(tinyproxy -v 2>&1 | head -1)"
		fi
		echo "tun_nofile=$TUN_NOFILE"
		echo "tun_fit=$TUN_FIT"
		echo "tun_want=$IDLE_TUN_WANT"
		echo "tun_n=$IDLE_TUN"
		echo "tun_one=$TUN_ONE"
		echo "tun_workers=$TUN_WORKERS"
		echo "tun_worker_conns=$TUN_WORKER_CONNS"
	fi
	echo "openssl=$(openssl version 2>&1 | head -1)"
	echo "clk_tck=$(getconf CLK_TCK)"
	echo "elapsed=$(($(date +%s) - START_TIME))"
} >"$WORK/meta"

mkdir -p "$(dirname "$OUT")"
perl "$BENCH/report.pl" "$WORK" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "wrote $OUT in $(($(date +%s) - START_TIME)) s"
