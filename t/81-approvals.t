# Approval decisions with 2 workers: made with cuttlectl and through the
# API (curl on the unix socket, and on TCP with the token), listed,
# revoked, expired; bad input refused with 400 and a reason; the state
# file written after a change; the decisions still there after a SIGHUP
# reload (the segment stays) and after a restart (the state file); a
# corrupt state file at start reported and moved aside.  What the table
# holds is checked through the API, which reads the segment the workers
# do; t/82 has the clients that wait for decisions.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use CuttleTest;

my $dir = tmpdir();
my ($port, $pport, $aport) = (free_port(), free_port(), free_port());
my $sock = "$dir/admin.sock";
my $state = "$dir/approvals.jsonl";
my $token = 'approvals-test-token-0123456789';
write_file("$dir/token", "$token\n");
chmod 0600, "$dir/token" or die "chmod: $!";
my $A = backend(mode => 'name', name => 'A');

sub config {
    my ($state_file) = @_;
    return <<"EOF";
pid_file: %PIDFILE%
admin: {socket: %TMP%/admin.sock, listen: 127.0.0.1:$aport, token_file: %TMP%/token}
approvals: {state_file: $state_file}
upstreams:
  app: {servers: [{address: $A->{addr}}]}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: tcp
    upstream: app
    approval: {policy: ask, remember: 1h, rules: {deny: [203.0.113.0/24]}}
  - {name: plain, listen: 127.0.0.1:$pport, mode: tcp, upstream: app}
EOF
}

my $c = cuttle_start(config($state), workers => 2);
ok(wait_until(sub { -S $sock }, 5), 'the admin socket exists') or BAIL_OUT('no admin socket');
ok(log_grep($c, qr/approvals: no state_file "\Q$state\E" yet: starting with no decisions/),
    'no state file at the first start: said so, and no decisions');

sub ctl { return cuttlectl_run('-s', $sock, @_) }

sub ctl_json {
    my $r = ctl('--json', @_);
    return ($r, eval { decode_json($r->{stdout}) });
}

# api(METHOD, PATH, BODY, tcp => TOKEN|'') -> (status, decoded JSON or undef, raw body)
sub api {
    my ($method, $path, $body, %o) = @_;
    my @where = exists $o{tcp}
        ? ("http://127.0.0.1:$aport$path", ($o{tcp} ne '' ? ('-H', "Authorization: Bearer $o{tcp}") : ()))
        : ('--unix-socket', $sock, "http://localhost$path");
    my $r = curl_run('-X', $method, (defined $body ? ('--data-binary', $body) : ()),
        '-w', "\n%{http_code}", @where);
    my ($text, $code) = $r->{stdout} =~ /\A(.*)\n(\d{3})\z/s ? ($1, $2) : ($r->{stdout}, 0);
    return ($code, eval { decode_json($text) }, $text);
}

sub listed {
    my ($code, $j) = api('GET', '/api/v1/approvals/decisions');
    return $code == 200 ? $j->{decisions} : undef;
}

