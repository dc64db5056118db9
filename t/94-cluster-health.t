# One prober per upstream per cluster: three nodes share a Redis, and
# only the one holding an upstream's lease sends its health checks (the
# origin counts them); the others adopt what it finds, so a server it
# finds down is avoided by the clients of all three.  "probe:
# every_node" keeps each node checking.  Redis killed: every node checks
# for itself; Redis back: one prober again.  The prober stopped: it ends
# its lease, and another node checks within 2 x interval; killed, its
# lease runs out, and another node checks within 2 x interval too.  A reload adds an
# upstream and keeps the lease of the others; garbage on the channel and
# a lease key of the wrong type are logged and ignored.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use CuttleTest;
use CuttleRedis;

my $why = redis_available();
plan skip_all => $why if $why;

my $dir = tmpdir();
my $IV = 0.5;                   # the check interval, s
my $A = http_origin(name => 'A');
my $C = http_origin(name => 'C');
my $D = http_origin(name => 'D');
my $E = http_origin(name => 'E');
my $dead = free_port();
my $rport = free_port();
my @port = map { free_port() } 0 .. 2;
# The nodes log in as a user with no more than the ACL README.md gives.
my ($R, $login) = redis_acl_start($dir, 'r94', $rport, 't94');
my ($user, $pwf) = $login =~ /user: (\S+)\n  password_file: (\S+)/;

sub checks { return scalar origin_requests($_[0], target => $_[1]) }

sub conf {
    my ($i, $more) = @_;
    my $e = $more ? "\n      - {address: $E->{addr}}" : '';
    my $extra = $more ? <<"EOF" : '';
  more:
    health:
      active: {type: http, path: /more, interval: 500ms, timeout: 400ms, rise: 1, fall: 1}
    servers:
      - {address: $D->{addr}}
EOF
    return <<"EOF";
workers: 1
upstreams:
  web:
    health:
      active: {type: http, path: /hc, interval: 500ms, timeout: 400ms, rise: 1, fall: 1}
      passive: {max_fails: 0}
    servers:
      - {address: $A->{addr}}
      - {address: 127.0.0.1:$dead}$e
  own:
    health:
      active: {type: http, path: /own, interval: 500ms, timeout: 400ms, probe: every_node}
    servers:
      - {address: $C->{addr}}
$extra
listeners:
  - {name: web, listen: 127.0.0.1:$port[$i], mode: tcp, upstream: web, retries: 0}
admin: {socket: $dir/admin-$i.sock}
redis: {address: 127.0.0.1:$rport, user: $user, password_file: $pwf, prefix: t94, node: node-$i}
EOF
}

my @n = map { cuttle_start(conf($_)) } 0 .. 2;

sub metric {
    my ($i, $name) = @_;
    my $r = curl_run('--unix-socket', "$dir/admin-$i.sock", 'http://x/metrics');
    my ($v) = $r->{stdout} =~ /^\Q$name\E (\d+)$/m;
    return $v;
}

# The node that took the lease of $up after $marks (log marks), once
# every live node has either taken it or adopted; undef if none did.
sub prober_after {
    my ($up, $marks, @live) = @_;
    my $p;
    wait_until(sub {
        my @took = grep { log_since($n[$_], $marks->[$_],
            qr/upstream "$up": this node took the probe lease/) } @live;
        my @adopt = grep { log_since($n[$_], $marks->[$_],
            qr/upstream "$up": node "node-\d" checks its servers; this node adopts/) } @live;
        $p = $took[0] if @took == 1;
        return @took == 1 && @took + @adopt == @live;
    }, 10);
    return $p;
}

# Checks of $path at $origin during $secs s.
sub count_for {
    my ($origin, $path, $secs) = @_;
    my $c0 = checks($origin, $path);
    sleep $secs;
    return checks($origin, $path) - $c0;
}

# --- one node probes, the others adopt
my $p = prober_after('web', [0, 0, 0], 0 .. 2);
ok(defined $p, 'one node took the lease of upstream web, the two others adopt') or BAIL_OUT('no prober');
my @others = grep { $_ != $p } 0 .. 2;
sleep $IV;
{
    my $c0 = checks($C, '/own');
    my $d = count_for($A, '/hc', 3);
    my $dc = checks($C, '/own') - $c0;
    # 3 s at 500ms +-10%: one node sends 5 to 7 checks, three 15 to 21.
    ok($d >= 4 && $d <= 8, "probe: cluster: one node's worth of checks in 3 s ($d)");
    ok($dc >= 13, "probe: every_node: three nodes' worth in the same 3 s ($dc)");
}
is(metric($p, 'cuttle_health_prober{upstream="web"}'), 1, 'the prober: cuttle_health_prober 1');
is(metric($_, 'cuttle_health_prober{upstream="web"}'), 0, "node-$_: cuttle_health_prober 0")
    for @others;
