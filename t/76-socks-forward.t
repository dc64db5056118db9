# Modes socks and forward: real clients (curl --socks4, --socks4a,
# --socks5, --socks5-hostname, socks5h:// with a user, curl -p -x for
# CONNECT, ncat --proxy) through two workers to an origin and an echo
# server; names resolved by cuttle through a name server of the test;
# and every refusal with its exact reply code or status, read byte for
# byte from raw sockets: unknown version, no acceptable method, wrong
# password, SOCKS 4 where a password is needed, BIND and UDP ASSOCIATE,
# an unknown address type, a name that does not exist or is not
# answered, a refused connect, a destination the rules refuse, a CONNECT
# port not allowed, 407 without credentials, a slow handshake; bytes
# sent behind the request reach the server; the log names the
# destination.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::IP;
use IO::Select;
use JSON::PP;
use Time::HiRes qw(time sleep);
use CuttleTest;

my $dir = tmpdir();
my $O = http_origin(name => 'O');
my $E = backend(mode => 'echo', name => 'E');
my $closed = free_port();
my $dns = dns_server(names => { 'origin.test' => ['127.0.0.1'], 'echo.test' => ['127.0.0.1'],
    'six.test' => ['::1'], 'other.test' => ['127.0.0.2'] }, silent => ['silent.test']);
my ($S, $SA, $S5, $SD, $F, $FA, $SL) = map { free_port() } 1 .. 7;
my $pw = "$dir/htpasswd";
# bob is checked once only: that check waits for the verifier, never the cache.
my $line = `htpasswd -nbB -C 5 alice 'alice pw'` . `htpasswd -nbB -C 5 bob 'bob pw'`;
write_file($pw, $line);

my $c = cuttle_start(<<"EOF", workers => 2);
error_log: {path: %LOG%, level: info}
admin: {socket: $dir/admin.sock}
resolver: {nameservers: ["$dns->{addr}"], timeout: 1s}
limits:
  one: {conns: 1}
listeners:
  - name: sockslimited
    listen: 127.0.0.1:$SL
    mode: socks
    limits: [one]
    bandwidth: {download: 64k/s}
  - name: socks
    listen: 127.0.0.1:$S
    mode: socks
    timeouts: {handshake: 1s}
  - name: socksauth
    listen: 127.0.0.1:$SA
    mode: socks
    auth: {basic: {realm: proxy, htpasswd: $pw}}
  - name: socks5only
    listen: 127.0.0.1:$S5
    mode: socks
    socks: {versions: [5]}
  - name: socksdeny
    listen: 127.0.0.1:$SD
    mode: socks
    destinations: {deny: [127.0.0.2/32, "*.example:443"]}
  - name: fwd
    listen: 127.0.0.1:$F
    mode: forward
    forward: {connect_ports: [$O->{port}, $E->{port}, $closed]}
    timeouts: {handshake: 1s}
  - name: fwdauth
    listen: 127.0.0.1:$FA
    mode: forward
    forward: {connect_ports: [$O->{port}]}
    auth: {basic: {realm: "the proxy", htpasswd: $pw}}
EOF

my $url = "http://127.0.0.1:$O->{port}/hello";

# ------------------------------------------------------------ real clients

for my $opt (['--socks4', "127.0.0.1:$S"], ['--socks4a', "127.0.0.1:$S"],
    ['--socks5', "127.0.0.1:$S"], ['--socks5-hostname', "127.0.0.1:$S"]) {
    # The variants that pass names ask cuttle to resolve them.
    my $to = $opt->[0] =~ /4a|hostname/ ? "http://origin.test:$O->{port}/via$opt->[0]"
        : "$url?$opt->[0]";
    my $r = curl_proxy(@$opt, '-i', $to);
    is($r->{status}, 0, "curl $opt->[0]: exit 0") or diag($r->{stderr});
    like($r->{stdout}, qr{^HTTP/1\.1 200}, "curl $opt->[0]: the origin's 200");
}
is(scalar(origin_requests($O, target => '/via--socks4a')), 1,
    'socks4a: the name was resolved by cuttle');
ok(grep({ $_ eq "origin.test 1" } split /\n/, slurp($dns->{queries})),
    'cuttle asked the name server for origin.test');

