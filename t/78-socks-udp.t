# SOCKS 5 UDP ASSOCIATE (RFC 1928 7) through two workers: PySocks
# (python3-socks) sends datagrams to a UDP echo server by address and by
# a name that cuttle resolves, and gets the echoes; then raw sockets
# read the exact reply of UDP ASSOCIATE (BND.ADDR and BND.PORT of the
# association's socket) and check what is dropped and counted: a
# fragment, a malformed header, a datagram from another port than the
# client's (named in the request, or learnt from its first datagram), a
# destination the rules refuse (by address and by a name's address), a
# name that does not resolve, datagrams beyond those that may wait for a
# name being resolved, a datagram to the relay from where the client did
# not send; a 60,000-byte datagram each way, IPv6, bytes on the control
# connection ignored, the idle timeout, the end of the association with
# its control connection (its socket closed: ICMP port unreachable), the
# access-log line, /metrics, and "udp: false" answered 0x07.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Errno qw(ECONNREFUSED);
use IO::Select;
use IO::Socket::IP;
use Socket qw(AF_INET AF_INET6 inet_aton inet_ntop inet_pton pack_sockaddr_in
    pack_sockaddr_in6);
use Test::More;
use Time::HiRes qw(sleep time);
use CuttleTest;

my $python = '/usr/bin/python3';
plan skip_all => 'python3-socks (PySocks) is not installed'
    unless system("$python -c 'import socks' 2>/dev/null") == 0;

my $dir = tmpdir();
my $E = udp_backend(mode => 'echo', name => 'E');
my $R = udp_backend(mode => 'raw', name => 'R');
my $dns = dns_server(names => { 'echo.test' => ['127.0.0.1'], 'other.test' => ['127.0.0.2'] },
    silent => ['silent.test']);
my ($U, $N, $D, $I) = map { free_port() } 1 .. 4;
my $U6 = free_port('::1');
my $sock = "$dir/admin.sock";

my $c = cuttle_start(<<"EOF", workers => 2);
admin: {socket: %TMP%/admin.sock}
resolver: {nameservers: ["$dns->{addr}"], timeout: 1s}
listeners:
  - name: sudp
    listen: 127.0.0.1:$U
    mode: socks
    socks: {versions: [5], udp: true}
    access_log: {path: %TMP%/sudp.access}
  - name: nudp
    listen: 127.0.0.1:$N
    mode: socks
  - name: dudp
    listen: 127.0.0.1:$D
    mode: socks
    socks: {udp: true}
    destinations: {deny: [127.0.0.2/32]}
  - name: iudp
    listen: 127.0.0.1:$I
    mode: socks
    socks: {udp: true}
    timeouts: {idle: 2s}
  - name: six
    listen: "[::1]:$U6"
    mode: socks
    socks: {udp: true}
EOF

sub metrics { return curl_run('--unix-socket', $sock, 'http://x/metrics')->{stdout} }

# One sample of the metrics, or undef.
sub sample {
    my ($name, $labels) = @_;
    return metrics() =~ /^\Q$name\E\{\Q$labels\E\} (\S+)$/m ? $1 : undef;
}

sub dropped { return sample('cuttle_udp_dropped_total', "listener=\"$_[0]\",reason=\"$_[1]\"") }

