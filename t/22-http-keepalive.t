# mode: http keep-alive.  Client side: a connection serves request after
# request, pipelined requests are answered in order, HTTP/1.0 closes
# unless it asks for keep-alive, "Connection: close" closes, and an idle
# connection is closed after timeouts.idle.  Upstream side (one worker):
# sequential requests, on one client connection or on several, use one
# pooled upstream connection (counted by the origin's accepts); a pooled
# connection idle for keepalive.idle_timeout is closed; a pooled
# connection that the origin closed never turns into a client error.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use CuttleTest;

my $P = http_origin(name => 'P');
my $S = http_origin(name => 'S');
# Q closes a connection that stays idle for 300 ms, as origins do.
my $Q = http_origin(name => 'Q', keepalive_timeout => 0.3);
my $M = http_origin(name => 'M');
my %port = map { $_ => free_port() } qw(ka idle);

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  pool:
    keepalive: {max_idle: 32, idle_timeout: 60s}
    servers:
      - {address: $P->{addr}}
  short:
    keepalive: {max_idle: 32, idle_timeout: 1s}
    servers:
      - {address: $S->{addr}}
  closing:
    keepalive: {max_idle: 32, idle_timeout: 60s}
    servers:
      - {address: $Q->{addr}}
  one:
    keepalive: {max_idle: 1, idle_timeout: 60s}
    servers:
      - {address: $M->{addr}}
listeners:
  - name: ka
    listen: 127.0.0.1:$port{ka}
    mode: http
    routes:
      - match: {path_prefix: /short/}
        upstream: short
      - match: {path_prefix: /closing/}
        upstream: closing
      - match: {path_prefix: /one/}
        upstream: one
      - match: {path_prefix: /}
        upstream: pool
  - name: idle
    listen: 127.0.0.1:$port{idle}
    mode: http
    timeouts: {idle: 1s}
    routes:
      - match: {path_prefix: /}
        upstream: pool
EOF

