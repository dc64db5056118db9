# Request rules on http routes: deny or allow by method, path (a PCRE2
# expression on the normalized path without the query), header presence
# or value and query argument; the first rule that matches decides, and
# rules_default when none does.  A denied request never reaches the
# server and is answered with the rule's status; the access log names
# the rule and /metrics counts each decision.  An expression that
# backtracks without end is stopped by the match limit: the request is
# answered 500 at once and the worker goes on serving.  A bad expression
# is a load error at its file:line:col with PCRE2's message and offset.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use CuttleTest;

my $dir = tmpdir();
my $O = http_origin(name => 'O');
my $port = free_port();
my $sock = "$dir/admin.sock";

my $c = cuttle_start(<<"EOF", workers => 1);
admin: {socket: $sock}
upstreams:
  site:
    servers:
      - {address: $O->{addr}}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    access_log: {path: $dir/access.log}
    routes:
      - match: {path_prefix: /api/}
        upstream: site
        rules:
          - {name: no-delete, action: deny, status: 405, match: {methods: [DELETE]}}
          - {name: admin, action: deny, match: {path: '^/api/admin(/|\$)'}}
          - {name: debug, action: deny, status: 404, match: {header: {name: X-Debug}}}
          - {name: good-token, action: allow, match: {header: {name: X-Token, value: '^ok-[0-9]+\$'}}}
          - {name: bad-token, action: deny, status: 401, match: {header: {name: X-Token}}}
          - {name: id-digits, action: deny, match: {query: {name: id, value: '[^0-9]'}}}
          - {name: backtrack, action: deny, match: {path: '^/api/re/(a+)+\$'}}
      - match: {path_prefix: /closed/}
        upstream: site
        rules_default: deny
        rules:
          - {name: public-get, action: allow, match: {methods: [GET, HEAD], path: '^/closed/public(/|\$)'}}
      - upstream: site
EOF
ok(wait_until(sub { -S $sock }, 5 * $CuttleTest::SLOW), 'the admin socket exists')
    or BAIL_OUT('no admin socket');

my @expect_log;     # [target, status, rule or undef, reason or undef], in order

