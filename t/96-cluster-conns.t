# max_conns on a server.  On one node: a server at its cap is passed
# over (balance first goes on to the next server), a tcp client no
# server can take is closed and an http one gets 503, both counted in
# cuttle_server_capped_total; cuttlectl and the API show the cap.
# Across a cluster of three nodes sharing a real redis-server: a limit
# of 10 is never passed by the connections the one backend holds (the
# claims in Redis leave no overshoot while Redis is up), and it is
# reached; connections closed on one node are room for another within
# a few settles; garbage in the key is logged once and ignored; Redis
# killed: each node falls back to limit / 3 = 3; a node that stops
# deletes its claims.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use IO::Socket::IP;
use POSIX ();
use Time::HiRes qw(time sleep);
use CuttleTest;
use CuttleRedis;

my $why = redis_available();
plan skip_all => $why if $why;

my $dir = tmpdir();
my $LIMIT = 10;

# A backend that holds every connection it accepts, in one process, and
# writes "open max" to a file at each change: max is the most it ever
# held at once, seen at the instant of the accept.
sub holder {
    my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 128,
        ReuseAddr => 1) or die "holder: $@";
    my $file = "$dir/holder.count";
    write_file($file, "0 0\n");
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $parent = getppid();
        my $sel = IO::Select->new($l);
        my ($open, $max) = (0, 0);
        while (getppid() == $parent) {
            for my $s ($sel->can_read(0.1)) {
                if ($s == $l) {
                    my $c = $l->accept or next;
                    syswrite($c, "H\n");
                    $sel->add($c);
                    $open++;
                } elsif (!sysread($s, my $buf, 4096)) {
                    $sel->remove($s);
                    close $s;
                    $open--;
                } else {
                    next;
                }
                $max = $open if $open > $max;
                write_file("$file.tmp", "$open $max\n");
                rename "$file.tmp", $file;
            }
        }
        POSIX::_exit(0);
    }
    my $port = $l->sockport;
    close $l;
    return { pid => $pid, addr => "127.0.0.1:$port", file => $file };
}

sub held { my ($h) = @_; return split ' ', slurp($h->{file}) }

my $H = holder();
my $A = backend(mode => 'hold', name => 'A');
my $B = backend(mode => 'hold', name => 'B');
my $C = backend(mode => 'hold', name => 'C');
my $W = backend(mode => 'stall', name => 'W');
my $rport = free_port();
# The nodes log in as a user with no more than the ACL README.md gives.
my ($R, $login) = redis_acl_start($dir, 'r96', $rport, 't96');
my ($user, $pwf) = $login =~ /user: (\S+)\n  password_file: (\S+)/;

my (@nodes, @ports, @socks);
for my $i (1 .. 3) {
    my $port = free_port();
    my $sock = "$dir/admin-$i.sock";
    # Only node 1 has the local upstreams; the cluster one is on all three.
    my $local = $i > 1 ? '' : <<"EOF";
  firsts:
    balance: first
    servers:
      - {address: $A->{addr}, max_conns: 2}
      - {address: $B->{addr}}
  alone: {servers: [{address: $C->{addr}, max_conns: 1}]}
  web: {servers: [{address: $W->{addr}, max_conns: 1}]}
EOF
    my $llis = $i > 1 ? '' : <<"EOF";
  - {name: firsts, listen: 127.0.0.1:%PORT_F%, mode: tcp, upstream: firsts}
  - {name: alone, listen: 127.0.0.1:%PORT_A%, mode: tcp, upstream: alone}
  - {name: web, listen: 127.0.0.1:%PORT_W%, mode: http, routes: [{match: {path_prefix: /}, upstream: web}]}
EOF
    my $conf = <<"EOF";
error_log: {path: %LOG%, level: info}
upstreams:
  held:
    servers:
      - {address: $H->{addr}, max_conns: {limit: $LIMIT, scope: cluster}}
$local
listeners:
  - {name: held, listen: 127.0.0.1:$port, mode: tcp, upstream: held}
$llis
admin: {socket: $sock}
redis: {address: 127.0.0.1:$rport, user: $user, password_file: $pwf, prefix: t96, node: n$i,
        command_timeout: 300ms}
EOF
    push @ports, $port;
    push @socks, $sock;
    push @nodes, $conf;
}
my %lport = (F => free_port(), A => free_port(), W => free_port());
$nodes[0] =~ s/%PORT_(\w)%/$lport{$1}/g;
@nodes = map { cuttle_start($_, workers => 2) } @nodes;
for my $c (@nodes) {
    wait_log($c, qr/redis: up/) or BAIL_OUT('a node did not reach Redis');
}

sub api {
    my ($i, $path) = @_;
    my $r = curl_run('--unix-socket', $socks[$i], "http://x$path");
    return $r->{stdout};
}
sub metric {
    my ($i, $re) = @_;
    my ($v) = api($i, '/metrics') =~ /^$re (\d+)$/m;
    return $v;
}

