# Approval at the destination, with 2 workers: a client of a socks or
# forward listener is held once it names where it goes, listed with that
# destination, and let in or refused by a decision for the client and
# that destination (HOST:PORT or HOST, every port) or for the client and
# every destination; a decision for one destination does not cover
# another; the approval's destination rules let through or refuse
# without asking; a refusal is SOCKS "not allowed by ruleset" or 403; a
# held client whose wait ends is refused; decisions with destinations
# are listed, revoked one by one, checked (400), and counted.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use IO::Socket::IP;
use IO::Select;
use Time::HiRes qw(time sleep);
use CuttleTest;

my $dir = tmpdir();
my $O = http_origin(name => 'O');
my $OP = $O->{port};
my $dns = dns_server(names => { map { $_ => ['127.0.0.1'] }
    qw(origin.test other.test free.test blocked.test) });
my ($S, $ST, $F, $W) = map { free_port() } 1 .. 4;
my $sock = "$dir/admin.sock";

my $c = cuttle_start(<<"EOF", workers => 2);
error_log: {path: %LOG%, level: info}
admin: {socket: $sock}
resolver: {nameservers: ["$dns->{addr}"], timeout: 1s}
upstreams:
  web: {servers: [{address: "$O->{addr}"}]}
listeners:
  - name: sx
    listen: 127.0.0.1:$S
    mode: socks
    socks: {udp: true}
    approval:
      policy: ask
      wait: 20s
      rules: {destinations: {allow: ["free.test"], deny: ["blocked.test"]}}
  - name: sxt
    listen: 127.0.0.1:$ST
    mode: socks
    approval: {policy: ask, wait: 1s, on_timeout: deny}
  - name: fx
    listen: 127.0.0.1:$F
    mode: forward
    forward: {connect_ports: [$OP]}
    approval: {policy: ask, wait: 20s}
  - name: web
    listen: 127.0.0.1:$W
    mode: http
    routes: [{upstream: web}]
    approval: {policy: ask}
EOF

sub ctl { return cuttlectl_run('-s', $sock, @_) }

