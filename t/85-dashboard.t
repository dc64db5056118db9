# The dashboard's page and its login on the admin TCP address: the page
# and its files are served to anyone with their types; a wrong token is
# 401; the right one gets an HttpOnly, SameSite=Strict session cookie
# that is not the token; the cookie works for GET, and for POST and
# DELETE only with the API's own Origin (403 for another or none), and
# for the WebSocket upgrade the same; the bearer token still works
# without Origin; logout ends the session; GET changes nothing; on the
# unix socket nobody logs in.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use CuttleTest;

my $dir = tmpdir();
my ($aport, $port) = (free_port(), free_port());
my $sock = "$dir/admin.sock";
my $token = 'dashboard-test-token-0123456789';
write_file("$dir/token", "$token\n");
chmod 0600, "$dir/token" or die "chmod: $!";
my $E = backend(mode => 'echo', name => 'E');

my $c = cuttle_start(<<"EOF", workers => 2);
error_log: {path: %LOG%, level: info}
admin: {socket: $sock, listen: 127.0.0.1:$aport, token_file: %TMP%/token}
upstreams:
  echo: {servers: [{address: "$E->{addr}"}]}
listeners:
  - {name: ask, listen: 127.0.0.1:$port, mode: tcp, upstream: echo, approval: {policy: ask}}
EOF

my $own = "http://127.0.0.1:$aport";
my $evil = 'http://evil.example';

sub req {
    my ($method, $path, %o) = @_;
    return admin_req($aport, $method, $path, %o, ($o{unix} ? (unix => $sock) : ()));
}

sub server_admin {
    my $j = decode_json(req('GET', '/api/v1/upstreams', bearer => $token)->{body});
    return $j->{upstreams}[0]{servers}[0]{admin};
}

# ------------------------------------------------------------- the page

