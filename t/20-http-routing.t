# mode: http routing: routes tried in order (host exact and wildcard,
# without port and case-insensitively; path_prefix and path_exact on the
# path without query; methods), "return" and "redirect" answered by
# cuttle, 404 when nothing matches; host_rewrite; the request and
# response header operations; the forwarding fields cuttle adds
# (X-Forwarded-*, Via, Forwarded, for IPv4 and IPv6 clients); and the
# hop-by-hop fields it removes both ways.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $A = http_origin(name => 'A');
my $W = http_origin(name => 'W');
my $O = http_origin(name => 'O');
my $port = free_port();
my $port6 = free_port('::1');

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  api:
    servers:
      - {address: $A->{addr}}
  web:
    servers:
      - {address: $W->{addr}}
  other:
    servers:
      - {address: $O->{addr}}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    routes:
      - match: {host: "api.example.com", path_prefix: /v1/, methods: [GET, POST]}
        upstream: api
        host_rewrite: internal-api:8080
        request_headers: {set: {X-Env: prod}, add: {X-Trace: "1"}, remove: [X-Debug]}
        response_headers: {set: {Strict-Transport-Security: "max-age=63072000"}, remove: [Server]}
      - match: {host: "*.example.com"}
        upstream: web
      - match: {path_exact: /healthz}
        return: {status: 200, body: "ok\\n"}
      - match: {path_prefix: /old/}
        redirect: {status: 301, location: "https://example.com/new/"}
      - match: {host: exact.test, path_exact: /only}
        upstream: other
      - match: {host: ops.test}
        upstream: other
        request_headers:
          remove: [X-Same, X-Forwarded-For]
          set: {X-Same: set, Via: custom}
          add: {X-Same: added}
        response_headers:
          remove: [X-Gone]
          set: {X-Origin: replaced}
          add: {X-Added: "1"}
  - name: six
    listen: "[::1]:$port6"
    mode: http
    routes:
      - match: {path_prefix: /}
        upstream: web
EOF

# Which origin answered a request (by its X-Origin), "cuttle" for an
# answer of cuttle's own, or the error.
sub who {
    my ($host, $target, %o) = @_;
    my $r = http_get($port, $target, host => $host, %o);
    return "error: $r->{error}" if $r->{error};
    return $r->{h}{'x-origin'} // "cuttle $r->{status}";
}

# --- which route serves what.
{
    my @cases = (
        # host, target, method, expected
        ['api.example.com', '/v1/echo', 'GET', 'A', 'host + prefix + method'],
        ['api.example.com', '/v1/', 'POST', 'A', 'POST is in the methods'],
        ['API.Example.COM', '/v1/echo', 'GET', 'A', 'host case-insensitive'],
        ['api.example.com:8080', '/v1/echo', 'GET', 'A', 'host without its port'],
        ['api.example.com', '/v1/?q=/v2/', 'GET', 'A', 'prefix, with a query'],
        ['api.example.com', '/v1?q=/v1/', 'GET', 'W', 'the query is not part of the path'],
        ['api.example.com', '/v1/echo', 'DELETE', 'W', 'method not listed: the next route (wildcard)'],
        ['api.example.com', '/v2/echo', 'GET', 'W', 'other prefix: wildcard'],
        ['api.example.com', '/v1', 'GET', 'W', '"/v1" does not have the prefix "/v1/"'],
        ['a.example.com', '/echo', 'GET', 'W', 'wildcard: a.example.com'],
        ['A.EXAMPLE.COM:81', '/echo', 'GET', 'W', 'wildcard: case and port'],
        ['deep.a.example.com', '/echo', 'GET', 'W', 'wildcard: any subdomain'],
        ['example.com', '/echo', 'GET', 'cuttle 404', 'wildcard: not the bare domain'],
        ['badexample.com', '/echo', 'GET', 'cuttle 404', 'wildcard: not a suffix of a label'],
        ['example.com.evil.test', '/echo', 'GET', 'cuttle 404', 'wildcard: not a prefix'],
        ['a.example.com', '/healthz', 'GET', 'W', 'first match wins: wildcard before /healthz'],
        ['exact.test', '/only', 'GET', 'O', 'host + path_exact'],
        ['exact.test', '/only?x=1', 'GET', 'O', 'path_exact ignores the query'],
        ['exact.test', '/only/', 'GET', 'cuttle 404', 'path_exact: not a prefix'],
        ['exact.test', '/Only', 'GET', 'cuttle 404', 'paths are case-sensitive'],
        ['other.test', '/only', 'GET', 'cuttle 404', 'path_exact, other host'],
        ['nothing.test', '/echo', 'GET', 'cuttle 404', 'nothing matches: 404'],
    );
    for my $t (@cases) {
        my ($host, $target, $method, $want, $why) = @$t;
        is(who($host, $target, method => $method), $want,
            "$method $host$target -> $want ($why)");
    }
}

