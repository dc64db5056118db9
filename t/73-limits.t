# Limits decided from shared memory: a request rate that two workers
# share exactly, delay against reject, the 429 and its RateLimit fields,
# keys made of a header, caps on concurrent connections and a rate of
# new connections per client, a zone that evicts under a flood of keys
# with the workers' memory flat, /metrics, the admin API and
# cuttlectl limits, and configuration errors at their positions.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX qw(_exit);
use IO::Select;
use Time::HiRes qw(time sleep);
use CuttleTest;

my $dir = tmpdir();
my $O = http_origin(name => 'O');
my ($web, $capped, $rated) = map { free_port() } 1 .. 3;
my $admin = "$dir/admin.sock";

my $c = cuttle_start(<<"EOF", workers => 2);
error_log: {path: %LOG%, level: info}
admin: {socket: $admin}
limits:
  shared:
    key: route
    rate: 10/s
    burst: 4
  slow:
    key: route
    rate: 5/s
    burst: 5
    mode: delay
  api:
    key: [header:X-Api-Key]
    rate: 1/m
    burst: 2
    log_interval: 1h
  flood:
    key: header:X-Key
    rate: 1/h
    zone: 64k
  none:
    key: route
    rate: 1/h
  twoheads:
    key: [header:X-A, header:X-B]
    rate: 1/h
  cap:
    conns: 2
  newconns:
    rate: 3/m
    burst: 0
upstreams:
  o: {servers: [{address: $O->{addr}}]}
listeners:
  - name: web
    listen: 127.0.0.1:$web
    mode: http
    routes:
      - {match: {path_prefix: /shared/}, upstream: o, limits: [shared]}
      - {match: {path_prefix: /slow/}, upstream: o, limits: [slow]}
      - {match: {path_prefix: /api/}, upstream: o, limits: [api]}
      - {match: {path_prefix: /flood/}, upstream: o, limits: [flood, none]}
      - {match: {path_prefix: /two/}, upstream: o, limits: [twoheads]}
      - upstream: o
  - name: capped
    listen: 127.0.0.1:$capped
    mode: tcp
    upstream: o
    limits: [cap]
  - name: rated
    listen: 127.0.0.1:$rated
    mode: tcp
    upstream: o
    limits: [newconns]
EOF

