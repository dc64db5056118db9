# mode: http and the upstream: 504 for connect, read and send timeouts;
# retries on another server for an idempotent request whose connection
# failed or was reset before any response byte, but 502 for a POST;
# 502 when no server can be reached and for every malformed response;
# interim 1xx answers relayed before the final one; no body after HEAD,
# 204 and 304; a close-delimited body relayed and then the client
# connection closed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use Time::HiRes qw(time);
use CuttleTest;

my $O = http_origin(name => 'O');
my $R = http_origin(name => 'R', force => 'reset');
my $G = http_origin(name => 'G');
my $R2 = http_origin(name => 'R2', force => 'reset');
# The POSTs get servers of their own, untouched by the GETs before them.
my $R3 = http_origin(name => 'R3', force => 'reset');
my $G3 = http_origin(name => 'G3');
my $hole = black_hole_port();
my ($dead, $dead2) = (free_port(), free_port());     # nothing listens there
my $port = free_port();

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  o:
    # The timeouts and broken responses below would take the one server
    # out for fail_timeout under the default passive health; each
    # request here is about its own failure.
    health: {passive: {max_fails: 0}}
    servers:
      - {address: $O->{addr}}
  hole:
    servers:
      - {address: 127.0.0.1:$hole}
  flaky:
    servers:
      - {address: $R->{addr}}
      - {address: $G->{addr}}
  flakypost:
    servers:
      - {address: $R3->{addr}}
      - {address: $G3->{addr}}
  deadfirst:
    servers:
      - {address: 127.0.0.1:$dead}
      - {address: $G->{addr}}
  deadonly:
    servers:
      - {address: 127.0.0.1:$dead2}
  lonely:
    servers:
      - {address: $R2->{addr}}
listeners:
  - name: up
    listen: 127.0.0.1:$port
    mode: http
    timeouts: {connect: 300ms, read: 500ms, send: 500ms}
    retries: 1
    routes:
      - match: {path_prefix: /hole/}
        upstream: hole
      - match: {path_prefix: /flaky/}
        upstream: flaky
      - match: {path_prefix: /flakypost/}
        upstream: flakypost
      - match: {path_prefix: /deadfirst/}
        upstream: deadfirst
      - match: {path_prefix: /deadonly/}
        upstream: deadonly
      - match: {path_prefix: /lonely/}
        upstream: lonely
      - match: {path_prefix: /}
        upstream: o
EOF

# --- timeouts: 504.
{
    my $r = http_get($port, '/hole/echo', timeout => 5);
    http_error_ok($r, 504, 'connect timeout (a server that never answers the SYN): 504');
    $r = http_get($port, '/slow/1500', timeout => 5);
    http_error_ok($r, 504, 'read timeout (no answer within 500 ms): 504');
    $r = http_get($port, '/hang', timeout => 5);
    http_error_ok($r, 504, 'read timeout (an origin that never answers): 504');

    # An origin that never reads the body: cuttle's writes stall.
    my $s = tcp_connect($port) or die "connect: $@";
    send_all($s, "POST /noread HTTP/1.1\r\nHost: u.test\r\nContent-Length: 268435456\r\n\r\n");
    my ($chunk, $t0) = ('n' x 65536, time);
    my $sel = IO::Select->new($s);
    while (time - $t0 < 10) {
        my ($rd, $wr) = IO::Select->select($sel, $sel, undef, 1);
        last if $rd && @$rd;
        next unless $wr && @$wr;
        my $n = syswrite($s, $chunk);
        last if !defined $n && !$!{EAGAIN} && !$!{EINTR};
    }
    $r = http_recv($s, timeout => 5);
    http_error_ok($r, 504, 'send timeout (an origin that does not read the body): 504');
    close $s;

    # The late answer of /slow/1500 must not be taken for another's.
    ok(wait_until(sub { grep { $_->{ev} eq 'slow-done' } origin_log($O) }, 5),
        'the origin wrote its late answer');
    $r = http_get($port, '/echo?after=timeouts');
    is(http_json($r)->{target}, '/echo?after=timeouts',
        'after the timeouts, a request gets its own answer');
}