# --- return: status, body, text/plain, Content-Length, Server: cuttle.
{
    for my $target ('/healthz', '/healthz?probe=1') {
        my $r = http_get($port, $target, host => 'lb.test');
        is($r->{status}, 200, "return: $target -> 200") or diag(explain($r));
        is($r->{body}, "ok\n", "return: $target body");
        is($r->{h}{'content-type'}, 'text/plain', 'return: Content-Type: text/plain');
        is($r->{h}{'content-length'}, 3, 'return: Content-Length: 3');
        is($r->{h}{server}, 'cuttle', 'return: Server: cuttle');
    }
    my $r = http_get($port, '/healthz', host => undef, version => '1.0');
    is("$r->{status} $r->{body}", "200 ok\n", 'return: an HTTP/1.0 request without Host');
    $r = http_get($port, '/healthz', method => 'HEAD');
    is($r->{status}, 200, 'return: HEAD -> 200');
    is($r->{h}{'content-length'}, 3, 'return: HEAD keeps Content-Length');
    is(who('lb.test', '/healthz/'), 'cuttle 404', 'return: /healthz/ is not /healthz');
}

# --- redirect: status and Location.
{
    my $r = http_get($port, '/old/page?x=1', host => 'lb.test');
    is($r->{status}, 301, 'redirect: 301');
    is($r->{h}{location}, 'https://example.com/new/', 'redirect: Location');
    is($r->{h}{server}, 'cuttle', 'redirect: Server: cuttle');
    is(who('lb.test', '/old'), 'cuttle 404', 'redirect: "/old" lacks the prefix "/old/"');
}