# One request on its own connection; checks its status and whether the
# origin saw it, and keeps what its access-log line must say.
sub req_ok {
    my ($what, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $before = () = origin_requests($O);
    my $r = http_get($port, $o{target}, method => $o{method} // 'GET',
        headers => $o{headers} // []);
    is($r->{status} // "none ($r->{error})", $o{status}, "$what: $o{status}");
    my $after = () = origin_requests($O, target => $o{target});
    if ($o{status} == 200) {
        ok($after >= 1 && (() = origin_requests($O)) == $before + 1, "$what: the origin saw it");
    } else {
        is((() = origin_requests($O)) - $before, 0, "$what: the origin never saw it");
    }
    push @expect_log, [$o{target}, $o{status}, $o{rule}, $o{reason}];
    return $r;
}

req_ok('GET with no rule matching', target => '/api/x', status => 200);
req_ok('DELETE denied by method', method => 'DELETE', target => '/api/x', status => 405,
    rule => 'no-delete', reason => 'denied by rule no-delete');
req_ok('GET /api/admin denied by path', target => '/api/admin', status => 403,
    rule => 'admin', reason => 'denied by rule admin');
req_ok('GET /api/admin/users denied by path', target => '/api/admin/users', status => 403,
    rule => 'admin', reason => 'denied by rule admin');
req_ok('GET /api/administrator is not /api/admin', target => '/api/administrator',
    status => 200);
req_ok('the path is matched normalized', target => '/api/x/../admin', status => 403,
    rule => 'admin', reason => 'denied by rule admin');
req_ok('the query is not part of the path', target => '/api/admin?x=1', status => 403,
    rule => 'admin', reason => 'denied by rule admin');
req_ok('the path expression does not see the query', target => '/api/x?next=/api/admin',
    status => 200);
req_ok('header presence', target => '/api/x', headers => [['X-Debug', '']], status => 404,
    rule => 'debug', reason => 'denied by rule debug');
req_ok('header value allows', target => '/api/t', headers => [['x-token', 'ok-42']],
    status => 200, rule => 'good-token');
req_ok('first match wins: debug before good-token', target => '/api/t',
    headers => [['X-Token', 'ok-42'], ['X-Debug', '1']], status => 404,
    rule => 'debug', reason => 'denied by rule debug');
req_ok('first match wins: good-token before id-digits', target => '/api/t?id=abc',
    headers => [['X-Token', 'ok-1']], status => 200, rule => 'good-token');
req_ok('a header value that does not match falls through to the next rule', target => '/api/t',
    headers => [['X-Token', 'nope']], status => 401, rule => 'bad-token',
    reason => 'denied by rule bad-token');
req_ok('query argument value denied', target => '/api/q?a=1&id=12x', status => 403,
    rule => 'id-digits', reason => 'denied by rule id-digits');
req_ok('query argument value that does not match', target => '/api/q?a=1&id=12', status => 200);
req_ok('another argument of a similar name', target => '/api/q?xid=abc', status => 200);
req_ok('rules_default deny: an allow rule lets GET in', target => '/closed/public/a',
    status => 200, rule => 'public-get');
req_ok('rules_default deny: POST is not in the allow rule', method => 'POST',
    target => '/closed/public/a', status => 403, reason => 'denied by rules_default');
req_ok('rules_default deny: another path', target => '/closed/secret', status => 403,
    reason => 'denied by rules_default');
req_ok('a route without rules', target => '/other', status => 200);
req_ok('an expression that matches in a few steps', target => '/api/re/aaaa', status => 403,
    rule => 'backtrack', reason => 'denied by rule backtrack');

# --- an expression that backtracks without end
{
    my $long = '/api/re/' . ('a' x 64) . 'b';
    my $t0 = time;
    my $r = req_ok('catastrophic backtracking is stopped by the match limit', target => $long,
        status => 500, rule => 'backtrack',
        reason => 'rule backtrack: regular expression hit the match limit');
    my $took = time - $t0;
    ok($took < 1 * $CuttleTest::SLOW, sprintf('... within a second (%.3fs)', $took));
    $t0 = time;
    req_ok('the worker serves the next request', target => '/api/after', status => 200);
    ok(time - $t0 < 1 * $CuttleTest::SLOW, '... at once');
}

# --- the access log names the rule
{
    my @l;
    wait_until(sub {
        @l = grep { length } split /\n/, (-e "$dir/access.log" ? slurp("$dir/access.log") : '');
        @l >= @expect_log;
    }, 5);
    is(scalar @l, scalar @expect_log, 'one access-log line per request');
    for my $i (0 .. $#expect_log) {
        my ($target, $status, $rule, $reason) = @{$expect_log[$i]};
        my $line = $l[$i] // '';
        my ($got_rule) = $line =~ / rule=(\S+)/;
        my ($got_reason) = $line =~ / reason="([^"]*)"/;
        my ($got_target) = $line =~ / target="([^"]*)"/;
        my ($got_status) = $line =~ / status=(\d+)/;
        is_deeply([$got_target, $got_status, $got_rule, $got_reason],
            [$target, $status, $rule, $reason // '-'],
            "access log: $target $status " . ($rule // 'no rule'));
    }
}

# --- metrics
{
    my $m = curl_run('--unix-socket', $sock, 'http://x/metrics')->{stdout};
    my %want = (
        'rule="no-delete",action="deny"' => 1, 'rule="no-delete",action="error"' => 0,
        'rule="admin",action="deny"' => 4, 'rule="debug",action="deny"' => 2,
        'rule="good-token",action="allow"' => 2, 'rule="bad-token",action="deny"' => 1,
        'rule="id-digits",action="deny"' => 1, 'rule="backtrack",action="deny"' => 1,
        'rule="backtrack",action="error"' => 1, 'rule="public-get",action="allow"' => 1,
        'rule="default",action="deny"' => 2,
        # the first route's requests that no rule matched
        'rule="default",action="allow"' => 6,
    );
    for my $l (sort keys %want) {
        my ($v) = $m =~ /^cuttle_rule_decisions_total\{listener="web",\Q$l\E\} (\d+)$/m;
        is($v, $want{$l}, "metrics: $l = $want{$l}");
    }
}

# --- a bad expression is a load error at its position
{
    my $f = write_file("$dir/bad.yaml", <<"EOF");
upstreams:
  site:
    servers:
      - {address: $O->{addr}}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    routes:
      - upstream: site
        rules:
          - name: ok
            action: deny
            match: {path: '^/fine'}
          - name: broken
            action: deny
            match:
              path: '^/api/(v1|v2'
              header: {name: X-A, value: 'x{2,1}'}
EOF
    my $r = cuttle_run('-t', '-c', $f);
    isnt($r->{status}, 0, '-t fails on bad expressions');
    is_deeply([grep { /^\Q$f\E:/ } split /\n/, $r->{stderr}], [
        "$f:18:21: invalid regular expression \"^/api/(v1|v2\" for \"path\": PCRE2 error at "
            . "offset 12: missing closing parenthesis",
        "$f:19:42: invalid regular expression \"x{2,1}\" for \"value\": PCRE2 error at "
            . "offset 5: numbers out of order in {} quantifier",
    ], 'each bad expression at its file:line:col with PCRE2\'s message and offset')
        or diag($r->{stderr});
}

cuttle_stop($c);
log_clean_ok();
done_testing();