# Waits until the drop counter of listener and reason is $want; true if it got there.
sub dropped_is {
    my ($l, $why, $want) = @_;
    return wait_until(sub { (dropped($l, $why) // -1) == $want }, 5);
}

sub hexs { return join ' ', map { sprintf '%02x', $_ } unpack 'C*', $_[0] }

# ------------------------------------------------------------ PySocks

my $py = "$dir/client.py";
write_file($py, <<'EOF');
import socket, sys, socks
port, echo = int(sys.argv[1]), int(sys.argv[2])
s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
s.set_proxy(socks.SOCKS5, '127.0.0.1', port)
s.settimeout(5)
for i in range(5):
    s.sendto(b'ping %d' % i, ('127.0.0.1', echo))
    data, src = s.recvfrom(4096)
    print(data.decode(), src[0], src[1])
s.sendto(b'by name', ('echo.test', echo))
data, src = s.recvfrom(4096)
print(data.decode(), src[0], src[1])
s.close()
EOF
{
    my @out = split /\n/, `timeout 30 $python $py $U $E->{port} 2>&1`;
    is(scalar(@out), 6, 'PySocks: six answers') or diag(join "\n", @out);
    is($out[$_], "E:ping $_ 127.0.0.1 $E->{port}", "PySocks: datagram $_ and its echo, "
        . 'from the echo server') for 0 .. 4;
    is($out[5], "E:by name 127.0.0.1 $E->{port}", 'PySocks: to a name cuttle resolved');
    ok(grep({ $_ eq 'echo.test 1' } split /\n/, slurp($dns->{queries})),
        'cuttle asked the name server for echo.test');
}

# ------------------------------------------------------------ raw SOCKS

# The control connection of an association on $port, whose client says
# it sends from port $from (0: unknown): the socket, the reply, and the
# BND address and port it names.
sub associate {
    my ($port, $from, %o) = @_;
    my $s = tcp_connect($port, host => $o{host} // '127.0.0.1') or die "connect: $@";
    send_all($s, "\x05\x01\x00");
    my $m = recv_bytes($s, 2);
    die 'no method chosen: ' . hexs($m) unless $m eq "\x05\x00";
    send_all($s, "\x05\x03\x00\x01" . inet_aton('0.0.0.0') . pack('n', $from // 0));
    my $r = recv_bytes($s, 4);
    my $v6 = length $r == 4 && substr($r, 3, 1) eq "\x04";
    $r .= recv_bytes($s, $v6 ? 18 : 6);
    my ($host, $bport) = length $r == ($v6 ? 22 : 10)
        ? (inet_ntop($v6 ? AF_INET6 : AF_INET, substr($r, 4, $v6 ? 16 : 4)),
            unpack('n', substr($r, -2))) : ();
    return ($s, $r, $host, $bport);
}

# A UDP socket on $host, port $lport (0: any), not connected.
sub udp_sock {
    my ($lport, $host) = @_;
    my $u = IO::Socket::IP->new(LocalHost => $host // '127.0.0.1', LocalPort => $lport // 0,
        Proto => 'udp') or die "udp: $@";
    return $u;
}

sub send_to {
    my ($u, $port, $data, $host) = @_;
    $host //= '127.0.0.1';
    my $to = $host =~ /:/ ? pack_sockaddr_in6($port, inet_pton(AF_INET6, $host))
        : pack_sockaddr_in($port, inet_aton($host));
    return send($u, $data, 0, $to);
}

sub hdr4 { return "\0\0\0\x01" . inet_aton($_[0]) . pack('n', $_[1]) }
sub hdr_name { return "\0\0\0\x03" . chr(length $_[0]) . $_[0] . pack('n', $_[1]) }

my $E4 = hdr4('127.0.0.1', $E->{port});

{
    my ($s, $r, $host, $bport) = associate($U, 0);
    is(hexs(substr($r, 0, 4)), '05 00 00 01', 'UDP ASSOCIATE: succeeded, an IPv4 BND');
    is($host, '127.0.0.1', 'BND.ADDR: the address the client reached the listener on');
    ok($bport && $bport != $U, "BND.PORT: a port of its own ($bport)");

    my $u = udp_sock();
    send_to($u, $bport, $E4 . 'raw one');
    is(udp_recv($u), "${E4}E:raw one", 'a datagram and its echo, with the header of its source');
    my $big = 'x' x 60000;
    send_to($u, $bport, $E4 . $big);
    my $back = udp_recv($u) // '';
    is(length $back, 10 + 2 + 60000, 'a datagram of 60,000 bytes, and its echo, whole');
    send_to($u, $bport, hdr_name('echo.test', $E->{port}) . 'named');
    is(udp_recv($u), "${E4}E:named", 'to a name: the echo names the address it came from');

    # Bytes on the control connection are read and ignored.
    send_all($s, "ignored bytes\n");
    send_to($u, $bport, $E4 . 'still');
    is(udp_recv($u), "${E4}E:still", 'bytes on the control connection do not end it');

    # From another port of the client's address: the first datagram fixed the port.
    my $other = udp_sock();
    send_to($other, $bport, $E4 . 'from elsewhere');
    is(udp_recv($other, 1), undef, 'a datagram from another port than the first one: '
        . 'no answer');
    ok(dropped_is('sudp', 'source', 1), '... dropped and counted (source)');

    send_to($u, $bport, "\0\0\x01\x01" . inet_aton('127.0.0.1') . pack('n', $E->{port}) . 'frag');
    is(udp_recv($u, 1), undef, 'a fragment (FRAG 1): no answer');
    ok(dropped_is('sudp', 'fragment', 1), '... dropped and counted (fragment)');
    send_to($u, $bport, "\0\0\0\x09abcd");
    send_to($u, $bport, hdr4('127.0.0.1', 0) . 'port 0');
    is(udp_recv($u, 1), undef, 'an unknown address type, a port 0: no answer');
    ok(dropped_is('sudp', 'header', 2), '... dropped and counted (header)');
    ok(!grep({ $_->[2] eq unpack('H*', 'frag') } udp_backend_got($E)),
        'the fragment never reached the echo server');

    send_to($u, $bport, hdr_name('nowhere.test', $E->{port}) . 'lost');
    is(udp_recv($u, 1.5), undef, 'a name that does not exist: no answer');
    ok(dropped_is('sudp', 'resolve', 1), '... dropped and counted (resolve)');

    # Ten datagrams to a name nobody answers: eight wait, two find no room;
    # the eight go when the lookup times out.
    send_to($u, $bport, hdr_name('silent.test', $E->{port}) . "wait $_") for 1 .. 10;
    ok(dropped_is('sudp', 'wait', 2), 'to a name being resolved: beyond 8 waiting, dropped '
        . '(wait)');
    ok(dropped_is('sudp', 'resolve', 9), '... and the 8 that waited, when the lookup failed');

    # The destination's replies come back only from where the client sent.
    my @got = udp_backend_got($E);
    my $relay = $got[-1][0];
    my $stranger = udp_sock();
    send_to($stranger, $relay, 'not asked for');
    is(udp_recv($u, 1), undef, 'a datagram to the relay from where the client did not send: '
        . 'not relayed');
    ok(dropped_is('sudp', 'peer', 1), '... dropped and counted (peer)');

    # The end of the control connection ends the association.
    my $conn = udp_client($bport);
    close $s;
    ok(wait_until(sub {
        send($conn, $E4 . 'after', 0);
        return 0 unless IO::Select->new($conn)->can_read(0.5);
        return !defined(recv($conn, my $d, 100, 0)) && $! == ECONNREFUSED;
    }, 5), 'the control connection closed: the association socket is closed '
        . '(port unreachable)');

    my $acc = "$dir/sudp.access";
    ok(wait_until(sub { slurp($acc) =~ /udp=127\.0\.0\.1:$bport / }, 5),
        'the access log has the association');
    my ($line) = grep { /udp=127\.0\.0\.1:$bport / } split /\n/, slurp($acc);
    my $want = ' client=127\.0\.0\.1:\d+ listener=sudp server=- from_client=\d+ to_client=\d+ '
        . "time=\\S+ end=\"done\" udp=127\\.0\\.0\\.1:$bport datagrams_in=4 datagrams_out=4 "
        . 'datagrams_dropped=16$';
    like($line, qr/$want/, '... with its datagrams each way and the drops');
    my ($from) = $line =~ /from_client=(\d+)/;
    cmp_ok($from, '>', 60000 + 14, '... and from_client counts the datagrams and the control bytes');
    ok(wait_until(sub {
        (sample('cuttle_udp_datagrams_total', 'listener="sudp",direction="received"') // 0) >= 4 + 6
    }, 5), '/metrics: the datagrams of the ended associations');
    is(dropped('sudp', 'sessions'), undef, '/metrics: no mode udp reasons for a socks listener');
    ok(log_grep($c, qr/socks: UDP datagram dropped: from 127\.0\.0\.1:\d+, not the client's /
        . qr/address and port .*listener: sudp/), 'the error log says why, once per reason');
}

{
    # The port the request names is the only one taken.
    my $u = udp_sock();
    my $p = $u->sockport;
    my ($s, $r, $host, $bport) = associate($U, $p);
    my $other = udp_sock();
    send_to($other, $bport, $E4 . 'not mine');
    is(udp_recv($other, 1), undef, 'a port named in the request: another port is refused');
    ok(dropped_is('sudp', 'source', 2), '... dropped and counted');
    send_to($u, $bport, $E4 . 'mine');
    is(udp_recv($u), "${E4}E:mine", '... and the named port is served');
}

{
    my ($s, $r, $host, $bport) = associate($D, 0);
    my $u = udp_sock();
    send_to($u, $bport, hdr4('127.0.0.2', $E->{port}) . 'denied');
    is(udp_recv($u, 1), undef, 'an address the destinations deny: no answer');
    ok(dropped_is('dudp', 'destination', 1), '... dropped and counted (destination)');
    send_to($u, $bport, hdr_name('other.test', $E->{port}) . 'denied');
    is(udp_recv($u, 1.5), undef, 'a name that resolves to a denied address: no answer');
    ok(dropped_is('dudp', 'destination', 2), '... dropped and counted');
    send_to($u, $bport, $E4 . 'allowed');
    is(udp_recv($u), "${E4}E:allowed", 'an allowed destination on the same listener');
    ok(log_grep($c, qr/to 127\.0\.0\.2:\d+: refused by the destinations \(deny\[0\] /),
        'the error log names the rule');
}

{
    my ($s, $r) = associate($N, 0);
    is(hexs(substr($r, 0, 2)), '05 07', 'udp: false (the default): 0x07 command not supported');
    ok(recv_until_eof($s, 3)->{eof}, '... and closed');
    ok(log_grep($c, qr/SOCKS 5 UDP ASSOCIATE is not enabled on this listener/),
        '... saying why');
}

{
    my ($s, $r, $host, $bport) = associate($U6, 0, host => '::1');
    is(hexs(substr($r, 0, 4)), '05 00 00 04', 'over IPv6: an IPv6 BND');
    is($host, '::1', '... ::1');
    my $u = udp_sock(0, '::1');
    send_to($u, $bport, $E4 . 'v6', '::1');
    is(udp_recv($u), "${E4}E:v6", 'an IPv6 client to an IPv4 destination: the echo, IPv4 in '
        . 'its header');
}

{
    # Idle 2s: datagrams keep the association; none for 2s end it.
    my ($s, $r, $host, $bport) = associate($I, 0);
    my $u = udp_sock();
    my $alive = 1;
    for (1 .. 6) {
        send_to($u, $bport, $E4 . "keep $_");
        $alive &&= (udp_recv($u) // '') eq "${E4}E:keep $_";
        sleep 0.5;
    }
    ok($alive, 'datagrams for 3 s through an association with idle 2s: all answered');
    my $end = recv_until_eof($s, 5);
    ok($end->{eof}, 'no datagram for 2 s: the idle timeout closes the control connection');
    ok(wait_conn($c, 1, listener => 'iudp', end => 'idle timeout'), '... end="idle timeout"');
}

# ------------------------------------------------------------ configuration

{
    my $f = "$dir/bad.yaml";
    write_file($f, "listeners:\n  - name: x\n    listen: 127.0.0.1:" . free_port()
        . "\n    mode: socks\n    socks: {udp: maybe}\n");
    my $r = cuttle_run('-t', '-c', $f);
    isnt($r->{status}, 0, 'socks: {udp: maybe} is refused');
    like($r->{stderr}, qr/bad\.yaml:5:\d+: "udp" must be true or false/, '... at file:line:col');
}

cuttle_stop($c);
log_clean_ok($c);
done_testing();