# ---- one budget across two workers: 4 clients, each on new connections,
# as fast as they can for 3 s, at many times the rate of 10/s.
{
    my $secs = 3;
    my @kids;
    for my $k (1 .. 4) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my ($ok, $limited, $end) = (0, 0, time + $secs);
            while (time < $end) {
                my $r = http_get($web, "/shared/x", headers => [[Connection => 'close']]);
                $ok++ if ($r->{status} // 0) == 200;
                $limited++ if ($r->{status} // 0) == 429;
            }
            write_file("$dir/shared-$k", "$ok $limited\n");
            _exit(0);
        }
        push @kids, $pid;
    }
    waitpid($_, 0) for @kids;
    my ($ok, $limited) = (0, 0);
    for my $k (1 .. 4) {
        my ($a, $b) = split ' ', slurp("$dir/shared-$k");
        $ok += $a;
        $limited += $b;
    }
    my $want = 10 * $secs + 4 + 1;
    cmp_ok(abs($ok - $want), '<=', $secs + 1,
        "4 clients on 2 workers for ${secs}s pass rate x time + burst: $ok, expected $want");
    cmp_ok($limited, '>', 5 * $ok, 'and the rest are refused');
    my @served = map { /\d+#(\d+): http .*target=|(?:)/ ? () : () } ();
    my %w;
    for (log_grep($c, qr/ http client=.* request="GET \/shared\/x /)) {
        $w{$1} = 1 if /\d+#(\d+): http/;
    }
    is(scalar keys %w, 2, 'both workers answered');
    my @at_origin = origin_requests($O, target => '/shared/x');
    is(scalar @at_origin, $ok, 'the origin saw exactly the requests that passed');
}

# ---- the 429 and its fields
{
    my @s;
    for (1 .. 3) {
        push @s, http_get($web, '/api/a', headers => [['X-Api-Key', 'alice']])->{status};
    }
    is_deeply(\@s, [200, 200, 200], 'a key gets its rate and burst (1 + 2)');
    my $r = http_get($web, '/api/a', headers => [['X-Api-Key', 'alice']]);
    is($r->{status}, 429, 'then 429');
    is($r->{reason}, 'Too Many Requests', 'with its reason phrase');
    like($r->{body}, qr/^429 Too Many Requests\n\z/, 'and the default body');
    my $ra = hdr($r, 'Retry-After') // 0;
    ok($ra >= 1 && $ra <= 60, "Retry-After: $ra seconds, when the next one passes (1/m)");
    is(hdr($r, 'RateLimit-Policy'), '"api";q=1;w=60', 'RateLimit-Policy: the quota and its window');
    like(hdr($r, 'RateLimit') // '', qr/^"api";r=0;t=\d+$/, 'RateLimit: none left, and when');
    is(http_get($web, '/api/a', headers => [['X-Api-Key', 'bob']])->{status}, 200,
        'another key has its own budget');
    is(http_get($web, '/api/a')->{status}, 200,
        'a request without the key\'s header is not limited (the key is empty)');
    my @lines = log_grep($c, qr/limit "api" refuses key "alice"/);
    http_get($web, '/api/a', headers => [['X-Api-Key', 'alice']]) for 1 .. 5;
    my @after = log_grep($c, qr/limit "api" refuses key "alice"/);
    is(scalar @lines, 1, 'a refusal is logged at warn') ;
    is(scalar @after, 1, 'and once per key and log_interval, not once per refusal');
}

# ---- a key of header values longer than the key's buffer is cut, not overrun
{
    my @h = (['X-A', 'a' x 3000], ['X-B', 'b' x 3000]);
    is(http_get($web, '/two/', headers => \@h)->{status}, 200, 'a key of two 3000-byte values');
    is(http_get($web, '/two/', headers => \@h)->{status}, 429, 'is the same key the next time');
    is(http_get($web, '/two/', headers => [['X-A', 'a' x 3000], ['X-B', 'c']])->{status}, 429,
        'and, cut to its buffer, so is one that differs only past the cut');
}

# ---- delay: within the burst, requests wait their turn instead of a 429
{
    my $t0 = time;
    my @kids;
    for my $k (1 .. 8) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $r = http_get($web, "/slow/$k", timeout => 10);
            write_file("$dir/slow-$k", ($r->{status} // 0) . ' ' . (time - $t0) . "\n");
            _exit(0);
        }
        push @kids, $pid;
    }
    waitpid($_, 0) for @kids;
    my @r = map { [split ' ', slurp("$dir/slow-$_")] } 1 .. 8;
    my @ok = sort { $a <=> $b } map { $_->[1] } grep { $_->[0] == 200 } @r;
    is(scalar @ok, 6, 'mode delay: of 8 at once at 5/s with burst 5, 6 pass');
    is(scalar(grep { $_->[0] == 429 } @r), 2, 'and the 2 beyond the burst are refused at once');
    cmp_ok($ok[-1] - $ok[0], '>=', 0.9,
        sprintf('the last that passed waited its turn: %.2fs after the first', $ok[-1] - $ok[0]));
    cmp_ok($ok[-1] - $ok[0], '<', 2, 'and no longer than the rate says');
}

# ---- caps on the connections of a key (tcp listener)
{
    my @held = map { tcp_connect($capped) } 1 .. 2;
    send_all($_, "GET / HTTP/1.1\r\nHost: a\r\n\r\n") for @held;
    like(recv_line($held[0], 5) // '', qr/^HTTP\/1\.1 200/, 'a capped listener serves its first two connections');
    my $third = tcp_connect($capped);
    my $e = recv_until_eof($third, 5);
    ok($e->{closed} && $e->{data} eq '', 'the third is closed at once');
    ok(wait_log($c, qr/limit "cap" caps the connections of key "127\.0\.0\.1"/), 'and logged');
    close $held[0];
    my $again;
    ok(wait_until(sub {
        my $s = tcp_connect($capped) or return 0;
        send_all($s, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        my $l = recv_line($s, 2) // '';
        close $s;
        $again = $l;
        return $l =~ /^HTTP\/1\.1 200/;
    }, 5), 'once one closes, a new one is served');
    close $_ for @held;
}

# ---- a rate of new connections per client
{
    my @r;
    for (1 .. 5) {
        my $s = tcp_connect($rated);
        send_all($s, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        my $e = recv_until_eof($s, 5);
        push @r, $e->{data} =~ /^HTTP\/1\.1 200/ ? 'ok' : 'closed';
    }
    is_deeply(\@r, [qw(ok closed closed closed closed)],
        'new connections at 3/m with no burst: the first passes, the next are closed');
}

# ---- a flood of keys: the zone evicts, memory stays flat
{
    my %rss0 = map { $_ => proc_rss_kb($_) } values %{ $c->{slots} };
    my $n = 100000;
    my $s = tcp_connect($web) or die "connect: $@";
    my ($sent, $got, $tail) = (0, 0, '');
    my $t0 = time;
    while ($got < $n && time - $t0 < 90) {
        my $batch = '';
        while ($sent < $n && $sent - $got < 500) {
            $batch .= "GET /flood/ HTTP/1.1\r\nHost: a\r\nX-Key: k$sent\r\n\r\n";
            $sent++;
        }
        send_all($s, $batch) if length $batch;
        last unless IO::Select->new($s)->can_read(10);
        my $r = sysread($s, my $chunk, 1 << 20);
        next if !defined $r && $!{EAGAIN};
        last unless $r;
        # Answers are counted by their status lines, which no body here contains.
        my $text = $tail . $chunk;
        $got += () = $text =~ /HTTP\/1\.1 \d{3} /g;
        $tail = substr($text, -12);
        $tail =~ s/.*HTTP\/1\.1 \d{3} //s;
    }
    is($got, $n, "$n requests with as many keys were answered");
    my $m = curl_run('--unix-socket', $admin, 'http://x/metrics')->{stdout};
    my ($ev) = $m =~ /^cuttle_limit_evictions_total\{limit="flood"\} (\d+)$/m;
    cmp_ok($ev // 0, '>', $n - 2000, "the 64k zone evicted: ${\ ($ev // 0)} keys");
    my %rss1 = map { $_ => proc_rss_kb($_) } values %{ $c->{slots} };
    for my $p (sort keys %rss0) {
        cmp_ok($rss1{$p} - $rss0{$p}, '<', 4096,
            "worker $p: RSS $rss0{$p} kB -> $rss1{$p} kB, flat");
    }
    close $s;
}

# ---- what an operator sees
{
    my $m = curl_run('--unix-socket', $admin, 'http://x/metrics')->{stdout};
    like($m, qr/^cuttle_limit_decisions_total\{limit="shared",result="rejected"\} [1-9]\d*$/m,
        '/metrics: decisions by limit and result');
    like($m, qr/^cuttle_limit_decisions_total\{limit="slow",result="delayed"\} [1-9]/m,
        '/metrics: delayed ones');
    my $j = eval { decode_json(curl_run('--unix-socket', $admin, 'http://x/api/v1/limits')->{stdout}) } // {};
    my ($api) = grep { $_->{name} eq 'api' } @{$j->{limits} // []};
    is($api->{busiest}[0]{key}, 'alice', 'the API lists the busiest key of a limit');
    my $r = cuttlectl_run('-s', $admin, 'limits');
    is($r->{status}, 0, 'cuttlectl limits');
    like($r->{stdout}, qr/^api: 1 per 60000 ms, burst 2\n  passed \d+, delayed 0, rejected [1-9]\d*; keys \d+ of \d+ slots, evicted \d+\n  KEY .*\n  alice /m,
        'shows each limit and its busiest keys') or diag($r->{stdout});
}

cuttle_stop($c);
log_clean_ok($c);

# ---- configuration errors
{
    my $f = "$dir/bad.yaml";
    write_file($f, <<'EOF');
limits:
  a: {key: [client_ip, header:X-K], rate: 10/s}
  b: {rate: 10/x}
  c: {key: [nope], rate: 1/s}
  d: {key: client_ip}
  e: {rate: 1/s, mode: delay}
upstreams:
  o: {servers: [{address: 127.0.0.1:1}]}
listeners:
  - name: l
    listen: 127.0.0.1:1
    mode: http
    limits: [a, missing]
    routes:
      - {return: {status: 200}, limits: [a]}
EOF
    my $r = cuttle_run('-t', '-c', $f);
    isnt($r->{status}, 0, 'cuttle -t refuses bad limits');
    like($r->{stderr}, qr/:3:13: invalid rate "10\/x" for "rate"/, 'a bad rate, at its position');
    like($r->{stderr}, qr/:4:13: invalid key part "nope"/, 'an unknown key part');
    like($r->{stderr}, qr/:5:6: limit "d" needs "rate", "conns" or both/, 'a limit of nothing');
    like($r->{stderr}, qr/:6:\d+: "mode: delay" needs a "burst"/, 'delay without a burst');
    like($r->{stderr}, qr/:13:14: limit "a" has a key part that needs a request/,
        'a listener cannot key on a header');
    like($r->{stderr}, qr/:13:17: limit "missing" is not defined/, 'an unknown limit');
    like($r->{stderr}, qr/:15:\d+: "limits" is only for routes with "upstream"/,
        'a route that answers by itself has no limits');
}

done_testing();
