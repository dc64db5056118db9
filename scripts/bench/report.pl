#!/usr/bin/perl
# report.pl WORKDIR: turns the raw figures that run.sh left in WORKDIR
# (meta, results.tsv, idle.tsv, callgrind.tsv, syscalls.tsv, and the files
# of sections 10 to 13) into docs/BENCHMARKS.md on
# standard output.  Every figure is a median over the rounds; a ratio is
# the median of the per-round ratios, each taken against the same round
# of the reference proxy.
use strict;
use warnings;

my $dir = shift or die "usage: report.pl WORKDIR\n";

my %meta;
open my $fh, '<', "$dir/meta" or die "$dir/meta: $!\n";
while (<$fh>) {
	chomp;
	my ($k, $v) = split /=/, $_, 2;
	$meta{$k} = $v;
}
close $fh;
my $hz = $meta{clk_tck} || 100;

my @proxies = ('cuttle', 'nginx', exists $meta{haproxy} ? 'haproxy' : ());
my %label = (cuttle => 'cuttle', nginx => 'nginx', haproxy => 'HAProxy',
    dante => 'dante', tinyproxy => 'tinyproxy',
    direct => 'no proxy', relay_epoll => 'byte relay, epoll',
    relay_uring => 'byte relay, io_uring', cuttle_guarded => 'cuttle, a limit and a rule on the route',
    cuttle_approved => 'cuttle, approval, the client approved by a decision',
    cuttle_dest => 'cuttle, approval, the client approved for the destination',
    cuttle_redis => 'cuttle, a redis section (a node of a cluster)');
