# mode: http request parsing, on raw sockets: every request smuggling
# and strictness vector is answered 400 (or 501 for an unknown transfer
# coding) with Connection: close and the connection closed, and nothing
# of it reaches the origin; the limits give 414, 431, 413 and 408; an
# HTTP/2.0 request line 505; an absolute-form target goes up in origin
# form; an HTTP/1.0 request goes up as HTTP/1.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use CuttleTest;

my $O = http_origin(name => 'O');
my $B = http_origin(name => 'B');
my %port = map { $_ => free_port() } qw(strict tight);

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  o:
    servers:
      - {address: $O->{addr}}
  b:
    servers:
      - {address: $B->{addr}}
listeners:
  - name: strict
    listen: 127.0.0.1:$port{strict}
    mode: http
    routes:
      - match: {host: abs.example.com}
        upstream: b
      - match: {path_prefix: /}
        upstream: o
  - name: tight
    listen: 127.0.0.1:$port{tight}
    mode: http
    max_header_size: 2k
    max_body_size: 1k
    timeouts: {header: 1s}
    routes:
      - match: {path_prefix: /}
        upstream: o
EOF

# Sends $bytes on a new connection to $port; returns the response and
# whether the connection was closed after it (within 1.5 s).
sub raw {
    my ($port, $bytes, %o) = @_;
    my $s = tcp_connect($port) or die "connect: $@";
    send_all($s, $bytes, 5);
    # Short waits: a vector that cuttle lets hang costs 3.5 s, not more.
    my $r = http_recv($s, timeout => $o{timeout} // 2);
    my $e = $o{keep} ? {} : recv_until_eof($s, 1.5);
    $r->{closed} = $e->{closed};
    $r->{after} = $e->{data};
    close $s;
    return $r;
}

# A vector must give $status, close the connection, and (unless the
# head was valid) reach no origin.
sub rejected {
    my ($name, $bytes, $status, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $before = () = origin_requests($O);
    my $r = raw($o{port} // $port{strict}, $bytes);
    http_error_ok($r, $status, "$name -> $status");
    ok($r->{closed} && $r->{after} eq '', "$name: then the connection is closed")
        or diag('after: ' . show_bytes($r->{after}));
    return if $o{head_was_valid};
    my $after = () = origin_requests($O);
    is($after, $before, "$name: no request reached the origin");
}

my $H = "Host: strict.test\r\n";
my $SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: strict.test\r\n\r\n";
sub post { return "POST /echo HTTP/1.1\r\n$H" . join('', map { "$_\r\n" } @_) . "\r\n" }

# --- a valid request first: the listener works.
{
    my $r = raw($port{strict}, "GET /echo HTTP/1.1\r\n${H}Connection: close\r\n\r\n");
    is($r->{status}, 200, 'a valid request is served') or diag(explain($r));
}

# --- framing: Content-Length and Transfer-Encoding.
rejected('Content-Length with Transfer-Encoding',
    post('Content-Length: 6', 'Transfer-Encoding: chunked') . "0\r\n\r\n$SMUGGLED", 400);
rejected('Transfer-Encoding with Content-Length',
    post('Transfer-Encoding: chunked', 'Content-Length: 6') . "0\r\n\r\n$SMUGGLED", 400);
rejected('two different Content-Lengths',
    post('Content-Length: 5', 'Content-Length: 41') . "hello$SMUGGLED", 400);
rejected('a Content-Length list that differs',
    post('Content-Length: 5, 41') . "hello$SMUGGLED", 400);
for my $bad ('5x', '-5', '+5', '0x5', '1 5', '') {
    rejected("Content-Length: '$bad'", post("Content-Length: $bad") . "hello", 400);
}
rejected('Transfer-Encoding: chunked, gzip (chunked not final)',
    post('Transfer-Encoding: chunked, gzip') . "0\r\n\r\n", 400);
rejected('Transfer-Encoding: gzip (an unknown coding alone)',
    post('Transfer-Encoding: gzip') . "hello", 501);
rejected('Transfer-Encoding: xchunked (an unknown coding alone)',
    post('Transfer-Encoding: xchunked') . "0\r\n\r\n", 501);
rejected('whitespace before the colon of Transfer-Encoding',
    post('Transfer-Encoding : chunked', 'Content-Length: 5') . "hello", 400);

# --- field syntax.
rejected('obs-fold', "GET /echo HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n", 400);
rejected('obs-fold of the first field',
    "GET /echo HTTP/1.1\r\n ${H}\r\n", 400);
rejected('a bare CR in a field value', "GET /echo HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n", 400);
rejected('a bare CR in the request line', "GET /ec\rho HTTP/1.1\r\n$H\r\n", 400);
rejected('a NUL in a field value', "GET /echo HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n", 400);
rejected('a NUL in the target', "GET /ec\0ho HTTP/1.1\r\n$H\r\n", 400);
rejected('a space before a colon', "GET /echo HTTP/1.1\r\n${H}X-A : 1\r\n\r\n", 400);
rejected('a tab before a colon', "GET /echo HTTP/1.1\r\n${H}X-A\t: 1\r\n\r\n", 400);
rejected('"(" in a field name', "GET /echo HTTP/1.1\r\n${H}X(A): 1\r\n\r\n", 400);
rejected('a space in a field name', "GET /echo HTTP/1.1\r\n${H}X A: 1\r\n\r\n", 400);
rejected('an empty field name', "GET /echo HTTP/1.1\r\n$H: 1\r\n\r\n", 400);
rejected('a field line without a colon', "GET /echo HTTP/1.1\r\n${H}X-A\r\n\r\n", 400);
rejected('a control character in a value', "GET /echo HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n", 400);
rejected('DEL in a value', "GET /echo HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n", 400);

# --- the request line.
rejected('"(" in the method', "G(ET /echo HTTP/1.1\r\n$H\r\n", 400);
rejected('two spaces after the method', "GET  /echo HTTP/1.1\r\n$H\r\n", 400);
rejected('a space in the target', "GET /ec ho HTTP/1.1\r\n$H\r\n", 400);
rejected('a malformed version', "GET /echo HTTP/1.x\r\n$H\r\n", 400);
# RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without
# Host or with more than one.
rejected('HTTP/1.1 without Host', "GET /echo HTTP/1.1\r\n\r\n", 400);
rejected('two Host fields', "GET /echo HTTP/1.1\r\n${H}Host: other.test\r\n\r\n", 400);
rejected('HTTP/2.0 in an HTTP/1 request line', "GET /echo HTTP/2.0\r\n$H\r\n", 505);
rejected('HTTP/3.0', "GET /echo HTTP/3.0\r\n$H\r\n", 505);

# --- chunked bodies (the head is valid, so it may have gone up).
my $CH = post('Transfer-Encoding: chunked');
rejected('chunk size "zz"', "${CH}zz\r\nhello\r\n0\r\n\r\n$SMUGGLED", 400, head_was_valid => 1);
rejected('chunk size "-1"', "${CH}-1\r\nhello\r\n0\r\n\r\n$SMUGGLED", 400, head_was_valid => 1);
rejected('chunk size over 64 bits', "${CH}10000000000000005\r\nhello\r\n0\r\n\r\n$SMUGGLED",
    400, head_was_valid => 1);
rejected('chunk data not followed by CRLF', "${CH}5\r\nhelloXX\r\n0\r\n\r\n$SMUGGLED",
    400, head_was_valid => 1);
rejected('an empty chunk size line', "${CH}\r\nhello\r\n0\r\n\r\n$SMUGGLED",
    400, head_was_valid => 1);
is_deeply([map { $_->{target} } origin_requests($O, target => qr/smuggled/)], [],
    'no smuggled request ever reached the origin');

# --- limits: 414, 431.
{
    my $pad = 'x' x (8000 - length("GET /echo?p= HTTP/1.1\r\n"));
    my $r = raw($port{strict}, "GET /echo?p=$pad HTTP/1.1\r\n${H}Connection: close\r\n\r\n");
    is($r->{status}, 200, 'a request line of 8000 bytes is served');
    $pad = 'x' x 9000;
    rejected('a request line of 9 kB', "GET /echo?p=$pad HTTP/1.1\r\n$H\r\n", 414);

    my $fields = sub { join '', map { "X-F-$_: " . ('v' x $_[1]) . "\r\n" } 1 .. $_[0] };
    $r = raw($port{strict}, "GET /echo HTTP/1.1\r\n$H" . $fields->(20, 1000)
        . "Connection: close\r\n\r\n");
    is($r->{status}, 200, '20 kB of fields (under max_header_size 32k) are served');
    rejected('40 kB of fields (max_header_size 32k)',
        "GET /echo HTTP/1.1\r\n$H" . $fields->(40, 1000) . "\r\n", 431);
    $r = raw($port{strict}, "GET /echo HTTP/1.1\r\n$H" . $fields->(99, 4) . "\r\n", keep => 1);
    is($r->{status}, 200, '100 fields are served');
    rejected('101 fields', "GET /echo HTTP/1.1\r\n$H" . $fields->(100, 4) . "\r\n", 431);

    $r = raw($port{tight}, "GET /echo HTTP/1.1\r\n$H" . $fields->(1, 1000)
        . "Connection: close\r\n\r\n");
    is($r->{status}, 200, 'max_header_size 2k: a head of 1 kB is served');
    rejected('max_header_size 2k: a head of 3 kB',
        "GET /echo HTTP/1.1\r\n$H" . $fields->(3, 1000) . "\r\n", 431, port => $port{tight});
}

# --- 413: max_body_size 1k.
{
    my $r = raw($port{tight}, post('Content-Length: 1024', 'Connection: close') . ('b' x 1024));
    is($r->{status}, 200, 'max_body_size 1k: a body of 1024 bytes is served');
    is(http_json($r)->{body_len}, 1024, '... and reaches the origin whole');

    # Only the head is sent: the answer must not wait for the body.
    my $s = tcp_connect($port{tight}) or die "connect: $@";
    send_all($s, post('Content-Length: 1025'));
    $r = http_recv($s, timeout => 3);
    http_error_ok($r, 413, 'Content-Length 1025 over max_body_size 1k: 413 before the body');
    ok(recv_until_eof($s, 3)->{closed}, '413: then the connection is closed');
    close $s;

    rejected('a chunked body over max_body_size 1k',
        post('Transfer-Encoding: chunked') . "400\r\n" . ('c' x 1024) . "\r\n1\r\nc\r\n0\r\n\r\n",
        413, port => $port{tight}, head_was_valid => 1);
}

# --- 408: the whole head must come within timeouts.header (1s), however
# slowly it trickles.
for my $drip (0, 1) {
    my $what = $drip ? 'a head trickling a field every 200 ms' : 'an incomplete head';
    my $s = tcp_connect($port{tight}) or die "connect: $@";
    my $t0 = time;
    send_all($s, "GET /echo HTTP/1.1\r\n$H");
    my ($r, $i) = (undef, 0);
    while (time - $t0 < 5) {
        send_all($s, 'X-Drip-' . $i++ . ": 1\r\n", 1) if $drip;
        $r = http_recv($s, timeout => 0.2);
        last unless ($r->{error} // '') =~ /\Atimeout/;
    }
    my $elapsed = time - $t0;
    http_error_ok($r, 408, "$what: 408");
    ok($elapsed >= 0.9, sprintf('%s: not before the header timeout (%.2f s)', $what, $elapsed));
    ok(recv_until_eof($s, 3)->{closed}, "$what: then the connection is closed");
    close $s;
}

# --- absolute form: sent up in origin form, routed by its authority.
{
    my $r = raw($port{strict}, "GET http://abs.example.com/echo?q=1 HTTP/1.1\r\n"
        . "Host: abs.example.com\r\nConnection: close\r\n\r\n");
    is($r->{status}, 200, 'absolute form: 200') or diag(explain($r));
    my $j = http_json($r);
    is($j->{origin}, 'B', 'absolute form: routed by its host');
    is("$j->{method} $j->{target} HTTP/$j->{version}", 'GET /echo?q=1 HTTP/1.1',
        'absolute form: the origin gets the origin form');
    is(hdr($j, 'Host'), 'abs.example.com', 'absolute form: Host');

    # RFC 9112 3.2.2: the target's authority wins over Host, and a proxy
    # sends a Host made from it.
    $r = raw($port{strict}, "GET http://abs.example.com/echo HTTP/1.1\r\n"
        . "Host: other.test\r\nConnection: close\r\n\r\n");
    $j = http_json($r);
    is($j->{origin} // "status $r->{status}", 'B',
        'absolute form with another Host: routed by the target\'s authority');
    is(hdr($j, 'Host'), 'abs.example.com', '... and Host upstream is that authority');
    $r = raw($port{strict}, "GET http://abs.example.com HTTP/1.1\r\nHost: abs.example.com\r\n"
        . "Connection: close\r\n\r\n");
    is(http_json($r)->{target}, '/', 'absolute form without a path: "/" upstream');
}

# --- HTTP/1.0.
{
    my $r = raw($port{strict}, "GET /echo HTTP/1.0\r\n\r\n");
    is($r->{status}, 200, 'HTTP/1.0 without Host: 200') or diag(explain($r));
    my $j = http_json($r);
    is("$j->{method} $j->{target} HTTP/$j->{version}", 'GET /echo HTTP/1.0',
        'HTTP/1.0 goes up as HTTP/1.0');
    ok($r->{closed}, 'HTTP/1.0 without keep-alive: the connection is closed after the response');
    $r = raw($port{strict}, "POST /echo HTTP/1.0\r\n${H}Content-Length: 5\r\n\r\nhello");
    is(http_json($r)->{body_len}, 5, 'HTTP/1.0 POST with a body');
}
log_clean_ok();
done_testing();
