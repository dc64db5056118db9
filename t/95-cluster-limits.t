# A rate limit of scope cluster, shared by three nodes through one real
# redis-server: one client key driven on all three at once holds to the
# one rate within 10 %; garbage in the limit's Redis keys is logged and
# ignored, and the rate still holds; Redis killed: each node falls back
# to rate / 3 on its own, logged once; Redis back: the nodes settle
# together again; a reload goes on settling.  /metrics and cuttlectl
# limits show the scope, the live nodes and the fallback; configuration
# errors at their positions.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use CuttleTest;
use CuttleRedis;

my $why = redis_available();
plan skip_all => $why if $why;

my $dir = tmpdir();
my $O = http_origin(name => 'O');
my $rport = free_port();
# The nodes log in as a user with no more than the ACL README.md gives.
my ($R, $login) = redis_acl_start($dir, 'r95', $rport, 't95');
my $RATE = 100;
my $BURST = 10;

# Node $name on its own port and admin socket; the same limit and prefix.
sub node {
    my ($name) = @_;
    my $port = free_port();
    my $admin = "$dir/admin-$name.sock";
    my $c = cuttle_start(<<"EOF", workers => 1);
error_log: {path: %LOG%, level: info}
admin: {socket: $admin}
redis:
  address: 127.0.0.1:$rport
${login}  prefix: t95
  node: $name
  connect_timeout: 300ms
  command_timeout: 300ms
limits:
  shared:
    key: client_ip
    rate: $RATE/s
    burst: $BURST
    scope: cluster
upstreams:
  o: {servers: [{address: $O->{addr}}]}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    routes:
      - {upstream: o, limits: [shared]}
EOF
    return { c => $c, port => $port, admin => $admin, name => $name };
}

my @N = map { node($_) } qw(a b c);

sub metric {
    my ($n, $re) = @_;
    my $m = curl_run('--unix-socket', $n->{admin}, 'http://x/metrics')->{stdout};
    my ($v) = $m =~ /^$re (\d+)$/m;
    return $v;
}

# For $secs, one client per node, each on a keep-alive connection, one
# request per ms at most: the requests each node let through and refused.
sub drive {
    my ($secs, @nodes) = @_;
    my @kids;
    for my $i (0 .. $#nodes) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my ($ok, $limited, $errors, $s) = (0, 0, 0, undef);
            my $end = time + $secs;
            while (time < $end) {
                $s //= tcp_connect($nodes[$i]{port});
                if (!$s) { $errors++; sleep 0.01; next }
                my $r = http_send($s, target => '/x') ? http_recv($s) : { error => 'send' };
                if ($r->{error}) { $errors++; undef $s; next }
                $ok++ if $r->{status} == 200;
                $limited++ if $r->{status} == 429;
                undef $s if $r->{eof};
                sleep 0.001;
            }
            write_file("$dir/drive-$i", "$ok $limited $errors\n");
            _exit(0);
        }
        push @kids, $pid;
    }
    waitpid($_, 0) for @kids;
    return map { [split ' ', slurp("$dir/drive-$_")] } 0 .. $#nodes;
}

# Drives the three nodes for $secs: together they pass rate x time +
# burst within $tol (a fraction).  What each node did.
sub holds_rate {
    my ($secs, $tol, $what) = @_;
    my @r = drive($secs, @N);
    my $ok = 0;
    $ok += $_->[0] for @r;
    my $want = $RATE * $secs + $BURST + 1;
    cmp_ok(abs($ok - $want), '<=', $want * $tol,
        "$what: $ok passed in ${secs}s, expected $want within " . $tol * 100 . ' %');
    return ($ok, @r);
}

