# Chains of upstream proxies ("via"): a tcp listener, an http listener
# (two requests, one pooled connection) and a socks listener reach an
# origin through three cuttle hops of three kinds (SOCKS 5, HTTP
# CONNECT, SOCKS 5 with a password), each a cuttle of its own that logs
# the destination it was asked for; dante (SOCKS 5) and tinyproxy
# (CONNECT) serve as hops too; a hop that refuses or is not there is
# named with its position and reason in the log, and a socks client
# gets the code the hop gave; configuration errors.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::IP;
use IO::Select;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use CuttleTest;

my $dir = tmpdir();
my $O = http_origin(name => 'O');
my $closed = free_port();
my $dns = dns_server(names => { 'origin.test' => ['127.0.0.1'] });
my $pw = "$dir/htpasswd";
write_file($pw, `htpasswd -nbB -C 5 hopper 'hop pw'`);

my ($S1, $F2, $S3) = map { free_port() } 1 .. 3;
my $hop1 = cuttle_start(<<"EOF", workers => 1);
error_log: {path: %LOG%, level: info}
listeners:
  - {name: hop1, listen: "127.0.0.1:$S1", mode: socks}
EOF
my $hop2 = cuttle_start(<<"EOF", workers => 1);
error_log: {path: %LOG%, level: info}
listeners:
  - name: hop2
    listen: 127.0.0.1:$F2
    mode: forward
    forward: {connect_ports: [$S3, $O->{port}]}
EOF
my $hop3 = cuttle_start(<<"EOF", workers => 1);
error_log: {path: %LOG%, level: info}
listeners:
  - name: hop3
    listen: 127.0.0.1:$S3
    mode: socks
    auth: {basic: {realm: hops, htpasswd: $pw}}
EOF

# Third-party hops, run in the foreground and stopped by their pid.
my @KIDS;
END { for my $p (@KIDS) { kill 'TERM', $p; waitpid($p, 0) } }
sub spawn {
    my ($out, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', $out);
        open(STDERR, '>&', \*STDOUT);
        exec @cmd or POSIX::_exit(127);
    }
    push @KIDS, $pid;
    return $pid;
}
sub wait_listen {
    my ($port) = @_;
    for (1 .. 100) {
        return 1 if IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port);
        sleep 0.1;
    }
    return 0;
}
my ($D, $T) = (free_port(), free_port());
write_file("$dir/danted.conf", <<"EOF");
logoutput: $dir/danted.log
internal: 127.0.0.1 port = $D
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
EOF
write_file("$dir/tinyproxy.conf", "Port $T\nListen 127.0.0.1\nTimeout 60\nMaxClients 50\n"
    . "LogLevel Info\nAllow 127.0.0.1\nConnectPort $O->{port}\n");
spawn("$dir/danted.out", 'danted', '-f', "$dir/danted.conf", '-N', '1');
spawn("$dir/tinyproxy.out", 'tinyproxy', '-d', '-c', "$dir/tinyproxy.conf");
ok(wait_listen($D), 'dante listens') or diag(slurp("$dir/danted.out"));
ok(wait_listen($T), 'tinyproxy listens') or diag(slurp("$dir/tinyproxy.out"));

my $three = qq{["socks5://127.0.0.1:$S1", "http://127.0.0.1:$F2", "socks5://hopper:hop%20pw\@127.0.0.1:$S3"]};
my ($TCP, $HTTP, $SOCKS, $THIRD, $BAD2, $BAD1, $BADPW, $SREFUSE, $SHTTP) = map { free_port() } 1 .. 9;
my $c = cuttle_start(<<"EOF", workers => 2);
error_log: {path: %LOG%, level: info}
resolver: {nameservers: ["$dns->{addr}"], timeout: 1s}
upstreams:
  chained: {via: $three, servers: [{address: "$O->{addr}"}]}
  thirdparty:
    via: ["socks5://127.0.0.1:$D", "http://127.0.0.1:$T"]
    servers: [{address: "$O->{addr}"}]
  hop2refuses:
    via: ["socks5://127.0.0.1:$S1", "http://127.0.0.1:$F2"]
    servers: [{address: "127.0.0.1:$closed"}]
  hop1gone:
    via: ["socks5://127.0.0.1:$closed", "http://127.0.0.1:$F2"]
    servers: [{address: "$O->{addr}"}]
  badpassword:
    via: ["socks5://hopper:wrong\@127.0.0.1:$S3"]
    servers: [{address: "$O->{addr}"}]
