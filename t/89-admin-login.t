# Wrong tokens and the dashboard's sessions on the admin TCP address,
# with admin.login {failures: 3, window: 2s, total_failures: 12} and
# admin.session {lifetime: 5s, idle: 1500ms}.  Sessions: the cookie's
# Max-Age is the lifetime; a session used more often than its idle time
# lives on, and one left idle ends (401), as does the stream of events
# it opened; a session in use ends at its lifetime; a login when all 16
# are alive ends the one unused longest.  Wrong tokens: the third wrong
# login from an address locks it out: 429 with Retry-After and a JSON
# error, the right token refused too (in a login and as a bearer),
# logged once; the page is still served; another address is not
# affected; the lock lifts after the window, and a good login clears
# the count.  Wrong bearer tokens count the same, also where the request
# is refused for another reason (a login without Origin).  Past the
# total of all addresses every address is refused but one that logged
# in before.  /metrics counts it all.  The unix socket knows no limit.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use CuttleTest;

my $dir = tmpdir();
my ($aport, $port) = (free_port(), free_port());
my $sock = "$dir/admin.sock";
my $token = 'login-test-token-0123456789';
write_file("$dir/token", "$token\n");
chmod 0600, "$dir/token" or die "chmod: $!";
my $E = backend(mode => 'echo', name => 'E');

# The source addresses the test sends from: all of 127.0.0.0/8 is local.
plan skip_all => 'cannot send from 127.0.0.2'
    unless IO::Socket::IP->new(LocalHost => '127.0.0.2', Proto => 'tcp');

my $c = cuttle_start(<<"EOF");
error_log: {path: %LOG%, level: info}
admin:
  socket: $sock
  listen: 127.0.0.1:$aport
  token_file: %TMP%/token
  login: {failures: 3, window: 2s, total_failures: 12}
  session: {lifetime: 5s, idle: 1500ms}
upstreams:
  echo: {servers: [{address: "$E->{addr}"}]}
listeners:
  - {name: plain, listen: 127.0.0.1:$port, mode: tcp, upstream: echo}
EOF

my $own = "http://127.0.0.1:$aport";

sub req { return admin_req($aport, @_) }

sub login {
    my ($tok, %o) = @_;
    return req('POST', '/ui/login', origin => $own, body => encode_json({ token => $tok }), %o);
}

