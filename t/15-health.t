# Health: active checks in the master take a dead server out within
# fall x interval and bring it back after rise successes, with no client
# error meanwhile; an http check judges the status; passive checks take
# a server out after max_fails failed connections for fail_timeout.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use CuttleTest;

my $A = backend(mode => 'name', name => 'A');
my $B = backend(mode => 'name', name => 'B');
my $P = backend(mode => 'name', name => 'P');
my $Q = backend(mode => 'name', name => 'Q');
my $H = http_origin(name => 'H');
my $pdead = free_port();
my %port = map { $_ => free_port() } qw(tcp http passive);

my $c = cuttle_start(<<"EOF", workers => 2);
upstreams:
  tcp:
    health:
      active: {type: tcp, interval: 200ms, timeout: 150ms, rise: 2, fall: 2}
    servers:
      - {address: $A->{addr}}
      - {address: $B->{addr}}
  web:
    health:
      active: {type: http, path: /status/503, interval: 1s, timeout: 1s, rise: 1, fall: 1}
    servers:
      - {address: $H->{addr}}
      - {address: $Q->{addr}}
  passive:
    health:
      passive: {max_fails: 2, fail_timeout: 1s}
    servers:
      - {address: 127.0.0.1:$pdead}
      - {address: $P->{addr}}
listeners:
  - {name: tcp, listen: 127.0.0.1:$port{tcp}, mode: tcp, upstream: tcp, retries: 0}
  - {name: http, listen: 127.0.0.1:$port{http}, mode: tcp, upstream: web, retries: 0}
  - {name: passive, listen: 127.0.0.1:$port{passive}, mode: tcp, upstream: passive, retries: 1}
EOF

# --- tcp checks: A dies, goes down, traffic stays on B; A comes back.
{
    my %n;
    for (1 .. 6) { my ($name) = fetch_name($port{tcp}); $n{$name // 'fail'}++ }
    ok($n{A} && $n{B} && !$n{fail}, 'both servers up: traffic on A and B')
        or diag(explain(\%n));
    my $t0 = time;
    backend_stop($A);
    my @down = wait_log($c, qr/upstream "tcp" server \Q$A->{addr}\E is down: .+ \(2 failed checks\)/);
    my $took = time - $t0;
    ok(@down == 1, 'A is marked down once, with its reason and the failed checks');
    ok($took < 2, sprintf('... within fall x interval and some slack (%.2f s)', $took));
    my @bad;
    for my $i (1 .. 20) {
        my ($name, $r) = fetch_name($port{tcp});
        push @bad, "$i: " . ($name // 'fail') unless defined $name && $name eq 'B';
    }
    is_deeply(\@bad, [], 'A down, retries 0: 20 of 20 connections served by B, none failed');
    backend_start($A);
    my @up = wait_log($c, qr/upstream "tcp" server \Q$A->{addr}\E is up \(2 successful checks\)/);
    ok(@up == 1, 'A is marked up again after rise successful checks');
    my %m;
    for (1 .. 6) { my ($name) = fetch_name($port{tcp}); $m{$name // 'fail'}++ }
    ok($m{A} && $m{B} && !$m{fail}, 'A back: traffic on A and B again') or diag(explain(\%m));
}

# --- http checks: H answers /status/503, so it is down; Q (not HTTP) is
# down too: its answer is no HTTP response.
{
    my @h = wait_log($c, qr/upstream "web" server \Q$H->{addr}\E is down: status 503/);
    ok(@h == 1, 'http check: a 503 takes the server down, reason "status 503"');
    my @q = wait_log($c, qr/upstream "web" server \Q$Q->{addr}\E is down: (?:invalid|incomplete) response/);
    ok(@q == 1, 'http check: a server that does not speak HTTP is down too');
    my $s = tcp_connect($port{http}) or die "connect: $@";
    my $r = recv_until_eof($s, 3);
    ok($r->{closed} && $r->{data} eq '', 'every server down: the client is closed at once');
    my ($l) = wait_conn($c, 1, listener => 'http');
    is($l && $l->{end}, 'no server available', '... logged "no server available"');
}

# --- passive: two refused connects take the dead server out for 1 s.
{
    my @bad;
    for my $i (1 .. 10) {
        my ($name) = fetch_name($port{passive});
        push @bad, $i unless defined $name && $name eq 'P';
    }
    is_deeply(\@bad, [], 'passive: every connection served (retries), 10 of 10');
    my @d = wait_log($c, qr/upstream "passive" server 127\.0\.0\.1:$pdead is down for 1000ms: 2 failed connections/);
    ok(@d == 1, 'passive: the dead server is taken out after max_fails, logged once');
    my $before = () = log_grep($c, qr/connect\(\) to 127\.0\.0\.1:$pdead failed/);
    for (1 .. 6) { fetch_name($port{passive}) }
    my $after = () = log_grep($c, qr/connect\(\) to 127\.0\.0\.1:$pdead failed/);
    is($after, $before, 'passive: while out, the dead server is not tried');
    my @u = wait_log($c, qr/upstream "passive" server 127\.0\.0\.1:$pdead is up again after fail_timeout/,
        timeout => 4);
    ok(@u == 1, 'passive: back after fail_timeout');
}

cuttle_stop($c);
log_clean_ok();
done_testing();