# A client through $port: its connection if a server took it (the
# backend's first line came), undef if it was closed.
sub admitted {
    my ($port) = @_;
    my $s = tcp_connect($port) or return undef;
    my $l = recv_line($s, 2);
    return $s if defined $l && $l =~ /^\w+\n\z/;
    close $s;
    return undef;
}

# --- on one node: first goes past A at its cap to B; alone closes the client
{
    my @f = map { admitted($lport{F}) } 1 .. 3;
    is(scalar(grep { defined } @f), 3, 'firsts: three clients admitted');
    is(backend_accepts($A), 2, 'A (max_conns 2) took two');
    is(backend_accepts($B), 1, '... and the third went on to B');
    my $c1 = admitted($lport{A});
    ok($c1, 'alone: the first client is admitted');
    my $c2 = admitted($lport{A});
    ok(!$c2, 'alone: a second one, past max_conns 1, is closed');
    ok(wait_log($nodes[0], qr/every server is at its max_conns/),
        'the refusal is logged');
    is(metric(0, qr/cuttle_server_capped_total\{upstream="alone",server="\Q$C->{addr}\E"\}/), 1,
        '/metrics: cuttle_server_capped_total 1');
    my $hold = tcp_connect($lport{W});
    send_all($hold, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    ok(wait_until(sub { backend_accepts($W) == 1 }, 5), 'web: the first request holds W');
    my $r = http_get($lport{W}, '/b');
    is($r->{status}, 503, 'web: a request past max_conns 1 is answered 503');
    close $hold;
    my $st = cuttlectl_run('-s', $socks[0], 'upstreams');
    like($st->{stdout}, qr/^\s+\Q$A->{addr}\E\s+1\s+enabled\s+up\s+2\s+2\s/m,
        'cuttlectl upstreams: A has 2 active of max 2') or diag($st->{stdout});
    like($st->{stdout}, qr/^\s+\Q$H->{addr}\E\s+1\s+enabled\s+up\s+0\s+\d+\/10\s/m,
        'cuttlectl upstreams: the cluster cap as node/limit');
    like(api(0, '/api/v1/upstreams'),
        qr/"max_conns":\s*\{[^}]*"limit":\s*10[^}]*"scope":\s*"cluster"/,
        'the API shows the cap and its scope');
    close $_ for grep { defined } @f, $c1;
}

# Garbage under the prefix: a field that is no node's claim.
my $key = "t96:conns:held:$H->{addr}";
redis_cmd($rport, 'HSET', $key, 'intruder', 'not-a-claim');