my $r = req('GET', '/');
is($r->{status}, 200, 'GET / without a token or session: the page (it holds no secret)');
like($r->{h}{'content-type'}[0] // '', qr{^text/html}, '... as text/html');
like($r->{body}, qr{<title>cuttle</title>}, '... the dashboard');
like($r->{body}, qr{src="/ui/app\.js"}, '... which loads its script from /ui/');
like($r->{h}{'content-security-policy'}[0] // '', qr/default-src 'self'/,
    '... with a Content-Security-Policy that keeps it to its own files');
is($r->{h}{'x-frame-options'}[0], 'DENY', '... and no framing');
my %types = ('/ui/app.js' => qr{^text/javascript}, '/ui/app.css' => qr{^text/css},
    '/ui/index.html' => qr{^text/html});
for my $p (sort keys %types) {
    $r = req('GET', $p);
    is($r->{status}, 200, "GET $p: 200");
    like($r->{h}{'content-type'}[0] // '', $types{$p}, "... with its type");
    ok(length $r->{body} > 100, '... and its bytes');
}
my $js = slurp("$FindBin::Bin/../ctl/ui/app.js");
is(req('GET', '/ui/app.js')->{body}, $js, 'the script served is ctl/ui/app.js byte for byte');
is(req('GET', '/ui/nothing.js')->{status}, 404, 'a file that is not there: 404');
is(req('GET', '/ui/../ctl/admin.c')->{status}, 404, '... nor anything outside');
is(req('POST', '/', origin => $own)->{status}, 401, 'POST / without a token: 401, only GET is open');
is(req('POST', '/', bearer => $token)->{status}, 405, 'POST / with the token: 405');

# ------------------------------------------------------------- login

is(req('GET', '/api/v1/status')->{status}, 401, 'the API without a token or session: 401');
$r = req('POST', '/ui/login', origin => $own, body => encode_json({ token => 'wrong' }));
is($r->{status}, 401, 'login with a wrong token: 401');
ok(!$r->{h}{'set-cookie'}, '... and no cookie');
ok(log_grep($c, qr/dashboard login with a wrong token/), '... logged');
$r = req('POST', '/ui/login', origin => $own, body => encode_json({ token => substr($token, 0, -1) }));
is($r->{status}, 401, 'login with the token less its last byte: 401');
$r = req('POST', '/ui/login', origin => $own, body => '{"tok');
is($r->{status}, 400, 'login with a body that is not JSON: 400');
$r = req('POST', '/ui/login', origin => $evil, body => encode_json({ token => $token }));
is($r->{status}, 403, 'login from the page of another site (its Origin): 403');
ok(!$r->{h}{'set-cookie'}, '... and no cookie');
$r = req('POST', '/ui/login', body => encode_json({ token => $token }));
is($r->{status}, 403, 'login without Origin: 403');
is(req('GET', '/ui/login')->{status}, 405, 'GET /ui/login: 405, nothing is done on GET');

$r = req('POST', '/ui/login', origin => $own, body => encode_json({ token => $token }));
is($r->{status}, 200, 'login with the token: 200');
my $sc = $r->{h}{'set-cookie'}[0] // '';
like($sc, qr/^cuttle_session=[0-9a-f]{64};/, '... Set-Cookie: a session id of 32 random bytes');
like($sc, qr/;\s*HttpOnly(;|$)/, '... HttpOnly');
like($sc, qr/;\s*SameSite=Strict(;|$)/, '... SameSite=Strict');
like($sc, qr/;\s*Path=\/(;|$)/, '... Path=/');
like($sc, qr/;\s*Max-Age=\d+(;|$)/, '... with an expiry');
unlike($sc, qr/\Q$token\E/, '... and not the token');
my ($cookie) = $sc =~ /^(cuttle_session=[0-9a-f]+)/;
$cookie //= 'cuttle_session=none';
my $r2 = req('POST', '/ui/login', origin => $own, body => encode_json({ token => $token }));
my ($cookie2) = ($r2->{h}{'set-cookie'}[0] // '') =~ /^(cuttle_session=[0-9a-f]+)/;
isnt($cookie2 // '', $cookie, 'a second login has a session of its own');

# ------------------------------------------------------------- the cookie

$r = req('GET', '/api/v1/status', cookie => $cookie);
is($r->{status}, 200, 'the cookie authorizes a GET');
is(decode_json($r->{body})->{listeners}[0]{name}, 'ask', '... which answers');
is(req('GET', '/api/v1/status', cookie => "other=1; $cookie; more=2")->{status}, 200,
    '... among other cookies');
is(req('GET', '/metrics', cookie => $cookie)->{status}, 200, '... and /metrics');
is(req('GET', '/api/v1/status', cookie => 'cuttle_session=' . ('0' x 64))->{status}, 401,
    'a made-up session id: 401');
is(req('GET', '/api/v1/status', cookie => substr($cookie, 0, -1))->{status}, 401,
    'a session id cut short: 401');

my $srv = "/api/v1/upstreams/echo/servers/" . $E->{addr} =~ s/:/%3A/r;
$r = req('POST', "$srv/disable", cookie => $cookie, origin => $evil);
is($r->{status}, 403, 'a POST with the cookie from another site\'s page: 403');
is(server_admin(), 'enabled', '... and the server is still enabled');
$r = req('POST', "$srv/disable", cookie => $cookie);
is($r->{status}, 403, 'a POST with the cookie and no Origin: 403');
is(server_admin(), 'enabled', '... still enabled');
$r = req('POST', "$srv/disable", cookie => $cookie, origin => $own);
is($r->{status}, 200, 'a POST with the cookie and the API\'s own Origin: 200');
is(server_admin(), 'disabled', '... and the server is disabled');
$r = req('POST', "$srv/enable", cookie => $cookie, origin => "http://localhost:$aport");
is($r->{status}, 403, 'an Origin with another host name for the same port: 403');
is(req('GET', "$srv/enable", cookie => $cookie, origin => $own)->{status}, 405,
    'GET on an action: 405, and nothing changes');
is(server_admin(), 'disabled', '... still disabled');
is(req('POST', "$srv/enable", bearer => $token)->{status}, 200,
    'the bearer token works without Origin (cuttlectl, scripts)');
is(server_admin(), 'enabled', '... enabled again');

$r = req('POST', '/api/v1/approvals/decisions', cookie => $cookie, origin => $evil,
    body => encode_json({ address => '127.0.0.44', verdict => 'allow' }));
is($r->{status}, 403, 'a decision posted with the cookie from another site: 403');
$r = req('POST', '/api/v1/approvals/decisions', cookie => $cookie, origin => $own,
    body => encode_json({ address => '127.0.0.44', verdict => 'allow', ttl => '1h' }));
is($r->{status}, 201, 'a decision posted with the cookie and the own Origin: 201');
is(req('DELETE', '/api/v1/approvals/decisions/127.0.0.44', cookie => $cookie,
    origin => $evil)->{status}, 403, 'DELETE with the cookie from another site: 403');
is(req('DELETE', '/api/v1/approvals/decisions/127.0.0.44', cookie => $cookie,
    origin => $own)->{status}, 200, 'DELETE with the cookie and the own Origin: 200');

my @ws = ('Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==');
{
    my $s = tcp_connect($aport);
    send_all($s, "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:$aport\r\nCookie: $cookie\r\n"
        . "Origin: $evil\r\n" . join('', map { "$_\r\n" } @ws) . "\r\n");
    like(recv_until_eof($s, 5)->{data}, qr{\AHTTP/1\.1 403 }, 'the WebSocket with the cookie from another site: 403');
}
{
    my $s = tcp_connect($aport);
    send_all($s, "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:$aport\r\nCookie: $cookie\r\n"
        . "Origin: $own\r\n" . join('', map { "$_\r\n" } @ws) . "\r\n");
    my $got = recv_line($s, 5) // '';
    like($got, qr{\AHTTP/1\.1 101 }, 'the WebSocket with the cookie and the own Origin: 101');
    close $s;
}

# ------------------------------------------------------------- logout

is(req('GET', '/ui/logout', cookie => $cookie)->{status}, 405, 'GET /ui/logout: 405');
is(req('GET', '/api/v1/status', cookie => $cookie)->{status}, 200, '... the session lives on');
is(req('POST', '/ui/logout', cookie => $cookie, origin => $evil)->{status}, 403,
    'logout from another site\'s page: 403');
$r = req('POST', '/ui/logout', cookie => $cookie, origin => $own);
is($r->{status}, 200, 'logout: 200');
like($r->{h}{'set-cookie'}[0] // '', qr/^cuttle_session=;.*Max-Age=0/, '... and the cookie is cleared');
is(req('GET', '/api/v1/status', cookie => $cookie)->{status}, 401, 'the session is over: 401');
is(req('POST', '/ui/logout', cookie => $cookie, origin => $own)->{status}, 401,
    'logging out again: 401');
is(req('GET', '/api/v1/status', cookie => $cookie2)->{status}, 200, 'the other session lives on');

# ------------------------------------------------------------- the unix socket

$r = req('GET', '/', unix => 1);
is($r->{status}, 200, 'the unix socket serves the page');
is(req('GET', '/api/v1/status', unix => 1)->{status}, 200, '... and the API without login');

cuttle_stop($c);
log_clean_ok($c);
done_testing();