{
    my $r = curl_proxy('-x', "socks5h://alice:alice%20pw\@127.0.0.1:$SA", '-i', $url);
    like($r->{stdout}, qr{^HTTP/1\.1 200}, 'socks5h with user and password: 200')
        or diag($r->{stderr});
    $r = curl_proxy('-x', "socks5h://alice:wrong\@127.0.0.1:$SA", $url);
    isnt($r->{status}, 0, 'a wrong password: curl fails');
    $r = curl_proxy('-x', "socks5h://127.0.0.1:$SA", $url);
    isnt($r->{status}, 0, 'no credentials where they are needed: curl fails');
}

# ncat through the proxy to the echo server: what comes back of one line.
sub ncat_echo {
    my ($type, $port, $text) = @_;
    my ($in, $out) = ("$dir/ncat-$type.in", "$dir/ncat-$type.out");
    write_file($in, $text);
    system("timeout 10 ncat --proxy 127.0.0.1:$port --proxy-type $type -i 2 "
        . "127.0.0.1 $E->{port} <$in >$out 2>/dev/null");
    return slurp($out);
}
is(ncat_echo('socks5', $S, "ping-ncat\n"), "ping-ncat\n", 'ncat --proxy-type socks5 to the echo server');

# ------------------------------------------------------------ raw SOCKS

sub raw {
    my ($port) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, Timeout => 3)
        or die "connect: $@";
    return $s;
}