# --- retries.
{
    my (@bad, $n);
    for my $i (1 .. 4) {
        my $r = http_get($port, "/flaky/echo?i=$i");
        push @bad, "$i: " . ($r->{error} // $r->{status}) unless ($r->{status} // 0) == 200;
    }
    is_deeply(\@bad, [], 'GET: a server that resets is retried on the other: 4 of 4 served');
    $n = () = origin_requests($R, method => 'GET');
    ok($n >= 1, "... and the resetting server did get $n of them");
    is(scalar(origin_requests($G, method => 'GET', target => qr{^/flaky/})), 4,
        '... all four were answered by the other server');

    my %st;
    for my $i (1 .. 4) {
        my $r = http_get($port, "/flakypost/echo?post=$i", method => 'POST', body => "post $i");
        $st{$r->{status} // 'error'}++;
        http_error_ok($r, 502, "POST $i reset by the server: 502, not retried")
            if ($r->{status} // 0) != 200;
    }
    my $reset = () = origin_requests($R3, method => 'POST');
    my $served = () = origin_requests($G3, method => 'POST');
    ok(($st{502} // 0) >= 1, 'POST: some went to the resetting server');
    is_deeply(\%st, { ($served ? (200 => $served) : ()), ($reset ? (502 => $reset) : ()) },
        'POST: each reset one got 502, the others 200; none went to both servers');

    @bad = ();
    for my $i (1 .. 3) {
        my $r = http_get($port, "/deadfirst/echo?i=$i");
        push @bad, "$i: " . ($r->{error} // $r->{status}) unless ($r->{status} // 0) == 200;
    }
    is_deeply(\@bad, [], 'GET: a refused connect is retried on the other server: 3 of 3');
    # Nothing was sent when a connect is refused: any method moves on.
    my @pbad;
    for my $i (1 .. 3) {
        my $r = http_get($port, "/deadfirst/echo?p=$i", method => 'POST', body => "p$i");
        push @pbad, "$i: " . ($r->{error} // $r->{status}) unless ($r->{status} // 0) == 200;
    }
    is_deeply(\@pbad, [], 'POST: a refused connect is retried on the other server: 3 of 3');

    http_error_ok(http_get($port, '/deadonly/echo'), 502,
        'the only server refuses connections: 502');
    http_error_ok(http_get($port, '/lonely/echo'), 502,
        'the only server resets every request, retries spent: 502');
    http_error_ok(http_get($port, '/drop', method => 'POST', body => 'x'), 502,
        'POST, the server closes without answering: 502');
}

# --- malformed responses: 502.
for my $kind (qw(cl-te two-cl cl-invalid status garbage obs-fold nul space-colon
        truncated-head)) {
    http_error_ok(http_get($port, "/bad/$kind"), 502, "malformed response ($kind): 502");
}
{
    # The head is valid and may have been relayed already; the body is
    # not: either 502, or the client must not get a complete message.
    my $r = http_get($port, '/bad/chunk', close_wait => 3);
    ok(($r->{status} // 0) == 502 || ($r->{error} && $r->{error} =~ /closed/),
        'a malformed chunk size in the response: 502 or an aborted response')
        or diag(explain({ %$r, raw => show_bytes($r->{raw} // '') }));
}

{
    # The server stops 199,000 bytes short of its Content-Length, with
    # most of the body still to come (the spliced path): the client must
    # see the connection end before a complete message, and the log why.
    my $mark = log_mark($c);
    my $r = http_get($port, '/bad/short-body', close_wait => 3);
    ok($r->{error} && length($r->{body} // '') < 200000,
        'a response body cut short by the server: the client gets no complete message')
        or diag(explain({ %$r, body => length($r->{body} // '') }));
    ok(wait_log($c, qr/closed before the response body was complete/, since => $mark),
        '... and the error log says the upstream closed early');
}

# --- interim 1xx answers.
{
    my $r = http_get($port, '/early103');
    is(join(' ', map { $_->{status} } @{$r->{interim}}), '103 103',
        'two 103 Early Hints relayed');
    is(join(' | ', map { $_->{h}{link} // '-' } @{$r->{interim}}),
        '</a.css>; rel=preload | </b.js>; rel=preload', '... with their Link fields');
    is($r->{status}, 200, '... then the final 200');
    is(http_json($r)->{target}, '/early103', '... with its body');
}

# --- no body after HEAD, 204 and 304: the next answer on the connection
# would not parse if one came.
{
    my $s = tcp_connect($port) or die "connect: $@";
    my @got;
    for ([HEAD => '/size/100'], [HEAD => '/chunked/100'], [GET => '/status/204'],
            [GET => '/status/304'], [GET => '/size/5']) {
        my ($m, $t) = @$_;
        http_send($s, method => $m, target => $t);
        my $r = http_recv($s, method => $m);
        push @got, $r->{error} ? "$m $t: $r->{error}"
            : "$m $t: $r->{status} " . length($r->{body});
    }
    is_deeply(\@got, ['HEAD /size/100: 200 0', 'HEAD /chunked/100: 200 0',
        'GET /status/204: 204 0', 'GET /status/304: 304 0', 'GET /size/5: 200 5'],
        'HEAD, 204, 304: no body, and the connection goes on');
    close $s;
    my $r = http_get($port, '/size/100', method => 'HEAD');
    is($r->{h}{'content-length'}, 100, 'HEAD: the Content-Length of the origin is relayed');
}

# --- close-delimited responses.
for my $t ('/close/100000', '/close10/5000') {
    my ($n) = $t =~ /(\d+)\z/;
    my $s = tcp_connect($port) or die "connect: $@";
    send_all($s, http_req_bytes(target => $t) . http_req_bytes(target => '/echo?next=1'));
    my $r = http_recv($s, timeout => 5);
    ok(!$r->{error} && $r->{body} eq origin_body($n), "$t: the close-delimited body intact")
        or diag($r->{error} // length $r->{body});
    is(lc($r->{h}{connection} // ''), 'close', "$t: Connection: close");
    my $e = $r->{eof} ? { closed => 1, data => '' } : recv_until_eof($s, 3);
    ok($e->{closed} && $e->{data} eq '', "$t: then the client connection is closed");
    close $s;
}
log_clean_ok();
done_testing();
