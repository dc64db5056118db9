# Three cuttle nodes sharing one real redis-server, logged in as a user
# with the ACL that README.md documents: the registry
# (cuttlectl cluster, another configuration warned about); a decision
# made on one node lets the client in on the others within 1 s, and a
# revoke on another takes it back everywhere; a server disabled on one
# node is used by none; Redis killed under traffic loses no client, the
# changes made meanwhile (on different nodes) reach the others once a
# Redis comes back, and that Redis, restarted empty, is repopulated
# from the nodes; values under the prefix that are not cuttle's are
# logged and ignored; a binary upgrade's new master shares in the old
# one's stead; and through Sentinel the nodes follow a failover
# to the new master.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use CuttleTest;
use CuttleRedis;

my $why = redis_available();
plan skip_all => $why if $why;

my $dir = tmpdir();
my $A = backend(mode => 'name', name => 'A');
my $B = backend(mode => 'name', name => 'B');
my $rport = free_port();
# The nodes log in as a user with no more than the ACL README.md gives.
my ($R, $login) = redis_acl_start($dir, 'r', $rport, 't93');

my @names = qw(n1 n2 n3);
my (%port, %sock, %c);
for my $n (@names) {
    $port{$n} = free_port();
    $sock{$n} = "$dir/$n.sock";
}

sub redis_block {
    my ($n, $where) = @_;
    return <<"EOF";
redis:
$where
  prefix: t93
  node: $n
  connect_timeout: 300ms
  command_timeout: 300ms
EOF
}

sub conf {
    my ($n, $where) = @_;
    return <<"EOF" . redis_block($n, $where);
error_log: {path: %LOG%, level: info}
pid_file: %PIDFILE%
admin: {socket: $sock{$n}}
upstreams:
  app: {balance: round_robin, servers: [{address: $A->{addr}}, {address: $B->{addr}}]}
listeners:
  - name: web
    listen: 127.0.0.1:$port{$n}
    mode: tcp
    upstream: app
    approval: {policy: deny}
EOF
}

my $direct = "  address: 127.0.0.1:$rport\n$login";
chomp $direct;
$c{$_} = cuttle_start(conf($_, $direct), workers => 1) for @names;