# Reads until $n bytes, EOF or 5 s; returns what came and whether EOF followed.
sub recv_n {
    my ($s, $n, $t) = @_;
    my ($buf, $eof, $sel) = ('', 0, IO::Select->new($s));
    my $end = time + ($t // 5);
    while (length $buf < $n && time < $end) {
        last unless $sel->can_read($end - time);
        my $r = sysread($s, my $b, $n - length $buf);
        if (!$r) { $eof = 1; last }
        $buf .= $b;
    }
    return $buf;
}

sub eof_within {
    my ($s, $t) = @_;
    my $sel = IO::Select->new($s);
    return 0 unless $sel->can_read($t);
    return !sysread($s, my $b, 1);
}

sub hexs { return join ' ', map { sprintf '%02x', $_ } unpack 'C*', $_[0] }

sub v5_connect {
    my ($port, $atyp_addr, $dport, $cmd) = @_;
    my $s = raw($port);
    syswrite($s, "\x05\x01\x00");
    my $m = recv_n($s, 2);
    syswrite($s, pack('C C C', 5, $cmd // 1, 0) . $atyp_addr . pack('n', $dport));
    return ($s, $m);
}

sub name_addr { return pack('C C', 3, length $_[0]) . $_[0] }
my $lo = pack('C', 1) . pack('C4', 127, 0, 0, 1);

{
    my ($s, $m) = v5_connect($S, $lo, $E->{port});
    is(hexs($m), '05 00', 'SOCKS 5: no authentication chosen');
    my $rep = recv_n($s, 10);
    is(hexs(substr($rep, 0, 4)), '05 00 00 01', 'SOCKS 5 CONNECT: succeeded, IPv4 BND');
    syswrite($s, "echo me\n");
    is(recv_n($s, 8), "echo me\n", 'the tunnel relays both ways');
}
{
    # Greeting, request and data in one segment: nothing is lost.
    my $s = raw($S);
    syswrite($s, "\x05\x01\x00" . "\x05\x01\x00" . $lo . pack('n', $E->{port}) . "early\n");
    my $r = recv_n($s, 2 + 10 + 6);
    is(substr($r, 12), "early\n", 'bytes sent behind the request reach the server');
}
for my $case (
    ['an unknown name', name_addr('nowhere.test'), $E->{port}, '05 04', $S],
    ['a name the name server does not answer', name_addr('silent.test'), $E->{port}, '05 04', $S],
    ['a refused connect', $lo, $closed, '05 05', $S],
    ['a destination address the rules deny', pack('C C4', 1, 127, 0, 0, 2), $E->{port}, '05 02', $SD],
    ['a name that resolves to a denied address', name_addr('other.test'), $E->{port}, '05 02', $SD],
    ['a name pattern and port the rules deny', name_addr('www.example'), 443, '05 02', $SD],
    ['BIND', $lo, $E->{port}, '05 07', $S, 2],
    ['UDP ASSOCIATE', $lo, 0, '05 07', $S, 3],
    ['a command that does not exist', $lo, $E->{port}, '05 07', $S, 9],
    ['an unknown address type', "\x09" . 'abcd', $E->{port}, '05 08', $S],
) {
    my ($what, $addr, $port, $want, $lport, $cmd) = @$case;
    my ($s) = v5_connect($lport, $addr, $port, $cmd);
    my $r = recv_n($s, 10, 8);
    is(hexs(substr($r, 0, 2)), $want, "SOCKS 5, $what: reply $want");
    ok(eof_within($s, 3), "SOCKS 5, $what: then closed");
}
{
    my $s = raw($S);
    syswrite($s, "\x05\x01\x02");
    is(hexs(recv_n($s, 2)), '05 ff', 'SOCKS 5 with only username/password offered to a '
        . 'listener without auth: no acceptable method');
    ok(eof_within($s, 3), '... and closed');
    $s = raw($SA);
    syswrite($s, "\x05\x01\x00");
    is(hexs(recv_n($s, 2)), '05 ff', 'no authentication offered where it is needed: 0xFF');
    $s = raw($SA);
    syswrite($s, "\x05\x02\x00\x02");
    is(hexs(recv_n($s, 2)), '05 02', 'username/password chosen');
    syswrite($s, "\x01\x05alice\x05wrong");
    is(hexs(recv_n($s, 2)), '01 01', 'RFC 1929: a wrong password gets status 1');
    ok(eof_within($s, 3), '... and the close');
    $s = raw($SA);
    syswrite($s, "\x05\x01\x02");
    recv_n($s, 2);
    syswrite($s, "\x01\x00\x05wrong");
    is(hexs(recv_n($s, 2)), '01 01', 'RFC 1929: an empty user name gets status 1');
    $s = raw($SA);
    syswrite($s, "\x05\x01\x02" . "\x01\x03bob\x06bob pw" . "\x05\x01\x00" . $lo
        . pack('n', $E->{port}) . "after auth\n");
    my $r = recv_n($s, 2 + 2 + 10 + 11);
    is(hexs(substr($r, 0, 4)), '05 02 01 00', 'the right password: status 0');
    is(substr($r, 14), "after auth\n", 'and the tunnel, all in one segment, behind a '
        . 'password the verifier checked');
}
{
    my $s = raw($S);
    syswrite($s, "\x06\x01\x00");
    ok(eof_within($s, 3), 'an unknown version: closed without a reply');
    is(recv_n($s, 1, 0.1), '', '... and nothing was sent');
    $s = raw($S);
    syswrite($s, pack('C C n C4', 4, 1, $E->{port}, 127, 0, 0, 1) . "user\0");
    is(hexs(substr(recv_n($s, 8), 0, 2)), '00 5a', 'SOCKS 4 CONNECT: granted (90)');
    syswrite($s, "four\n");
    is(recv_n($s, 5), "four\n", 'SOCKS 4 tunnel');
    $s = raw($SA);
    syswrite($s, pack('C C n C4', 4, 1, $E->{port}, 127, 0, 0, 1) . "alice\0");
    is(hexs(substr(recv_n($s, 8), 0, 2)), '00 5b', 'SOCKS 4 where a password is needed: 91');
    $s = raw($S5);
    syswrite($s, pack('C C n C4', 4, 1, $E->{port}, 127, 0, 0, 1) . "\0");
    is(hexs(substr(recv_n($s, 8), 0, 2)), '00 5b', 'SOCKS 4 on a SOCKS 5 listener: 91');
    $s = raw($S);
    syswrite($s, pack('C C n C4', 4, 1, $E->{port}, 0, 0, 0, 1) . "\0nowhere.test\0");
    is(hexs(substr(recv_n($s, 8, 8), 0, 2)), '00 5b', 'SOCKS 4a, an unknown name: 91');
    $s = raw($S);
    syswrite($s, "\x05\x01");
    my $t0 = time;
    ok(eof_within($s, 5), 'a greeting cut short: closed by the handshake timeout');
    cmp_ok(time - $t0, '>=', 0.8, '... after about a second');
}

# ------------------------------------------------------------ forward (CONNECT)

{
    my $r = curl_proxy('-p', '-x', "http://127.0.0.1:$F", '-i', "$url?connect");
    is($r->{status}, 0, 'curl -p -x: exit 0') or diag($r->{stderr});
    like($r->{stdout}, qr{HTTP/1\.1 200 Connection established.*HTTP/1\.1 200}s,
        'CONNECT 200, then the origin through the tunnel');
    $r = curl_proxy('-p', '-x', "http://127.0.0.1:$F", '-i', "http://origin.test:$O->{port}/n");
    like($r->{stdout}, qr{Connection established.*HTTP/1\.1 200}s, 'CONNECT to a name');
    $r = curl_proxy('-p', '-x', "http://alice:alice%20pw\@127.0.0.1:$FA", '-i', "$url?auth");
    like($r->{stdout}, qr{Connection established.*HTTP/1\.1 200}s,
        'CONNECT with Proxy-Authorization');
}
is(ncat_echo('http', $F, "ping-http\n"), "ping-http\n", 'ncat --proxy-type http to the echo server');

sub forward_raw {
    my ($port, $req, $wait) = @_;
    my $s = raw($port);
    syswrite($s, $req);
    my $r = recv_n($s, 4096, $wait // 5);
    return $r;
}
for my $case (
    ['a port not allowed', "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n", 403, $F],
    ['an unknown name', "CONNECT nowhere.test:$O->{port} HTTP/1.1\r\nHost: x\r\n\r\n", 502, $F],
    ['a silent name server', "CONNECT silent.test:$O->{port} HTTP/1.1\r\nHost: x\r\n\r\n", 504, $F],
    ['a refused connect', "CONNECT 127.0.0.1:$closed HTTP/1.1\r\nHost: x\r\n\r\n", 502, $F],
    ['no port', "CONNECT 127.0.0.1 HTTP/1.1\r\nHost: x\r\n\r\n", 400, $F],
    ['an absolute-form GET of an https:// target', "GET https://127.0.0.1:$O->{port}/ HTTP/1.1\r\n"
        . "Host: x\r\n\r\n", 501, $F],
    ['an origin-form GET', "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, $F],
    ['garbage', "HELLO\r\n\r\n", 400, $F],
    ['no credentials', "CONNECT 127.0.0.1:$O->{port} HTTP/1.1\r\nHost: x\r\n\r\n", 407, $FA],
    ['a wrong password', "CONNECT 127.0.0.1:$O->{port} HTTP/1.1\r\nHost: x\r\n"
        . "Proxy-Authorization: Basic YWxpY2U6d3Jvbmc=\r\n\r\n", 407, $FA],
    ['a head cut short', "CONNECT 127.0.0.1:$O->{port} HTTP/1.1\r\n", 408, $F],
) {
    my ($what, $req, $want, $port) = @$case;
    my $r = forward_raw($port, $req, 8);
    like($r, qr{^HTTP/1\.1 $want }, "forward, $what: $want") or diag(show_bytes($r));
    like($r, qr{\r\nProxy-Authenticate: Basic realm="the proxy"}, '... with the challenge')
        if $want == 407;
}
{
    # The handshake's buffer grows from a few KiB as a head needs, up to max_header_size.
    my $s = raw($F);
    syswrite($s, "CONNECT 127.0.0.1:$E->{port} HTTP/1.1\r\nHost: x\r\nX-Pad: " . ('p' x 20000)
        . "\r\n\r\nbig head\n");
    my $want = "HTTP/1.1 200 Connection established\r\n\r\nbig head\n";
    is(recv_n($s, length $want), $want, 'CONNECT with a 20 KB head: through');
    $s = raw($F);
    syswrite($s, "CONNECT 127.0.0.1:$E->{port} HTTP/1.1\r\nHost: x\r\nX-Pad: " . ('p' x 40000)
        . "\r\n\r\n");
    like(recv_n($s, 4096, 5), qr{^HTTP/1\.1 431 }, 'a head over max_header_size: 431');
}
{
    my $s = raw($F);
    syswrite($s, "CONNECT 127.0.0.1:$E->{port} HTTP/1.1\r\nHost: x\r\n\r\nright behind\n");
    my $want = "HTTP/1.1 200 Connection established\r\n\r\nright behind\n";
    is(recv_n($s, length $want), $want, 'CONNECT: bytes behind the head reach the server');
}

# ------------------------------------------------------------ limits and bandwidth

{
    my ($s) = v5_connect($SL, $lo, $E->{port});
    is(hexs(substr(recv_n($s, 10), 0, 2)), '05 00', 'a listener with a cap of one: the first tunnel');
    my $t = raw($SL);
    ok(eof_within($t, 3), 'the second connection is closed at once');
    # 256 KiB echoed at 64 KiB/s down: about 3 s of budget beyond the burst.
    my $t0 = time;
    syswrite($s, 'x' x 262144);
    my $got = recv_n($s, 262144, 20);
    is(length $got, 262144, 'the tunnel relays it all under its bandwidth');
    cmp_ok(time - $t0, '>=', 1.5, '... no faster than the download rate allows');
}

# ------------------------------------------------------------ connection list

{
    my ($s) = v5_connect($S, name_addr('echo.test'), $E->{port});
    is(hexs(substr(recv_n($s, 10), 0, 2)), '05 00', 'a tunnel to a name, held open');
    my $r = cuttlectl_run('-s', "$dir/admin.sock", 'conns', '--json');
    my ($conn) = grep { ($_->{destination} // '') eq "echo.test:$E->{port}" }
        @{ JSON::PP::decode_json($r->{stdout})->{connections} // [] };
    ok($conn, 'the connection list names the destination as asked') or diag($r->{stdout});
    $r = cuttlectl_run('-s', "$dir/admin.sock", 'conns');
    like($r->{stdout}, qr/\becho\.test:$E->{port}\b/, "cuttlectl conns shows it") or diag($r->{stdout}, $r->{stderr});
    $r = cuttlectl_run('-s', "$dir/admin.sock", 'kill', $conn->{id}) if $conn;
    ok(eof_within($s, 5), 'cuttlectl kill closes the tunnel');
}

# ------------------------------------------------------------ metrics

{
    my $m = curl_run('--unix-socket', "$dir/admin.sock", 'http://x/metrics')->{stdout};
    my %n;
    $n{"$1 $2"} = $3 while $m =~ /^cuttle_proxy_requests_total\{listener="(\w+)",result="(\w+)"\} (\d+)$/mg;
    # What the tests above did, on each listener.
    cmp_ok($n{'socks granted'} // 0, '>=', 8, '/metrics: socks tunnels granted');
    cmp_ok($n{'socks no_name'} // 0, '>=', 2, '/metrics: unknown names');
    cmp_ok($n{'socks resolver'} // 0, '>=', 1, '/metrics: a silent name server');
    cmp_ok($n{'socks connect'} // 0, '>=', 1, '/metrics: a refused connect');
    cmp_ok($n{'socksdeny rules'} // 0, '>=', 3, '/metrics: destinations refused');
    cmp_ok($n{'socks protocol'} // 0, '>=', 4, '/metrics: malformed or unsupported requests');
    cmp_ok($n{'socks timeout'} // 0, '>=', 1, '/metrics: a slow handshake');
    cmp_ok($n{'socksauth auth'} // 0, '>=', 3, '/metrics: authentication refused');
    cmp_ok($n{'fwdauth auth'} // 0, '>=', 2, '/metrics: 407s');
    cmp_ok($n{'fwd rules'} // 0, '>=', 1, '/metrics: a CONNECT port not allowed');
    is($n{'fwdauth granted'} // 0, 1, '/metrics: one CONNECT with credentials');
}

# ------------------------------------------------------------ logs

wait_log($c, qr/destination: nowhere\.test:\d+/);
ok(log_grep($c, qr/cannot resolve/), 'the error log says why a name failed');
ok(scalar(conn_lines($c, listener => 'socks', server => "127.0.0.1:$E->{port}")),
    'the connection line names the destination');
ok(scalar(conn_lines($c, listener => 'fwd', server => "origin.test:$O->{port}")),
    'a CONNECT to a name: the line names it as asked');

# ------------------------------------------------------------ configuration

for my $bad (
    ["mode: socks\n    upstream: u\n", qr/"upstream" is not used with mode socks/],
    ["mode: socks\n    forward: {connect_ports: [443]}\n", qr/"forward" is only for mode forward/],
    ["mode: forward\n    forward: {connect_ports: [0]}\n", qr/invalid port "0"/],
    ["mode: socks\n    socks: {versions: [6]}\n", qr/invalid SOCKS version "6"/],
    ["mode: tcp\n    upstream: u\n    timeouts: {handshake: 1s}\n",
        qr/"handshake" is only for modes forward and socks/],
) {
    my ($frag, $re) = @$bad;
    my $f = "$dir/bad.yaml";
    write_file($f, "upstreams:\n  u: {servers: [{address: 127.0.0.1:9}]}\nlisteners:\n"
        . "  - name: x\n    listen: 127.0.0.1:" . free_port() . "\n    $frag");
    my $r = cuttle_run('-t', '-c', $f);
    isnt($r->{status}, 0, "refused: $frag");
    like($r->{stderr}, $re, '... saying why') or diag($r->{stderr});
    like($r->{stderr}, qr/bad\.yaml:\d+:\d+/, '... at file:line:col');
}

cuttle_stop($c);
log_clean_ok($c);
done_testing();