# --- across the cluster: never past 10, and 10 reached
my @held;
{
    my ($tries, $refused) = (0, 0);
    my $t0 = time;
    while (@held < $LIMIT && time - $t0 < 15) {
        my $n = $tries++ % 3;
        my $s = admitted($ports[$n]);
        if ($s) {
            push @held, [$n, $s];
        } else {
            $refused++;
            sleep 0.05;
        }
    }
    is(scalar @held, $LIMIT, "the cluster admits $LIMIT through three nodes")
        or diag("$refused refused in " . (time - $t0) . " s");
    # Every node keeps trying for a second: all refused.
    my $more = 0;
    for (1 .. 15) {
        my $s = admitted($ports[$_ % 3]);
        $more++, close $s if $s;
        sleep 0.05;
    }
    is($more, 0, 'past the limit every node refuses');
    my (undef, $max) = held($H);
    cmp_ok($max, '<=', $LIMIT, "the backend never held more than $LIMIT (no overshoot)");
    is($max, $LIMIT, "... and did hold $LIMIT");
    my @g = log_grep($nodes[0], qr/has fields that are no claim/);
    is(scalar @g, 1, 'the garbage field is logged once') or diag(join "\n", @g);
    is(redis_cmd($rport, 'HGET', $key, 'intruder'), 'not-a-claim',
        '... and left as it was');
    my $stats = redis_cmd($rport, 'INFO', 'commandstats');
    my ($sha) = $stats =~ /^cmdstat_evalsha:calls=(\d+)/m;
    my ($eval) = $stats =~ /^cmdstat_eval:calls=(\d+)/m;
    ok(($sha // 0) > 3 * ($eval // 0), "settles name the script by its hash (evalsha "
        . ($sha // 0) . ', eval ' . ($eval // 0) . ')');
}

# --- closing on one node is room for the others within a few settles:
# all of it but the reservations of the nodes that want more (reserve 1
# each), which come back through any node trying
sub admit_n {
    my ($nodes, $want, $secs) = @_;
    my ($got, $t0, $n) = (0, time, 0);
    while ($got < $want && time - $t0 < $secs) {
        my $i = $nodes->[$n++ % @$nodes];
        my $s = admitted($ports[$i]);
        if ($s) { push @held, [$i, $s]; $got++ } else { sleep 0.05 }
    }
    return $got;
}
{
    my %per;
    $per{$_->[0]}++ for @held;
    my ($from) = sort { $per{$b} <=> $per{$a} } keys %per;
    my @mine = grep { $_->[0] == $from } @held;
    my $k = @mine >= 3 ? 3 : scalar @mine;
    is($k, 3, "node @{[$from + 1]} holds 3 to close");
    my %gone = map { ($_->[1] => 1) } @mine[0 .. $k - 1];
    close $_->[1] for grep { $gone{$_->[1]} } @held;
    @held = grep { !$gone{$_->[1]} } @held;
    my $other = ($from + 1) % 3;
    # A settle is 100 ms: 2 s is room for scheduling on a loaded machine.
    is(admit_n([$other], 1, 2), 1, "3 closed on node @{[$from + 1]}: room through node "
        . ($other + 1) . ' within 2 s');
    is(admit_n([0, 1, 2], 2, 3), 2, '... and the rest through the nodes in turn');
    is(admit_n([0, 1, 2], 1, 0.5), 0, '... and no more');
    my ($open, $max) = held($H);
    is($open, $LIMIT, "the backend holds $LIMIT again");
    cmp_ok($max, '<=', $LIMIT, '... and never held more');
    # A reload keeps what the node holds of the cluster: no dip, no jump.
    my $r = cuttle_reload($nodes[0]);
    ok($r->{ok}, 'node 1 reloads while the cluster is full');
    is(admit_n([0, 1, 2], 1, 0.5), 0, '... and nothing more is admitted after it');
    cmp_ok((held($H))[1], '<=', $LIMIT, '... nor ever held');
    close $_->[1] for @held;
    @held = ();
    ok(wait_until(sub { (held($H))[0] == 0 }, 5), 'all closed');
}

# --- the key holds something else: logged once, each node on its share,
# and counted in Redis again once the key is gone
{
    my @before = map { log_mark($_) } @nodes;
    my $mark = $before[1];
    redis_cmd($rport, 'DEL', $key);
    redis_cmd($rport, 'SET', $key, 'not a hash');
    ok(wait_log($nodes[$_], qr/\Q"$key"\E is not a hash/, since => $before[$_]),
        'a key of the wrong type is logged by node ' . ($_ + 1)) for 0 .. 2;
    ok(wait_until(sub { api(1, '/api/v1/upstreams') =~ /"node_limit":\s*3\b/ }, 3),
        '... and the node falls back to its share');
    my @marks = map { log_mark($_) } @nodes;
    redis_cmd($rport, 'DEL', $key);
    ok(wait_log($nodes[$_], qr/max_conns across the cluster: counted in Redis again/,
        since => $marks[$_]), 'the key gone: node ' . ($_ + 1) . ' counts in Redis again')
        for 0 .. 2;
    is(scalar(log_since($nodes[1], $mark, qr/" is not a hash; upstream/)), 1, 'the wrong type was logged once');
    is(redis_cmd($rport, 'TYPE', $key), 'hash', 'the claims are back in a hash');
}

# --- Redis killed: each node falls back to limit / 3
{
    my @marks = map { log_mark($_) } @nodes;
    redis_stop($R);
    for my $i (0 .. 2) {
        ok(wait_log($nodes[$i], qr/max_conns across the cluster: .+; each node admits limit \/ nodes/,
            since => $marks[$i]), "node ".($i+1).": the fallback is logged");
    }
    my @per;
    for my $i (0 .. 2) {
        my @s = grep { defined } map { admitted($ports[$i]) } 1 .. 5;
        push @per, scalar @s;
        push @held, @s;
    }
    is("@per", '3 3 3', 'each node admits limit / 3 nodes while Redis is down');
    like(api(0, '/api/v1/upstreams'), qr/"node_limit":\s*3\b/, 'the API shows the share');
    close $_ for @held;
}

# --- a node that stops deletes its claims, for the others to use at once
{
    my @marks = map { log_mark($_) } @nodes;
    ($R) = redis_acl_start($dir, 'r96', $rport, 't96');
    ok(wait_log($nodes[$_], qr/max_conns across the cluster: counted in Redis again/,
        since => $marks[$_]), 'Redis back: node ' . ($_ + 1) . ' counts in Redis again')
        for 0 .. 2;
    my $s = admitted($ports[2]);
    ok($s, 'a client through node 3');
    ok(wait_until(sub { (redis_cmd($rport, 'HGET', $key, 'n3') // '') =~ /^2:\d+$/ }, 3),
        '... which claims what it holds and its reserve: 2');
    kill 'QUIT', cuttle_master($nodes[2]);
    sleep 0.3;
    like(redis_cmd($rport, 'HGET', $key, 'n3') // '', qr/^2:\d+$/,
        'draining, node 3 keeps its claim: a client it serves may need another connection');
    close $s;
    ok(defined cuttle_wait($nodes[2], 10), 'the client gone, node 3 exits');
    is(redis_cmd($rport, 'HEXISTS', $key, 'n3'), 0, '... and has deleted its claim');
    ok(redis_cmd($rport, 'HEXISTS', $key, 'n1') && redis_cmd($rport, 'HEXISTS', $key, 'n2'),
        '... and nodes 1 and 2 keep theirs');
}

log_clean_ok();
kill 'TERM', $H->{pid};
waitpid($H->{pid}, 0);
done_testing();
