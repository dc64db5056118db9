# Mode forward's absolute-form requests ("GET http://host/path"): real
# clients (curl -x, raw sockets, ncat) through cuttle to two origins
# named through a name server of the test.  The origin sees origin-form,
# Host from the target, Via, and none of the hop-by-hop fields; a client
# connection carries requests to several origins; an idle connection to
# an origin serves later clients (and does not where max_idle is 0);
# Proxy-Authorization gives 407 or passes, and is not forwarded; bodies
# both ways, chunked; every failure with its status, logged once with the
# destination; malformed targets 400, https:// 501; a CONNECT after
# requests on the same connection; the access log names destinations.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::MD5 qw(md5_hex);
use Time::HiRes qw(time sleep);
use CuttleTest;

my $dir = tmpdir();
my $O1 = http_origin(name => 'O1');
my $O2 = http_origin(name => 'O2');
# Closes a connection idle for half a second.
my $O3 = http_origin(name => 'O3', keepalive_timeout => 0.5);
my $E = backend(mode => 'echo', name => 'E');
my $closed = free_port();
my $hole = black_hole_port();
my $dns = dns_server(names => { 'one.test' => ['127.0.0.1'], 'two.test' => ['127.0.0.1'],
    'denied.test' => ['127.0.0.2'] }, silent => ['silent.test']);
my ($F, $FA, $FN, $FS) = map { free_port() } 1 .. 4;
my $pw = "$dir/htpasswd";
my $line = `htpasswd -nbB -C 5 alice 'alice pw'`;
chomp $line;
write_file($pw, "$line\n");
my ($P1, $P2, $P3) = ($O1->{port}, $O2->{port}, $O3->{port});

my $c = cuttle_start(<<"EOF", workers => 1);
error_log: {path: %LOG%, level: info}
admin: {socket: $dir/admin.sock}
resolver: {nameservers: ["$dns->{addr}"], timeout: 1s}
listeners:
  - name: fwd
    listen: 127.0.0.1:$F
    mode: forward
    forward: {connect_ports: [$E->{port}]}
    timeouts: {connect: 1s, read: 1s}
    destinations: {deny: [127.0.0.2/32]}
    access_log: {path: $dir/access.log}
  - name: fwdauth
    listen: 127.0.0.1:$FA
    mode: forward
    auth: {basic: {realm: "the proxy", htpasswd: $pw}}
    access_log: {path: $dir/access-auth.log, format: json}
  - name: nopool
    listen: 127.0.0.1:$FN
    mode: forward
    forward: {keepalive: {max_idle: 0}}
  - name: shortpool
    listen: 127.0.0.1:$FS
    mode: forward
    forward: {keepalive: {idle_timeout: 300ms}}
EOF

# The origin's record of the one request it got for $path.
sub seen {
    my ($o, $path) = @_;
    my @r = origin_requests($o, target => qr{\A\Q$path\E(?:\?|\z)});
    return $r[-1] // {};
}

sub proxied {
    my ($port, @args) = @_;
    return curl_proxy('-x', "http://127.0.0.1:$port", @args);
}

# ------------------------------------------------------------ the request upstream