sub ctl { my $n = shift; return cuttlectl_run('-s', $sock{$n}, @_) }
sub api {
    my ($n, $path) = @_;
    my $r = curl_run('--unix-socket', $sock{$n}, "http://x$path");
    return eval { decode_json($r->{stdout}) };
}
sub metric {
    my ($n, $re) = @_;
    my $r = curl_run('--unix-socket', $sock{$n}, 'http://x/metrics');
    my ($v) = $r->{stdout} =~ /^$re (\d+)$/m;
    return $v;
}
# Is a decision for $addr listed on node $n?
sub listed_on {
    my ($n, $addr) = @_;
    return grep { $_->{address} eq $addr }
        @{ (api($n, '/api/v1/approvals/decisions') // {})->{decisions} // [] };
}
# The admin state of server $addr on node $n.
sub api_server {
    my ($n, $addr) = @_;
    my $u = api($n, '/api/v1/upstreams') // {};
    my ($s) = grep { ($_->{address} // '') eq $addr } map { @{ $_->{servers} // [] } } @{ $u->{upstreams} // [] };
    return $s ? $s->{admin} : '';
}
# The server a client of node $n reaches, or undef when it is refused.
sub reach { my ($name) = fetch_name($port{$_[0]}, timeout => 2); return $name }
sub let_in { return defined reach($_[0]) }

# --- the registry
ok(wait_until(sub { (api('n1', '/api/v1/cluster') // {})->{live} == 3 }, 5),
    'the registry on n1 has the 3 nodes live');
my $r = ctl('n1', 'cluster');
like($r->{stdout}, qr/^cluster "t93": 3 nodes, 3 live; this node is "n1"$/m, 'cuttlectl cluster: the summary');
like($r->{stdout}, qr/^n1\s+live\s.*\(this node\)$/m, '... n1 is this node');
like($r->{stdout}, qr/^n2\s+live\s.*\(another configuration\)$/m,
    '... n2 is live, with another configuration (its ports differ)');
ok(wait_log($c{n1}, qr/cluster: node "n2" runs another configuration/), 'n1 warns about n2\'s configuration');
is(scalar(grep { /cluster: node "n2" runs another configuration/ } split /\n/, log_text($c{n1})), 1,
    '... once');
ok(metric('n1', 'cuttle_cluster_nodes\{state="live"\}') == 3, '/metrics: 3 nodes live');

# --- a decision made on n1 lets the client in on n2 and n3 within 1 s
ok(!let_in($_), "before any decision, $_ refuses the client") for @names;
my $t0 = time;
$r = ctl('n1', 'approve', '127.0.0.1', '--listener', 'web', '--by', 'alice');
is($r->{status}, 0, 'approve on n1') or diag($r->{stderr});
ok(wait_until(sub { let_in('n2') && let_in('n3') }, 1, 0.02), 'n2 and n3 let the client in');
my $took = time - $t0;
ok($took <= 1.0, sprintf('... within 1 s (%.3f s)', $took));
my ($d) = grep { $_->{address} eq '127.0.0.1' } @{ (api('n3', '/api/v1/approvals/decisions') // {})->{decisions} // [] };
is($d->{origin}, 'peer', 'on n3 the decision is a peer\'s');
is($d->{node}, 'n1', '... made on n1');
is($d->{by}, 'alice', '... by alice');

# --- revoked on n2: refused everywhere
$r = ctl('n2', 'revoke', '127.0.0.1', '--listener', 'web');
is($r->{status}, 0, 'revoke on n2') or diag($r->{stderr});
ok(wait_until(sub { !let_in('n1') && !let_in('n3') }, 1, 0.02), 'n1 and n3 refuse the client again');
ctl('n3', 'approve', '127.0.0.1', '--listener', 'web');
ok(wait_until(sub { let_in('n1') && let_in('n2') }, 1, 0.02), 'approved again on n3: in everywhere');

# --- a server disabled on n1 is used by none
$r = ctl('n1', 'disable', 'app', $A->{addr});
is($r->{status}, 0, 'disable A on n1') or diag($r->{stderr});
ok(wait_until(sub { api_server('n3', $A->{addr}) eq 'disabled' }, 1, 0.02),
    'n3 shows A disabled within 1 s');
my %got;
for my $n (@names) { $got{ reach($n) // 'refused' }++ for 1 .. 4 }
is_deeply(\%got, { B => 12 }, 'the clients of all 3 nodes reach B only');

# --- Redis killed under traffic: no client lost; changes meanwhile
# (a decision on n2, a server enabled on n3) reach the others once a
# Redis is back, empty; what the nodes had is written back to it.
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my ($ok, $bad) = (0, 0);
    my $end = time + 3;
    while (time < $end) {
        for my $n (@names) { defined reach($n) ? $ok++ : $bad++ }
    }
    write_file("$dir/traffic", "$ok $bad\n");
    POSIX::_exit(0);
}
sleep 0.5;
redis_stop($R);
ok(wait_until(sub { (metric('n1', 'cuttle_redis_up') // 1) == 0 }, 3), 'Redis killed: n1 sees it down');
$r = ctl('n2', 'approve', '10.9.0.0/16', '--listener', 'web', '--note', 'during the outage');
is($r->{status}, 0, 'a decision on n2 while Redis is down is taken');
$r = ctl('n3', 'enable', 'app', $A->{addr});
is($r->{status}, 0, 'A enabled on n3 while Redis is down');
ok(wait_until(sub { (metric('n2', 'cuttle_cluster_journal_waiting') // 0) >= 1 }, 2),
    'n2 journals its change');
waitpid($pid, 0);
my ($ok, $bad) = split ' ', slurp("$dir/traffic");
ok($ok > 30, "clients were relayed while Redis went away ($ok)");
is($bad, 0, '... and none was refused or lost');

($R) = redis_acl_start($dir, 'r', $rport, 't93');
ok(wait_until(sub { (metric('n1', 'cuttle_redis_up') // 0) == 1 }, 10), 'Redis back, empty: n1 is up again');
ok(wait_until(sub {
    my ($x) = grep { $_->{address} eq '10.9.0.0/16' }
        @{ (api('n1', '/api/v1/approvals/decisions') // {})->{decisions} // [] };
    $x && ($x->{node} // '') eq 'n2';
}, 5), 'the decision made on n2 during the outage reaches n1');
ok(wait_until(sub { api_server('n1', $A->{addr}) eq 'enabled' }, 5),
    'A, enabled on n3 during the outage, is enabled on n1');
ok(wait_until(sub { redis_cmd($rport, 'HLEN', 't93:decisions') >= 2 }, 5),
    'the empty Redis is repopulated with both decisions');
like(redis_cmd($rport, 'HGET', 't93:decisions', '127.0.0.1/32|web|*'), qr/"node":"n3"/,
    '... the one made before the outage too, by its node');
is(metric('n2', 'cuttle_cluster_journal_waiting'), 0, 'n2\'s journal is written');
ok(let_in('n1') && let_in('n2') && let_in('n3'), 'the client is still let in everywhere');

# --- values that are not cuttle's: logged, ignored
my $mark = log_mark($c{n1});
redis_cmd($rport, 'HSET', 't93:decisions', 'junk', 'not json');
redis_cmd($rport, 'PUBLISH', 't93:decisions', '{"t":"x"}');
redis_cmd($rport, 'PUBLISH', 't93:servers', '{"t":1,"node":"x","upstream":"app","server":"' . $A->{addr} . '","state":"off"}');
ok(wait_log($c{n1}, qr/cluster: t93:(decisions|servers): not what cuttle wrote there, or refused by Redis, ignored/,
    since => $mark), 'garbage under the prefix is logged');
ok(metric('n1', 'cuttle_cluster_changes_total\{result="ignored"\}') >= 1, '... and counted');
ok(let_in('n1'), '... and n1 serves on');
# An older change (a revoke of long ago, by a node named later) loses to the one there.
my $old = '{"t":1000,"node":"zz","revoked":true,"decision":{"address":"127.0.0.1","prefix":32,'
    . '"verdict":"allow","listener":"web","destination":null,"expires":null,"made":1,'
    . '"origin":"operator","by":null,"note":null}}';
my $stale = metric('n1', 'cuttle_cluster_changes_total\{result="stale"\}') // 0;
redis_cmd($rport, 'PUBLISH', 't93:decisions', $old);
ok(wait_until(sub { (metric('n1', 'cuttle_cluster_changes_total\{result="stale"\}') // 0) > $stale }, 2),
    'an older change published is counted stale');
ok(let_in('n1'), '... and the decision stands');
# A node whose clock runs a minute ahead made a decision: a revoke here, by
# this node's clock earlier, still wins, and reaches every node.
{
    my $future = int((time + 60) * 1000);
    my $ahead = '{"t":' . $future . ',"node":"zz","revoked":false,"decision":{"address":"127.0.0.5",'
        . '"prefix":32,"verdict":"allow","listener":"web","destination":null,"expires":null,'
        . '"made":' . int(time) . ',"origin":"operator","by":null,"note":null}}';
    redis_cmd($rport, 'HSET', 't93:decisions', '127.0.0.5/32|web|*', $ahead);
    redis_cmd($rport, 'PUBLISH', 't93:decisions', $ahead);
    ok(wait_until(sub { listed_on('n1', '127.0.0.5') && listed_on('n2', '127.0.0.5') }, 2),
        'a decision stamped a minute ahead is adopted');
    is(ctl('n1', 'revoke', '127.0.0.5', '--listener', 'web')->{status}, 0, '... and revoked on n1');
    ok(wait_until(sub { !listed_on('n2', '127.0.0.5') && !listed_on('n3', '127.0.0.5') }, 2),
        '... which wins over it on every node, whatever the clocks');
    like(redis_cmd($rport, 'HGET', 't93:decisions', '127.0.0.5/32|web|*'), qr/"revoked":true/,
        '... and in Redis');
}
# A key of the wrong type: every answer about it is an error, logged once a minute at most.
redis_cmd($rport, 'DEL', 't93:servers');
redis_cmd($rport, 'SET', 't93:servers', 'a string');
ctl('n2', 'drain', 'app', $B->{addr});
sleep 0.6;
ok((metric('n2', 'cuttle_cluster_journal_waiting') // 0) >= 1,
    'a hash of the wrong type refuses a change: it waits in the journal');
redis_cmd($rport, 'DEL', 't93:servers');
ok(wait_until(sub { redis_cmd($rport, 'HGET', 't93:servers', "app|$B->{addr}") =~ /"state":"drain"/ }, 3),
    '... and is sent again once the key is fixed');
ok(wait_until(sub { api_server('n1', $B->{addr}) eq 'drain' }, 2), '... and reaches n1');
ctl('n2', 'enable', 'app', $B->{addr});
ok(wait_until(sub { api_server('n3', $B->{addr}) eq 'enabled' }, 2), 'enabled again: on n3 too');
ok(proc_alive(cuttle_master($c{n1})), '... its master alive');

# --- a binary upgrade of n1: its new master shares in its stead
{
    my $u = cuttle_upgrade($c{n1});
    ok($u->{ok} && $u->{old_gone}, 'n1 upgraded to a new master');
    ctl('n2', 'approve', '127.0.0.3', '--listener', 'web');
    ok(wait_until(sub { listed_on('n1', '127.0.0.3') }, 2),
        'a decision made on n2 reaches the new master of n1');
    ctl('n1', 'approve', '127.0.0.4', '--listener', 'web');
    ok(wait_until(sub { listed_on('n3', '127.0.0.4') }, 2),
        'one made through the new master of n1 reaches n3');
}

# --- Sentinel: the nodes follow a failover to the new master
{
    my ($mport, $rep, $sport) = (free_port(), free_port(), free_port());
    my $M = redis_start($dir, 'm', $mport);
    my $S2 = redis_start($dir, 's2', $rep, "replicaof 127.0.0.1 $mport");
    my $S = sentinel_start($dir, 'sentinel', $sport, $mport, 500);
    my $sent = "  sentinel: {addresses: [\"127.0.0.1:$sport\"], master: mymaster}";
    for my $n (@names) {
        my $rr = cuttle_reload($c{$n}, conf($n, $sent));
        ok($rr->{ok}, "$n reloads onto Sentinel");
    }
    ok(wait_until(sub { redis_cmd($mport, 'HEXISTS', 't93:decisions', '127.0.0.1/32|web|*') eq '1' }, 5),
        'the new Redis gets the decisions from the nodes');
    $mark = log_mark($c{n2});
    redis_stop($M);
    ok(wait_log($c{n2}, qr/redis: up again after .*127\.0\.0\.1:$rep/, since => $mark, timeout => 20),
        'master killed: n2 follows the sentinel to the promoted replica');
    ok(wait_until(sub { (metric('n1', 'cuttle_redis_up') // 0) == 1 &&
        (metric('n3', 'cuttle_redis_up') // 0) == 1 }, 20), '... and so do n1 and n3');
    ctl('n3', 'deny', '127.0.0.2', '--listener', 'web');
    ok(wait_until(sub { listed_on('n1', '127.0.0.2') }, 2),
        'a decision made after the failover reaches n1');
    redis_stop($S);
    redis_stop($S2);
}

cuttle_stop($c{$_}) for @names;
log_clean_ok();
done_testing();
