# mode: http and WebSocket: "Connection: Upgrade" with "Upgrade:
# websocket" is forwarded with the handshake fields; after the origin's
# 101 the connection is a byte tunnel both ways (bytes the origin sent
# with its 101 included), closed when either side is done.  An upgrade
# the origin declines leaves an ordinary HTTP connection, and an Upgrade
# field without "Connection: upgrade" is not forwarded.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MIME::Base64 qw(encode_base64);
use Socket qw(SHUT_WR);
use CuttleTest;

my $O = http_origin(name => 'O');
my $port = free_port();

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  o:
    servers:
      - {address: $O->{addr}}
listeners:
  - name: ws
    listen: 127.0.0.1:$port
    mode: http
    routes:
      - match: {path_prefix: /}
        upstream: o
EOF

sub random_bytes {
    my ($n) = @_;
    open(my $fh, '<:raw', '/dev/urandom') or die "/dev/urandom: $!";
    read($fh, my $buf, $n) == $n or die "short read from /dev/urandom";
    return $buf;
}

# A masked WebSocket text frame (RFC 6455 5.2), as a browser sends.
sub ws_frame {
    my ($text) = @_;
    my $mask = random_bytes(4);
    my $len = length $text;
    my $hdr = $len < 126 ? pack('CC', 0x81, 0x80 | $len) : pack('CCn', 0x81, 0x80 | 126, $len);
    my $masked = $text ^ substr($mask x (int($len / 4) + 1), 0, $len);
    return $hdr . $mask . $masked;
}

# Opens a WebSocket through cuttle; returns (socket, response, key).
sub ws_open {
    my ($target) = @_;
    my $key = encode_base64(random_bytes(16), '');
    my $s = tcp_connect($port) or die "connect: $@";
    http_send($s, target => $target, host => 'chat.example.com', headers => [
        ['Upgrade', 'websocket'], ['Connection', 'Upgrade'],
        ['Sec-WebSocket-Key', $key], ['Sec-WebSocket-Version', '13'],
        ['Origin', 'http://chat.example.com']]);
    return ($s, http_recv($s), $key);
}

# --- the handshake.
my ($s, $r, $key) = ws_open('/ws?room=1&greet=0');
is($r->{status}, 101, 'the origin\'s 101 is relayed') or diag(explain($r));
is(lc($r->{h}{upgrade} // ''), 'websocket', '101: Upgrade: websocket');
like($r->{h}{connection} // '', qr/\bupgrade\b/i, '101: Connection: Upgrade');
is($r->{h}{'sec-websocket-accept'}, ws_accept($key), '101: Sec-WebSocket-Accept matches the key');
{
    my ($req) = origin_requests($O, target => '/ws?room=1&greet=0');
    $req //= { headers => [] };
    is(lc(hdr($req, 'Upgrade') // ''), 'websocket', 'upstream: Upgrade: websocket forwarded');
    like(hdr($req, 'Connection') // '', qr/\bupgrade\b/i, 'upstream: Connection: upgrade');
    is(hdr($req, 'Sec-WebSocket-Key'), $key, 'upstream: Sec-WebSocket-Key');
    is(hdr($req, 'Sec-WebSocket-Version'), '13', 'upstream: Sec-WebSocket-Version');
    is(hdr($req, 'X-Forwarded-For'), '127.0.0.1', 'upstream: forwarding fields added as usual');
}

# --- the tunnel.
my $total = 0;
{
    my @bad = grep {
        my $m = "message $_\n";
        $total += length $m;
        exchange($s, $m, 3) ne $m;
    } 1 .. 20;
    is_deeply(\@bad, [], 'tunnel: 20 round trips');
    my $frame = ws_frame('{"type":"hello"}');
    is(exchange($s, $frame, 3), $frame, 'tunnel: a masked WebSocket frame, byte for byte');
    my $http = "GET /not-parsed HTTP/1.1\r\nHost: x\r\n\r\n";
    is(exchange($s, $http, 3), $http, 'tunnel: bytes that look like HTTP are not parsed');
    my $blob = random_bytes(1 << 20);
    ok(exchange($s, $blob, 10) eq $blob, 'tunnel: 1 MiB both ways at once');
    $total += length($frame) + length($http) + length($blob);
    ok(!(grep { ($_->{target} // '') eq '/not-parsed' } origin_log($O)),
        'tunnel: nothing was taken for a request');

    shutdown($s, SHUT_WR);
    my $e = recv_until_eof($s, 5);
    ok($e->{closed} && $e->{data} eq '', 'client done: the origin\'s close reaches the client');
    close $s;
    my ($req) = origin_requests($O, target => '/ws?room=1&greet=0');
    my $peer = $req ? $req->{peer} : -1;
    my ($ev) = wait_until(sub {
        [grep { $_->{ev} eq 'ws-eof' && $_->{peer} == $peer } origin_log($O)]->[0];
    }, 5);
    is($ev && $ev->{bytes}, $total, 'the origin got every tunnelled byte, then EOF');
}

# --- bytes that the origin sends in the same write as its 101.
{
    my ($s2, $r2) = ws_open('/ws?room=2');
    is($r2->{status}, 101, 'greeting origin: 101');
    is(recv_line($s2, 3), "hello from origin\n",
        'bytes the origin sent along with its 101 arrive');
    is(exchange($s2, "and back\n", 3), "and back\n", '... and the tunnel works after them');
    close $s2;
}

# --- three tunnels at once stay apart.
{
    my @t = map { [ws_open("/ws?n=$_&greet=0")] } 1 .. 3;
    is(join(' ', map { $_->[1]{status} // '-' } @t), '101 101 101', 'three tunnels open');
    my @bad = grep {
        my $m = "tunnel $_ says hi\n";
        exchange($t[$_][0], $m, 3) ne $m;
    } 0 .. 2;
    is_deeply(\@bad, [], 'three tunnels: each gets its own bytes back');
    close $_->[0] for @t;
}

# --- an upgrade the origin declines: the connection stays HTTP.
{
    my ($s2, $r2) = ws_open('/echo?declined=1');
    is($r2->{status}, 200, 'upgrade declined: the origin\'s 200 is relayed');
    my $j = http_json($r2);
    is(lc(hdr($j, 'Upgrade') // ''), 'websocket', 'upgrade declined: Upgrade was forwarded');
    http_send($s2, target => '/echo?next=1');
    is(http_json(http_recv($s2))->{target}, '/echo?next=1',
        'upgrade declined: the connection serves the next request');
    close $s2;
}

# --- Upgrade without "Connection: upgrade" is hop-by-hop only.
{
    my $r3 = http_get($port, '/echo', headers => [['Upgrade', 'websocket']]);
    my $j = http_json($r3);
    is($r3->{status}, 200, 'Upgrade without Connection: upgrade: 200');
    is_deeply([hdr_all($j, 'Upgrade')], [], '... and Upgrade is not forwarded');
}
log_clean_ok();
done_testing();