# Every node settled a round with all three live.
ok(wait_until(sub { !grep { (metric($_, 'cuttle_limit_cluster_nodes\{limit="shared"\}') // 0) != 3 }
    @N }, 10), 'every node sees 3 live nodes');
for my $n (@N) {
    ok(wait_log($n->{c}, qr/\[notice\] \d+#m: limit "shared": settling with the cluster, \d live nodes?$/),
        "$n->{name}: settling with the cluster logged");
}

# ---- one key on three nodes: the one rate
{
    my ($ok, @r) = holds_rate(5, 0.1, 'one key on 3 nodes holds to the rate');
    for my $i (0 .. 2) {
        cmp_ok($r[$i][0], '>=', $ok / 10, "node $N[$i]{name} passed its part: $r[$i][0]");
        cmp_ok($r[$i][1], '>', $r[$i][0], "node $N[$i]{name} refused the rest: $r[$i][1]");
        is($r[$i][2], 0, "node $N[$i]{name}: no client errors");
    }
    my @at_origin = origin_requests($O, target => '/x');
    is(scalar @at_origin, $ok, 'the origin saw exactly the requests that passed');
    my $a = $N[0];
    cmp_ok(metric($a, 'cuttle_limit_cluster_rounds_total\{limit="shared",result="ok"\}') // 0,
        '>', 50, '/metrics: settle rounds ok');
    is(metric($a, 'cuttle_limit_cluster_fallback\{limit="shared"\}'), 0, '/metrics: fallback 0');
    my $l = cuttlectl_run('-s', $a->{admin}, 'limits');
    like($l->{stdout}, qr/^shared: 100 per 1000 ms, burst 10, scope cluster: 3 live nodes, settled$/m,
        'cuttlectl limits: scope cluster, the live nodes') or diag($l->{stdout});
    my @keys = grep { length } split /\n/, redis_cmd($rport, '--scan', '--pattern', 't95:climit:*');
    ok((grep { /^t95:climit:shared:k:[0-9a-f]{16}$/ } @keys) == 1,
        'Redis holds the key once, as a hash') or diag(join "\n", @keys);
    ok(!(grep { /127\.0\.0\.1/ } @keys), 'and no client address in the key names');
}

sleep 1;

# ---- garbage where the limit keeps its counts: logged, ignored, the rate holds
{
    my @keys = grep { /:k:/ } split /\n/, redis_cmd($rport, '--scan', '--pattern', 't95:climit:shared:*');
    # Marked first: a round may meet the garbage before the next line here runs.
    my @marks = map { log_mark($_->{c}) } @N;
    # SET replaces a key of any type at once: no round sees it missing.
    redis_cmd($rport, 'SET', $_, 'garbage') for @keys;
    redis_cmd($rport, 'SET', 't95:climit:shared:nodes', 'junk');
    holds_rate(3, 0.2, 'a key in Redis that is not a hash: each node takes its share');
    for my $i (0 .. 2) {
        my $c = $N[$i]{c};
        is(scalar(log_since($c, $marks[$i], qr/\[warn\] .*cluster limits: t95:climit:shared:k:[0-9a-f]{16} is not a hash of counts/)),
            1, "node $N[$i]{name}: the bad key logged once");
        is(scalar(log_since($c, $marks[$i], qr/\[warn\] .*cluster limits: t95:climit:shared:nodes is not a sorted set/)),
            1, "node $N[$i]{name}: the bad nodes set logged once");
        is(metric($N[$i], 'cuttle_limit_cluster_nodes\{limit="shared"\}'), 3,
            "node $N[$i]{name}: the live nodes stay as last seen");
    }
    is(redis_cmd($rport, 'GET', 't95:climit:shared:nodes'), 'junk', 'the garbage is left as it was');
}

sleep 1;

# ---- Redis killed: each node alone, on rate / 3
{
    my @marks = map { log_mark($_->{c}) } @N;
    CuttleRedis::redis_stop($R);
    # "Redis is down", or why a round in flight got no answer when it died.
    for my $i (0 .. 2) {
        ok(wait_log($N[$i]{c}, qr/\[warn\] \d+#m: limit "shared": cannot settle with the cluster \(.+\): deciding alone on 1\/3 of the rate$/,
            since => $marks[$i]), "node $N[$i]{name}: falling back logged");
    }
    sleep 1;
    my $secs = 4;
    my @r = drive($secs, @N);
    my $want = $RATE / 3 * $secs + $BURST + 1;
    for my $i (0 .. 2) {
        cmp_ok(abs($r[$i][0] - $want), '<=', $want * 0.15,
            "node $N[$i]{name} alone passes rate / 3: $r[$i][0], expected " . int($want));
        is(scalar(log_since($N[$i]{c}, $marks[$i], qr/cannot settle with the cluster/)), 1,
            "node $N[$i]{name}: once, not once a round");
    }
    is(metric($N[0], 'cuttle_limit_cluster_fallback\{limit="shared"\}'), 1, '/metrics: fallback 1');
    my $l = cuttlectl_run('-s', $N[0]{admin}, 'limits');
    like($l->{stdout}, qr/scope cluster: 3 live nodes, deciding alone on 1\/3 of the rate$/m,
        'cuttlectl limits: deciding alone') or diag($l->{stdout});
}

# ---- Redis back: together again
{
    my @marks = map { log_mark($_->{c}) } @N;
    ($R) = redis_acl_start($dir, 'r95', $rport, 't95');
    for my $i (0 .. 2) {
        ok(wait_log($N[$i]{c}, qr/\[notice\] \d+#m: limit "shared": settling with the cluster again, \d live nodes?$/,
            since => $marks[$i], timeout => 15), "node $N[$i]{name}: settling again logged");
    }
    ok(wait_until(sub { !grep { (metric($_, 'cuttle_limit_cluster_nodes\{limit="shared"\}') // 0) != 3 }
        @N }, 5), 'every node sees 3 live nodes again');
    sleep 1;
    holds_rate(3, 0.1, 'together again');
    is(metric($N[0], 'cuttle_limit_cluster_fallback\{limit="shared"\}'), 0, '/metrics: fallback 0 again');
}

# ---- a reload keeps the limit's zone, and the node goes on settling
{
    my $n = $N[0];
    my $mark = log_mark($n->{c});
    my $rounds = 'cuttle_limit_cluster_rounds_total\{limit="shared",result="ok"\}';
    ok(cuttle_reload($n->{c}, undef)->{ok}, 'node a reloads');
    my $before = metric($n, $rounds) // 0;
    ok(wait_until(sub { (metric($n, $rounds) // 0) >= $before + 10 }, 5),
        'and goes on settling rounds');
    is(scalar(log_since($n->{c}, $mark, qr/limit "shared": (?:cannot settle|settling)/)), 0,
        'without falling back');
}

cuttle_stop($_->{c}) for @N;
log_clean_ok(map { $_->{c} } @N);
CuttleRedis::redis_stop($R);

# ---- configuration errors
{
    my $f = "$dir/bad.yaml";
    write_file($f, <<'EOF');
limits:
  a: {rate: 10/s, scope: cluster}
  b: {conns: 3, scope: cluster}
  c: {rate: 1/s, conns: 2, scope: cluster}
  d: {rate: 1/s, scope: planet}
upstreams:
  o: {servers: [{address: 127.0.0.1:1}]}
listeners:
  - {name: l, listen: 127.0.0.1:1, mode: tcp, upstream: o, limits: [a]}
EOF
    my $r = cuttle_run('-t', '-c', $f);
    isnt($r->{status}, 0, 'cuttle -t refuses bad cluster limits');
    like($r->{stderr}, qr/:2:\d+: limit "a" has "scope: cluster" but there is no "redis" section/,
        'scope cluster needs a redis section');
    like($r->{stderr}, qr/:3:\d+: "scope: cluster" needs a "rate"/, 'and a rate');
    like($r->{stderr}, qr/:4:\d+: "scope: cluster" shares a rate only: "conns" is counted on each node/,
        'connections held are not shared');
    like($r->{stderr}, qr/:5:\d+: .*"planet"/, 'an unknown scope');
}

done_testing();
