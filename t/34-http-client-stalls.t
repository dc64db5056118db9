# A client that stalls is the client's fault, never the server's: one
# that does not read cuttle's own answers is closed after the send
# timeout; one that stops reading a proxied body is closed, and the
# server is not counted as failed (passive health would take it out).
# And a request whose body overwrote its head in the input buffer is
# still compressed as its Accept-Encoding asked.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use IO::Uncompress::Gunzip qw(gunzip);
use CuttleTest;

# The 16 MiB body, made here once (a third of a second on an idle
# machine, seconds on a busy one) for the origin's children to inherit,
# rather than in the child that answers, against the read timeout.
origin_body(16 << 20, 1);
my $O = http_origin(name => 'O');
my $port = free_port();

# read: what the origin may take to answer; a client that stops reading
# a proxied body is closed within two periods of it.

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  o:
    health: {passive: {max_fails: 1, fail_timeout: 1h}}
    servers:
      - {address: $O->{addr}}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    max_header_size: 1k
    timeouts: {send: 500ms, read: 2s}
    compress: {types: [text/html, application/json], min_size: 1k}
    routes:
      - match: {path_prefix: /o/}
        upstream: o
      - match: {path_prefix: /local/}
        return: {status: 200, body: "local answer, long enough to fill a small buffer soon\\n"}
EOF

# A client socket whose receive buffer is as small as the kernel allows.
sub small_client {
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 1024) or die "setsockopt: $!";
    connect($s, Socket::pack_sockaddr_in($port, Socket::inet_aton('127.0.0.1')))
        or die "connect: $!";
    return $s;
}

# --- cuttle's own answers, pipelined to a client that never reads.
{
    my $mark = log_mark($c);
    my $s = small_client();
    my $cport = $s->sockport;
    # More answers than the socket buffers on both sides hold (they grow
    # to megabytes on loopback); the send stops once cuttle stops reading.
    send_all($s, http_req_bytes(target => '/local/x') x 60000, 5);
    my ($l) = wait_conn($c, 1, since => $mark, client => "127.0.0.1:$cport", timeout => 10);
    is($l && $l->{end}, 'client did not read the answer',
        'a client that does not read local answers is closed after the send timeout');
    close $s;
}

# --- a proxied body the client stops reading.
{
    my $mark = log_mark($c);
    my $s = small_client();
    my $cport = $s->sockport;
    send_all($s, http_req_bytes(target => '/o/size/' . (16 << 20)), 5);
    my ($l) = wait_conn($c, 1, since => $mark, client => "127.0.0.1:$cport", timeout => 10);
    is($l && $l->{end}, 'client did not read the answer',
        'a client that stops reading a proxied body is closed, blamed');
    ok(!(log_grep($c, qr/upstream "o" server .* is down/)),
        '... and the server is not counted as failed');
    is(http_get($port, '/o/echo/after')->{status}, 200, '... and serves the next request');
    close $s;
}

# --- a body that overwrites its head: still compressed as asked.
{
    my $body = 'x' x 60000;
    my $r = http_get($port, '/o/mirror?ct=text/html', method => 'POST', body => $body,
        headers => [['Accept-Encoding', 'gzip']], timeout => 10);
    is($r->{status}, 200, 'a POST with a large body through a compressing listener');
    is(hdr($r, 'Content-Encoding'), 'gzip', '... is compressed, as its head asked')
        or diag(explain($r->{h}));
    my $plain;
    gunzip(\$r->{body} => \$plain);
    is(length($plain // ''), length $body, '... and decompresses to the body sent');
}

backend_stop($O);
log_clean_ok();
done_testing();
