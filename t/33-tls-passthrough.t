# TLS passthrough by SNI on a tcp listener: the ClientHello's server
# name picks the upstream (exact names before wildcards, the listener's
# upstream for the rest), and the TLS session goes through untouched:
# curl verifies each origin's own certificate.  A hello cut into small
# pieces is routed all the same; plain HTTP instead of a hello, a name
# no route has, and a client that sends nothing are each closed and
# logged at info.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(_exit);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use CuttleTest;

my $dir = tmpdir();
my @pids;
# The origins are stopped however the test ends, a die included.
END { kill 'TERM', @pids if @pids }

# A self-signed certificate for $cn (also its SAN), in $dir/$cn.{crt,key}.
sub cert {
    my ($cn) = @_;
    open(my $err, '>&', \*STDERR) or die "dup: $!";
    open(STDERR, '>', '/dev/null') or die "open: $!";
    my $st = system('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
        '-nodes', '-days', '2', '-subj', "/CN=$cn", '-addext', "subjectAltName=DNS:$cn",
        '-keyout', "$dir/$cn.key", '-out', "$dir/$cn.crt");
    open(STDERR, '>&', $err) or die "dup: $!";
    $st == 0 or die "openssl req for $cn failed";
    return ("$dir/$cn.crt", "$dir/$cn.key");
}

# An origin: openssl s_server answering GET /name with its own name.
sub origin {
    my ($name, $cn) = @_;
    my ($crt, $key) = cert($cn);
    my $root = "$dir/www-$name";
    mkdir $root or die "mkdir: $!";
    write_file("$root/name", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n$name\n");
    my $port = free_port();
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        chdir $root or _exit(1);
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', "$dir/s_server-$name.log");
        open(STDERR, '>&', \*STDOUT);
        { no warnings 'exec'; exec 'openssl', 's_server', '-quiet', '-HTTP', '-accept',
            "127.0.0.1:$port", '-cert', $crt, '-key', $key; }
        _exit(127);
    }
    push @pids, $pid;
    ok(wait_until(sub { my $s = tcp_connect($port); close $s if $s; $s }, 10),
        "origin $name listens") or BAIL_OUT("openssl s_server did not start");
    return { name => $name, port => $port, crt => $crt };
}

my $A = origin('A', 'a.test');
my $B = origin('B', 'www.b.test');
my $W = origin('W', 'x.b.test');
my $D = origin('D', 'other.test');
my $port = free_port();
my $strict = free_port();

my $c = cuttle_start(<<"EOF", workers => 2);
error_log: {path: %LOG%, level: info}
upstreams:
  a: {servers: [{address: 127.0.0.1:$A->{port}}]}
  b: {servers: [{address: 127.0.0.1:$B->{port}}]}
  w: {servers: [{address: 127.0.0.1:$W->{port}}]}
  d: {servers: [{address: 127.0.0.1:$D->{port}}]}
listeners:
  - name: tls
    listen: 127.0.0.1:$port
    mode: tcp
    upstream: d
    sni:
      routes:
        - {names: [a.test], upstream: a}
        - {names: ["*.b.test"], upstream: w}
        - {names: [www.b.test], upstream: b}
  - name: strict
    listen: 127.0.0.1:$strict
    mode: tcp
    sni:
      timeout: 300ms
      routes:
        - {names: [a.test], upstream: a}
EOF

# GET /name over TLS to $name through $p, verifying against $crt.
sub fetch {
    my ($p, $name, $crt) = @_;
    return curl_run('--cacert', $crt, '--resolve', "$name:$p:127.0.0.1",
        "https://$name:$p/name");
}