listeners:
  - {name: tcp, listen: "127.0.0.1:$TCP", mode: tcp, upstream: chained}
  - name: http
    listen: 127.0.0.1:$HTTP
    mode: http
    routes: [{upstream: chained}]
  - name: socks
    listen: 127.0.0.1:$SOCKS
    mode: socks
    via: $three
  - {name: third, listen: "127.0.0.1:$THIRD", mode: tcp, upstream: thirdparty}
  - {name: bad2, listen: "127.0.0.1:$BAD2", mode: tcp, upstream: hop2refuses}
  - {name: bad1, listen: "127.0.0.1:$BAD1", mode: tcp, upstream: hop1gone}
  - {name: badpw, listen: "127.0.0.1:$BADPW", mode: tcp, upstream: badpassword}
  - name: srefuse
    listen: 127.0.0.1:$SREFUSE
    mode: socks
    via: ["socks5://127.0.0.1:$S1"]
  - name: shttp
    listen: 127.0.0.1:$SHTTP
    mode: socks
    via: ["http://127.0.0.1:$F2"]
EOF

# ------------------------------------------------------------ through the chain

{
    my $r = curl_run('-i', "http://127.0.0.1:$TCP/tcp-chain");
    like($r->{stdout}, qr{^HTTP/1\.1 200}, 'tcp listener through three hops: 200')
        or diag($r->{stderr});
    is(scalar(origin_requests($O, target => '/tcp-chain')), 1, 'the origin got the request');
    ok(wait_log($hop1, qr/conn client=127\.0\.0\.1:\d+ listener=hop1 server=127\.0\.0\.1:$F2 /),
        'hop 1 was asked for hop 2');
    ok(wait_log($hop2, qr/conn client=127\.0\.0\.1:\d+ listener=hop2 server=127\.0\.0\.1:$S3 /),
        'hop 2 was asked for hop 3');
    ok(wait_log($hop3, qr/conn client=127\.0\.0\.1:\d+ listener=hop3 server=\Q$O->{addr}\E /),
        'hop 3 was asked for the origin');
}
{
    my $r = curl_run('-i', "http://127.0.0.1:$HTTP/one", "http://127.0.0.1:$HTTP/two");
    my $n = () = $r->{stdout} =~ m{HTTP/1\.1 200 }g;
    is($n, 2, 'http listener: two answers through the chain');
    my @a = origin_requests($O, target => '/one');
    my @b = origin_requests($O, target => '/two');
    is(scalar(@a) + scalar(@b), 2, 'both reached the origin');
    is($a[0]{peer}, $b[0]{peer}, 'on one pooled connection through the chain')
        if @a && @b;
}
{
    my $r = curl_proxy('--socks5-hostname', "127.0.0.1:$SOCKS", '-i',
        "http://origin.test:$O->{port}/socks-chain");
    like($r->{stdout}, qr{^HTTP/1\.1 200}, 'socks listener with via: 200') or diag($r->{stderr});
    ok(wait_log($hop3, qr/listener=hop3 server=\Q$O->{addr}\E /, count => 2),
        'the name was resolved by the first cuttle, the address asked of the hops');
}
# A SOCKS 5 CONNECT to the origin through $port: the reply's BND (address,
# port) and the peer port the origin saw.
sub socks_bnd {
    my ($port) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port) or die;
    syswrite($s, "\x05\x01\x00" . "\x05\x01\x00\x01" . pack('C4 n', 127, 0, 0, 1, $O->{port}));
    my ($buf, $sel) = ('', IO::Select->new($s));
    while (length $buf < 12 && $sel->can_read(8)) {
        sysread($s, my $b, 12 - length $buf) or last;
        $buf .= $b;
    }
    return () unless length $buf == 12 && substr($buf, 3, 1) eq "\x00" && substr($buf, 5, 1) eq "\x01";
    my ($addr, $bport) = (join('.', unpack('C4', substr($buf, 6, 4))), unpack('n', substr($buf, 10, 2)));
    syswrite($s, "GET /bnd HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n");
    my $resp = '';
    while ($sel->can_read(5)) {
        sysread($s, my $b, 4096) or last;
        $resp .= $b;
    }
    my ($peer) = $resp =~ /\r\nX-Peer: (\d+)\r\n/i;
    return ($addr, $bport, $peer);
}
{
    # RFC 1928 6: BND is where the destination sees the connection come from.
    my ($addr, $bport, $peer) = socks_bnd($SOCKS);
    is($addr, '127.0.0.1', 'socks through three hops: BND.ADDR is the last hop\'s');
    ok(defined $peer && defined $bport && $bport == $peer,
        "... and BND.PORT the port the origin saw (BND $bport, origin saw " . ($peer // '?') . ')');
    ($addr, $bport, $peer) = socks_bnd($SHTTP);
    is("$addr:$bport", '0.0.0.0:0', 'through an HTTP hop, which does not say: BND 0.0.0.0:0');
    ok(defined $peer, '... and the tunnel works');
}
{
    my $r = curl_run('-i', "http://127.0.0.1:$THIRD/third-party");
    like($r->{stdout}, qr{^HTTP/1\.1 200}, 'through dante and tinyproxy: 200')
        or diag($r->{stderr}, slurp("$dir/tinyproxy.out"));
}

# ------------------------------------------------------------ failing hops

sub closed_at_once {
    my ($port) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port) or return 0;
    my $sel = IO::Select->new($s);
    return 0 unless $sel->can_read(8);
    return !sysread($s, my $b, 1);
}
for my $case (
    [$BAD2, qr/proxy chain to 127\.0\.0\.1:$closed failed \(hop 2 of 2 \(http:\/\/127\.0\.0\.1:$F2\): CONNECT answered 403\)/,
        'hop 2 refuses the port'],
    [$BAD1, qr/proxy chain to \Q$O->{addr}\E failed \(hop 1 of 2 \(socks5:\/\/127\.0\.0\.1:$closed\): Connection refused\)/,
        'hop 1 is not there'],
    [$BADPW, qr/hop 1 of 1 \(socks5:\/\/127\.0\.0\.1:$S3\): user name or password refused/,
        'hop 1 refuses the password'],
) {
    my ($port, $re, $what) = @$case;
    ok(closed_at_once($port), "$what: the client's connection is closed");
    ok(wait_log($c, $re), "$what: the log names the hop and why");
}
{
    # The hop's SOCKS reply reaches the socks client as it was.
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $SREFUSE) or die;
    syswrite($s, "\x05\x01\x00" . "\x05\x01\x00\x01" . pack('C4 n', 127, 0, 0, 1, $closed));
    my ($buf, $sel) = ('', IO::Select->new($s));
    while (length $buf < 12 && $sel->can_read(8)) {
        sysread($s, my $b, 12 - length $buf) or last;
        $buf .= $b;
    }
    is(join(' ', map { sprintf '%02x', $_ } unpack 'C*', substr($buf, 2, 2)), '05 05',
        'socks through a hop that gets "connection refused": the client gets 0x05 too');
}