is(metric($_, 'cuttle_health_prober{upstream="own"}'), 1, "node-$_: every_node upstream probed here")
    for 0 .. 2;
{
    my $r = cuttlectl_run('-s', "$dir/admin-$others[0].sock", 'status');
    like($r->{stdout}, qr/^checks\s+web by node node-$p$/m, 'cuttlectl status names the prober');
    like($r->{stdout}, qr/^checks\s+own by every node$/m, '... and every node for every_node');
    $r = cuttlectl_run('-s', "$dir/admin-$p.sock", 'upstreams');
    like($r->{stdout}, qr/^upstream web \(round_robin, checked by this node \(node-$p\)\)$/m,
        'cuttlectl upstreams on the prober: this node');
}

# --- the dead server: found down by the prober, adopted by the others
ok(scalar wait_log($n[$p], qr/upstream "web" server 127\.0\.0\.1:$dead is down: .+ \(1 failed checks\)/),
    'the prober finds the dead server down');
for my $i (@others) {
    ok(scalar wait_log($n[$i], qr/upstream "web" server 127\.0\.0\.1:$dead is down: .+ \(checked by node "node-$p"\)/),
        "node-$i adopts it, with the reason and the prober's name");
}
for my $i (0 .. 2) {
    my @bad = grep { ($_->{status} // 0) != 200 } map { http_get($port[$i], '/echo') } 1 .. 10;
    is(scalar @bad, 0, "node-$i: 10 of 10 requests served, none sent to the dead server");
}

# --- Redis killed: every node checks for itself; back: one prober again
{
    my @m = map { log_mark($_) } @n;
    redis_stop($R);
    ok(scalar wait_log($n[$p], qr/upstream "web": this node lost the probe lease: /, since => $m[$p]),
        'Redis killed: the prober logs that it lost the lease');
    ok(scalar(wait_log($n[$_], qr/upstream "web": this node checks its servers itself/, since => $m[$_])),
        "node-$_ checks for itself") for @others;
    sleep $IV;
    my $d = count_for($A, '/hc', 3);
    ok($d >= 13, "without Redis every node checks: three nodes' worth in 3 s ($d)");
    @m = map { log_mark($_) } @n;
    ($R) = redis_acl_start($dir, 'r94', $rport, 't94');
    $p = prober_after('web', \@m, 0 .. 2);
    ok(defined $p, 'Redis back: one node takes the lease again, the others adopt');
    @others = grep { $_ != $p } 0 .. 2;
    sleep $IV;
    $d = count_for($A, '/hc', 3);
    ok($d >= 4 && $d <= 8, "one node's worth of checks again ($d)");
}

# --- a reload adds an upstream, and a server to web that the prober
# lacks; the lease of web stays where it was
{
    my $i = $others[0];
    my @m = map { log_mark($_) } @n;
    my $r = cuttle_reload($n[$i], conf($i, 1));
    ok($r->{ok}, "node-$i reloads with one more upstream");
    ok(scalar wait_log($n[$i], qr/upstream "more": this node took the probe lease/, since => $m[$i]),
        '... and takes the lease of the new upstream, which only it has');
    ok(scalar wait_until(sub { checks($D, '/more') >= 2 }, 3), '... and checks its server');
    ok(scalar wait_log($n[$i], qr/upstream "web" server \Q$E->{addr}\E: no result from node "node-$p"; this node checks it/,
        since => $m[$i]), 'a server of web that the prober does not report: this node checks it');
    ok(scalar wait_until(sub { checks($E, '/hc') >= 2 }, 3), '... and only it: its checks come');
    sleep 2 * $IV;
    is_deeply([log_since($n[$i], $m[$i], qr/upstream "web": (?:this node|node )/)], [],
        '... while web is still adopted, with nothing logged about it');
    $r = cuttle_reload($n[$p], conf($p));
    ok($r->{ok}, "the prober, node-$p, reloads");
    my $d = count_for($A, '/hc', 2);
    ok($d >= 2 && $d <= 6, "... and checks on, alone ($d checks in 2 s)");
    is_deeply([log_since($n[$p], $m[$p], qr/upstream "web": (?:this node|node )/)], [],
        '... keeping its lease, with nothing logged about it');
}

# --- garbage on the channel, a result for an unknown server: ignored
{
    my $i = $others[0];
    my $m = log_mark($n[$i]);
    redis_cmd($rport, 'PUBLISH', 't94:health', 'garbage');
    redis_cmd($rport, 'PUBLISH', 't94:health', "1\tnode-9\tweb\t127.0.0.1:1\tdown\t5\tx");
    redis_cmd($rport, 'PUBLISH', 't94:health', 'garbage again');
    my @l = wait_log($n[$i], qr/a message on t94:health is not a check's result: .*; ignored/, since => $m);
    ok(@l == 1, 'garbage on the channel: one warning') or diag(explain(\@l));
    sleep $IV;
    is(scalar(log_since($n[$i], $m, qr/127\.0\.0\.1:1\b/)), 0, 'a result for a server it does not have: ignored');
}

# --- the prober stopped: it hands its lease over, and another node
# checks within 2 x interval
{
    my @live = @others;
    my @m = map { log_mark($_) } @n;
    my $master = cuttle_master($n[$p]);
    kill 'TERM', $master;
    # Until its master is gone the prober serves and checks: it is stopping, not gone.
    ok(defined cuttle_wait($n[$p], 10), "node-$p (the prober) stops");
    # Kept, the lease would name it for 2/3 of an interval at least.
    my $holder = redis_cmd($rport, 'GET', 't94:probe:web') // '';
    isnt($holder, "node-$p", "its lease was ended as it stopped (now: '$holder')");
    ok(scalar log_since($n[$p], $m[$p], qr/upstream "web": this node lost the probe lease: this node is stopping/),
        '... which it logged');
    my $t0 = time;
    my $c0 = checks($A, '/hc');
    wait_until(sub { checks($A, '/hc') > $c0 }, 5, 0.01);
    my $took = time - $t0;
    ok($took <= 2 * $IV + 0.25, sprintf('the first check from another node comes %.3f s after the '
        . 'prober went (at most 2 x interval)', $took));
    my $q = prober_after('web', \@m, @live);
    ok(defined $q && $q != $p, "node-" . ($q // '?') . ' took the lease');
}

# --- a lease key that no node wrote: logged, and every node checks
{
    my @live = grep { $_ != $p } 0 .. 2;
    my $m = log_mark($n[$live[0]]);
    # In one step: a node's renewal between the two would make it a string again.
    redis_cmd($rport, 'EVAL', "redis.call('DEL', KEYS[1]) redis.call('HSET', KEYS[1], 'x', 'y')",
        1, 't94:probe:web');
    ok(scalar wait_log($n[$live[0]], qr/t94:probe:web WRONGTYPE.*; ignored/, since => $m),
        'a lease key of the wrong type is logged');
    sleep $IV;
    is(metric($_, 'cuttle_health_prober{upstream="web"}'), 1, "node-$_ checks for itself meanwhile")
        for @live;
    redis_cmd($rport, 'DEL', 't94:probe:web');
}

# --- the prober killed: its lease runs out, and another node checks
# within 2 x interval
{
    my @live = grep { !$n[$_]{exited} } 0 .. 2;
    my @m = map { log_mark($_) } @n;
    my $q = prober_after('web', \@m, @live);
    wait_until(sub { (redis_cmd($rport, 'GET', 't94:probe:web') // '') eq "node-" . ($q // '?') }, 5);
    my @workers = proc_children($n[$q]{pid});
    $n[$q]{known_workers}{$_} = 1 for @workers;
    my $t0 = time;
    my $c0 = checks($A, '/hc');
    kill 'KILL', cuttle_master($n[$q]);
    ok(defined cuttle_wait($n[$q], 5), "node-$q (the prober) killed");
    is(redis_cmd($rport, 'GET', 't94:probe:web'), "node-$q", '... its lease is left to run out');
    wait_until(sub { checks($A, '/hc') > $c0 }, 5, 0.01);
    my $took = time - $t0;
    ok($took <= 2 * $IV + 0.25, sprintf('the first check from the last node comes %.3f s after the '
        . 'prober was killed (at most 2 x interval)', $took));
    ok(wait_until(sub { !grep { proc_alive($_) } @workers }, 5), '... whose workers exit by themselves');
}

$_->{exited} || cuttle_stop($_) for @n;
redis_stop($R);
log_clean_ok();
done_testing();