# BENCH_ONLY=approval: section 11 alone, with cuttle's runs of section 6
# that it compares with but not that section; BENCH_ONLY=cluster the
# same for section 13.
my $approval_only = ($meta{only} // '') eq 'approval';
my $cluster_only = ($meta{only} // '') eq 'cluster';
my $cg_only = $approval_only || $cluster_only;

# $r{scenario}{proxy}{round} = {rps, mbps, p50, p99, cpu, user, cpumb, load,
# load_req, ipi, errors, tried, reused, resumed}: cpu and user (its user-space part) are the proxy's
# us per request, load_req the us of CPU 1 (the client and the origin) per
# request, ipi the function-call interrupts CPU 0 received per request.
# proxy 'direct' is the client talking to the origin itself, relay_epoll
# and relay_uring the reference relays of relay.c.  tried and reused come
# from tlsload -r (section 8b): the handshakes that could resume and those
# that did; resumed is their quotient.
my %r;
open $fh, '<', "$dir/results.tsv" or die "$dir/results.tsv: $!\n";
while (<$fh>) {
	chomp;
	my ($scen, $p, $round, $req, $bytes, $dur, $p50, $p99, $errs, $non2xx, $ticks, $lticks, $wall,
	    $uticks, $ipis, $tried, $reused) = split /\t/;
	my $could = defined $tried && $tried ne '' && $tried > 0;
	my $secs = $dur / 1e6;
	$r{$scen}{$p}{$round} = {
		rps => $req / $secs,
		mbps => $bytes / $secs / 1e6,
		p50 => $p50 / 1000,
		p99 => $p99 / 1000,
		cpu => $req ? $ticks / $hz * 1e6 / $req : 0,
		user => $req && defined $uticks && $uticks ne '' ? $uticks / $hz * 1e6 / $req : undef,
		cpumb => $bytes ? $ticks / $hz * 1e6 / ($bytes / 1e6) : 0,
		load => $wall ? $lticks / $hz / ($wall / 1e6) * 100 : undef,
		load_req => $req ? $lticks / $hz * 1e6 / $req : undef,
		ipi => $req && defined $ipis && $ipis ne '' ? $ipis / $req : undef,
		errors => $errs + $non2xx,
		tried => $could ? $tried : undef,
		reused => $could ? $reused : undef,
		resumed => $could ? $reused / $tried : undef,
	};
}
close $fh;

sub median {
	my @v = sort { $a <=> $b } grep { defined } @_;
	return undef unless @v;
	my $m = int(@v / 2);
	return @v % 2 ? $v[$m] : ($v[$m - 1] + $v[$m]) / 2;
}

# Median of one figure of a proxy over the rounds.
sub fig {
	my ($scen, $p, $key) = @_;
	my $rounds = $r{$scen}{$p} or return undef;
	return median(map { $_->{$key} } values %$rounds);
}

# (figure of $p in $scen) / (figure of $ref in $ref_scen) in each round
# where both ran.
sub pair_ratios {
	my ($scen, $p, $ref_scen, $ref, $key) = @_;
	my ($a, $b) = ($r{$scen}{$p}, $r{$ref_scen}{$ref});
	return () unless $a && $b;
	return grep { defined } map {
		exists $b->{$_} && $b->{$_}{$key} ? $a->{$_}{$key} / $b->{$_}{$key} : undef
	} keys %$a;
}

# (figure of $p) / (figure of $ref) in each round where both ran.
sub ratios {
	my ($scen, $p, $ref, $key) = @_;
	return pair_ratios($scen, $p, $scen, $ref, $key);
}

# Their median.
sub ratio { return median(ratios(@_)) }

# (figure of $p in $scen) / (its figure in $ref_scen), in each round where both ran.
sub scen_ratios {
	my ($scen, $ref_scen, $p, $key) = @_;
	return pair_ratios($scen, $p, $ref_scen, $p, $key);
}

sub fmt {
	my ($v, $prec) = @_;
	return 'n/a' unless defined $v;
	$prec //= 0;
	my $s = sprintf "%.${prec}f", $v;
	1 while $s =~ s/^(\d+)(\d{3})/$1,$2/;
	return $s;
}

sub x { my $v = shift; defined $v ? sprintf('%.2f', $v) : 'n/a' }

my $out = '';
sub put { $out .= join('', @_) . "\n" }

my $minutes = sprintf '%d min %02d s', int($meta{elapsed} / 60), $meta{elapsed} % 60;

put '# Benchmarks';
put '';
put 'cuttle against nginx and HAProxy, one worker each, on loopback, and its';
put 'forward and SOCKS modes against tinyproxy and dante (section 10).';
put 'This file is written by `make bench` (`scripts/bench/run.sh`); the figures';
put 'below are those of the last run, and only compare the proxies with each';
put 'other on this machine.';
put '';
put '## Run';
put '';
put "- Date: $meta{date}; the whole run took $minutes.";
put "- Machine: $meta{nproc} CPUs, $meta{cpu}; $meta{kernel}.";
put "- cuttle: `$meta{cuttle}`";
put "- nginx: `$meta{nginx}`";
put exists $meta{haproxy} ? "- HAProxy: `$meta{haproxy}`"
    : '- HAProxy: **not installed, left out of this run**';
put "- wrk: `$meta{wrk}`; valgrind: `$meta{valgrind}`";
put "- OpenSSL: `$meta{openssl}`" if $meta{openssl};
put "- dante: `$meta{danted}`" if $meta{danted};
put "- tinyproxy: `$meta{tinyproxy}`" if $meta{tinyproxy};
put '- Only the TLS scenarios of section 8 ran (`BENCH_ONLY=tls`).' if ($meta{only} // '') eq 'tls';
put '- Only the forward and SOCKS tunnels of section 10 ran (`BENCH_ONLY=proxy`).'
    if ($meta{only} // '') eq 'proxy';
put '- The TLS scenarios of section 8, the tunnels of section 10, the held clients of section 11'
    . ' and the cache of section 12 did not run (`BENCH_ONLY=plain`).' if ($meta{only} // '') eq 'plain';
put '- Only the HTTP cache scenarios of section 12 ran (`BENCH_ONLY=cache`).'
    if ($meta{only} // '') eq 'cache';
put '- Only the approval scenarios of section 11 ran, with cuttle\'s runs of section 6 that 11a'
    . ' compares (`BENCH_ONLY=approval`).' if $approval_only;
put '- Only the cluster scenarios of section 13 ran, with cuttle\'s runs of section 6 that 13a'
    . ' compares (`BENCH_ONLY=cluster`).' if $cluster_only;
put "- Redis: `$meta{redis}`" if $meta{redis};
put '';
put '## Method';
put '';
put 'Each proxy runs with exactly one worker (cuttle `workers: 1`, nginx';
put '`worker_processes 1`, HAProxy `nbthread 1`) pinned to CPU 0 with `taskset`.';
put 'The origin (nginx, one worker, access log off) and the load generators';
put '(wrk with one thread, the Perl clients) are pinned to CPU 1.  Everything';
put 'listens on 127.0.0.1.  Proxy configurations:';
put '';
put '- cuttle: an `http` listener whose only route goes to the origin with';
put '  `keepalive: {max_idle: 64}`, a `tcp` listener to the origin\'s port,';
put '  `error_log` level `warn`, no access log.';
put '- nginx: `proxy_pass` to an upstream with `keepalive 64`,';
put '  `proxy_http_version 1.1`, `proxy_set_header Connection ""`,';
put '  `proxy_buffers 32 8k` (so a 100 KiB answer never goes to a temporary file),';
put '  `access_log off`; the `stream` module for TCP.';
put '- HAProxy: `mode http` with `http-reuse always`, and `mode tcp`.';
put '';
put 'The idle upstream pools of cuttle and nginx hold 64 connections, more than';
put 'wrk opens: with a cap below the client concurrency a pool closes connections';
put 'in every lull and opens new ones in the next burst (with 32, cuttle connected';
put 'once per 5 requests), so "keep-alive on both legs" would not be what is';
put 'measured.  HAProxy\'s pool has no cap.';
put '';
put "All proxies stay up during the whole run.  Scenarios 1 to 4 run in $meta{rounds}";
put 'rounds; in each round every proxy takes its turn, one after the other, for';
put "each scenario (wrk runs of $meta{duration} s with $meta{conns} connections, after a";
put 'warm-up).  A figure is the median over the rounds; a ratio ("x nginx",';
put '"x HAProxy") is the median of the ratios taken within each round.  Latency';
put 'percentiles come from `wrk --latency`.  CPU per request is the utime + stime';
put '(`/proc/PID/stat`) that all of the proxy\'s processes used during the run,';
put 'divided by the requests served, and "user" its user-space part (utime);';
put 'the clock tick is ' . (1000 / $hz) . ' ms.  MB is 10^6 bytes.';
put 'The origin and wrk share CPU 1, so with small answers the proxy is not';
put 'always the bottleneck: request rates compare the proxies only roughly,';
put 'CPU per request compares them more closely.';
put 'Other work on the machine during a run adds noise; taking turns round by';
put 'round and keeping medians spreads it over all proxies alike.';
put '';

# What the byte relays of section 1 are, for those that ran.
sub relay_text {
	my @how = (
	    $r{http_keepalive}{relay_epoll} ? 'with epoll, `recv` and `send`' : (),
	    $r{http_keepalive}{relay_uring} ? 'with the same operations submitted and reaped in batches through io_uring' : ());
	my $what = 'each client connection gets its own connection to the origin and the bytes pass '
	    . 'unparsed, with no pool, timer or log';
	return '' unless @how;
	return "  The byte relay (`scripts/bench/relay.c`) is not a proxy but a reference: $what; "
	    . "it runs $how[0].  It takes its turn in the same rounds and on the same CPU as the proxies."
	    if @how == 1;
	return "  The byte relays (`scripts/bench/relay.c`) are not proxies but references: $what; "
	    . "one runs $how[0], the other $how[1].  They take their turns in the same rounds and on the "
	    . 'same CPU as the proxies.';
}

# One table of a wrk scenario.
sub wrk_table {
	my ($scen, $title, $text, $main, $ref2) = @_;
	return unless $r{$scen} && %{ $r{$scen} };
	put "### $title";
	put '';
	put $text;
	put '';
	my $extra = $ref2 && exists $meta{haproxy};
	if ($main eq 'rps') {
		put '| proxy | req/s | x nginx | p50 ms | p99 ms | p99 x nginx | CPU us/req | user us/req | CPU x nginx |'
		    . ($extra ? ' CPU x HAProxy |' : '') . ' errors |';
		put '|---|--:|--:|--:|--:|--:|--:|--:|--:|' . ($extra ? '--:|' : '') . '--:|';
	} else {
		put '| proxy | MB/s | x nginx | req/s | p50 ms | p99 ms | CPU us/req | CPU x nginx | CPU 1 busy | CPU 1 us/req | IPIs to CPU 0 /req | errors |';
		put '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
	}
	for my $p (@proxies, 'relay_epoll', 'relay_uring', 'direct') {
		next unless $r{$scen}{$p};
		my $errs = 0;
		$errs += $_->{errors} for values %{ $r{$scen}{$p} };
		if ($main eq 'rps') {
			put "| $label{$p} | " . fmt(fig($scen, $p, 'rps')) . ' | ' . x(ratio($scen, $p, 'nginx', 'rps'))
			    . ' | ' . fmt(fig($scen, $p, 'p50'), 2) . ' | ' . fmt(fig($scen, $p, 'p99'), 2)
			    . ' | ' . x(ratio($scen, $p, 'nginx', 'p99'))
			    . ' | ' . fmt(fig($scen, $p, 'cpu'), 1) . ' | ' . fmt(fig($scen, $p, 'user'), 1)
			    . ' | ' . x(ratio($scen, $p, 'nginx', 'cpu'))
			    . ($extra ? ' | ' . x(ratio($scen, $p, 'haproxy', 'cpu')) : '') . " | $errs |";
		} else {
			my $proxied = $p ne 'direct';
			put "| $label{$p} | " . fmt(fig($scen, $p, 'mbps')) . ' | ' . x(ratio($scen, $p, 'nginx', 'mbps'))
			    . ' | ' . fmt(fig($scen, $p, 'rps')) . ' | ' . fmt(fig($scen, $p, 'p50'), 2)
			    . ' | ' . fmt(fig($scen, $p, 'p99'), 2)
			    . ' | ' . ($proxied ? fmt(fig($scen, $p, 'cpu'), 1) : '-')
			    . ' | ' . ($proxied ? x(ratio($scen, $p, 'nginx', 'cpu')) : '-')
			    . ' | ' . fmt(fig($scen, $p, 'load')) . ' % | ' . fmt(fig($scen, $p, 'load_req'), 1)
			    . ' | ' . fmt(fig($scen, $p, 'ipi'), 2) . " | $errs |";
		}
	}
	put '';
}

# Whether any of sections 1 to 7 has figures: not when only TLS ran.
my $plain = grep { $r{$_} && %{ $r{$_} } } qw(http_keepalive http_close http_100k tcp_small tcp_bulk tcp_keepalive);
$plain ||= -e "$dir/$_" for qw(idle.tsv callgrind.tsv);
$plain = 0 if $cg_only;
put '## Results' if $plain;
put '' if $plain;
wrk_table('http_keepalive', '1. HTTP, small answer, keep-alive on both legs',
    'GET of a 12-byte answer (`return 200 "hello world\n"` at the origin); wrk keeps its connections, the proxy pools its connections to the origin.'
    . relay_text(),
    'rps');
wrk_table('http_close', '2. HTTP, a new client connection per request',
    'The same request with `Connection: close`: every request is a new client connection; the proxy still reuses its connections to the origin.',
    'rps');
wrk_table('http_100k', '3. HTTP, 100 KiB answers',
    'GET of a 100 KiB static file, keep-alive on both legs.  "no proxy" is wrk '
    . 'fetching from the origin itself.  "CPU 1 busy" is the share of CPU 1, where '
    . 'wrk and the origin run, that was busy during the run (`/proc/stat`): near '
    . '100 %, the client and the origin set the rate, not the proxy.  "CPU 1 us/req" '
    . 'is that busy time divided by the answers: what one answer costs the client '
    . 'and the origin, which a proxy changes by how it sends and receives.  '
    . '"IPIs to CPU 0" are the function-call interrupts that the proxies\' CPU '
    . 'received (`/proc/interrupts`): with this layout mostly CPU 1 waking a proxy '
    . 'whose CPU had gone idle, which CPU 1 pays for.', 'mbps');
wrk_table('tcp_small', '4a. TCP, small request and answer',
    'wrk through the TCP listener to the origin\'s HTTP port with `Connection: close`: each request is a new TCP connection through the proxy and a new connection to the origin.',
    'rps', 1);

if ($r{tcp_bulk}) {
	put '### 4b. TCP, bulk transfer';
	put '';
	put "A Perl client (`sink.pl`) downloads a $meta{bulk_mb} MiB file from the origin through the TCP";
	put 'listener, once per round, reading 1 MiB per `read` and keeping nothing: the client shares CPU 1';
	put 'with the origin and must not set the rate (`curl -o /dev/null` writes its input out in 8 KiB';
	put 'pieces and did).  "no proxy" is the same download from the origin itself, and "CPU 1 busy" is';
	put 'as in 3.';
	put '';
	my $extra = exists $meta{haproxy};
	put '| proxy | MB/s | x nginx |' . ($extra ? ' x HAProxy |' : '') . ' CPU ms/MB | CPU 1 busy |';
	put '|---|--:|--:|' . ($extra ? '--:|' : '') . '--:|--:|';
	for my $p (@proxies, 'direct') {
		next unless $r{tcp_bulk}{$p};
		put "| $label{$p} | " . fmt(fig('tcp_bulk', $p, 'mbps')) . ' | ' . x(ratio('tcp_bulk', $p, 'nginx', 'mbps'))
		    . ($extra ? ' | ' . x(ratio('tcp_bulk', $p, 'haproxy', 'mbps')) : '')
		    . ' | ' . ($p ne 'direct' ? fmt(fig('tcp_bulk', $p, 'cpumb') / 1000, 3) : '-')
		    . ' | ' . fmt(fig('tcp_bulk', $p, 'load')) . ' % |';
	}
	put '';
}

wrk_table('tcp_keepalive', '4c. TCP, small requests on kept-alive connections',
    'The same request through the TCP listener, but wrk keeps its connections: each proxy holds '
    . 'one connection to the origin per client connection and relays a small message each way '
    . 'per request on it, as a tunnel (CONNECT, SOCKS, passthrough) does.'
    . ($r{tcp_keepalive} && ($r{tcp_keepalive}{relay_epoll} || $r{tcp_keepalive}{relay_uring})
	? '  The byte relays of section 1 do exactly that, with no timer, pool or log, and take '
	    . 'their turns here too: the floor of this scenario.' : ''),
    'rps', 1);

my %idle;
if (open $fh, '<', "$dir/idle.tsv") {
	put '### 5. Memory of idle client connections';
	put '';
	put 'A Perl client opens N connections to the HTTP listener and sends nothing.';
	put 'Proxies allocate their connection slots up front (cuttle and nginx touch';
	put 'them all at start), so each proxy is started fresh twice: once with a limit';
	put 'of 256 connections and no client (baseline), once with a limit of N + 256';
	put '(cuttle `worker_connections`, nginx `worker_connections`, HAProxy `maxconn`)';
	put 'and the N clients.  bytes/conn = (worker VmRSS with N clients - baseline';
	put 'VmRSS) / accepted connections, so slots allocated ahead are counted.  "growth only" is the';
	put 'growth of the second instance alone, from before the clients connect to';
	put 'after it accepted them all (kernel socket memory is in neither).';
	put '';
	put '| proxy | N | accepted (new fds) | baseline KiB | before clients KiB | with N clients KiB | bytes/conn | x nginx | growth only, bytes/conn |';
	put '|---|--:|--:|--:|--:|--:|--:|--:|--:|';
	my @rows;
	while (<$fh>) {
		chomp;
		my ($p, $n, $base, $rss0, $rss1, $fds) = split /\t/;
		# Divided by the connections the worker did accept.
		$idle{$p} = ($rss1 - $base) * 1024 / ($fds > 0 ? $fds : $n);
		push @rows, [$p, $n, $base, $rss0, $rss1, $fds];
	}
	close $fh;
	for (@rows) {
		my ($p, $n, $base, $rss0, $rss1, $fds) = @$_;
		put "| $label{$p} | " . fmt($n) . ' | ' . fmt($fds) . ' | ' . fmt($base) . ' | ' . fmt($rss0)
		    . ' | ' . fmt($rss1) . ' | ' . fmt($idle{$p}) . ' | '
		    . ($idle{nginx} ? x($idle{$p} / $idle{nginx}) : 'n/a')
		    . ' | ' . fmt(($rss1 - $rss0) * 1024 / ($fds > 0 ? $fds : $n)) . ' |';
	}
	put '';
}

my (%ipr, @cg_rows);
if (open $fh, '<', "$dir/callgrind.tsv") {
	while (<$fh>) {
		chomp;
		my ($p, $n, $ir0, $ir1) = split /\t/;
		$ipr{$p} = ($ir1 - $ir0) / $n;
		push @cg_rows, [$p, $n, $ir0, $ir1];
	}
	close $fh;
}
if (@cg_rows && !$cg_only) {
	put '### 6. Instructions per proxied HTTP request';
	put '';
	put 'The proxy runs under `valgrind --tool=callgrind` (cuttle with';
	put '`--trace-children=yes`, nginx with `master_process off`) and a Perl client';
	put 'sends N small GET requests one after the other on one keep-alive';
	put 'connection.  The figure is (Ir of the worker with N requests - Ir of a';
	put 'run with no request) / N: start-up and shutdown cancel out, the cost of';
	put 'the one client connection and of the first connection to the origin is';
	put 'spread over the N requests.';
	put '"cuttle, a limit and a rule on the route" is cuttle with a request limit that never';
	put 'triggers (1,000,000,000/s per client address) and a deny rule whose path expression';
	put 'never matches on the route: what checking them costs.';
	put '"cuttle, approval, the client approved by a decision" is cuttle whose listener has';
	put '`approval: {policy: deny}` and a decision that lets 127.0.0.1 in, read from the state';
	put 'file at start (section 11).' if $ipr{cuttle_approved};
	put '"cuttle, a redis section (a node of a cluster)" is cuttle with a `redis:` section that';
	put 'links its master to a running redis-server (section 13).' if $ipr{cuttle_redis};
	put '';
	put '| proxy | N | Ir, no request | Ir, N requests | Ir/request | x nginx |';
	put '|---|--:|--:|--:|--:|--:|';
	for (@cg_rows) {
		my ($p, $n, $ir0, $ir1) = @$_;
		put "| $label{$p} | " . fmt($n) . ' | ' . fmt($ir0) . ' | ' . fmt($ir1) . ' | '
		    . fmt($ipr{$p}) . ' | ' . ($ipr{nginx} ? x($ipr{$p} / $ipr{nginx}) : 'n/a') . ' |';
	}
	put '';
}

my %sc;
if (open $fh, '<', "$dir/syscalls.tsv") {
	while (<$fh>) {
		chomp;
		my ($scen, $p, $req, $calls) = split /\t/;
		$sc{$scen}{$p} = $calls / $req if $req && defined $calls && $calls =~ /^\d+$/;
	}
	close $fh;
}
if (%sc) {
	put '### 7. System calls per request';
	put '';
	put 'One more wrk run per proxy and scenario (3 s, outside the timed rounds),';
	put 'with `perf stat -e raw_syscalls:sys_enter` counting the system calls of';
	put 'all of the proxy\'s processes, divided by the requests served.  Unlike';
	put 'time, the count hardly depends on other work on the machine; it does';
	put 'depend on how many events one `epoll_wait` returns, that is on load.';
	put '';
	sc_table('scenario', sub { my ($s, $p) = @_;
		defined $sc{$s}{$p} ? sprintf('%.2f', $sc{$s}{$p}) : 'n/a' });
	put 'The system time (stime) per request of sections 1, 2, 4a and 4c divided by';
	put 'these counts: what one system call costs, the work the kernel does inside';
	put 'it included.  Time and counts come from different runs.';
	put '';
	sc_table('system time per call, us', sub { fmt(sys_per_call(@_), 2) });
}

# A table of the scenarios counted in section 7, one column per proxy;
# $cell->(scenario, proxy) is what a cell shows.
sub sc_table {
	my ($head, $cell) = @_;
	put "| $head | " . join(' | ', map { $label{$_} } @proxies) . ' |';
	put '|---|' . join('', map { '--:|' } @proxies);
	for my $s (['http_keepalive', 'HTTP small, keep-alive'],
	    ['http_close', 'HTTP, new connection per request'],
	    ['tcp_small', 'TCP small, new connection per request'],
	    ['tcp_keepalive', 'TCP small, keep-alive']) {
		put "| $s->[1] | " . join(' | ', map { $cell->($s->[0], $_) } @proxies) . ' |';
	}
	put '';
}

# System time (us) per system call of a proxy in a scenario.
sub sys_per_call {
	my ($scen, $p) = @_;
	my ($cpu, $user) = (fig($scen, $p, 'cpu'), fig($scen, $p, 'user'));
	return $sc{$scen}{$p} && defined $cpu && defined $user
	    ? ($cpu - $user) / $sc{$scen}{$p} : undef;
}

# The targets: [what, measured ratio or value, shown as, comparison, bound]
my $hap = exists $meta{haproxy};
# The bounds of the targets that sections 1, 3, 4c and 7 can explain.
my ($KA_CPU_MAX, $BIG_MIN, $TCP_KA_CPU_MAX) = (0.80, 1.2, 0.90);
# [what, [per-round ratios] or a single value, unit, comparison, bound]
my @targets = (
	[sprintf('HTTP small keep-alive: CPU/req <= %.2f x nginx', $KA_CPU_MAX), [ratios('http_keepalive', 'cuttle', 'nginx', 'cpu')], 'x', '<=', $KA_CPU_MAX],
	['HTTP small keep-alive: req/s >= nginx', [ratios('http_keepalive', 'cuttle', 'nginx', 'rps')], 'x', '>=', 1.0],
	['HTTP small keep-alive: p99 <= nginx', [ratios('http_keepalive', 'cuttle', 'nginx', 'p99')], 'x', '<=', 1.0],
	['HTTP new connection: CPU/req <= 0.90 x nginx', [ratios('http_close', 'cuttle', 'nginx', 'cpu')], 'x', '<=', 0.90],
	[sprintf('HTTP 100 KiB: MB/s >= %.1f x nginx', $BIG_MIN), [ratios('http_100k', 'cuttle', 'nginx', 'mbps')], 'x', '>=', $BIG_MIN],
	['TCP small: CPU/req <= 0.90 x HAProxy', [$hap ? ratios('tcp_small', 'cuttle', 'haproxy', 'cpu') : ()], 'x', '<=', 0.90],
	[sprintf('TCP keep-alive: CPU/req <= %.2f x HAProxy', $TCP_KA_CPU_MAX), [$hap ? ratios('tcp_keepalive', 'cuttle', 'haproxy', 'cpu') : ()], 'x', '<=', $TCP_KA_CPU_MAX],
	['TCP bulk: MB/s >= 1.5 x HAProxy', [$hap ? ratios('tcp_bulk', 'cuttle', 'haproxy', 'mbps') : ()], 'x', '>=', 1.5],
	['Idle memory <= 500 bytes/conn', $idle{cuttle}, 'B', '<=', 500],
	['Instructions/HTTP request <= 0.80 x nginx', $ipr{nginx} && defined $ipr{cuttle} ? $ipr{cuttle} / $ipr{nginx} : undef, 'x', '<=', 0.80],
	(defined $ipr{cuttle_guarded} ?
	    ['A limit and a rule that never trigger: Ir/request <= 1.05 x without', $ipr{cuttle} ? $ipr{cuttle_guarded} / $ipr{cuttle} : undef, 'x', '<=', 1.05] : ()),
);

# Puts the rows of a table of targets: [what, [per-round values] or a
# single value, unit ('x' or 'B'), comparison, bound, and optionally a
# note that overrides a pass].
sub target_rows {
	for my $t (@_) {
		my ($what, $m, $unit, $cmp, $bound, $note) = @$t;
		my @rounds = ref $m ? @$m : ();
		my $v = ref $m ? median(@rounds) : $m;
		my $meets = sub {
			$cmp eq '<=' ? $_[0] <= $bound : $cmp eq '==' ? $_[0] == $bound : $_[0] >= $bound
		};
		my ($shown, $spread, $res) = ('n/a', '-', 'not measured');
		if (defined $v) {
			$shown = $unit eq 'x' ? sprintf('%.2f x', $v) : $unit eq 'ms' ? sprintf('%.1f ms', $v)
			    : $unit eq '%' ? sprintf('%.2f %%', $v)
			    : $unit eq 'n' ? fmt($v, $v == int($v) ? 0 : 1) : sprintf('%.0f B', $v);
			$res = $meets->($v) ? 'pass' : '**fail**';
			$res = "$res, $note" if $note;
		}
		if (@rounds) {
			my @s = sort { $a <=> $b } @rounds;
			$spread = sprintf($unit eq 'ms' ? '%.1f-%.1f, %d of %d' : $unit eq 'n' ? '%s-%s, %d of %d'
			    : '%.2f-%.2f, %d of %d', $unit eq 'n' ? (fmt($s[0]), fmt($s[-1])) : ($s[0], $s[-1]),
			    scalar(grep { $meets->($_) } @s), scalar @s);
		}
		put "| $what | $shown | $spread | $res |";
	}
}
if ($r{http_auth} && $r{http_auth}{cuttle}) {
	my $base = fig('http_keepalive', 'cuttle', 'cpu');
	my $auth = fig('http_auth', 'cuttle', 'cpu');
	put '### 9. HTTP basic authentication, keep-alive';
	put '';
	put 'Section 1 through a cuttle listener with `auth: {basic: ...}` and a bcrypt (cost 10)';
	put 'password file, wrk sending the right credentials on each of its kept-alive';
	put 'connections: the first request of a connection pays the bcrypt check, the next';
	put 'ones a lookup of what was verified.  Against section 1 through cuttle in the same';
	put 'rounds.';
	put '';
	put '| cuttle | req/s | p99 ms | CPU us/req | user us/req | CPU x without auth | errors |';
	put '|---|--:|--:|--:|--:|--:|--:|';
	for my $scen ('http_keepalive', 'http_auth') {
		my $errs = 0;
		$errs += $_->{errors} for values %{ $r{$scen}{cuttle} };
		put '| ' . ($scen eq 'http_auth' ? 'with basic auth' : 'without') . ' | '
		    . fmt(fig($scen, 'cuttle', 'rps')) . ' | ' . fmt(fig($scen, 'cuttle', 'p99'), 2)
		    . ' | ' . fmt(fig($scen, 'cuttle', 'cpu'), 1) . ' | ' . fmt(fig($scen, 'cuttle', 'user'), 1)
		    . ' | ' . x(median(scen_ratios($scen, 'http_keepalive', 'cuttle', 'cpu'))) . " | $errs |";
	}
	put '';
	push @targets, ['Basic auth keep-alive: CPU/req <= 1.1 x without',
	    [scen_ratios('http_auth', 'http_keepalive', 'cuttle', 'cpu')], 'x', '<=', 1.1]
	    if defined $base && defined $auth;
}

# Section 12's data, read here so that its targets join the summary.
# 12c: one row per round: n, up, failed, answered, ok, hits, first_us,
# last_us, origin (requests the origin saw), stored (whether the next
# request was a hit).
my @collapse;
if (open $fh, '<', "$dir/collapse.tsv") {
	while (<$fh>) {
		chomp;
		my %row;
		@row{qw(round n up failed answered ok hits first_us last_us origin stored)} = split /\t/;
		next unless defined $row{stored};
		push @collapse, \%row;
	}
	close $fh;
}
# Requests for the objects of 12a and 12b that reached the origin during
# the measured runs, by scenario and proxy; run.sh stops at the first.
my %cache_fetched;
if (open $fh, '<', "$dir/cache_origin.tsv") {
	while (<$fh>) {
		chomp;
		my ($scen, $p, undef, $n) = split /\t/;
		$cache_fetched{$scen}{$p} += $n if defined $n;
	}
	close $fh;
}
my $CACHE_CPU_MAX = 0.60;
my $cn = $meta{collapse_n} // ($collapse[0] ? $collapse[0]{n} : 1000);
my @cache_short = grep { $_->{ok} < $_->{n} } @collapse;
my @cache_targets;
@cache_targets = (
	(map { [sprintf('Cache hits, %s: CPU/req <= %.2f x nginx', $_->[1], $CACHE_CPU_MAX),
	    [ratios($_->[0], 'cuttle', 'nginx', 'cpu')], 'x', '<=', $CACHE_CPU_MAX] }
	    ['cache_1k', '1 KiB'], ['cache_100k', '100 KiB']),
	[sprintf('%s concurrent requests for one cold key, %d workers: origin requests = 1', fmt($cn),
	    $meta{collapse_workers} // 2), [map { $_->{origin} } @collapse], 'n', '==', 1,
	    @cache_short ? sprintf('**flagged**: fewer than %s answered 200 in %d of %d rounds', fmt($cn),
		scalar @cache_short, scalar @collapse) : undef],
) if $r{cache_1k} || $r{cache_100k} || @collapse;
push @targets, @cache_targets;

if ($plain) {
	put '## Targets';
	put '';
	put 'cuttle\'s measured value against the targets set for it.  A ratio is';
	put 'the median over the rounds (sections 1 to 4); "rounds" gives the lowest and';
	put 'highest ratio of a single round, and in how many rounds it met the target:';
	put 'the spread that other work on the machine puts on a figure.';
	put '';
	put '| target | measured | rounds | result |';
	put '|---|--:|--:|---|';
	target_rows(@targets);
	put '';
}

# What the figures above say about a target that failed.  The figure the
# target asks for is cuttle's own scaled by the verdict's ratio, so the
# text cannot disagree with the table.
my @why;
my $ka = ratio('http_keepalive', 'cuttle', 'nginx', 'cpu');
my $c = fig('http_keepalive', 'cuttle', 'cpu');
if (defined $ka && $ka > $KA_CPU_MAX && $c) {
	my $need = $c * $KA_CPU_MAX / $ka;
	my $u = fig('http_keepalive', 'cuttle', 'user');
	my $per = sys_per_call('http_keepalive', 'cuttle');
	my $t = sprintf('- HTTP small keep-alive CPU: cuttle\'s CPU per request is %.2f x nginx\'s; '
	    . '%.2f x asks for %.1f us where cuttle used %.1f.', $ka, $KA_CPU_MAX, $need, $c);
	if (defined $per) {
		my $left = $need - 4 * $per;
		$t .= sprintf('  Of these, %.1f us are user space and %.1f us system time over %.2f system '
		    . 'calls (section 7), %.2f us per call.  Reading the request, writing it to the origin, '
		    . 'reading the answer and writing it to the client are 4 calls', $u, $c - $u,
		    $sc{http_keepalive}{cuttle}, $per);
		$t .= $left > 0
		    ? sprintf(': at that cost they leave %.1f us per request to user space, where cuttle spent '
			. '%.1f%s.', $left, $u, defined $ipr{cuttle}
			? sprintf(' (%s instructions, section 6)', fmt($ipr{cuttle})) : '')
		    : ': at that cost they alone take more than the target allows.';
	}
	my $re = fig('http_keepalive', 'relay_epoll', 'cpu');
	my $ne = ratio('http_keepalive', 'nginx', 'relay_epoll', 'cpu');
	my $ce = ratio('http_keepalive', 'cuttle', 'relay_epoll', 'cpu');
	if (defined $re && defined $ne && defined $ce) {
		$t .= sprintf('  The byte relay with epoll used %.1f us per request, and nginx %.2f x as much, '
		    . 'so the target asks cuttle for %.2f x what passing the bytes costs here with no HTTP '
		    . 'work at all; cuttle used %.2f x.', $re, $ne, $KA_CPU_MAX * $ne, $ce);
		my $ru = fig('http_keepalive', 'relay_uring', 'cpu');
		my $uq = ratio('http_keepalive', 'relay_uring', 'relay_epoll', 'cpu');
		$t .= sprintf('  The byte relay with io_uring used %.1f us, %.2f x the epoll relay in the '
		    . 'same rounds.', $ru, $uq) if defined $ru && defined $uq;
	}
	push @why, $t;
}
my $tka = $hap ? ratio('tcp_keepalive', 'cuttle', 'haproxy', 'cpu') : undef;
my $tc = fig('tcp_keepalive', 'cuttle', 'cpu');
if (defined $tka && $tka > $TCP_KA_CPU_MAX && $tc) {
	my $t = sprintf('- TCP keep-alive CPU: cuttle\'s CPU per request is %.2f x HAProxy\'s; '
	    . '%.2f x asks for %.1f us where cuttle used %.1f.', $tka, $TCP_KA_CPU_MAX,
	    $tc * $TCP_KA_CPU_MAX / $tka, $tc);
	my ($u, $hu) = (fig('tcp_keepalive', 'cuttle', 'user'), fig('tcp_keepalive', 'haproxy', 'user'));
	$t .= sprintf('  User space took %.1f us of it, %.1f us in HAProxy.', $u, $hu)
	    if defined $u && defined $hu;
	my ($sc, $sh) = map { $sc{tcp_keepalive}{$_} } 'cuttle', 'haproxy';
	$t .= sprintf('  cuttle made %.2f system calls per request, HAProxy %.2f (section 7).', $sc, $sh)
	    if defined $sc && defined $sh;
	my $re = fig('tcp_keepalive', 'relay_epoll', 'cpu');
	my $he = ratio('tcp_keepalive', 'haproxy', 'relay_epoll', 'cpu');
	my $ce = ratio('tcp_keepalive', 'cuttle', 'relay_epoll', 'cpu');
	$t .= sprintf('  The byte relay with epoll used %.1f us per request and HAProxy %.2f x as much, '
	    . 'so the target asks cuttle for %.2f x what passing the bytes costs here; cuttle used '
	    . '%.2f x.', $re, $he, $TCP_KA_CPU_MAX * $he, $ce)
	    if defined $re && defined $he && defined $ce;
	push @why, $t;
}
my $big = ratio('http_100k', 'cuttle', 'nginx', 'mbps');
my ($qc, $qn, $qd) = map { fig('http_100k', $_, 'load_req') } 'cuttle', 'nginx', 'direct';
my ($lc, $ln) = map { fig('http_100k', $_, 'load') } 'cuttle', 'nginx';
if (defined $big && $big < $BIG_MIN && defined $qc && defined $qn && defined $qd &&
    defined $lc && defined $ln) {
	my $t;
	if ($lc < 95 || $ln < 95) {
		$t = sprintf('- HTTP 100 KiB: CPU 1 was %.0f %% busy through cuttle and %.0f %% through '
		    . 'nginx: not saturated, so its time per answer does not set the rate alone.', $lc, $ln);
	} else {
		my $need = $qc * $big / $BIG_MIN;
		$t = sprintf('- HTTP 100 KiB: CPU 1, where wrk and the origin run, was %.0f %% busy through '
		    . 'cuttle and %.0f %% through nginx, so its time per answer sets the rate: %.1f us through '
		    . 'cuttle, %.1f us through nginx, %.1f us with no proxy.  %.1f x nginx asks for %.1f us',
		    $lc, $ln, $qc, $qn, $qd, $BIG_MIN, $need);
		$t .= $need > $qd
		    ? sprintf(', %.1f us more than with no proxy; cuttle adds %.1f us, nginx %.1f us.',
			$need - $qd, $qc - $qd, $qn - $qd)
		    : ', less than with no proxy at all: out of reach while CPU 1 sets the rate.';
		my ($ic, $in) = map { fig('http_100k', $_, 'ipi') } 'cuttle', 'nginx';
		$t .= sprintf('  The proxies\' CPU received %.2f function-call interrupts per answer through '
		    . 'cuttle, which used %.1f us of CPU per answer, and %.2f through nginx, which used %.1f.',
		    $ic, fig('http_100k', 'cuttle', 'cpu'), $in, fig('http_100k', 'nginx', 'cpu'))
		    if defined $ic && defined $in;
	}
	push @why, $t;
}
if (@why) {
	put 'The failed targets, in the figures above:';
	put '';
	put $_ for @why;
	put '';
}

# ---------------------------------------------------------------------------
# Section 8: TLS termination
# ---------------------------------------------------------------------------

# Rounds of section 8b where fewer than 90 % of a proxy's handshakes that
# could resume did: their CPU per request is partly that of full ones.
my $RESUMED_MIN = 0.90;
sub resumed_low {
	my $p = shift;
	my $rounds = $r{tls_resumed}{$p} or return ();
	return sort { $a <=> $b } grep {
		!defined $rounds->{$_}{resumed} || $rounds->{$_}{resumed} < $RESUMED_MIN
	} keys %$rounds;
}

if (grep { $r{$_} } qw(tls_full tls_resumed tls_keepalive tls_bulk)) {
	put '## 8. TLS termination';
	put '';
	put 'Each proxy terminates TLS on two more listeners, with one certificate made for the';
	put 'run (ECDSA P-256, `openssl req -x509 -newkey ec`, SAN `DNS:bench.test`): an HTTP one';
	put 'routing to the origin as in section 1, and a TCP one relaying to the origin\'s plain';
	put 'HTTP port as in section 4.  TLS 1.2 and 1.3 are allowed, session tickets are on, and';
	put 'everything else is each proxy\'s default (cipher suites, groups, no kTLS):';
	put '';
	put '- cuttle: a `tls:` block with the certificate, `protocols: [TLSv1.2, TLSv1.3]`,';
	put '  `session_tickets: true` (keys shared by all workers).';
	put '- nginx: `listen ... ssl` with `ssl_certificate`, `ssl_certificate_key`,';
	put '  `ssl_protocols TLSv1.2 TLSv1.3`, `ssl_session_tickets on`; in the `stream` module';
	put '  for TCP.';
	put '- HAProxy: `bind ... ssl crt` with the certificate and its key in one PEM,';
	put '  `ssl-default-bind-options ssl-min-ver TLSv1.2`, the `tune.ssl` defaults.';
	put '';
	put 'Every client negotiates TLS 1.3.  The scenarios take their turns in the same rounds';
	put 'as the others.  Sections 8a and 8b use `scripts/bench/tlsload.c`: ' . ($meta{conns} // 'n/a');
	put 'slots on one epoll loop, each doing connect, handshake, `GET /small` with';
	put '`Connection: close`, reading to the end and closing, for the run\'s duration.  wrk';
	put 'cannot make full handshakes: it keeps the previous session on its SSL object and';
	put 'resumes it.';
	put '';
	wrk_table('tls_full', '8a. TLS, a full handshake per request',
	    'Every connection is new and offers no session: a full TLS 1.3 handshake (ECDHE and an ECDSA P-256 signature by the proxy) per request.  The proxy reuses its connections to the origin.',
	    'rps', 1);
	wrk_table('tls_resumed', '8b. TLS, a resumed handshake per request',
	    'The same, but each connection offers the session ticket that its slot received on its previous connection (RFC 8446 asks clients to use a TLS 1.3 ticket once, so a proxy must send a new ticket on a resumed connection for the next one to resume).',
	    'rps', 1);
	if ($r{tls_resumed}) {
		put 'Handshakes that could resume (the slot\'s previous connection ended well) and those that';
		put 'did, as `SSL_session_reused` counts them, over all rounds; a round below 90 % is flagged,';
		put 'and its CPU per request is partly that of full handshakes.';
		put '';
		put '| proxy | could resume | resumed | share | lowest round | rounds below 90 % |';
		put '|---|--:|--:|--:|--:|--:|';
		for my $p (@proxies) {
			my $rounds = $r{tls_resumed}{$p} or next;
			my ($tried, $reused) = (0, 0);
			for (values %$rounds) {
				$tried += $_->{tried} // 0;
				$reused += $_->{reused} // 0;
			}
			my @v = sort { $a <=> $b } map { $_->{resumed} // 0 } values %$rounds;
			my @low = resumed_low($p);
			put "| $label{$p} | " . fmt($tried) . ' | ' . fmt($reused) . ' | '
			    . ($tried ? sprintf('%.1f %%', $reused / $tried * 100) : 'n/a') . ' | '
			    . sprintf('%.1f %%', $v[0] * 100) . ' | '
			    . (@low ? '**' . scalar(@low) . ' of ' . scalar(keys %$rounds) . '**' : '0') . ' |';
		}
		put '';
		my @flags;
		for my $p (@proxies) {
			my @low = resumed_low($p);
			push @flags, "**Flagged:** through $label{$p}, fewer than 90 % of the handshakes "
			    . 'resumed in round' . (@low > 1 ? 's ' : ' ') . join(', ', @low) . '.' if @low;
		}
		put join("\n\n", @flags), "\n" if @flags;
	}
	wrk_table('tls_keepalive', '8c. TLS, small answers on kept-alive connections',
	    'Section 1 over TLS: wrk keeps its ' . ($meta{conns} // 'n/a') . ' connections (one handshake each, at the start), the proxy decrypts each request and encrypts each answer and pools its plain connections to the origin.',
	    'rps', 1);
	if ($r{tls_bulk}) {
		put '### 8d. TLS, bulk transfer through a TCP listener';
		put '';
		put "tlsload downloads the $meta{bulk_mb} MiB file once per round through the TCP listener that";
		put 'terminates TLS, which relays to the origin\'s plain HTTP port: the proxy encrypts every';
		put 'byte.  The client reads with a 64 KiB read-ahead buffer, so that it costs CPU 1 as few';
		put 'system calls as `sink.pl` does in 4b; CPU 1 busy is as in 3.';
		put '';
		my $extra = exists $meta{haproxy};
		put '| proxy | MB/s | x nginx |' . ($extra ? ' x HAProxy |' : '') . ' CPU ms/MB | CPU 1 busy |';
		put '|---|--:|--:|' . ($extra ? '--:|' : '') . '--:|--:|';
		for my $p (@proxies) {
			next unless $r{tls_bulk}{$p};
			put "| $label{$p} | " . fmt(fig('tls_bulk', $p, 'mbps')) . ' | ' . x(ratio('tls_bulk', $p, 'nginx', 'mbps'))
			    . ($extra ? ' | ' . x(ratio('tls_bulk', $p, 'haproxy', 'mbps')) : '')
			    . ' | ' . fmt(fig('tls_bulk', $p, 'cpumb') / 1000, 3)
			    . ' | ' . fmt(fig('tls_bulk', $p, 'load')) . ' % |';
		}
		put '';
	}
	my @low = resumed_low('cuttle');
	my $note = @low ? sprintf('**flagged**: fewer than 90 %% resumed in %d of %d rounds',
	    scalar @low, scalar keys %{ $r{tls_resumed}{cuttle} }) : undef;
	put '### TLS targets';
	put '';
	put 'As in the targets above: the median of the per-round ratios, its spread, and in how';
	put 'many rounds the target was met.  The resumed target is flagged when cuttle\'s handshakes';
	put 'resumed in fewer than 90 % of the cases in some round.';
	put '';
	put '| target | measured | rounds | result |';
	put '|---|--:|--:|---|';
	target_rows(
	    ['TLS full handshake: CPU/req <= 0.95 x nginx', [ratios('tls_full', 'cuttle', 'nginx', 'cpu')], 'x', '<=', 0.95],
	    ['TLS resumed handshake: CPU/req <= 0.90 x nginx', [ratios('tls_resumed', 'cuttle', 'nginx', 'cpu')], 'x', '<=', 0.90, $note],
	    ['TLS keep-alive: CPU/req <= 0.90 x nginx', [ratios('tls_keepalive', 'cuttle', 'nginx', 'cpu')], 'x', '<=', 0.90],
	    ['TLS bulk over a TCP listener: MB/s >= 1.2 x HAProxy', [$hap ? ratios('tls_bulk', 'cuttle', 'haproxy', 'mbps') : ()], 'x', '>=', 1.2],
	);
	put '';
	my @tls_why;
	my $rr = ratio('tls_resumed', 'cuttle', 'nginx', 'cpu');
	my ($rc, $rn) = map { fig('tls_resumed', $_, 'cpu') } 'cuttle', 'nginx';
	my ($ruc, $run) = map { fig('tls_resumed', $_, 'user') } 'cuttle', 'nginx';
	if (defined $rr && $rr > 0.90 && $rc && $rn && defined $ruc && defined $run) {
		push @tls_why, sprintf('- TLS resumed handshake CPU: cuttle used %.1f us per request, '
		    . 'nginx %.1f (%.2f x); 0.90 x asks for %.1f us.  User space took %.1f us in cuttle and '
		    . '%.1f in nginx: the key exchange, the ticket and the record encryption, which both '
		    . 'do in the same OpenSSL; the rest, %.1f and %.1f us, is the kernel\'s (accept, '
		    . 'connect, close and the reads and writes of each exchange).', $rc, $rn, $rr,
		    $rc * 0.90 / $rr, $ruc, $run, $rc - $ruc, $rn - $run);
	}
	my $br = $hap ? ratio('tls_bulk', 'cuttle', 'haproxy', 'mbps') : undef;
	my ($bc, $bh) = map { fig('tls_bulk', $_, 'cpumb') } 'cuttle', 'haproxy';
	if (defined $br && $br < 1.2 && $bc && $bh) {
		push @tls_why, sprintf('- TLS bulk: cuttle used %.3f ms of CPU per MB, HAProxy %.3f.  '
		    . 'Every byte is encrypted in user space by the same OpenSSL in all three proxies%s, so '
		    . 'the proxies\' CPU per MB differs only by what they add to it.', $bc / 1000,
		    $bh / 1000, ($meta{ktls} // '') eq 'no'
		    ? ' (this kernel has no kernel TLS: "tls" is not in /proc/sys/net/ipv4/'
		      . 'tcp_available_ulp, so tls.ktls cannot hand the encryption to it)' : '');
	}
	if (@tls_why) {
		put 'The failed TLS targets, in the figures above:';
		put '';
		put $_ for @tls_why;
		put '';
	}
}

# ---------------------------------------------------------------------------
# Section 10: forward and SOCKS tunnels
# ---------------------------------------------------------------------------

# The targets' bounds: MB/s of a bulk download against the other proxy,
# and SOCKS 5 CPU per connection against dante's.
my ($TUN_BULK_MIN, $TUN_CONN_CPU_MAX) = (1.5, 1.0);

# The share of CPU 0 a proxy used during a download, %: its CPU per MB
# times its MB/s, each the median over the rounds.
sub tun_busy {
	my ($scen, $p) = @_;
	my ($c, $m) = (fig($scen, $p, 'cpumb'), fig($scen, $p, 'mbps'));
	return defined $c && defined $m ? $c * $m / 1e4 : undef;
}

# The proxy each tunnel's figures are compared with.
my %tun_ref = (socks => 'dante', connect => 'tinyproxy');
my %tun_name = (socks => 'SOCKS 5', connect => 'CONNECT');

# Puts a table row for each tunnel kind and proxy that ran scenario
# "${kind}_$what", cuttle first: the kind, the proxy, and the cells that
# $cells->(scenario, proxy, the proxy compared with) gives.
sub tun_table_rows {
	my ($what, $cells) = @_;
	for my $k ('socks', 'connect') {
		my $scen = "${k}_$what";
		for my $p ('cuttle', ($k eq 'socks' ? 'cuttle_dest' : ()), $tun_ref{$k}) {
			next unless $r{$scen} && $r{$scen}{$p};
			put "| $tun_name{$k} | $label{$p} | " . $cells->($scen, $p, $tun_ref{$k}) . ' |';
		}
	}
}

# 10c, one row per proxy and tunnel kind: n, up, failed, dest (accepted by
# the destination), base, before, with (RSS kB) and base_pss, before_pss,
# with_pss (kB, undef where unknown), threads, procs, setup_ms, and for
# cuttle shares, the tunnels each worker held ("5012/4988").
my (@tun_idle, %tun_idle);
if (open $fh, '<', "$dir/tunnels.tsv") {
	while (<$fh>) {
		chomp;
		my @f = split /\t/;
		my %row;
		@row{qw(p kind n up failed dest base before with base_pss before_pss with_pss
		    threads procs setup_ms shares)} = @f;
		$row{$_} = undef for grep { !defined $row{$_} || $row{$_} eq '' } keys %row;
		my $up = $row{up} || 0;
		$row{rss_per} = $up ? ($row{with} - $row{base}) * 1024 / $up : undef;
		$row{pss_per} = $up && defined $row{with_pss} && defined $row{base_pss}
		    ? ($row{with_pss} - $row{base_pss}) * 1024 / $up : undef;
		push @tun_idle, \%row;
		$tun_idle{$row{p}}{$row{kind}} = \%row;
	}
	close $fh;
}

# What perf counted in cuttle's worker during one more download per
# listener: $splice{kind} = [bytes, splice calls, read calls].
my %splice;
if (open $fh, '<', "$dir/splice.tsv") {
	while (<$fh>) {
		chomp;
		my ($kind, $bytes, $calls, $reads) = split /\t/;
		$splice{$kind} = [$bytes, $calls, $reads] if defined $calls && $calls =~ /^\d+$/;
	}
	close $fh;
}

if (grep { $r{$_} } qw(socks_bulk connect_bulk socks_conn connect_conn) or @tun_idle) {
	# N through cuttle and dante, through tinyproxy, and cuttle's workers in 10c.
	my $n = $meta{tun_n};
	my $n_one = $meta{tun_one} // $n;
	my $workers = $meta{tun_workers} // 1;
	put '## 10. Forward and SOCKS tunnels';
	put '';
	put 'cuttle\'s `mode: socks` and `mode: forward` listeners against dante (`danted`, SOCKS) and';
	put 'tinyproxy (HTTP CONNECT): the client asks the proxy for a tunnel to a port of 127.0.0.1,';
	put 'the proxy connects to it and relays the bytes both ways.  These proxies are started for';
	put 'this section alone, once the others are stopped, and are pinned to CPU 0 like them; the';
	put 'client, `scripts/bench/tunload.c`, shares CPU 1 with the origin and waits for each answer';
	put 'of the handshake (SOCKS 5 greeting, then CONNECT to the IPv4 address; or an HTTP CONNECT)';
	put 'before it sends the next, as curl does.  Before the rounds, curl goes through each proxy';
	put '(`--socks5`, `-p -x`) and must get the origin\'s answer over a connection to the proxy\'s';
	put 'port.  The proxies take turns round by round, as above.  Configurations:';
	put '';
	put "- cuttle: `workers: 1` (`workers: $workers` in 10c); a `socks` listener (SOCKS 4 and 5 on";
	put '  one port, no authentication) and a `forward` listener whose `connect_ports` are the';
	put '  origin\'s port and 10c\'s destination\'s, both with `timeouts: {idle: 300s}`; `error_log`';
	put '  level `warn`, no access log.';
	put '- dante: `danted -N 1`, one main server, which forks its own children: a monitor,';
	put '  negotiate, request and I/O children (an I/O child per 32 sessions), and more of them under';
	put '  load; `socksmethod: none`, `clientmethod: none`, `client pass` and `socks pass` (CONNECT)';
	put '  for 127.0.0.0/8, errors to a file.';
	put '- tinyproxy: `tinyproxy -d`, in the foreground.  Version 1.11 serves each client on a thread';
	put '  of its own and has no pool of servers to size (StartServers and its kin are gone):';
	put '  `MaxClients` ' . (defined $n_one ? fmt($n_one + 256) : 'N + 256')
	    . ' (its N + 256) is all it takes never to turn a client away;';
	put '  `ConnectPort` the two ports, `Timeout 600`, `LogLevel Critical` to a file.';
	put '';
	put 'CPU is the utime + stime of all of a proxy\'s processes and threads, those that ended during';
	put 'a run included (the main process\'s cutime and cstime: danted ends children and forks others).';
	put '';

	if (grep { $r{$_} } qw(socks_bulk connect_bulk)) {
		put '### 10a. Bulk download through a tunnel';
		put '';
		put "tunload asks for a tunnel to the origin, sends `GET /big` through it and reads the $meta{bulk_mb} MiB";
		put 'answer 1 MiB per `recv`, as sink.pl does in 4b (`curl -o /dev/null` writes in 8 KiB pieces';
		put 'and would set the rate on CPU 1); one download per proxy and round.  "no proxy" is sink.pl';
		put 'fetching from the origin itself, for reference: it is no ceiling, as through a proxy part of';
		put 'the kernel\'s work on the bytes moves to CPU 0.  "CPU 0 busy" is the share of CPU 0 that the';
		put 'proxy used during the download (its CPU per MB times its MB/s), "CPU 1 busy" is as in 3:';
		put 'near 100 %, the client and the origin set the rate.';
		put '';
		put '| tunnel | proxy | MB/s | x dante, x tinyproxy | x no proxy | CPU ms/MB | CPU 0 busy | CPU 1 busy |';
		put '|---|---|--:|--:|--:|--:|--:|--:|';
		tun_table_rows('bulk', sub {
			my ($scen, $p, $ref) = @_;
			return fmt(fig($scen, $p, 'mbps')) . ' | ' . x(ratio($scen, $p, $ref, 'mbps'))
			    . ' | ' . x(median(pair_ratios($scen, $p, 'tunnel_bulk', 'direct', 'mbps')))
			    . ' | ' . fmt(fig($scen, $p, 'cpumb') / 1000, 3)
			    . ' | ' . fmt(tun_busy($scen, $p)) . ' % | ' . fmt(fig($scen, $p, 'load')) . ' %';
		});
		put '| - | no proxy | ' . fmt(fig('tunnel_bulk', 'direct', 'mbps')) . ' | - | 1.00 | - | - | '
		    . fmt(fig('tunnel_bulk', 'direct', 'load')) . ' % |' if $r{tunnel_bulk} && $r{tunnel_bulk}{direct};
		put '';
		if (%splice) {
			put 'One more download through each of cuttle\'s listeners, outside the rounds, with `perf`';
			put 'counting the system calls of its worker (`syscalls:sys_enter_splice`, `sys_enter_read`,';
			put '`sys_enter_recvfrom`): the bytes go through a pipe with splice(2) when the counts say so.';
			put '';
			put '| tunnel | bytes | splice calls | KiB per splice | reads |';
			put '|---|--:|--:|--:|--:|';
			for my $k ('socks5', 'connect') {
				my $s = $splice{$k} or next;
				put '| ' . ($k eq 'socks5' ? 'SOCKS 5' : 'CONNECT') . ' | ' . fmt($s->[0]) . ' | '
				    . fmt($s->[1]) . ' | ' . ($s->[1] ? fmt($s->[0] / 1024 / $s->[1]) : '-') . ' | '
				    . fmt($s->[2]) . ' |';
			}
			put '';
			my @none = grep { $splice{$_} && !$splice{$_}[1] } 'socks5', 'connect';
			put '**cuttle made no splice call** through its ' . join(' and ', @none)
			    . ' listener: those bytes went through user space.' if @none;
			put '' if @none;
		}
	}

	if (grep { $r{$_} } qw(socks_conn connect_conn)) {
		put '### 10b. A new tunnel per request';
		put '';
		put "tunload's $meta{conns} slots each loop for $meta{duration} s: connect to the proxy, ask for a tunnel to";
		put 'the origin, send `GET /small` with `Connection: close` through it, read the answer to its';
		put 'end, close.  CPU per connection is the proxy\'s CPU during the run divided by the';
		put 'connections completed: the accept, the handshake, the connect to the origin, the relay of';
		put 'the request and the answer, and both closes.';
		put '';
		put '| tunnel | proxy | conn/s | p50 ms | p99 ms | CPU us/conn | user us/conn | CPU x dante, x tinyproxy | errors |';
		put '|---|---|--:|--:|--:|--:|--:|--:|--:|';
		tun_table_rows('conn', sub {
			my ($scen, $p, $ref) = @_;
			my $errs = 0;
			$errs += $_->{errors} for values %{ $r{$scen}{$p} };
			return fmt(fig($scen, $p, 'rps')) . ' | ' . fmt(fig($scen, $p, 'p50'), 2)
			    . ' | ' . fmt(fig($scen, $p, 'p99'), 2) . ' | ' . fmt(fig($scen, $p, 'cpu'), 1)
			    . ' | ' . fmt(fig($scen, $p, 'user'), 1) . ' | ' . x(ratio($scen, $p, $ref, 'cpu'))
			    . " | $errs";
		});
		put '';	if ($r{socks_conn} && $r{socks_conn}{cuttle_dest}) {
			my $q = ratio('socks_conn', 'cuttle_dest', 'cuttle', 'cpu');
			put '"Approval, the client approved for the destination" (11d) is a third listener of the';
			put 'same cuttle: `approval: {policy: deny}`, and a decision read from the state file at start';
			put 'that lets 127.0.0.1 go to the origin\'s port, so that each tunnel is decided by a lookup';
			put 'of its client and destination (two digests of the name and a probe per prefix length in';
			put 'use); a tunnel it did not let through would count as an error.  CPU per connection: '
			    . x($q) . ' times that of the same listener without approval (medians of the rounds).';
			put '';
		}
	}

	if (@tun_idle) {
		put '### 10c. Idle tunnels';
		put '';
		put 'tunload opens N tunnels through the proxy, 100 being set up at a time, to a destination';
		put 'in a process of its own (`tunload -s`) that accepts them and holds them; nothing is sent';
		put 'through them.  "up" counts the tunnels the proxy said were open, "at the destination" the';
		put 'connections the destination accepted.  Memory is summed over all of a proxy\'s processes';
		put '(cuttle\'s master and its workers: it has no admin process here): RSS counts the pages';
		put 'that processes share once in each of them, PSS (`smaps_rollup`) divides them among the';
		put 'processes that share them.  cuttle is started twice, as in section 5, both times with';
		put "`workers: $workers`: with 256 connections per worker and no client for the baseline, then with";
		put((defined $meta{tun_worker_conns} ? fmt($meta{tun_worker_conns}) : 'N / 2 + 512')
		    . ' per worker, since the kernel spreads the tunnels over the workers\' `SO_REUSEPORT`');
		put 'sockets by a hash of their addresses, evenly but not exactly so; dante and tinyproxy';
		put 'allocate as connections come, so their baseline is the same instance before the tunnels.';
		put 'bytes/tunnel = (memory with the tunnels - baseline) / tunnels up.  Kernel socket memory is';
		put 'in neither.';
		put '';
		put 'A tunnel costs two descriptors in the process that holds it, and the open-files hard';
		put 'limit here is ' . fmt($meta{tun_nofile}) . ' per process and cannot be raised; with the sixteenth of';
		put 'it that cuttle\'s worker keeps free for upstream connections, one process holds at most';
		put fmt($meta{tun_fit}) . " tunnels.  cuttle runs $workers workers in 10c, each with a limit of its own,";
		put 'and dante spreads its sessions over its I/O children (one per 32 sessions); the client';
		put '(`tunload -i`) and the destination (`tunload -s`) hold a descriptor per tunnel each, in';
		put 'a process each.';
		put '';
		if (defined $n && defined $meta{tun_want} && $n < $meta{tun_want}) {
			put '**N is ' . fmt($n) . ', not ' . fmt($meta{tun_want}) . ', through cuttle and dante:** '
			    . ($meta{tun_want} + 64 > ($meta{tun_nofile} // 0)
				? 'that is what `tunload` holds in one process.'
				: "that is what $workers of cuttle's workers hold here with room for an uneven spread.");
			put '';
		}
		if (defined $n_one && defined $n && $n_one < $n) {
			put '**tinyproxy holds ' . fmt($n_one) . ' tunnels, not ' . fmt($n) . ':** it serves every client in one';
			put 'process, on a thread each, and ' . fmt($n) . ' tunnels (' . fmt(2 * $n) . ' descriptors) do not fit in';
			put 'one process here.  Its figures are for ' . fmt($n_one) . ' tunnels, and cuttle\'s target does not';
			put 'depend on them.';
			put '';
		}
		put '| proxy | tunnel | N | up | at the destination | processes | threads | set-up s | baseline RSS KiB | with N, RSS KiB | RSS bytes/tunnel | PSS bytes/tunnel |';
		put '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
		for my $t (@tun_idle) {
			put "| $label{$t->{p}} | " . ($t->{kind} eq 'socks5' ? 'SOCKS 5' : 'CONNECT') . ' | '
			    . fmt($t->{n}) . ' | ' . ($t->{up} == $t->{n} ? fmt($t->{up}) : '**' . fmt($t->{up}) . '**')
			    . ' | ' . fmt($t->{dest}) . ' | ' . fmt($t->{procs}) . ' | ' . fmt($t->{threads})
			    . ' | ' . fmt(defined $t->{setup_ms} ? $t->{setup_ms} / 1000 : undef, 1)
			    . ' | ' . fmt($t->{base}) . ' | ' . fmt($t->{with}) . ' | ' . fmt($t->{rss_per})
			    . ' | ' . fmt($t->{pss_per}) . ' |';
		}
		put '';
		my @spread = grep { $_->{p} eq 'cuttle' && defined $_->{shares} } @tun_idle;
		if (@spread) {
			put "cuttle's workers held "
			    . join(', ', map { join(' and ', map { fmt($_) } split m{/}, $_->{shares})
				. ' of the ' . ($_->{kind} eq 'socks5' ? 'SOCKS 5' : 'CONNECT') . ' tunnels' } @spread)
			    . ' (counted from each worker\'s descriptors, two per tunnel).';
			put '';
		}
		my @short = grep { $_->{up} < $_->{n} } @tun_idle;
		put join("\n\n", map { sprintf('**%s could not hold them all:** %s of %s %s tunnels came up, '
		    . '%s failed or were not answered within 120 s.', $label{$_->{p}}, fmt($_->{up}),
		    fmt($_->{n}), $_->{kind} eq 'socks5' ? 'SOCKS 5' : 'CONNECT', fmt($_->{failed})) } @short)
		    . "\n" if @short;
	}

	# The idle target: the target's N tunnels held by cuttle's workers,
	# and the memory each costs.  tinyproxy's N has no part in it.
	my $want = $meta{tun_want} // 10000;
	my $ci = $tun_idle{cuttle}{socks5};
	my ($shown, $res) = ('n/a', 'not measured');
	if ($ci) {
		$shown = sprintf('%s of %s up, %s B of RSS and %s of PSS each', fmt($ci->{up}), fmt($ci->{n}),
		    fmt($ci->{rss_per}), fmt($ci->{pss_per}));
		$res = $ci->{up} < $ci->{n} || !defined $ci->{rss_per} ? '**fail**'
		    : $ci->{n} < $want ? sprintf('not measured at %s: %s workers hold %s here (10c)',
			fmt($want), $workers, fmt($ci->{n})) : 'pass';
	}
	put '### Forward and SOCKS targets';
	put '';
	put 'As in the targets above: the median of the per-round ratios, its spread, and in how many';
	put 'rounds the target was met.';
	put '';
	put '| target | measured | rounds | result |';
	put '|---|--:|--:|---|';
	target_rows(
	    [sprintf('CONNECT bulk: MB/s >= %.1f x tinyproxy', $TUN_BULK_MIN),
		[ratios('connect_bulk', 'cuttle', 'tinyproxy', 'mbps')], 'x', '>=', $TUN_BULK_MIN],
	    [sprintf('SOCKS 5 bulk: MB/s >= %.1f x dante', $TUN_BULK_MIN),
		[ratios('socks_bulk', 'cuttle', 'dante', 'mbps')], 'x', '>=', $TUN_BULK_MIN],
	    ['SOCKS 5 new connection: CPU/conn <= dante',
		[ratios('socks_conn', 'cuttle', 'dante', 'cpu')], 'x', '<=', $TUN_CONN_CPU_MAX],
	);
	put sprintf('| %s idle SOCKS 5 tunnels through cuttle (%s), memory per tunnel reported | %s | - | %s |',
	    fmt($want), $workers == 1 ? 'one worker' : "$workers workers", $shown, $res);
	put '';

	my @tun_why;
	for my $k ('connect', 'socks') {
		my ($scen, $ref) = ("${k}_bulk", $tun_ref{$k});
		my $q = ratio($scen, 'cuttle', $ref, 'mbps');
		my ($mc, $mr) = map { fig($scen, $_, 'mbps') } 'cuttle', $ref;
		next unless defined $q && $q < $TUN_BULK_MIN && $mc && $mr;
		my $need = $mc * $TUN_BULK_MIN / $q;
		my $l = fig($scen, 'cuttle', 'load');
		my $t = sprintf('- %s bulk: cuttle moved %.0f MB/s, %s %.0f (%.2f x); %.1f x asks for %.0f MB/s.  '
		    . 'cuttle used %.3f ms of CPU per MB and kept CPU 0 %.0f %% busy, %s %.3f ms and %.0f %%; '
		    . 'CPU 1, where the client and the origin run, was %.0f %% busy through cuttle%s',
		    $tun_name{$k}, $mc, $label{$ref}, $mr, $q, $TUN_BULK_MIN, $need,
		    fig($scen, 'cuttle', 'cpumb') / 1000, tun_busy($scen, 'cuttle'), $label{$ref},
		    fig($scen, $ref, 'cpumb') / 1000, tun_busy($scen, $ref), $l,
		    $l >= 95 ? ': it set the rate, not cuttle.' : '.');
		$t .= '  cuttle made no splice call on this kind of tunnel (10a).'
		    if $splice{$k eq 'socks' ? 'socks5' : 'connect'} && !$splice{$k eq 'socks' ? 'socks5' : 'connect'}[1];
		push @tun_why, $t;
	}
	my $cq = ratio('socks_conn', 'cuttle', 'dante', 'cpu');
	my ($cc, $cd) = map { fig('socks_conn', $_, 'cpu') } 'cuttle', 'dante';
	if (defined $cq && $cq > $TUN_CONN_CPU_MAX && $cc && $cd) {
		my ($uc, $ud) = map { fig('socks_conn', $_, 'user') } 'cuttle', 'dante';
		my $t = sprintf('- SOCKS 5 new connection CPU: cuttle used %.1f us per connection, dante %.1f '
		    . '(%.2f x); the target asks for %.1f us.', $cc, $cd, $cq, $cc * $TUN_CONN_CPU_MAX / $cq);
		$t .= sprintf('  User space took %.1f us in cuttle and %.1f in dante; the rest, %.1f and %.1f '
		    . 'us, is the kernel\'s.', $uc, $ud, $cc - $uc, $cd - $ud) if defined $uc && defined $ud;
		push @tun_why, $t;
	}
	if ($ci && $ci->{up} < $ci->{n}) {
		push @tun_why, sprintf('- Idle tunnels: %s of %s SOCKS 5 tunnels came up through cuttle, %s '
		    . 'reached the destination, %s failed or had no answer within 120 s.', fmt($ci->{up}),
		    fmt($ci->{n}), fmt($ci->{dest}), fmt($ci->{failed}));
	}
	if (@tun_why) {
		put 'The failed targets of section 10, in the figures above:';
		put '';
		put $_ for @tun_why;
		put '';
	}
}

# ---------------------------------------------------------------------------
# Section 11: operator approval
# ---------------------------------------------------------------------------

# ir_variant TITLE, TEXT..., WHAT, RUN, LABEL: the subsection of a run of
# section 6's cuttle with WHAT added (11a, 13a): TEXT says how it differs,
# and the table gives the instructions per request of cuttle without and
# of RUN (LABEL), and their quotient.
sub ir_variant {
	my ($title, @text) = @_;
	my ($what, $run, $label) = splice @text, -3;
	my $ratio = $ipr{cuttle} && defined $ipr{$run} ? $ipr{$run} / $ipr{cuttle} : undef;
	put "### $title";
	put '';
	put 'Section 6\'s run of cuttle (callgrind, N keep-alive requests on one connection) again';
	put $_ for @text;
	put '';
	put "| cuttle | Ir/request | x without $what |";
	put '|---|--:|--:|';
	put "| without $what | " . fmt($ipr{cuttle}) . ' | 1.000 |' if defined $ipr{cuttle};
	put "| $label | " . fmt($ipr{$run}) . ' | ' . (defined $ratio ? sprintf('%.3f', $ratio) : 'n/a') . ' |';
	put '';
}

# The targets' bounds: Ir per request against cuttle without approval,
# bytes a held client costs beyond an idle one, and the time until the
# last held connection goes on.
my ($APPR_IR_MAX, $APPR_MEM_MAX, $APPR_MS_MAX) = (1.02, 600, 100);
# What parkload waits for the echoes after the mark: a round that lost
# connections counts as at least this.
my $APPR_WAIT_MS = 10000;

# 11b: $park{idle|held} = {n, before, with (kB), fds, held, per (bytes of
# growth per client)}.
my %park;
if (open $fh, '<', "$dir/park_mem.tsv") {
	while (<$fh>) {
		chomp;
		my ($kind, $n, $before, $with, $fds, $held) = split /\t/;
		next unless defined $held;
		$park{$kind} = {n => $n, before => $before, with => $with, fds => $fds, held => $held,
		    per => ($with - $before) * 1024 / ($fds > 0 ? $fds : $n)};
	}
	close $fh;
}
# 11c: one row per round: n, up, echoed, lost, decided_us, first_us,
# last_us, shares ("497/503").
my @held;
if (open $fh, '<', "$dir/held.tsv") {
	while (<$fh>) {
		chomp;
		my %row;
		@row{qw(round n up echoed lost decided_us first_us last_us shares)} = split /\t/;
		next unless defined $row{last_us};
		push @held, \%row;
	}
	close $fh;
}

if (defined $ipr{cuttle_approved} || %park || @held) {
	my $hn = $meta{held_n} // ($held[0] ? $held[0]{n} : 1000);
	my $pn = $meta{park_n} // ($park{held} ? $park{held}{n} : 5000);
	my $hw = $meta{held_workers} // 2;
	put '## 11. Operator approval';
	put '';
	put 'Listeners with an `approval` block: clients that no rule or decision covers are held';
	put '(parked) at accept, unread, until an operator decides (`cuttlectl approve`, the admin API)';
	put 'or `wait` ends.  cuttle alone, on CPU 0 as above; the clients on CPU 1.';
	put '';
	my $ratio = $ipr{cuttle} && defined $ipr{cuttle_approved} ? $ipr{cuttle_approved} / $ipr{cuttle} : undef;
	if (defined $ipr{cuttle_approved}) {
		ir_variant('11a. Instructions per request, clients approved',
		    'with `approval: {policy: deny}` on the http listener and, in the state file read at',
		    'start (`approvals: {state_file: ...}`), a decision that lets 127.0.0.1 in: the client',
		    'is looked up in the table of decisions at accept and goes on; one it did not cover',
		    'would be answered 403.', 'approval', 'cuttle_approved',
		    'approval, the client approved by a decision');
	}
	if (%park) {
		put '### 11b. Memory of held clients';
		put '';
		put "A fresh cuttle with one worker and a limit of N + 256 connections (slots allocated up";
		put 'front, as in section 5), started twice: once N clients (`idle.pl`) connect to an http';
		put 'listener without approval and send nothing, so they wait for their request head; once';
		put 'they connect to an http listener with `approval: {policy: ask, wait: 1h}` and are held,';
		put 'each with its timer and its entry in the shared list of connections marked pending.';
		put 'Bytes per client is the growth of the worker\'s VmRSS from before the clients to after';
		put 'it accepted them all, over the descriptors it gained; "held" is what the admin API';
		put 'listed as pending.  Kernel socket and epoll memory is in neither.';
		put '';
		put '| clients | N | held | accepted (new fds) | before KiB | with N KiB | bytes/client |';
		put '|---|--:|--:|--:|--:|--:|--:|';
		for my $k ('idle', 'held') {
			my $p = $park{$k} or next;
			put '| ' . ($k eq 'idle' ? 'idle, no approval' : 'held for a decision') . ' | ' . fmt($p->{n})
			    . ' | ' . ($k eq 'idle' ? '-' : $p->{held} == $p->{n} ? fmt($p->{held}) : '**' . fmt($p->{held}) . '**')
			    . ' | ' . fmt($p->{fds}) . ' | ' . fmt($p->{before}) . ' | ' . fmt($p->{with})
			    . ' | ' . fmt($p->{per}) . ' |';
		}
		put '';
	}
	my @ms = map { $_->{lost} > 0 ? $APPR_WAIT_MS : $_->{last_us} / 1000 } @held;
	if (@held) {
		put '### 11c. A decision and ' . fmt($hn) . ' held connections';
		put '';
		put "cuttle with `workers: $hw` and a tcp listener with `approval: {policy: ask}` in front of an";
		put 'echo server (`scripts/bench/parkload.c -s`, on CPU 1).  In each round `parkload` opens';
		put fmt($hn) . ' connections from 127.0.0.1 and sends a byte on each; once the admin API lists them';
		put 'all as pending, it takes the time (the mark) and runs `cuttlectl approve 127.0.0.1`, then';
		put 'takes the time at which each byte comes back through cuttle and the server: the decision';
		put 'reaches the master through the admin process, the master signals the workers, each';
		put 'looks its held clients up again, connects them to the server and relays the byte.  The';
		put 'decision is revoked after each round.  Times are from the mark, in ms; "per worker" is';
		put 'how many connections each worker held, from its descriptors.';
		put '';
		put '| round | held | per worker | echoed | cuttlectl done | first echo | last echo |';
		put '|--:|--:|--:|--:|--:|--:|--:|';
		for my $h (@held) {
			put "| $h->{round} | " . fmt($h->{up}) . ' | ' . join(' / ', map { fmt($_) } split m{/}, $h->{shares} // '')
			    . ' | ' . ($h->{echoed} == $h->{up} ? fmt($h->{echoed}) : '**' . fmt($h->{echoed}) . '**')
			    . ' | ' . fmt($h->{decided_us} / 1000, 1) . ' | ' . fmt($h->{first_us} >= 0 ? $h->{first_us} / 1000 : undef, 1)
			    . ' | ' . fmt($h->{last_us} >= 0 ? $h->{last_us} / 1000 : undef, 1) . ' |';
		}
		put '| median | | | | ' . fmt(median(map { $_->{decided_us} / 1000 } @held), 1) . ' | '
		    . fmt(median(map { $_->{first_us} / 1000 } grep { $_->{first_us} >= 0 } @held), 1) . ' | '
		    . fmt(median(map { $_->{last_us} / 1000 } grep { $_->{last_us} >= 0 } @held), 1) . ' |';
		put '';
		my @short = grep { $_->{echoed} < $_->{up} } @held;
		put join("\n\n", map { sprintf('**Round %d lost connections:** %s of %s held connections did not '
		    . 'get their byte back within %d s of the mark; the round counts as %d ms.', $_->{round},
		    fmt($_->{up} - $_->{echoed}), fmt($_->{up}), $APPR_WAIT_MS / 1000, $APPR_WAIT_MS) } @short)
		    . "\n" if @short;
	}

	# The memory target: what a held client costs beyond an idle one.
	my ($pi, $ph) = @park{'idle', 'held'};
	my $extra = $pi && $ph ? $ph->{per} - $pi->{per} : undef;
	my $held_short = $ph && $ph->{held} < $ph->{n};
	put '### Approval targets';
	put '';
	put 'As in the targets above; for 11c the median of the rounds, its spread, and in how many';
	put 'rounds the target was met.';
	put '';
	put '| target | measured | rounds | result |';
	put '|---|--:|--:|---|';
	target_rows(
	    [sprintf('Clients approved by a decision: Ir/request <= %.2f x without approval', $APPR_IR_MAX),
		$ratio, 'x', '<=', $APPR_IR_MAX]);
	if ($held_short) {
		put sprintf('| %s held clients: worker memory <= %d B per client beyond an idle one | %s B | - | '
		    . '**fail**: %s of %s held |', fmt($pn), $APPR_MEM_MAX, fmt($extra), fmt($ph->{held}), fmt($ph->{n}));
	} else {
		target_rows([sprintf('%s held clients: worker memory <= %d B per client beyond an idle one',
		    fmt($pn), $APPR_MEM_MAX), $extra, 'B', '<=', $APPR_MEM_MAX]);
	}
	target_rows([sprintf('A decision reaches %s held connections on %d workers: last echo <= %d ms',
	    fmt($hn), $hw, $APPR_MS_MAX), [@ms], 'ms', '<=', $APPR_MS_MAX]);
	put '';

	my @why;
	if (defined $ratio && $ratio > $APPR_IR_MAX && @cg_rows) {
		my ($n) = map { $_->[1] } grep { $_->[0] eq 'cuttle_approved' } @cg_rows;
		push @why, sprintf('- Instructions: cuttle used %s per request with approval and %s without '
		    . '(%.3f x); %.2f x asks for %s.  The decision is looked up once per connection, at '
		    . 'accept, and the run has one connection for its %s requests: the %s instructions more '
		    . 'per request come to %s over the run.', fmt($ipr{cuttle_approved}), fmt($ipr{cuttle}),
		    $ratio, $APPR_IR_MAX, fmt($ipr{cuttle} * $APPR_IR_MAX), fmt($n),
		    fmt($ipr{cuttle_approved} - $ipr{cuttle}), fmt(($ipr{cuttle_approved} - $ipr{cuttle}) * $n));
	}
	if (defined $extra && ($extra > $APPR_MEM_MAX || $held_short)) {
		push @why, sprintf('- Held clients: the worker grew by %s KiB for %s held clients (%s B each) '
		    . 'and by %s KiB for %s idle ones (%s B each): %s B more per held client, where %d B are '
		    . 'allowed.  Both kinds have their slot, allocated at start and in neither growth, an entry '
		    . 'in the shared list of connections, a timer and an epoll registration (kernel memory, in '
		    . 'neither); a held client has no buffer, an idle one waits for its request head.',
		    fmt($ph->{with} - $ph->{before}), fmt($ph->{fds}), fmt($ph->{per}),
		    fmt($pi->{with} - $pi->{before}), fmt($pi->{fds}), fmt($pi->{per}), fmt($extra),
		    $APPR_MEM_MAX);
		$why[-1] .= sprintf('  Only %s of the %s clients were held.', fmt($ph->{held}), fmt($ph->{n}))
		    if $held_short;
	}
	my $last = median(@ms);
	if (defined $last && $last > $APPR_MS_MAX) {
		my @ok = grep { $_->{lost} == 0 } @held;
		my $t = sprintf('- Decision: the last of %s held connections got its byte back %.1f ms after '
		    . 'the mark (median of %d rounds), where %d ms are allowed.', fmt($hn), $last,
		    scalar @held, $APPR_MS_MAX);
		$t .= sprintf('  cuttlectl approve returned after %.1f ms and the first byte came back '
		    . 'after %.1f ms; the last came %.1f ms after the first.', map { $_ / 1000 }
		    median(map { $_->{decided_us} } @ok), median(map { $_->{first_us} } @ok),
		    median(map { $_->{last_us} - $_->{first_us} } @ok)) if @ok;
		push @why, $t;
	}
	if (@why) {
		put 'The failed approval targets, in the figures above:';
		put '';
		put $_ for @why;
		put '';
	}
}

# ---------------------------------------------------------------------------
# Section 12: the HTTP cache
# ---------------------------------------------------------------------------

if (@cache_targets) {
	my $fetched = 0;
	for my $scen (values %cache_fetched) { $fetched += $_ for values %$scen }
	put '## 12. HTTP cache';
	put '';
	put 'Each proxy with a cache in front of the origin, one worker on CPU 0 as in sections 1 to 4,';
	put 'started after the others have stopped; the origin serves a 1 KiB and a 100 KiB object';
	put 'with `Cache-Control: max-age=3600` (`expires 1h`).  Configurations:';
	put '';
	put '- cuttle: a route with `cache: {zone: main}`, the zone `main: {size: 64m, max_object: 1m}`,';
	put '  `shm_size: 96m` (the zones and 16m for cuttle\'s own tables), the upstream pool of section 1.';
	put '- nginx: `proxy_cache` in files (`proxy_cache_path` in the work directory, `levels=1:2`,';
	put '  `keys_zone=bench:8m`, `max_size=64m`, `inactive=1h`, `use_temp_path=off`),';
	put '  `proxy_cache_valid 200 1h`, and `sendfile on` and `open_file_cache max=1000 inactive=1h`,';
	put '  as a cache of files is run: without them every hit would open its file and copy the object';
	put '  through user space.  The upstream pool of section 1.';
	put '- HAProxy: its memory cache (`cache` section, `total-max-size 64` MB, `max-object-size` 1 MiB,';
	put '  `max-age 3600`: its default of 60 s would expire the objects during the rounds),';
	put '  `http-request cache-use`, `http-response cache-store`.' if exists $meta{haproxy};
	put '';
	put 'Each marks its hits on every answer: cuttle\'s `Cache-Status: cuttle; hit; ...`, an';
	put '`X-Cache` field from nginx (`$upstream_cache_status`)'
	    . (exists $meta{haproxy} ? ' and from HAProxy (`res.cache_hit`).' : '.');
	put 'Before the rounds each proxy got each object three times: the first request may store it,';
	put 'the second and the third must be marked hits, or the run stops.  The origin logs each';
	put 'request for the objects, and a measured run during which it logged one stops the run too:';
	put sprintf('it logged %s during the rounds, so every measured request was a hit.', fmt($fetched));
	put '';
	wrk_table('cache_1k', '12a. Cache hits, 1 KiB',
	    "wrk with $meta{conns} connections kept alive, every request a hit on the stored 1 KiB object.",
	    'rps', 1);
	wrk_table('cache_100k', '12b. Cache hits, 100 KiB',
	    'The same with the 100 KiB object.  "CPU 1 busy" and "CPU 1 us/req" are as in 3: near 100 %, '
	    . 'wrk, which shares CPU 1 with the idle origin, sets the rate.', 'mbps');
	if (@collapse) {
		put "### 12c. " . fmt($cn) . " concurrent requests for one cold key";
		put '';
		put "cuttle with `workers: $meta{collapse_workers}` and the same zone, in front of an origin";
		put '(`scripts/bench/cacheload.c -s`, on CPU 1) that answers every request '
		    . ($meta{collapse_delay_ms} // 200) . ' ms after it';
		put 'arrived, with 1 KiB and `Cache-Control: max-age=3600`.  In each round `cacheload -n` opens';
		put fmt($cn) . ' connections, waits until all are up, then sends a GET for a new key on each, one';
		put 'after the other, and reads every answer; the origin counts the requests for that key.';
		put 'The requests all arrive while the first is being fetched: the target is that the origin';
		put 'sees one.  "stored" is whether one more request after the round was a hit.  Times are';
		put 'from the first request sent, in ms.';
		put '';
		put '| round | connections up | answered 200 | hits | first answer | last answer | origin requests | stored |';
		put '|--:|--:|--:|--:|--:|--:|--:|--:|';
		for my $c (@collapse) {
			put "| $c->{round} | " . fmt($c->{up}) . ' | '
			    . ($c->{ok} == $c->{n} ? fmt($c->{ok}) : '**' . fmt($c->{ok}) . '**') . ' | '
			    . fmt($c->{hits}) . ' | ' . fmt($c->{first_us} >= 0 ? $c->{first_us} / 1000 : undef, 1)
			    . ' | ' . fmt($c->{last_us} >= 0 ? $c->{last_us} / 1000 : undef, 1) . ' | '
			    . fmt($c->{origin}) . ' | ' . ($c->{stored} ? 'yes' : '**no**') . ' |';
		}
		put '| median | | | | ' . fmt(median(map { $_->{first_us} / 1000 } grep { $_->{first_us} >= 0 } @collapse), 1)
		    . ' | ' . fmt(median(map { $_->{last_us} / 1000 } grep { $_->{last_us} >= 0 } @collapse), 1)
		    . ' | ' . fmt(median(map { $_->{origin} } @collapse)) . ' | |';
		put '';
	}
	put '### Cache targets';
	put '';
	put 'As in the targets above: the median of the per-round values, its spread, and in how many';
	put 'rounds the target was met.';
	put '';
	put '| target | measured | rounds | result |';
	put '|---|--:|--:|---|';
	target_rows(@cache_targets);
	put '';

	my @why;
	for my $o (['cache_1k', '1 KiB'], ['cache_100k', '100 KiB']) {
		my ($scen, $what) = @$o;
		my $q = ratio($scen, 'cuttle', 'nginx', 'cpu');
		my ($cc, $cng) = map { fig($scen, $_, 'cpu') } 'cuttle', 'nginx';
		next unless defined $q && $q > $CACHE_CPU_MAX && $cc && $cng;
		my ($uc, $un) = map { fig($scen, $_, 'user') } 'cuttle', 'nginx';
		my $t = sprintf('- Cache hits, %s: cuttle used %.1f us of CPU per request, nginx %.1f (%.2f x); '
		    . '%.2f x asks for %.1f us.', $what, $cc, $cng, $q, $CACHE_CPU_MAX, $cc * $CACHE_CPU_MAX / $q);
		$t .= sprintf('  User space took %.1f us in cuttle and %.1f in nginx; the rest, %.1f and %.1f us, '
		    . 'is the kernel\'s.', $uc, $un, $cc - $uc, $cng - $un) if defined $uc && defined $un;
		$t .= '  nginx hands its cache file to the kernel with sendfile, which sends the file\'s pages '
		    . 'without copying them into the socket; cuttle writes the object from the shared segment, '
		    . 'which the kernel copies.' if $scen eq 'cache_100k';
		push @why, $t;
	}
	my $co = median(map { $_->{origin} } @collapse);
	if (defined $co && $co != 1) {
		my $up = median(map { $_->{up} } @collapse);
		my $t = sprintf('- One cold key: the origin saw %s of the %s requests (median of %d rounds), where '
		    . 'one is the target.', fmt($co), fmt($up), scalar @collapse);
		$t .= '  Every request that arrived while the first was being fetched went to the origin too: '
		    . 'none was made to wait for that fetch.' if $co >= $up;
		push @why, $t;
	}
	if (@why) {
		put 'The failed cache targets, in the figures above:';
		put '';
		put $_ for @why;
		put '';
	}
}

# ---------------------------------------------------------------------------
# Section 13: the cluster through Redis
# ---------------------------------------------------------------------------

# The targets' bounds: Ir per request against cuttle without a redis
# section, the busiest idle master's share of a core (%), and the p99 of
# a decision's propagation (ms).
my ($CLUSTER_IR_MAX, $CLUSTER_CPU_MAX, $CLUSTER_P99_MAX) = (1.02, 1, 1000);
# What propagate.pl waits for a node to catch up: a decision that some
# node never listed counts as at least this.
my $CLUSTER_WAIT_MS = 10000;

# 13b: one row per process (node1.., redis): name, ticks, run_ns (the
# time it ran, from /proc/PID/schedstat; empty where the kernel has
# none), wall_us, live (the nodes its registry had live, nodes only);
# pct and run_pct are its share of one core, from ticks and from run_ns.
my @ccpu;
if (open $fh, '<', "$dir/cluster_cpu.tsv") {
	while (<$fh>) {
		chomp;
		my %row;
		@row{qw(name ticks run_ns wall_us live)} = split /\t/;
		next unless $row{wall_us};
		$row{pct} = $row{ticks} / $hz / ($row{wall_us} / 1e6) * 100;
		$row{run_pct} = $row{run_ns} ne '' ? $row{run_ns} / 1e3 / $row{wall_us} * 100 : undef;
		push @ccpu, \%row;
	}
	close $fh;
}
# 13c: one row per decision: i, node, post_us, seen_us, revoke_us,
# gone_us (-1: some node had not caught up after CLUSTER_WAIT_MS).
my @prop;
if (open $fh, '<', "$dir/cluster_prop.tsv") {
	while (<$fh>) {
		chomp;
		my %row;
		@row{qw(i node post_us seen_us revoke_us gone_us)} = split /\t/;
		push @prop, \%row if defined $row{gone_us};
	}
	close $fh;
}

# The nearest-rank percentile $p of a list, or undef when it is empty.
sub pct_rank {
	my ($p, @v) = @_;
	@v = sort { $a <=> $b } @v;
	return undef unless @v;
	my $k = int($p / 100 * @v + 0.999999);
	return $v[($k < 1 ? 1 : $k) - 1];
}

if (defined $ipr{cuttle_redis} || @ccpu || @prop) {
	my @masters = grep { $_->{name} ne 'redis' } @ccpu;
	my $nodes = $meta{cluster_nodes} // (@masters ? scalar @masters : 3);
	my ($redis) = grep { $_->{name} eq 'redis' } @ccpu;
	my $max = @masters ? (sort { $b <=> $a } map { $_->{pct} } @masters)[0] : undef;
	my $ratio = $ipr{cuttle} && defined $ipr{cuttle_redis} ? $ipr{cuttle_redis} / $ipr{cuttle} : undef;
	# A decision that some node never listed counts as CLUSTER_WAIT_MS.
	my $ms = sub { my $us = shift; $us < 0 ? $CLUSTER_WAIT_MS : $us / 1000 };
	my @seen = map { $ms->($_->{seen_us}) } @prop;
	my @unseen = grep { $_->{seen_us} < 0 } @prop;
	put '## 13. Cluster through Redis';
	put '';
	put 'cuttle nodes that share a `redis:` section\'s prefix form a cluster: each master keeps its';
	put 'node in a registry with a heartbeat every second, and writes the approval decisions and';
	put 'the operator\'s server states made on its node to Redis, which publishes them to the';
	put 'other masters; workers never talk to Redis.  The redis-server is the run\'s own, on CPU 1,';
	put 'with no persistence (`--save \'\' --appendonly no`).';
	put '';
	if (defined $ipr{cuttle_redis}) {
		ir_variant('13a. Instructions per request with `redis:` configured',
		    'with a `redis:` section that links its master to a fresh redis-server: the master',
		    'registers the node and keeps its heartbeat while the worker serves the requests.  Only',
		    'the worker\'s instructions are counted, as in section 6.', 'redis', 'cuttle_redis',
		    'a redis section (a node of a cluster)');
	}
	if (@ccpu) {
		put "### 13b. Master CPU, $nodes idle nodes";
		put '';
		put "$nodes cuttle nodes with one worker each on CPU 0, a tcp listener with approval and an";
		put 'admin socket each, the same `redis.prefix` and different `node:` names, all live in';
		put 'each other\'s registry, and no client.  Over ' . fmt($meta{cluster_idle_s} // 20)
		    . ' s each master\'s own CPU time (utime + stime of';
		put '`/proc/PID/stat`, in clock ticks of ' . (1000 / $hz) . ' ms; not its children\'s) as a share of one';
		put 'core; "ran" is the same from the time the scheduler counted it running';
		put '(`/proc/PID/schedstat`), which a tick does not round.  redis-server is on CPU 1.';
		put '';
		put '| process | CPU ticks | % of a core | ran, ms | ran, % of a core | interval s | nodes live |';
		put '|---|--:|--:|--:|--:|--:|--:|';
		for my $c (@masters, $redis // ()) {
			put '| ' . ($c->{name} eq 'redis' ? 'redis-server' : "master of $c->{name}") . ' | '
			    . fmt($c->{ticks}) . ' | ' . fmt($c->{pct}, 2) . ' | '
			    . fmt($c->{run_ns} ne '' ? $c->{run_ns} / 1e6 : undef, 1) . ' | '
			    . fmt($c->{run_pct}, 3) . ' | ' . fmt($c->{wall_us} / 1e6, 1) . ' | '
			    . ($c->{name} eq 'redis' ? '-' : $c->{live} eq $nodes ? fmt($c->{live})
				: '**' . fmt($c->{live}) . '**') . ' |';
		}
		my ($run_max) = sort { $b <=> $a } grep { defined } map { $_->{run_pct} } @masters;
		put '| max of the masters | | ' . fmt($max, 2) . ' | | ' . fmt($run_max, 3) . ' | | |'
		    if @masters;
		put '';
	}
	if (@prop) {
		my $np = scalar @prop;
		put "### 13c. Decision propagation across $nodes nodes";
		put '';
		put 'The same nodes, just after 13b.  `scripts/bench/propagate.pl` (on CPU 1) makes '
		    . fmt($np) . ' decisions, one';
		put "after the other: decision i allows its own address (10.13.x.y) on the tcp listener and";
		put "is posted to the admin API of node i % $nodes (`POST /api/v1/approvals/decisions`, over the";
		put 'unix socket, HTTP/1.1 spoken by the script itself); the other nodes\' `GET';
		put '/api/v1/approvals/decisions` are polled every 2 ms until both list it.  Its propagation';
		put 'time is from just before the POST to the answer of the poll in which the last of them';
		put 'listed it.  The decision is then revoked on its node (`DELETE`), and polled for until';
		put 'no node lists it, so that the listings stay short and the next decision starts from a';
		put 'quiet cluster.  Times in ms, over the ' . fmt($np) . ' decisions.';
		put '';
		put '| | p50 | p90 | p99 | max |';
		put '|---|--:|--:|--:|--:|';
		for my $f (['seen_us', 'decision listed by the other nodes'], ['post_us', 'POST answered'],
		    ['gone_us', 'revocation: gone from the other nodes'], ['revoke_us', 'DELETE answered']) {
			my @v = map { $ms->($_->{ $f->[0] }) } @prop;
			put "| $f->[1] | " . join(' | ', map { fmt(pct_rank($_, @v), 1) } 50, 90, 99, 100) . ' |';
		}
		put '';
		my @gone_never = grep { $_->{gone_us} < 0 } @prop;
		put sprintf('**Not propagated:** %d of %d decisions were not listed by every other node within '
		    . '%d s, and count as %d ms.', scalar @unseen, $np, $CLUSTER_WAIT_MS / 1000,
		    $CLUSTER_WAIT_MS) . "\n" if @unseen;
		put sprintf('**Not revoked:** %d of %d revocations had not reached every other node within '
		    . '%d s.', scalar @gone_never, $np, $CLUSTER_WAIT_MS / 1000) . "\n" if @gone_never;
	}
	my $p99 = @prop ? pct_rank(99, @seen) : undef;
	put '### Cluster targets';
	put '';
	put 'As in the targets above, each from the single run of its scenario.';
	put '';
	put '| target | measured | rounds | result |';
	put '|---|--:|--:|---|';
	target_rows(
	    [sprintf('A redis section: Ir/request <= %.2f x without', $CLUSTER_IR_MAX), $ratio, 'x', '<=',
		$CLUSTER_IR_MAX],
	    [sprintf('%d idle nodes: master CPU <= %d %% of a core (the busiest)', $nodes, $CLUSTER_CPU_MAX),
		$max, '%', '<=', $CLUSTER_CPU_MAX],
	    [sprintf('A decision on one of %d nodes listed by the others: p99 <= %d ms', $nodes,
		$CLUSTER_P99_MAX), $p99, 'ms', '<=', $CLUSTER_P99_MAX,
		@unseen ? sprintf('**flagged**: %d of %d not propagated', scalar @unseen, scalar @prop) : undef]);
	put '';

	my @why;
	if (defined $ratio && $ratio > $CLUSTER_IR_MAX) {
		push @why, sprintf('- Instructions: cuttle\'s worker used %s per request with a redis section '
		    . 'and %s without (%.3f x); %.2f x asks for %s.  Its master talks to Redis, the worker '
		    . 'does not: what differs is in the worker\'s own path.', fmt($ipr{cuttle_redis}),
		    fmt($ipr{cuttle}), $ratio, $CLUSTER_IR_MAX, fmt($ipr{cuttle} * $CLUSTER_IR_MAX));
	}
	if (defined $max && $max > $CLUSTER_CPU_MAX) {
		my ($busy) = grep { $_->{pct} == $max } @masters;
		push @why, sprintf('- Idle masters: the master of %s used %s ticks in %.1f s, %.2f %% of a '
		    . 'core, where %d %% is allowed; the scheduler counted it running %s ms.', $busy->{name},
		    fmt($busy->{ticks}), $busy->{wall_us} / 1e6, $max, $CLUSTER_CPU_MAX,
		    fmt($busy->{run_ns} ne '' ? $busy->{run_ns} / 1e6 : undef, 1));
	}
	if (defined $p99 && $p99 > $CLUSTER_P99_MAX) {
		my $t = sprintf('- Propagation: the p99 of %d decisions was %.1f ms, where %d ms are allowed; '
		    . 'the p50 was %.1f ms and the POST was answered after %.1f ms (p50).', scalar @prop, $p99,
		    $CLUSTER_P99_MAX, pct_rank(50, @seen), pct_rank(50, map { $_->{post_us} / 1000 } @prop));
		$t .= sprintf('  %d of them were not listed by every other node within %d s.', scalar @unseen,
		    $CLUSTER_WAIT_MS / 1000) if @unseen;
		push @why, $t;
	}
	if (@why) {
		put 'The failed cluster targets, in the figures above:';
		put '';
		put $_ for @why;
		put '';
	}
}

print $out;