# ------------------------------------------------------------ configuration

for my $bad (
    ["upstreams:\n  u:\n    via: [\"socks5://localhost:1080\"]\n    servers: [{address: 127.0.0.1:9}]\n",
        qr/the host of a hop must be an IP address/],
    ["upstreams:\n  u:\n    via: [\"ftp://127.0.0.1:21\"]\n    servers: [{address: 127.0.0.1:9}]\n",
        qr/invalid proxy "ftp:\/\/127\.0\.0\.1:21" in "via"/],
    ["upstreams:\n  u:\n    via: [\"socks5://127.0.0.1:1080\"]\n    health: {active: {type: tcp}}\n"
        . "    servers: [{address: 127.0.0.1:9}]\n", qr/active health checks do not go through "via"/],
) {
    my ($up, $re) = @$bad;
    my $f = "$dir/bad.yaml";
    write_file($f, $up . "listeners:\n  - {name: x, listen: \"127.0.0.1:" . free_port()
        . "\", mode: tcp, upstream: u}\n");
    my $r = cuttle_run('-t', '-c', $f);
    isnt($r->{status}, 0, 'refused: ' . ($up =~ s/\n.*//sr));
    like($r->{stderr}, $re, '... saying why') or diag($r->{stderr});
    like($r->{stderr}, qr/bad\.yaml:\d+:\d+/, '... at file:line:col');
}

cuttle_stop($_) for $c, $hop1, $hop2, $hop3;
log_clean_ok($c, $hop1, $hop2, $hop3);
done_testing();