{
    my $r = proxied($F, '-i', '-H', 'Host: wrong.example', "http://one.test:$P1/path/x?q=1");
    is($r->{status}, 0, 'curl -x to a name: exit 0') or diag($r->{stderr});
    like($r->{stdout}, qr{^HTTP/1\.1 200 }, "... the origin's 200");
    like($r->{stdout}, qr{\r\nX-Origin: O1\r\n}, '... from the origin the name and port say');
    like($r->{stdout}, qr{\r\nVia: 1\.1 cuttle\r\n}i, '... with Via on the response');
    my $q = seen($O1, '/path/x');
    is($q->{target}, '/path/x?q=1', 'the origin gets the origin-form target');
    is(hdr($q, 'Host'), "one.test:$P1", "Host is the target's authority, not the client's");
    is(hdr($q, 'Via'), '1.1 cuttle', 'Via is added');
}
{
    my $s = tcp_connect($F) or die "connect: $@";
    http_send($s, target => "http://one.test:$P1/hop", host => 'wrong.example', headers => [
        ['Proxy-Connection', 'keep-alive'], ['Proxy-Authorization', 'Basic Zm9vOmJhcg=='],
        ['Connection', 'keep-alive, X-Secret'], ['X-Secret', 's'], ['Keep-Alive', 'timeout=5'],
        ['TE', 'trailers'], ['Trailer', 'X-T'], ['Via', '1.0 earlier'],
        ['Authorization', 'Basic b3JpZ2luOnB3'], ['X-Kept', 'yes']]);
    my $r = http_recv($s);
    is($r->{status}, 200, 'a request with every hop-by-hop field: 200');
    my $q = seen($O1, '/hop');
    is_deeply([map { hdr($q, $_) // '-' } qw(Proxy-Connection Proxy-Authorization Connection
        X-Secret Keep-Alive TE Trailer)], [('-') x 7],
        'Proxy-Connection, Proxy-Authorization, Connection and what it names, Keep-Alive, '
        . 'TE, Trailer: none reaches the origin');
    is(hdr($q, 'Via'), '1.0 earlier, 1.1 cuttle', 'Via appended to the one that came');
    is(hdr($q, 'Authorization'), 'Basic b3JpZ2luOnB3', "the origin's Authorization passes");
    is(hdr($q, 'X-Kept'), 'yes', 'other fields pass');
    is(hdr($q, 'Host'), "one.test:$P1", 'Host from the target');

    # The same client connection, another origin, then the first again.
    http_send($s, target => "http://two.test:$P2/second", host => 'two.test');
    $r = http_recv($s);
    is($r->{status}, 200, 'keep-alive: a second request on the connection, to another origin');
    is($r->{h}{'x-origin'}, 'O2', '... served by that origin');
    http_send($s, target => "http://127.0.0.1:$P1/third", host => 'x');
    $r = http_recv($s);
    is($r->{h}{'x-origin'}, 'O1', '... and a third, to an address, back to the first');
    my %peer = map { $_ => seen($O1, $_)->{peer} } '/hop', '/third';
    is($peer{'/third'}, $peer{'/hop'},
        'the name and the address are one destination: its connection was reused');

    # A CONNECT after them: the connection becomes a tunnel.
    send_all($s, "CONNECT 127.0.0.1:$E->{port} HTTP/1.1\r\nHost: x\r\n\r\ntunneled\n");
    my $t = recv_bytes($s, length("HTTP/1.1 200 Connection established\r\n\r\ntunneled\n"), 5);
    is($t, "HTTP/1.1 200 Connection established\r\n\r\ntunneled\n",
        'CONNECT after absolute-form requests on the same connection: the tunnel');
    close $s;
}
{
    # Two requests and a body in one segment, with the first head.
    my $s = tcp_connect($F) or die "connect: $@";
    send_all($s, http_req_bytes(method => 'POST', target => "http://one.test:$P1/pipe1",
        host => 'x', body => 'first body') . http_req_bytes(target => "http://two.test:$P2/pipe2",
        host => 'y'));
    my @r = map { http_recv($s) } 1 .. 2;
    is_deeply([map { $_->{h}{'x-origin'} // '-' } @r], ['O1', 'O2'],
        'pipelined behind the first head: both answered, in order');
    is(seen($O1, '/pipe1')->{body_md5}, md5_hex('first body'), '... the body that came with it too');
    close $s;
}
{
    my $r = proxied($F, '-s', "http://one.test:$P1/curl1", "http://two.test:$P2/curl2");
    is($r->{status}, 0, 'curl with two URLs of two origins through one proxy connection');
    my @lines = grep { m{target="http://(one|two)\.test:\d+/curl[12]"} }
        split /\n/, wait_access("$dir/access.log", qr{/curl2"});
    my %client = map { m{client=(\S+)}; ($1 => 1) } @lines;
    is(scalar(@lines), 2, 'two access log lines');
    is(scalar(keys %client), 1, '... of one client connection');
}

{
    # A WebSocket through the proxy: Upgrade passes with Connection: upgrade, then the tunnel.
    my $s = tcp_connect($F) or die "connect: $@";
    my $key = 'dGhlIHNhbXBsZSBub25jZQ==';
    http_send($s, target => "http://one.test:$P1/ws", host => 'x', headers => [
        ['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', $key],
        ['Sec-WebSocket-Version', '13']]);
    my $r = http_recv($s);
    is($r->{status}, 101, 'an Upgrade through the proxy: 101');
    is($r->{h}{'sec-websocket-accept'}, ws_accept($key), '... from the origin');
    is(recv_line($s, 5), "hello from origin\n", '... and the tunnel, one way');
    send_all($s, "ping\n");
    is(recv_line($s, 5), "ping\n", '... and the other');
    close $s;
}

# ------------------------------------------------------------ the pool

{
    proxied($F, "http://two.test:$P2/reuse1");
    proxied($F, "http://two.test:$P2/reuse2");
    my ($a, $b) = (seen($O2, '/reuse1'), seen($O2, '/reuse2'));
    ok(defined $a->{peer} && defined $b->{peer}, 'two clients, one after the other');
    is($b->{peer}, $a->{peer}, "the second client's request went on the first's "
        . 'connection to the origin');
    cmp_ok($b->{n}, '>', $a->{n}, '... as a later request of it');

    # An idle connection the origin closes leaves the pool; the next client gets a new one.
    proxied($F, "http://127.0.0.1:$P3/closed1");
    wait_until(sub { grep { $_->{ev} eq 'idle-close' } origin_log($O3) }, 5);
    my $r = proxied($F, '-i', "http://127.0.0.1:$P3/closed2");
    like($r->{stdout}, qr{^HTTP/1\.1 200 }, 'after the origin closed the idle connection: 200');
    isnt(seen($O3, '/closed2')->{peer}, seen($O3, '/closed1')->{peer}, '... on a new connection');
    is(scalar(grep { /closed2/ && /status=5/ } split /\n/, log_text($c)), 0, '... and no error');

    # keepalive idle_timeout: cuttle closes the idle connection itself.
    proxied($FS, "http://two.test:$P2/short1");
    wait_until(sub { grep { $_->{ev} eq 'eof' && $_->{peer} == seen($O2, '/short1')->{peer} }
        origin_log($O2) }, 5);
    proxied($FS, "http://two.test:$P2/short2");
    isnt(seen($O2, '/short2')->{peer}, seen($O2, '/short1')->{peer},
        'keepalive idle_timeout: an idle connection is closed, the next client gets a new one');
    ok(scalar(grep { $_->{ev} eq 'eof' && $_->{peer} == seen($O2, '/short1')->{peer}
        && $_->{n} == 1 } origin_log($O2)), '... which cuttle closed after one request');

    proxied($FN, "http://two.test:$P2/nopool1");
    proxied($FN, "http://two.test:$P2/nopool2");
    isnt(seen($O2, '/nopool2')->{peer}, seen($O2, '/nopool1')->{peer},
        'keepalive max_idle 0: a new connection for each client');
}

# ------------------------------------------------------------ Proxy-Authorization

{
    my $r = proxied($FA, '-i', "http://one.test:$P1/noauth");
    like($r->{stdout}, qr{^HTTP/1\.1 407 }, 'no credentials: 407');
    like($r->{stdout}, qr{\r\nProxy-Authenticate: Basic realm="the proxy"}i,
        '... with Proxy-Authenticate');
    is(scalar(origin_requests($O1, target => '/noauth')), 0, '... and nothing reached the origin');
    $r = curl_proxy('-x', "http://alice:wrong\@127.0.0.1:$FA", '-i', "http://one.test:$P1/bad");
    like($r->{stdout}, qr{^HTTP/1\.1 407 }, 'a wrong password: 407');
    $r = curl_proxy('-x', "http://alice:alice%20pw\@127.0.0.1:$FA", '-i',
        '-u', 'origin:pw', "http://one.test:$P1/authed");
    like($r->{stdout}, qr{^HTTP/1\.1 200 }, 'the right password: 200') or diag($r->{stderr});
    my $q = seen($O1, '/authed');
    is(hdr($q, 'Proxy-Authorization'), undef, 'Proxy-Authorization is not forwarded');
    is(hdr($q, 'Authorization'), 'Basic b3JpZ2luOnB3', "the origin's credentials are");
    my $log = wait_access("$dir/access-auth.log", qr{/authed});
    like($log, qr{"target":"http://one\.test:$P1/authed".*"user":"alice"},
        'the access log names the user');
}

# ------------------------------------------------------------ bodies

{
    my $body = origin_body(300_000);
    write_file("$dir/body", $body);
    my $r = proxied($F, '--data-binary', "\@$dir/body", "http://one.test:$P1/upload/post");
    is($r->{status}, 0, 'a POST with a body') or diag($r->{stderr});
    my $q = seen($O1, '/upload/post');
    is($q->{method}, 'POST', '... reaches the origin as a POST');
    is($q->{body_md5}, md5_hex($body), '... with every byte of its body');
    $r = proxied($F, '-H', 'Transfer-Encoding: chunked', '-H', 'Expect: 100-continue',
        '--data-binary', "\@$dir/body", "http://one.test:$P1/upload/chunked");
    $q = seen($O1, '/upload/chunked');
    is($q->{framing}, 'chunked', 'a chunked request body stays chunked');
    is($q->{body_md5}, md5_hex($body), '... whole, after 100 Continue');
    $r = proxied($F, "http://one.test:$P1/chunked/100000");
    is($r->{stdout}, origin_body(100000), 'a chunked response, every byte');
}

# ------------------------------------------------------------ failures

my %fail;
for my $case (
    ['a destination the rules refuse', "http://127.0.0.2:$P1/", 403, 'not allowed'],
    ['a name whose address the rules refuse', "http://denied.test:$P1/", 403,
        'not allowed'],
    ['a name that does not exist', "http://nowhere.test:$P1/", 502, 'no such name'],
    ['a silent name server', "http://silent.test:$P1/", 504, 'the name servers did not answer'],
    ['a refused connect', "http://127.0.0.1:$closed/", 502, 'Connection refused'],
    ['a connect that times out', "http://127.0.0.1:$hole/", 504, 'no answer in time'],
    ['an origin that does not answer', "http://one.test:$P1/hang", 504, 'no answer in time'],
) {
    my ($what, $url, $want, $why) = @$case;
    my $t0 = time;
    my $s = tcp_connect($F) or die "connect: $@";
    http_send($s, target => $url, host => 'x');
    my $r = http_recv($s, timeout => 10);
    $fail{$what} = time - $t0;
    is($r->{status}, $want, "$what: $want") or diag(show_bytes($r->{raw} // ''));
    # What went wrong, for the client; the details (addresses tried, proxies) are the error log's.
    like($r->{body} // '', qr{^$want [A-Z][a-z ]+: cannot reach \S+: \Q$why\E}i,
        '... saying why in the body');
    # The failure is the destination's, not the client's: the connection goes on.
    http_send($s, target => "http://one.test:$P1/after-$want", host => 'x');
    is(http_recv($s)->{status}, 200, '... and the connection serves the next request');
    close $s;
}
cmp_ok($fail{'a silent name server'}, '>=', 0.9, 'the silent name server: after the resolver timeout');
cmp_ok($fail{'an origin that does not answer'}, '>=', 0.9, 'the silent origin: after timeouts.read');
{
    my $access = wait_access("$dir/access.log", qr{/hang"});
    like($access, qr{target="http://nowhere\.test:$P1/" status=502 .*server=nowhere\.test:$P1 .*reason="cannot reach nowhere\.test:$P1: no such name},
        'the access log: the destination as the server, and why');
    like($access, qr{target="http://one\.test:$P1/path/x\?q=1" status=200 .*server=one\.test:$P1 },
        '... and the destination of a request served');
    my @lines = grep { /nowhere\.test:$P1/ } split /\n/, log_text($c);
    is(scalar(grep { /cannot resolve/ && !/ http client=/ } @lines), 1,
        'the error log says once why the name failed, with the destination');
    ok(log_grep($c, qr/refused by the destinations.*listener: fwd|127\.0\.0\.2:$P1: /),
        'a refused destination is logged');
}

# ------------------------------------------------------------ malformed requests

sub raw_answer {
    my ($port, $bytes) = @_;
    my $s = tcp_connect($port) or die "connect: $@";
    send_all($s, $bytes);
    my $r = http_recv($s);
    close $s;
    return $r;
}
for my $case (
    ['no host', "GET http:// HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ['userinfo', "GET http://user\@one.test:$P1/ HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ['a port out of range', "GET http://one.test:99999/ HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ['an empty port', "GET http://one.test:/ HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ['another scheme', "GET ftp://one.test/ HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ['a query without a path', "GET http://one.test?q HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ['origin-form', "GET /x HTTP/1.1\r\nHost: one.test\r\n\r\n", 400],
    ['https://', "GET https://one.test/ HTTP/1.1\r\nHost: x\r\n\r\n", 501],
) {
    my ($what, $bytes, $want) = @$case;
    my $r = raw_answer($F, $bytes);
    is($r->{status}, $want, "a target with $what: $want") or diag(show_bytes($r->{raw} // ''));
    is(lc($r->{h}{connection} // ''), 'close', '... and the close');
}
{
    # Origin-form after a good request: refused on the connection that served it.
    my $s = tcp_connect($F) or die "connect: $@";
    http_send($s, target => "http://one.test:$P1/ka-ok", host => 'x');
    my $r = http_recv($s);
    http_send($s, target => '/ka-relative', host => 'one.test');
    $r = http_recv($s);
    is($r->{status}, 400, 'origin-form on a connection that served an absolute-form request: 400');
    like($r->{body}, qr{absolute-form targets}, '... saying what a forward proxy takes');
    is(lc($r->{h}{connection} // ''), 'close', '... and the close');
    close $s;

    write_file("$dir/ncat.in", "GET https://one.test:$P1/ HTTP/1.1\r\nHost: one.test\r\n\r\n");
    system("timeout 10 ncat -i 2 127.0.0.1 $F <$dir/ncat.in >$dir/ncat.out 2>/dev/null");
    like(slurp("$dir/ncat.out"), qr{^HTTP/1\.1 501 }, 'ncat with an https:// target: 501');
    like(log_text($c), qr{https:// targets are not fetched by the proxy}, '... and the log says why');
}
{
    my $s = tcp_connect($F) or die "connect: $@";
    send_all($s, "GET http://one.test:$P1/ten HTTP/1.0\r\n\r\n");
    my $r = http_recv($s);
    is($r->{status}, 200, 'HTTP/1.0 without Host: 200');
    my $q = seen($O1, '/ten');
    is(hdr($q, 'Host'), "one.test:$P1", '... Host from the target');
    is(hdr($q, 'Via'), '1.0 cuttle', '... Via with the version it came in');
}

# ------------------------------------------------------------ metrics

{
    my $m = curl_run('--unix-socket', "$dir/admin.sock", 'http://x/metrics')->{stdout};
    my %n;
    $n{"$1 $2"} = $3 while $m =~ /^cuttle_proxy_requests_total\{listener="(\w+)",result="(\w+)"\} (\d+)$/mg;
    cmp_ok($n{'fwd granted'} // 0, '>=', 10, '/metrics: requests that reached their destination');
    cmp_ok($n{'fwd rules'} // 0, '>=', 2, '/metrics: refused destinations');
    cmp_ok($n{'fwd no_name'} // 0, '>=', 1, '/metrics: an unknown name');
    cmp_ok($n{'fwd resolver'} // 0, '>=', 1, '/metrics: a silent name server');
    cmp_ok($n{'fwdauth auth'} // 0, '>=', 2, '/metrics: missing or wrong credentials');
}

# ------------------------------------------------------------ configuration

for my $bad (
    ["timeouts: {header: 1s}\n", qr/"header" is only for mode http/],
    ["forward: {keepalive: {max_idle: 2000}}\n", qr/max_idle/],
    ["forward: {keepalive: {idle: 1s}}\n", qr/unknown key "idle" in keepalive/],
) {
    my ($frag, $re) = @$bad;
    my $f = "$dir/bad.yaml";
    write_file($f, "listeners:\n  - name: x\n    listen: 127.0.0.1:" . free_port()
        . "\n    mode: forward\n    $frag");
    my $r = cuttle_run('-t', '-c', $f);
    isnt($r->{status}, 0, "refused: " . ($frag =~ s/\n\z//r));
    like($r->{stderr}, $re, '... saying why') or diag($r->{stderr});
}
{
    my $f = "$dir/good.yaml";
    write_file($f, "listeners:\n  - name: x\n    listen: 127.0.0.1:" . free_port()
        . "\n    mode: forward\n    max_header_size: 16k\n    timeouts: {send: 5s, read: 30s}\n"
        . "    forward: {keepalive: {max_idle: 8, idle_timeout: 30s}}\n");
    my $r = cuttle_run('-t', '-c', $f);
    is($r->{status}, 0, 'max_header_size, send, read and keepalive on a forward listener')
        or diag($r->{stderr});
}

cuttle_stop($c);
log_clean_ok($c);
done_testing();

# The access log once it has a line matching $re (5 s at most).
sub wait_access {
    my ($path, $re) = @_;
    my $t = '';
    wait_until(sub { $t = -e $path ? slurp($path) : ''; $t =~ $re }, 5);
    return $t;
}