sub find_decision {
    my ($list, $addr, $listener) = @_;
    for (@{$list // []}) {
        return $_ if $_->{address} eq $addr && (($_->{listener} // '') eq ($listener // ''));
    }
    return undef;
}

# --- decisions with cuttlectl
{
    my $r = ctl('approve', '192.0.2.7', '--listener', 'web', '--note', 'office', '--by', 'alice');
    is($r->{status}, 0, 'cuttlectl approve exits 0') or diag($r->{stderr});
    like($r->{stdout}, qr/^allow 192\.0\.2\.7 on listener web, for (59m5\d|1h00)m?s?\n\z/,
        '... and says what it decided, for the listener\'s "remember" (1h)');
    ($r, my $j) = ctl_json('deny', '198.51.100.0/24', '--for', '10m', '--by', 'bob');
    is($r->{status}, 0, 'cuttlectl --json deny exits 0') or diag($r->{stderr});
    is($j->{decision}{verdict}, 'deny', '... verdict deny');
    is($j->{decision}{address}, '198.51.100.0/24', '... for the network');
    is($j->{decision}{listener}, undef, '... for every listener');
    ok($j->{decision}{ttl_s} >= 598 && $j->{decision}{ttl_s} <= 600, '... for 10 minutes')
        or diag($j->{decision}{ttl_s});
    is($j->{decision}{origin}, 'operator', '... origin operator');
    is($j->{decision}{by}, 'bob', '... made by bob');
    ok(!$j->{replaced}, '... a new one');
    # Given as IPv4-mapped IPv6, a network of IPv4 clients is IPv4.
    $r = ctl('approve', '::ffff:192.0.2.128/121', '--for', '0');
    like($r->{stdout}, qr/^allow 192\.0\.2\.128\/25 on every listener, until revoked\n\z/,
        'a mapped IPv6 network is stored as IPv4, and --for 0 is until revoked')
        or diag($r->{stdout} . $r->{stderr});
}

# --- decisions through the API
{
    my ($code, $j) = api('POST', '/api/v1/approvals/decisions',
        '{"address": "2001:db8::/64", "verdict": "allow", "listener": "web", "ttl": "2h",'
        . ' "note": "lab", "operator": "carol"}');
    is($code, 201, 'POST a decision: 201');
    is_deeply([@{$j->{decision}}{qw(address prefix verdict listener note by origin)}],
        ['2001:db8::/64', 64, 'allow', 'web', 'lab', 'carol', 'operator'],
        '... the decision as stored');
    ok($j->{decision}{expires} - $j->{decision}{made} == 7200, '... expiring in 2h');
    ($code, $j) = api('POST', '/api/v1/approvals/decisions',
        '{"address": "2001:db8::/64", "verdict": "deny", "listener": "web"}');
    is($code, 201, 'the same network and listener again: 201');
    ok($j->{replaced}, '... replacing the one before');
    is($j->{decision}{ttl_s}, 3600, '... without a ttl: the listener\'s remember');
}

# --- bad input: 400 with a reason, nothing stored
{
    my $before = scalar @{listed()};
    my @bad = (
        ['{"address": "192.0.2.1/24", "verdict": "allow"}',
            'invalid address "192.0.2.1/24": host bits set'],
        ['{"address": "192.0.2.0/33", "verdict": "allow"}',
            'invalid address "192.0.2.0/33": prefix length must be 0..32 for IPv4'],
        ['{"address": "2001:db8::/129", "verdict": "allow"}',
            'invalid address "2001:db8::/129": prefix length must be 0..128 for IPv6'],
        ['{"address": "example.com", "verdict": "allow"}',
            'invalid address "example.com": address must be an IP literal (no DNS names)'],
        ['{"verdict": "allow"}', '"address" (an address or a network) is required and a string'],
        ['{"address": "192.0.2.9", "verdict": "maybe"}', '"verdict" is required: "allow" or "deny"'],
        ['{"address": "192.0.2.9", "verdict": "allow", "listener": "nope"}', 'no listener "nope"'],
        ['{"address": "192.0.2.9", "verdict": "allow", "listener": "plain"}',
            'listener "plain" has no approval block: its clients are never asked about'],
        ['{"address": "192.0.2.9", "verdict": "allow", "ttl": "soon"}',
            'invalid "ttl" "soon": missing number'],
        ['{"address": "192.0.2.9", "verdict": "allow", "ttl": -5}',
            '"ttl" is 0 (until revoked) to 315360000 seconds (3650d)'],
        ['{"address": "192.0.2.9", "verdict": "allow", "ttl": "3651d"}',
            '"ttl" is whole seconds, 0 (until revoked) to 3650d'],
        ['{"address": "192.0.2.9", "verdict": "allow", "note": "' . ('x' x 64) . '"}',
            '"note" is at most 63 bytes'],
        ['{"address": "192.0.2.9", "verdict": "allow", "color": "red"}', 'unknown key "color"'],
        ['not json', undef],
    );
    for my $b (@bad) {
        my ($code, $j, $raw) = api('POST', '/api/v1/approvals/decisions', $b->[0]);
        is($code, 400, "400 for $b->[0]");
        if (defined $b->[1]) {
            is($j->{error}, $b->[1], '... saying why');
        } else {
            like($j->{error} // $raw, qr/^the body is not JSON: /, '... saying why');
        }
    }
    is(scalar @{listed()}, $before, 'none of them was stored');
    my ($code, $j) = api('DELETE', '/api/v1/approvals/decisions/192.0.2.1/24');
    is($code, 400, 'DELETE of a network with host bits: 400');
    is($j->{error}, 'invalid address "192.0.2.1/24": host bits set', '... saying why');
    ($code) = api('PUT', '/api/v1/approvals/decisions');
    is($code, 405, 'PUT: 405');
    ($code, $j) = api('GET', '/api/v1/approvals/decisions', '{}');
    is($code, 413, 'GET with a body: 413');
    my $r = ctl('approve', '192.0.2.300');
    is($r->{status}, 1, 'cuttlectl approve of a bad address exits 1');
    like($r->{stderr}, qr/^cuttlectl: approve 192\.0\.2\.300: invalid address "192\.0\.2\.300": /,
        '... with the API\'s reason');
    $r = ctl('deny');
    is($r->{status}, 2, 'cuttlectl deny without an address: usage, exit 2');
    $r = ctl('revoke', '192.0.2.7', '--note', 'x');
    is($r->{status}, 2, 'cuttlectl revoke with --note: usage, exit 2');
}

# --- the token on TCP
{
    my ($code) = api('POST', '/api/v1/approvals/decisions',
        '{"address": "192.0.2.10", "verdict": "allow"}', tcp => '');
    is($code, 401, 'POST on TCP without the token: 401');
    ($code) = api('DELETE', '/api/v1/approvals/decisions/192.0.2.7', undef, tcp => 'wrong-token-0123456789');
    is($code, 401, 'DELETE on TCP with a wrong token: 401');
    ok(find_decision(listed(), '192.0.2.7', 'web'), '... the decision is still there');
    ($code, my $j) = api('POST', '/api/v1/approvals/decisions',
        '{"address": "192.0.2.10", "verdict": "allow"}', tcp => $token);
    is($code, 201, 'POST on TCP with the token: 201');
    ($code, $j) = api('GET', '/api/v1/approvals/decisions', undef, tcp => $token);
    is($code, 200, 'GET on TCP with the token: 200');
    ok(find_decision($j->{decisions}, '192.0.2.10'), '... lists it');
}

# --- listing
my @all = ('192.0.2.7', '192.0.2.10', '192.0.2.128/25', '198.51.100.0/24', '2001:db8::/64');
{
    my ($r, $j) = ctl_json('decisions');
    is($r->{status}, 0, 'cuttlectl --json decisions exits 0');
    is_deeply([map { $_->{address} } @{$j->{decisions}}], [@all],
        '... every decision, in address order, IPv4 first');
    is($j->{max}, 4096, '... and the size of the table');
    $r = ctl('decisions');
    like($r->{stdout}, qr/^ADDRESS\s+VERDICT\s+LISTENER\s+DESTINATION\s+EXPIRES\s+ORIGIN\s+BY\s+NOTE$/m,
        'cuttlectl decisions: a table');
    like($r->{stdout}, qr/^192\.0\.2\.7\s+allow\s+web\s+\*\s+(59m\d\ds|1h00m)\s+operator\s+alice\s+office$/m,
        '... with the decision for web');
    like($r->{stdout}, qr/^192\.0\.2\.128\/25\s+allow\s+\*\s+\*\s+never\s+operator\s/m,
        '... and the one for every listener, which never expires');
    my ($code, $p) = api('GET', '/api/v1/approvals/pending');
    is($code, 200, 'GET pending: 200');
    is_deeply($p->{pending}, [], '... nobody waits: no client has connected (t/82 holds some)');
    $r = ctl('pending');
    is($r->{stdout}, "(no client waits for a decision)\n", 'cuttlectl pending says so');
    my $m = curl_run('--unix-socket', $sock, 'http://localhost/metrics')->{stdout};
    like($m, qr/^cuttle_approval_decisions\{verdict="allow",origin="operator"\} 3$/m,
        'metrics: 3 allow decisions by operators');
    like($m, qr/^cuttle_approval_decisions\{verdict="deny",origin="operator"\} 2$/m,
        'metrics: 2 deny');
    like($m, qr/^cuttle_approval_decisions\{verdict="allow",origin="peer"\} 0$/m,
        'metrics: none from peers');
    like($m, qr/^cuttle_approval_changes_total\{change="made"\} 6$/m,
        'metrics: 6 made, one of which replaced another');
}

# --- the state file follows, within about a second
sub state_addrs {
    my ($path) = @_;
    my @l = split /\n/, slurp($path);
    return undef unless @l && $l[0] eq '{"cuttle":"approvals","version":1}';
    return [sort map { decode_json($_)->{address} } @l[1 .. $#l]];
}
ok(wait_until(sub { my $a = state_addrs($state); $a && @$a == 5 }, 5),
    'the state file holds the 5 decisions') or diag(slurp($state));
is((stat $state)[2] & 0777, 0600, '... readable by its owner only');

# --- revoke
{
    my $r = ctl('revoke', '198.51.100.0/24');
    is($r->{status}, 0, 'cuttlectl revoke exits 0') or diag($r->{stderr});
    is($r->{stdout}, "revoked 1 decision for 198.51.100.0/24 (deny on any listener)\n",
        '... and says what it revoked');
    $r = ctl('revoke', '198.51.100.0/24');
    is($r->{status}, 1, 'the same again: exit 1');
    is($r->{stderr}, "cuttlectl: revoke 198.51.100.0/24: no decision for 198.51.100.0/24\n",
        '... no such decision');
    my ($code, $j) = api('DELETE', '/api/v1/approvals/decisions/192.0.2.7?listener=plain');
    is($code, 400, 'DELETE for a listener without approval: 400');
    ($code, $j) = api('DELETE', '/api/v1/approvals/decisions/192.0.2.10?listener=web');
    is($code, 404, 'DELETE of a decision for every listener, as if for web only: 404');
    is($j->{error}, 'no decision for 192.0.2.10 on listener "web"', '... saying so');
    ($code, $j) = api('DELETE', '/api/v1/approvals/decisions/192.0.2.10');
    is($code, 200, 'DELETE of it for any listener: 200');
    is($j->{revoked}, 1, '... one revoked');
    ok(!find_decision(listed(), '192.0.2.10'), '... and it is gone from the list');
}

# --- expiry: ignored at once, reclaimed by the master
{
    my $r = ctl('approve', '192.0.2.99', '--for', '1s');
    is($r->{status}, 0, 'a decision for 1s');
    ok(wait_until(sub { !find_decision(listed(), '192.0.2.99') }, 4),
        '... is not listed once it has expired');
    ok(wait_log($c, qr/approvals: 1 decision expired$/), '... and the master reclaimed it');
}

@all = ('192.0.2.7', '192.0.2.128/25', '2001:db8::/64');
ok(wait_until(sub { my $a = state_addrs($state); $a && @$a == 3 }, 5),
    'the state file follows the revocations and the expiry') or diag(slurp($state));

# --- a reload keeps the segment, and its decisions
{
    my $r = cuttle_reload($c);
    ok($r->{ok}, 'SIGHUP reload succeeds');
    ok(wait_until(sub { my $l = listed(); $l && @$l == 3 }, 5),
        'the decisions are all there after the reload');
    is_deeply([map { $_->{address} } @{listed()}], [@all], '... the same ones');
    my $d = find_decision(listed(), '192.0.2.7', 'web');
    is($d->{note}, 'office', '... with their notes');
    # A state file named anew on reload is written with what the table holds.
    $r = cuttle_reload($c, config("$dir/moved.jsonl"));
    ok($r->{ok}, 'a reload with another state_file succeeds');
    ok(wait_until(sub { my $a = state_addrs("$dir/moved.jsonl"); $a && @$a == 3 }, 5),
        '... and the decisions are written there') or diag(slurp("$dir/moved.jsonl"));
    $r = cuttle_reload($c, config($state));
    ok($r->{ok}, 'and back to the first one');
}

# --- a restart reads them from the state file
cuttle_stop($c);
is_deeply(state_addrs($state), [sort @all], 'at exit, the state file holds the decisions');
$c = cuttle_start(config($state), workers => 2);
ok(wait_until(sub { -S $sock }, 5), 'restarted');
ok(log_grep($c, qr/approvals: 3 decisions loaded from "\Q$state\E"/), 'the master says it loaded 3');
ok(wait_until(sub { my $l = listed(); $l && @$l == 3 }, 5), '3 decisions after the restart');
{
    my $d = find_decision(listed(), '192.0.2.7', 'web');
    is_deeply([@{$d}{qw(verdict by note origin)}], ['allow', 'alice', 'office', 'operator'],
        '... as they were made');
    ok($d->{ttl_s} > 3000, '... with their expiry');
}

# --- a binary upgrade: the new master reads what the old one wrote before it started
{
    my $old = $c->{pid};
    my $r = cuttle_upgrade($c);
    ok($r->{ok}, 'SIGUSR2: a new master runs') or diag(join "\n", @{$r->{lines}});
    ok($r->{old_gone}, '... and the old one is gone');
    ok(grep({ /\[notice\] $r->{new}#m: approvals: 3 decisions loaded from "\Q$state\E"/ } @{$r->{lines}}),
        '... the new master loaded the 3 decisions');
    ok(wait_until(sub { my $l = listed(); $l && @$l == 3 }, 5), '... and serves them');
    $r = ctl('approve', '192.0.2.201');
    is($r->{status}, 0, 'a decision made through the new master');
    ok(wait_until(sub { my $a = state_addrs($state); $a && @$a == 4 }, 5),
        '... is written by the new master') or diag(slurp($state));
    $r = ctl('revoke', '192.0.2.201');
    is($r->{status}, 0, '... and revoked');
    ok(wait_until(sub { my $a = state_addrs($state); $a && @$a == 3 }, 5), '... and gone from the file');
}

# --- a corrupt state file at start: reported, moved aside, no decisions
cuttle_stop($c);
my $good = slurp($state);
my @lines = split /\n/, $good;
write_file($state, join("\n", @lines[0, 1], '{"address": "192.0.2.1/24", "verdict": "allow"}',
    @lines[2 .. $#lines]) . "\n");
my $corrupt = slurp($state);
$c = cuttle_start(config($state), workers => 2);
{
    my @l = log_grep($c, qr/\[error\] \d+#m: approvals: state_file "\Q$state\E": line 3: /);
    is(scalar @l, 1, 'a corrupt state file is reported, with its line');
    like($l[0] // '', qr/line 3: invalid address "192\.0\.2\.1\/24": host bits set; moved to "\Q$state\E\.corrupt-\d{8}T\d{6}", starting with no decisions$/,
        '... what is wrong, and where the file went') or diag($l[0]);
    my ($aside) = ($l[0] // '') =~ /moved to "([^"]+)"/;
    ok(defined $aside && -f $aside, '... the file is there');
    is(slurp($aside // ''), $corrupt, '... as it was');
    ok(!-e $state, 'nothing at the state file\'s own path');
    ok(wait_until(sub { -S $sock }, 5), 'cuttle runs');
    is_deeply(listed(), [], '... with no decisions');
    my $r = ctl('approve', '192.0.2.200');
    is($r->{status}, 0, 'a new decision');
    ok(wait_until(sub { my $a = state_addrs($state); $a && @$a == 1 }, 5),
        '... starts a new state file');
}

log_clean_ok();
done_testing();