sub api {
    my ($method, $path, $body) = @_;
    my $r = curl_run('-s', '-X', $method, '--unix-socket', $sock,
        defined $body ? ('-H', 'Content-Type: application/json', '--data-binary', $body) : (),
        '-w', '\n%{http_code}', "http://localhost$path");
    my ($json, $code) = $r->{stdout} =~ /\A(.*)\n(\d+)\z/s;
    return ($code // 0, eval { decode_json($json) } // {});
}

# A SOCKS 5 client from $from that asked for $host:$port: its socket, the greeting answered.
sub socks5 {
    my ($port, $from, $host, $dport) = @_;
    my $s = IO::Socket::IP->new(LocalHost => $from, PeerHost => '127.0.0.1', PeerPort => $port,
        Timeout => 3) or die "connect from $from: $@";
    syswrite($s, "\x05\x01\x00");
    my $hello = read_n($s, 2, 3);
    die "no method reply" unless $hello eq "\x05\x00";
    syswrite($s, pack('C4 C/a* n', 5, 1, 0, 3, $host, $dport));
    return $s;
}

# At most $n bytes within $t seconds.
sub read_n {
    my ($s, $n, $t) = @_;
    my ($buf, $sel, $end) = ('', IO::Select->new($s), time + $t);
    while (length $buf < $n && time < $end) {
        last unless $sel->can_read($end - time);
        my $r = sysread($s, my $b, $n - length $buf);
        last unless $r;
        $buf .= $b;
    }
    return $buf;
}

# The reply code of a SOCKS 5 request, or undef when none came within $t.
sub socks5_rep {
    my ($s, $t) = @_;
    my $r = read_n($s, 10, $t);
    return length $r >= 2 ? ord(substr($r, 1, 1)) : undef;
}

# Through the tunnel: an HTTP request, its status.
sub tunnel_get {
    my ($s, $host) = @_;
    syswrite($s, "GET /hello HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n\r\n");
    my $r = read_n($s, 4096, 3);
    return $r =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0;
}

sub pending_of {
    my ($from) = @_;
    my $r = ctl('pending', '--json');
    my @p = grep { $_->{client} =~ /^\Q$from\E:/ }
        @{ (eval { decode_json($r->{stdout}) } // {})->{pending} // [] };
    return $p[0];
}

# ------------------------------------------------------------ held at its destination

{
    my $s = socks5($S, '127.0.0.2', 'origin.test', $OP);
    my $p;
    ok(wait_until(sub { $p = pending_of('127.0.0.2') }, 3), 'a socks client is held once it names where it goes');
    is($p->{destination}, "origin.test:$OP", '... listed with its destination') if $p;
    like(ctl('pending')->{stdout}, qr/^sx\s+127\.0\.0\.2:\d+\s+\S+\s+to origin\.test:$OP$/m,
        'cuttlectl pending prints it');
    is(socks5_rep($s, 0.5), undef, 'no reply while it waits');

    my $r = ctl('approve', '127.0.0.2', '--listener', 'sx', '--to', "origin.test:$OP", '--for', '1h');
    is($r->{status}, 0, 'approve it for that destination');
    like($r->{stdout}, qr/^allow 127\.0\.0\.2 on listener sx to origin\.test:$OP, for (?:1h00m|59m5\ds)\n\z/,
        '... cuttlectl says so');
    is(socks5_rep($s, 3), 0, 'the held client is let through: succeeded');
    is(tunnel_get($s, 'origin.test'), 200, '... and its tunnel works');
    ok(!pending_of('127.0.0.2'), '... gone from the list');

    # The next connection there does not wait.
    my $t0 = time;
    my $again = socks5($S, '127.0.0.2', 'ORIGIN.test.', $OP);
    is(socks5_rep($again, 3), 0, 'the same destination again (any case, final dot): no wait');
    cmp_ok(time - $t0, '<', 1, '... within a second');
    close $again;

    # Another destination, or another port of it, is not covered.
    my $other = socks5($S, '127.0.0.2', 'other.test', $OP);
    ok(wait_until(sub { my $q = pending_of('127.0.0.2'); $q && $q->{destination} eq "other.test:$OP" }, 3),
        'another destination waits for its own decision');
    $r = ctl('deny', '127.0.0.2', '--listener', 'sx', '--to', 'other.test');
    is($r->{status}, 0, 'deny that host on every port');
    is(socks5_rep($other, 3), 2, '... refused: not allowed by ruleset (2)');
    ok(wait_log($c, qr/approval: client 127\.0\.0\.2:\d+ to other\.test:$OP refused on listener "sx" \(decision 127\.0\.0\.2\/32 for sx to other\.test by /),
        'the log names the client, the destination and the decision');
    my $o2 = socks5($S, '127.0.0.2', 'other.test', 8);
    is(socks5_rep($o2, 3), 2, '... on any port of it, at once');
}

# ------------------------------------------------------------ every destination

{
    my $s = socks5($S, '127.0.0.6', 'other.test', $OP);
    ok(wait_until(sub { pending_of('127.0.0.6') }, 3), 'held');
    is(ctl('approve', '127.0.0.6')->{status}, 0, 'approve the client for every destination');
    is(socks5_rep($s, 3), 0, 'let through');
    my $t = socks5($S, '127.0.0.6', 'origin.test', $OP);
    is(socks5_rep($t, 3), 0, '... and to any other destination without waiting');
    # A decision for one destination beats the client's for every destination.
    is(ctl('deny', '127.0.0.6', '--to', "origin.test:$OP")->{status}, 0, 'deny one destination');
    my $u = socks5($S, '127.0.0.6', 'origin.test', $OP);
    is(socks5_rep($u, 3), 2, '... that one is refused');
    my $v = socks5($S, '127.0.0.6', 'other.test', $OP);
    is(socks5_rep($v, 3), 0, '... the others still go');
}

# ------------------------------------------------------------ the approval's destination rules

{
    my $s = socks5($S, '127.0.0.3', 'free.test', $OP);
    is(socks5_rep($s, 3), 0, 'rules.destinations.allow: through without asking');
    my $b = socks5($S, '127.0.0.3', 'blocked.test', $OP);
    is(socks5_rep($b, 3), 2, 'rules.destinations.deny: refused without asking');
    ok(!pending_of('127.0.0.3'), 'neither was held');
}

# ------------------------------------------------------------ UDP ASSOCIATE

{
    # Its datagrams name their own destinations: the client's decisions for every one decide.
    my $s = IO::Socket::IP->new(LocalHost => '127.0.0.8', PeerHost => '127.0.0.1', PeerPort => $S,
        Timeout => 3) or die;
    syswrite($s, "\x05\x01\x00");
    read_n($s, 2, 3);
    syswrite($s, pack('C4 a4 n', 5, 3, 0, 1, "\0\0\0\0", 0));
    my $p;
    ok(wait_until(sub { $p = pending_of('127.0.0.8') }, 3), 'a UDP ASSOCIATE is held');
    is($p->{destination}, 'UDP ASSOCIATE', '... and listed as such') if $p;
    ctl('approve', '127.0.0.8', '--to', "origin.test:$OP");
    is(socks5_rep($s, 0.5), undef, 'a decision for one destination does not let it through');
    ctl('approve', '127.0.0.8');
    is(socks5_rep($s, 3), 0, 'the client approved for every destination: the association is made');
    my $d = IO::Socket::IP->new(LocalHost => '127.0.0.9', PeerHost => '127.0.0.1', PeerPort => $S,
        Timeout => 3) or die;
    syswrite($d, "\x05\x01\x00");
    read_n($d, 2, 3);
    syswrite($d, pack('C4 a4 n', 5, 3, 0, 1, "\0\0\0\0", 0));
    ok(wait_until(sub { pending_of('127.0.0.9') }, 3), 'another one held');
    ctl('deny', '127.0.0.9');
    is(socks5_rep($d, 3), 2, 'denied: not allowed by ruleset (2)');
}

# ------------------------------------------------------------ the wait ends

{
    my $s = socks5($ST, '127.0.0.7', 'origin.test', $OP);
    ok(wait_until(sub { pending_of('127.0.0.7') }, 3), 'held on a listener with wait: 1s');
    my $t0 = time;
    is(socks5_rep($s, 4), 2, 'on_timeout: deny refuses it (2)');
    cmp_ok(time - $t0, '<', 3, '... when its wait ends');
}

# ------------------------------------------------------------ forward: CONNECT and absolute-form

{
    my $s = IO::Socket::IP->new(LocalHost => '127.0.0.4', PeerHost => '127.0.0.1', PeerPort => $F,
        Timeout => 3) or die;
    syswrite($s, "CONNECT origin.test:$OP HTTP/1.1\r\nHost: origin.test:$OP\r\n\r\n");
    my $p;
    ok(wait_until(sub { $p = pending_of('127.0.0.4') }, 3), 'a CONNECT is held');
    is($p->{destination}, "origin.test:$OP", '... with its destination') if $p;
    ctl('deny', '127.0.0.4', '--listener', 'fx');
    like(read_n($s, 4096, 3), qr{^HTTP/1\.1 403 }, 'denied: 403');

    my $g = IO::Socket::IP->new(LocalHost => '127.0.0.5', PeerHost => '127.0.0.1', PeerPort => $F,
        Timeout => 3) or die;
    syswrite($g, "GET http://origin.test:$OP/hello HTTP/1.1\r\nHost: origin.test:$OP\r\n\r\n");
    ok(wait_until(sub { $p = pending_of('127.0.0.5') }, 3), 'an absolute-form request is held');
    is($p->{destination}, "origin.test:$OP", '... with its destination') if $p;
    ctl('approve', '127.0.0.5', '--listener', 'fx', '--to', 'origin.test');
    like(read_n($g, 4096, 3), qr{^HTTP/1\.1 200 }, 'approved for the host: served');
    # Keep-alive: the next request there does not wait.
    syswrite($g, "GET http://origin.test:$OP/hello HTTP/1.1\r\nHost: origin.test:$OP\r\n\r\n");
    like(read_n($g, 4096, 3), qr{^HTTP/1\.1 200 }, 'the next request on the connection: served');
}

# ------------------------------------------------------------ the decisions

{
    my $d = ctl('decisions');
    like($d->{stdout}, qr/^ADDRESS\s+VERDICT\s+LISTENER\s+DESTINATION\s/m, 'decisions has a destination column');
    like($d->{stdout}, qr/^127\.0\.0\.2\s+allow\s+sx\s+origin\.test:$OP\s/m, '... the one for a host and port');
    like($d->{stdout}, qr/^127\.0\.0\.2\s+deny\s+sx\s+other\.test\s/m, '... the one for a host');
    like($d->{stdout}, qr/^127\.0\.0\.6\s+allow\s+\*\s+\*\s/m, '... the one for every destination');
    my ($code, $j) = api('GET', '/api/v1/approvals/decisions');
    my @to = grep { ($_->{destination} // '') eq "origin.test:$OP" && $_->{address} eq '127.0.0.2' }
        @{ $j->{decisions} // [] };
    is(scalar @to, 1, 'the API lists the destination');

    my $r = ctl('revoke', '127.0.0.6', '--to', 'origin.test:' . $OP);
    is($r->{status}, 0, 'revoke the one for a destination');
    like($r->{stdout}, qr/^revoked 1 decision for 127\.0\.0\.6 \(deny every listener to origin\.test:$OP\)/,
        '... only that one');
    my $s = socks5($S, '127.0.0.6', 'origin.test', $OP);
    is(socks5_rep($s, 3), 0, '... the client goes there again under its decision for every destination');
    $r = ctl('revoke', '127.0.0.6', '--to', 'nowhere.test');
    is($r->{status}, 1, 'revoking a decision that is not there fails');
    like($r->{stderr}, qr/no decision for 127\.0\.0\.6 to nowhere\.test/, '... and says which');

    for my $bad (['{"address":"127.0.0.9","verdict":"allow","destination":"exa mple"}', qr/not a host name or an IP address/],
                 ['{"address":"127.0.0.9","verdict":"allow","destination":"example.com:0"}', qr/port is 1 to 65535/],
                 ['{"address":"127.0.0.9","verdict":"allow","destination":"[example.com]:1"}', qr/brackets/],
                 ['{"address":"127.0.0.9","verdict":"allow","destination":7}', qr/HOST, HOST:PORT/],
                 ['{"address":"127.0.0.9","verdict":"allow","listener":"web","destination":"a.test"}', qr/not a forward or socks listener/]) {
        my ($code2, $e) = api('POST', '/api/v1/approvals/decisions', $bad->[0]);
        is($code2, 400, "400 for $bad->[0]");
        like($e->{error} // '', $bad->[1], '... with the reason');
    }
}

# ------------------------------------------------------------ metrics

{
    my $m = curl_run('--unix-socket', $sock, 'http://localhost/metrics')->{stdout};
    my ($n) = $m =~ /^cuttle_proxy_requests_total\{listener="sx",result="approval"\} (\d+)$/m;
    cmp_ok($n // 0, '>=', 4, 'refusals by approval are counted among the proxy requests');
}

cuttle_stop($c);
log_clean_ok($c);
done_testing();