# --- 404: cuttle's own short answer, and the connection stays usable.
{
    my $s = tcp_connect($port) or die "connect: $@";
    http_send($s, target => '/nowhere', host => 'nothing.test');
    my $r = http_recv($s);
    is($r->{status}, 404, '404 for no route');
    is($r->{body}, "404 Not Found\n", '404: body "404 Not Found\\n"');
    is($r->{h}{'content-type'}, 'text/plain', '404: text/plain');
    is($r->{h}{server}, 'cuttle', '404: Server: cuttle');
    http_send($s, target => '/echo', host => 'a.example.com');
    $r = http_recv($s);
    is($r->{status} // $r->{error}, 200, 'the connection serves the next request after a 404');
    close $s;
    is(scalar origin_requests($W, target => '/nowhere'), 0, 'nothing of a 404 reaches an origin');
}

# --- the body of a request that cuttle answers itself is never taken
# for the next request: it is skipped (and the next one answered), or
# the connection is closed after the answer.
{
    my $inner = "GET /smuggled HTTP/1.1\r\nHost: a.example.com\r\n\r\n";
    my @cases = (
        [200, 'return', method => 'POST', target => '/healthz', body => $inner],
        [301, 'redirect', method => 'POST', target => '/old/x', chunks => [$inner]],
        [404, '404', method => 'POST', target => '/nowhere', host => 'nothing.test', body => $inner],
    );
    for (@cases) {
        my ($status, $what, @req) = @$_;
        my $s = tcp_connect($port) or die "connect: $@";
        send_all($s, http_req_bytes(@req)
            . http_req_bytes(target => "/echo?after=$what", host => 'a.example.com'));
        my $r1 = http_recv($s);
        my $r2 = http_recv($s, timeout => 2);
        close $s;
        is($r1->{status} // $r1->{error}, $status, "$what with a body: $status");
        my $next = $r2->{error} ? ($r2->{error} =~ /\Aclosed/ ? 'closed' : $r2->{error})
            : (http_json($r2)->{target} // "status $r2->{status}");
        ok($next eq "/echo?after=$what"
            || ($next eq 'closed' && lc($r1->{h}{connection} // '') eq 'close'),
            "$what with a body: the body is skipped or the connection closed ($next)");
    }
    is(scalar origin_requests($W, target => '/smuggled'), 0,
        'the bodies were never taken for requests');
}

# --- the api route: host_rewrite, request and response header ops.
{
    my $r = http_get($port, '/v1/echo?h=Strict-Transport-Security:max-age%3D1', host => 'api.example.com',
        headers => [['X-Env', 'dev'], ['X-Env', 'test'], ['X-Trace', '0'],
            ['x-debug', 'yes'], ['X-Keep', 'kept']]);
    is($r->{status}, 200, 'api: 200') or diag(explain($r));
    my $j = http_json($r);
    is($j->{origin}, 'A', 'api: served by A');
    is($j->{target}, '/v1/echo?h=Strict-Transport-Security:max-age%3D1',
        'api: the target goes up unchanged');
    is($j->{version}, '1.1', 'api: HTTP/1.1 upstream');
    is_deeply([hdr_all($j, 'Host')], ['internal-api:8080'], 'host_rewrite: Host upstream');
    is_deeply([hdr_all($j, 'X-Forwarded-Host')], ['api.example.com'],
        'host_rewrite: X-Forwarded-Host keeps the client\'s Host');
    is_deeply([hdr_all($j, 'X-Env')], ['prod'], 'set: X-Env replaces both of the client\'s');
    is_deeply([hdr_all($j, 'X-Trace')], ['0', '1'], 'add: X-Trace added after the client\'s');
    is_deeply([hdr_all($j, 'X-Debug')], [], 'remove: X-Debug removed (case-insensitively)');
    is_deeply([hdr_all($j, 'X-Keep')], ['kept'], 'other fields pass');
    is_deeply([hdr_all($r, 'Strict-Transport-Security')], ['max-age=63072000'],
        'response set: replaces the origin\'s Strict-Transport-Security');
    is_deeply([hdr_all($r, 'Server')], [], 'response remove: no Server field');
    is($r->{h}{'x-origin'}, 'A', 'response: the origin\'s other fields pass');
    # The ops are the api route's only.
    $r = http_get($port, '/echo', host => 'w.example.com', headers => [['X-Debug', 'yes']]);
    $j = http_json($r);
    is_deeply([hdr_all($j, 'X-Debug')], ['yes'], 'another route: X-Debug passes');
    is_deeply([hdr_all($j, 'X-Env')], [], 'another route: no X-Env');
    is_deeply([hdr_all($j, 'Host')], ['w.example.com'], 'without host_rewrite: the client\'s Host');
    is($r->{h}{server}, 'cuttle-test-origin', 'another route: the origin\'s Server passes');
}

# --- the order of the ops: remove, then set, then add, all after the
# fields cuttle adds itself.
{
    my $r = http_get($port, '/echo?h=X-Gone:1', host => 'ops.test',
        headers => [['X-Same', 'client'], ['X-Forwarded-For', '203.0.113.9']]);
    my $j = http_json($r);
    is($j->{origin}, 'O', 'ops route: served by O');
    is_deeply([hdr_all($j, 'X-Same')], ['set', 'added'],
        'request: the client\'s X-Same removed, then set, then added');
    is_deeply([hdr_all($j, 'X-Forwarded-For')], [],
        'request: remove also drops the X-Forwarded-For cuttle made');
    is_deeply([hdr_all($j, 'Via')], ['custom'], 'request: set replaces the Via cuttle made');
    is_deeply([hdr_all($r, 'X-Origin')], ['replaced'], 'response: set replaces the origin\'s field');
    is_deeply([hdr_all($r, 'X-Added')], ['1'], 'response: add');
    is_deeply([hdr_all($r, 'X-Gone')], [], 'response: remove');
}

# --- the status line of the origin is relayed as it was.
{
    my $r = http_get($port, '/status/418', host => 'w.example.com');
    is("$r->{status} $r->{reason}", "418 I'm a teapot", 'status and reason of the origin relayed');
    $r = http_get($port, '/echo?status=299&reason=Fine%20Thanks', host => 'w.example.com');
    is("$r->{status} $r->{reason}", '299 Fine Thanks', 'an unusual status and reason relayed verbatim');
}

# --- forwarding fields, new and appended.
{
    my $r = http_get($port, '/echo', host => 'w.example.com');
    my $j = http_json($r);
    is(hdr($j, 'X-Forwarded-For'), '127.0.0.1', 'X-Forwarded-For: the client');
    is(hdr($j, 'X-Forwarded-Proto'), 'http', 'X-Forwarded-Proto: http');
    is(hdr($j, 'X-Forwarded-Host'), 'w.example.com', 'X-Forwarded-Host: the client\'s Host');
    is(hdr($j, 'Via'), '1.1 cuttle', 'Via: 1.1 cuttle');
    is(hdr($j, 'Forwarded'), 'for=127.0.0.1;host=w.example.com;proto=http',
        'Forwarded: for, host, proto');

    $r = http_get($port, '/echo', host => 'w.example.com', headers => [
        ['X-Forwarded-For', '203.0.113.9'], ['Via', '1.0 fred'],
        ['Forwarded', 'for=192.0.2.60;proto=https']]);
    $j = http_json($r);
    is(hdr($j, 'X-Forwarded-For'), '203.0.113.9, 127.0.0.1',
        'X-Forwarded-For: the client appended');
    is(hdr($j, 'Via'), '1.0 fred, 1.1 cuttle', 'Via: appended');
    is(hdr($j, 'Forwarded'),
        'for=192.0.2.60;proto=https, for=127.0.0.1;host=w.example.com;proto=http',
        'Forwarded: appended');
    is(hdr($j, 'X-Forwarded-Proto'), 'http', 'X-Forwarded-Proto: set, not appended');

    $r = http_get($port6, '/echo', addr => '::1', host => 'six.test');
    is($r->{status}, 200, 'IPv6 listener: 200') or diag(explain($r));
    $j = http_json($r);
    is(hdr($j, 'X-Forwarded-For'), '::1', 'IPv6: X-Forwarded-For ::1');
    is(hdr($j, 'Forwarded'), 'for="[::1]";host=six.test;proto=http',
        'IPv6: Forwarded for="[::1]"');
}

# --- hop-by-hop fields are removed, both ways.
{
    my $r = http_get($port, '/echo?h=Connection:X-Resp-Hop&h=X-Resp-Hop:1'
        . '&h=Keep-Alive:timeout%3D5&h=Proxy-Connection:keep-alive&h=X-End-To-End:1',
        host => 'w.example.com', headers => [
            ['Connection', 'keep-alive, X-Hop'], ['X-Hop', 'secret'],
            ['Keep-Alive', 'timeout=5'], ['TE', 'trailers'], ['Trailer', 'X-T'],
            ['Upgrade', 'h2c'], ['Proxy-Connection', 'keep-alive'],
            ['Proxy-Authorization', 'Basic dXNlcjpwYXNz'], ['X-Normal', 'yes']]);
    is($r->{status}, 200, 'hop-by-hop: 200') or diag(explain($r));
    my $j = http_json($r);
    my @seen = grep { defined hdr($j, $_) } qw(X-Hop Keep-Alive TE Trailer
        Upgrade Proxy-Connection Proxy-Authorization);
    is_deeply(\@seen, [], 'request: hop-by-hop fields and those Connection names are removed')
        or diag(explain($j->{headers}));
    my $conn = hdr($j, 'Connection') // '';
    unlike($conn, qr/x-hop/i, 'request: the client\'s Connection is not forwarded');
    is(hdr($j, 'X-Normal'), 'yes', 'request: end-to-end fields pass');
    is_deeply([hdr_all($r, 'X-Resp-Hop')], [], 'response: a field the origin\'s Connection names is removed');
    is_deeply([grep { $_ eq 'timeout=5' } hdr_all($r, 'Keep-Alive')], [],
        'response: the origin\'s Keep-Alive is removed');
    is_deeply([hdr_all($r, 'Proxy-Connection')], [], 'response: Proxy-Connection is removed');
    unlike($r->{h}{connection} // '', qr/x-resp-hop/i, 'response: the origin\'s Connection is not relayed');
    is($r->{h}{'x-end-to-end'}, 1, 'response: end-to-end fields pass');
}

# --- curl sees the same.
{
    my $r = curl_run('-D', '-', '-o', '/dev/null', '-H', 'Host: lb.test',
        "http://127.0.0.1:$port/old/x");
    is($r->{status}, 0, 'curl: exit 0') or diag($r->{stderr});
    like($r->{stdout}, qr{\AHTTP/1\.1 301 [^\r\n]*\r\n}, 'curl: 301');
    like($r->{stdout}, qr{^Location: https://example\.com/new/\r$}mi, 'curl: Location');
    $r = curl_run('-H', 'Host: api.example.com', '--data-binary', 'abc',
        "http://127.0.0.1:$port/v1/echo");
    my $j = http_json({ body => $r->{stdout} });
    is("$j->{origin} $j->{method} $j->{body_len}", 'A POST 3', 'curl: a POST through the api route');
}
log_clean_ok();
done_testing();