{
    my $r = fetch($port, 'a.test', $A->{crt});
    is($r->{stdout}, "A\n", 'a.test goes to A, whose certificate curl verifies')
        or diag($r->{stderr});
    $r = fetch($port, 'www.b.test', $B->{crt});
    is($r->{stdout}, "B\n", 'an exact name wins over a wildcard listed before it')
        or diag($r->{stderr});
    $r = fetch($port, 'x.b.test', $W->{crt});
    is($r->{stdout}, "W\n", '*.b.test takes x.b.test') or diag($r->{stderr});
    $r = curl_run('--cacert', $D->{crt}, '--resolve', "other.test:$port:127.0.0.1",
        "https://other.test:$port/name");
    is($r->{stdout}, "D\n", 'a name no route has goes to the listener\'s upstream')
        or diag($r->{stderr});
}

# A ClientHello cut into pieces that arrive apart: the name is read once
# the whole hello is there.
{
    my $hello = client_hello('a.test');
    my $s = tcp_connect($port) or die "connect: $@";
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    my $peer = $s->sockport;
    for my $piece (unpack('(a7)*', $hello)) {
        syswrite($s, $piece);
        select(undef, undef, undef, 0.005);
    }
    # A's answer to a hello that continues nowhere is its ServerHello:
    # a handshake record (22) from the server routed to.
    my $got = '';
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    select(my $rout = $rin, undef, undef, 5) and sysread($s, $got, 5);
    is(length $got ? ord($got) : -1, 22, 'a hello in 7-byte pieces is routed: a ServerHello comes back');
    close $s;
}

# Refusals, each closed and logged once at info.
{
    my $mark = log_mark($c);
    my $s = tcp_connect($strict) or die "connect: $@";
    send_all($s, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    ok(recv_until_eof($s, 5)->{closed}, 'plain HTTP instead of a hello: closed');
    ok(wait_log($c, qr/\[info\] .*not a TLS ClientHello \(.+\), client: 127\.0\.0\.1:\d+, listener: strict/,
        since => $mark), '... and logged with the reason');

    my $r = curl_run('-k', '--resolve', "nope.test:$strict:127.0.0.1", "https://nope.test:$strict/name");
    isnt($r->{status}, 0, 'a name no route has, no default upstream: the handshake fails');
    ok(wait_log($c, qr/\[info\] .*no sni route for server name "nope\.test", client: /, since => $mark),
        '... logged with the name');
    my @l = wait_conn($c, 1, since => $mark, listener => 'strict', end => 'no sni route');
    is(scalar @l, 1, '... its conn line says end="no sni route"');

    $s = tcp_connect($strict) or die "connect: $@";
    my $e = recv_until_eof($s, 5);
    ok($e->{closed} && $e->{elapsed} < 3, sprintf('a client that sends nothing: closed after the timeout (%.2f s)', $e->{elapsed}));
    ok(wait_log($c, qr/no whole ClientHello within the sni timeout, client: /, since => $mark),
        '... logged');
}

# The bytes of a TLS 1.2 ClientHello for $name with the usual extensions
# left out: enough for cuttle to route and for a TLS server to answer.
sub client_hello {
    my ($name) = @_;
    my $sni = pack('n', 0) . pack('n', length($name) + 5)
        . pack('n', length($name) + 3) . pack('C', 0) . pack('n', length $name) . $name;
    my $groups = pack('n', 10) . pack('n', 4) . pack('n', 2) . pack('n', 23);
    my $sigalgs = pack('n', 13) . pack('n', 4) . pack('n', 2) . pack('n', 0x0403);
    my $points = pack('n', 11) . pack('n', 2) . pack('C', 1) . pack('C', 0);
    my $ext = $sni . $groups . $sigalgs . $points;
    my $body = pack('n', 0x0303) . ('r' x 32) . pack('C', 0)
        . pack('n', 4) . pack('n', 0xc02b) . pack('n', 0xc02f)
        . pack('C', 1) . pack('C', 0) . pack('n', length $ext) . $ext;
    my $hs = pack('C', 1) . substr(pack('N', length $body), 1) . $body;
    return pack('C', 22) . pack('n', 0x0301) . pack('n', length $hs) . $hs;
}

kill 'TERM', @pids;
waitpid($_, 0) for @pids;
@pids = ();
log_clean_ok();
done_testing();