sub cookie_of {
    my ($r) = @_;
    my ($ck) = ($r->{h}{'set-cookie'}[0] // '') =~ /^(cuttle_session=[0-9a-f]+)/;
    return $ck // 'cuttle_session=none';
}

sub status_with { return req('GET', '/api/v1/status', cookie => $_[0])->{status} }

# One sample of /metrics, read on the unix socket (which counts nothing).
sub metric {
    my ($name) = @_;
    my $m = req('GET', '/metrics', unix => $sock)->{body};
    return $m =~ /^\Q$name\E (\d+)$/m ? $1 : -1;
}

sub lockout_lines {
    my ($who) = @_;
    my @l = grep { /wrong tokens from \Q$who\E within/ } split /\n/, log_text($c);
    return scalar @l;
}

# ------------------------------------------------------------- sessions

my $r = login($token);
is($r->{status}, 200, 'login: 200');
like($r->{h}{'set-cookie'}[0] // '', qr/;\s*Max-Age=5(;|$)/, '... Max-Age is the lifetime, 5 s');
my $ck = cookie_of($r);
is(status_with($ck), 200, 'the session authorizes a request');
my @seen;
for (1 .. 3) {
    sleep 0.9;
    push @seen, status_with($ck);
}
is("@seen", '200 200 200', 'used every 0.9 s, past its idle time of 1.5 s in all: alive');
sleep 2;
is(status_with($ck), 401, 'left idle for 2 s: ended, 401 like no session');
ok(wait_log($c, qr/a dashboard session ended: its idle was over/, timeout => 2), '... logged');

my $t0 = time;
$ck = cookie_of(login($token));
my ($first401, $last200) = (undef, 0);
while (time - $t0 < 7) {
    my $st = status_with($ck);
    if ($st == 200) {
        $last200 = time - $t0;
    } else {
        $first401 = time - $t0;
        last;
    }
    sleep 0.3;
}
ok(defined $first401, 'a session used every 0.3 s ends all the same');
ok(defined $first401 && $first401 >= 5, sprintf('... at its lifetime of 5 s (%.1f s)',
    $first401 // -1));
ok($last200 >= 4, '... and was alive until then');
ok(wait_log($c, qr/a dashboard session ended: its lifetime was over/, timeout => 2), '... logged');

# The stream of events that a session opened ends with it.
$ck = cookie_of(login($token));
{
    my $s = tcp_connect($aport);
    send_all($s, "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:$aport\r\nCookie: $ck\r\n"
        . "Origin: $own\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        . "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    my $got = recv_until_eof($s, 6);
    like($got->{data}, qr{\AHTTP/1\.1 101 }, 'a WebSocket opened with the session: 101');
    ok($got->{closed}, '... closed when the session ended');
    like($got->{data}, qr/\x88.\x03\xf0the session has ended/s,
        '... with a close frame 1008 that says why');
}

# A login when all 16 sessions are alive ends the one unused longest.
my @cks = map { cookie_of(login($token)) } 1 .. 16;
is(status_with($cks[0]), 200, 'the first of 16 sessions is used');
my $newest = cookie_of(login($token));
is(status_with($newest), 200, 'a 17th login: a session');
is(status_with($cks[1]), 401, '... in place of the one unused longest');
is(status_with($cks[0]), 200, '... not of the one used since');
ok(log_grep($c, qr/all 16 dashboard sessions are alive/), '... logged');
is(metric('cuttle_admin_sessions'), 16, 'cuttle_admin_sessions: 16');

# ------------------------------------------------------------- wrong tokens

is(metric('cuttle_admin_login_failures_total'), 0, 'no failure counted yet');
my @st = map { login("wrong-$_")->{status} } 1 .. 3;
is("@st", '401 401 401', 'three wrong logins: 401 each');
$r = login('wrong-4');
is($r->{status}, 429, 'the fourth: 429');
my ($ra) = @{ $r->{h}{'retry-after'} // [] };
ok(defined $ra && $ra >= 1 && $ra <= 2, 'with Retry-After within the window of 2 s (' .
    ($ra // 'none') . ')');
my $j = eval { decode_json($r->{body}) } // {};
like($j->{error} // '', qr/too many wrong tokens/, '... and a JSON error');
is($j->{retry_after}, $ra, '... that says when too');
is(login($token)->{status}, 429, 'the right token while locked out: 429 as well');
is(req('GET', '/api/v1/status', bearer => $token)->{status}, 429,
    '... and as a bearer token: 429');
is(req('GET', '/')->{status}, 200, 'the page is served all the same');
is(lockout_lines('127.0.0.1'), 1, 'the lockout is logged once, with the address');

is(login($token, from => '127.0.0.2')->{status}, 200, 'another address logs in meanwhile');
is(req('GET', '/api/v1/status', bearer => $token, from => '127.0.0.2')->{status}, 200,
    '... and its bearer token works');

# Bearer tokens, from addresses of their own.
@st = map { req('GET', '/api/v1/status', bearer => "wrong-$_", from => '127.0.0.3')->{status} }
    1 .. 3;
is("@st", '401 401 401', 'three wrong bearer tokens: 401 each');
$r = req('GET', '/api/v1/status', bearer => $token, from => '127.0.0.3');
is($r->{status}, 429, '... then the right one: 429');
ok(($r->{h}{'retry-after'}[0] // 0) >= 1, '... with Retry-After');
@st = map { req('POST', '/ui/login', bearer => "wrong-$_", from => '127.0.0.4',
    body => encode_json({ token => 'x' }))->{status} } 1 .. 3;
is("@st", '403 403 403', 'three logins without Origin with wrong bearer tokens: 403 each');
is(req('GET', '/api/v1/status', bearer => $token, from => '127.0.0.4')->{status}, 429,
    '... counted all the same: the right token after them is 429');
is(req('GET', '/api/v1/status', unix => $sock)->{status}, 200, 'the unix socket knows no limit');

is(metric('cuttle_admin_login_failures_total'), 9, 'cuttle_admin_login_failures_total: 9');
is(metric('cuttle_admin_login_lockouts_total{scope="address"}'), 3,
    'cuttle_admin_login_lockouts_total{scope="address"}: 3');
is(metric('cuttle_admin_login_refused_total'), 5, 'cuttle_admin_login_refused_total: 5')
    or diag(join "\n", req('GET', '/metrics', unix => $sock)->{body} =~ /^(cuttle_admin.*)$/mg);

sleep $ra + 0.2;
is(login($token)->{status}, 200, 'after Retry-After the lock has lifted: the right token logs in');
@st = map { login("wrong-$_")->{status} } 1 .. 2;
is("@st", '401 401', 'two wrong logins');
is(login($token)->{status}, 200, 'then the right one, which clears the count');
@st = map { login("wrong-$_")->{status} } 1 .. 2;
is("@st", '401 401', 'two wrong logins more');
is(login($token)->{status}, 200, '... and the right one still logs in: the count began anew');

# All addresses together: 12 failures within the window lock everyone
# out but those that logged in before.
sleep 2.1;
my $ck2 = cookie_of(login($token, from => '127.0.0.2'));
my $mark = log_mark($c);
@st = map { login('wrong', from => "127.0.1.$_")->{status} } 1 .. 12;
is("@st", join(' ', ('401') x 12), 'twelve addresses, a wrong login each: 401');
is(login($token, from => '127.0.1.99')->{status}, 429,
    'then the right token from an address new to the table: 429');
is(login($token, from => '127.0.1.1')->{status}, 429, '... and from one of them');
is(login($token)->{status}, 200, 'an address that logged in before logs in');
is(status_with($ck2), 200, 'a session lives on');
is(scalar log_since($c, $mark, qr/12 wrong tokens from all addresses within 2 s/), 1,
    'the lockout of all is logged, once');
is(metric('cuttle_admin_login_lockouts_total{scope="all"}'), 1,
    'cuttle_admin_login_lockouts_total{scope="all"}: 1');
sleep 2.1;
is(login($token, from => '127.0.1.99')->{status}, 200, 'after the window it lifts');

cuttle_stop($c);
log_clean_ok($c);
done_testing();