# --- one client connection, five requests: one upstream connection.
my $pool_peer;
{
    my $s = tcp_connect($port{ka}) or die "connect: $@";
    my (@bad, %peers, @n);
    for my $i (1 .. 5) {
        http_send($s, target => "/echo?i=$i");
        my $r = http_recv($s);
        my $j = http_json($r);
        push @bad, "$i: " . ($r->{error} // "$r->{status} $j->{target}")
            unless ($r->{status} // 0) == 200 && ($j->{target} // '') eq "/echo?i=$i"
            && lc($r->{h}{connection} // '') ne 'close';
        $peers{$r->{h}{'x-peer'} // '-'}++;
        push @n, $r->{h}{'x-n'} // '-';
    }
    is_deeply(\@bad, [], 'keep-alive: five requests answered on one client connection');
    is(backend_accepts($P), 1, 'the origin accepted one upstream connection for the five');
    is(scalar keys %peers, 1, '... all five came on the same upstream connection');
    is("@n", '1 2 3 4 5', '... as its requests 1 to 5');
    ($pool_peer) = keys %peers;
    close $s;
}

# --- new client connections, one after the other, reuse it too.
{
    my %peers;
    for my $i (1 .. 4) {
        my $r = http_get($port{ka}, "/echo?conn=$i");
        $peers{$r->{h}{'x-peer'} // '-'}++;
    }
    is(backend_accepts($P), 1, 'four more client connections: still one upstream connection');
    is_deeply(\%peers, { $pool_peer => 4 }, '... the pooled one');
}

# --- pipelining: three requests in one write, answered in order; the
# connection then serves a fourth.
{
    my $s = tcp_connect($port{ka}) or die "connect: $@";
    send_all($s, http_req_bytes(target => '/slow/300?n=1')
        . http_req_bytes(target => '/echo?n=2', method => 'POST', body => 'two')
        . http_req_bytes(target => '/size/100?n=3'));
    my @r = map { http_recv($s) } 1 .. 3;
    is(http_json($r[0])->{target}, '/slow/300?n=1', 'pipelined 1 (slow): first');
    is(http_json($r[1])->{target}, '/echo?n=2', 'pipelined 2: second');
    is(http_json($r[1])->{body_len}, 3, 'pipelined 2: its body went up');
    ok(!$r[2]{error} && $r[2]{body} eq origin_body(100), 'pipelined 3: third, 100 bytes')
        or diag(explain($r[2]));
    http_send($s, target => '/echo?n=4');
    is(http_json(http_recv($s))->{target}, '/echo?n=4', 'the connection serves a fourth');

    # Framing across pipelined answers: a HEAD and a chunked answer.
    send_all($s, http_req_bytes(target => '/size/10')
        . http_req_bytes(target => '/size/20', method => 'HEAD')
        . http_req_bytes(target => '/chunked/30')
        . http_req_bytes(target => '/status/204')
        . http_req_bytes(target => '/size/5'));
    my @got = map {
        my $r = http_recv($s, method => $_ == 2 ? 'HEAD' : 'GET');
        $r->{error} ? "error: $r->{error}" : "$r->{status}:" . length $r->{body};
    } 1 .. 5;
    is("@got", '200:10 200:0 200:30 204:0 200:5',
        'pipelined GET, HEAD, chunked, 204, GET: each answer framed right');
    close $s;
}

# --- keepalive.idle_timeout: an idle pooled connection is closed.
{
    my $r = http_get($port{ka}, '/short/echo');
    is($r->{status}, 200, 'short: 200');
    my $peer = $r->{h}{'x-peer'} // '-';
    my $closed = wait_until(sub {
        grep { $_->{ev} eq 'eof' && $_->{peer} eq $peer } origin_log($S);
    }, 5);
    ok($closed, 'keepalive.idle_timeout 1s: cuttle closes the idle upstream connection');
    $r = http_get($port{ka}, '/short/echo');
    is($r->{status}, 200, '... and the next request is served');
    is(backend_accepts($S), 2, '... on a new upstream connection');
}

# --- keepalive.max_idle 1: of two upstream connections used at once,
# one is kept (and reused), the other closed.
{
    my @s = map { tcp_connect($port{ka}) or die "connect: $@" } 1 .. 2;
    http_send($_, target => '/one/slow/300') for @s;
    my @r = map { http_recv($_) } @s;
    close $_ for @s;
    is(join(' ', map { $_->{status} // $_->{error} } @r), '200 200', 'max_idle 1: two requests at once');
    my @peers = map { $_->{h}{'x-peer'} // '-' } @r;
    is(backend_accepts($M), 2, 'max_idle 1: ... on two upstream connections');
    my $eofs = sub {
        scalar grep { my $e = $_; $e->{ev} eq 'eof' && grep { $e->{peer} eq $_ } @peers } origin_log($M);
    };
    wait_until($eofs, 3);
    is($eofs->(), 1, 'max_idle 1: cuttle closed one of them when both went idle');
    my $r = http_get($port{ka}, '/one/echo');
    is($r->{status}, 200, 'max_idle 1: the next request is served');
    is(backend_accepts($M), 2, '... on the connection that was kept');
}

# --- the origin closes pooled connections: no client error.
{
    my (@bad, %peers);
    for my $i (1 .. 3) {
        my $r = http_get($port{ka}, "/closing/echo?i=$i");
        push @bad, "$i: " . ($r->{error} // $r->{status}) unless ($r->{status} // 0) == 200;
        my $peer = $r->{h}{'x-peer'} // '-';
        $peers{$peer}++;
        # Until the origin has closed it (and a little more for the FIN).
        wait_until(sub {
            grep { $_->{ev} eq 'idle-close' && $_->{peer} eq $peer } origin_log($Q);
        }, 3);
        sleep 0.1;
    }
    is_deeply(\@bad, [], 'the origin closed each pooled connection while idle: no client error');
    is(scalar keys %peers, 3, '... and each request had a live connection');

    # The origin closes right after its answer, without saying so: the
    # next request, at once, finds a pooled connection that is closing.
    @bad = ();
    my $s = tcp_connect($port{ka}) or die "connect: $@";
    for my $i (1 .. 6) {
        http_send($s, target => "/closing/size/10?close=1&i=$i");
        my $r = http_recv($s);
        push @bad, "$i: " . ($r->{error} // $r->{status}) unless ($r->{status} // 0) == 200;
    }
    close $s;
    is_deeply(\@bad, [], 'the origin closes after each answer unannounced: six requests, no client error');
}

# --- HTTP/1.0 and Connection: close.
{
    my $r = http_get($port{ka}, '/size/10', version => '1.0', close_wait => 3);
    is($r->{status}, 200, 'HTTP/1.0: 200');
    ok($r->{closed}, 'HTTP/1.0 without keep-alive: closed after the response');

    my $s = tcp_connect($port{ka}) or die "connect: $@";
    my @got;
    for my $t ('/size/10', '/chunked/40', '/size/7') {
        http_send($s, target => $t, version => '1.0', headers => [['Connection', 'keep-alive']]);
        my $x = http_recv($s);
        push @got, $x->{error} ? "error: $x->{error}" : "$x->{status}:" . length($x->{body})
            . ($x->{framing} eq 'chunked' ? ':chunked' : '');
        last if $x->{error} || $x->{framing} eq 'close';
    }
    my $want = '200:10 200:40';
    is("@got[0, 1]", $want, 'HTTP/1.0 keep-alive: answers, and no chunked framing for 1.0');
    if (@got == 3) {
        is($got[2], '200:7', 'HTTP/1.0 keep-alive: the connection stays open');
    } else {
        pass('HTTP/1.0 keep-alive: the chunked answer was close-delimited, so the connection closed');
    }
    close $s;

    $s = tcp_connect($port{ka}) or die "connect: $@";
    send_all($s, http_req_bytes(target => '/size/10', headers => [['Connection', 'close']])
        . http_req_bytes(target => '/size/20'));
    $r = http_recv($s);
    is($r->{status}, 200, 'Connection: close: 200');
    is(lc($r->{h}{connection} // ''), 'close', 'Connection: close: the response says close');
    my $e = recv_until_eof($s, 3);
    ok($e->{closed} && $e->{data} eq '',
        'Connection: close: closed, the request after it not answered');
    close $s;
}

# --- timeouts.idle: a kept-alive client connection that stays idle.
{
    my $s = tcp_connect($port{idle}) or die "connect: $@";
    http_send($s, target => '/echo');
    my $r = http_recv($s);
    is($r->{status}, 200, 'idle listener: 200');
    my $t0 = time;
    my $e = recv_until_eof($s, 5);
    ok($e->{closed} && $e->{data} eq '', 'timeouts.idle 1s: the idle client connection is closed, silently')
        or diag(show_bytes($e->{data}));
    ok(time - $t0 >= 0.8, 'timeouts.idle: not before the timeout');
    close $s;
}
log_clean_ok();
done_testing();
