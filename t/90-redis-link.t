# The master's link to Redis: up with a user and a password from a file;
# Redis killed: "down" logged once, traffic and reloads unaffected;
# Redis back: "up again" once; a Redis that accepts and never answers
# is down by command_timeout while a reload still completes at once; a
# wrong password is down with Redis's reason; Sentinel: a dead sentinel
# is passed over and the master the live one names is used.  Real
# redis-server and redis-sentinel, each on a free loopback port and
# stopped by its pid.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::IP;
use POSIX ();
use Time::HiRes qw(time sleep);
use CuttleTest;
use CuttleRedis qw(redis_available kid_spawn kid_stop redis_stop sentinel_start redis_cmd
    wait_listen redis_acl_start);

my $why = redis_available();
plan skip_all => $why if $why;

my $dir = tmpdir();
my %KIDS;
END { for my $p (keys %KIDS) { kill 'TERM', $p; waitpid($p, 0) } }
sub redis_start { return CuttleRedis::redis_start($dir, @_) }
sub stop_kid { kid_stop(@_) }

# A server that accepts and reads, and never answers: a Redis that hangs.
sub silent_server {
    my $s = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 8,
        ReuseAddr => 1) or die "silent: $@";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my @held;
        while (my $c = $s->accept) {
            push @held, $c;
            my $kid = fork // next;
            if ($kid == 0) { 1 while sysread($c, my $buf, 4096); POSIX::_exit(0) }
        }
        POSIX::_exit(0);
    }
    $KIDS{$pid} = 1;
    my $port = $s->sockport;
    close $s;
    return ($pid, $port);
}

sub metrics {
    my ($sock) = @_;
    my $r = curl_run('--unix-socket', $sock, 'http://x/metrics');
    return $r->{stdout};
}
sub metric {
    my ($sock, $re) = @_;
    my ($v) = metrics($sock) =~ /^$re (\d+)$/m;
    return $v;
}

my $E = backend(mode => 'echo', name => 'E');
my $port = free_port();
my $rport = free_port();
my $sock = "$dir/admin.sock";
my $pwfile = write_file("$dir/redis.password", "userpw\n");
chmod 0600, $pwfile or die "chmod: $!";
my $R = redis_start('r1', $rport, 'requirepass otherpw',
    'user cuttle on >userpw ~* &* +@all');

sub conf {
    my ($redis) = @_;
    return <<"EOF";
error_log: {path: %LOG%, level: info}
upstreams:
  e: {servers: [{address: $E->{addr}}]}
listeners:
  - {name: relay, listen: 127.0.0.1:$port, mode: tcp, upstream: e}
admin: {socket: $sock}
redis:
$redis
EOF
}

my $direct = <<"EOF";
  address: 127.0.0.1:$rport
  user: cuttle
  password_file: $pwfile
  database: 1
  prefix: t90
  node: node-a
  connect_timeout: 300ms
  command_timeout: 300ms
EOF

sub relay_ok {
    my ($what) = @_;
    my $s = tcp_connect($port) or return fail("$what: connect: $@");
    is(exchange($s, "ping-$what\n", 5), "ping-$what\n", "$what: a client is relayed");
}

my $c = cuttle_start(conf($direct), workers => 1);

# --- up, with user, password file and database
{
    my @up = wait_log($c, qr/\[notice\] \d+#m: redis: up \(127\.0\.0\.1:$rport, database 1, node "node-a", prefix "t90"\)$/);
    is(scalar @up, 1, 'redis: up logged once, with the server, database, node and prefix');
    is(metric($sock, 'cuttle_redis_up'), 1, '/metrics: cuttle_redis_up 1');
    ok(metric($sock, 'cuttle_redis_commands_total\{result="ok"\}') >= 3,
        '/metrics: the handshake counted as commands ok');
    my $st = cuttlectl_run('-s', $sock, 'status');
    like($st->{stdout}, qr/^redis\s+up \(127\.0\.0\.1:$rport\) for \S+, node node-a$/m,
        'cuttlectl status: the redis line') or diag($st->{stdout}, $st->{stderr});
    my $j = cuttlectl_run('-s', $sock, '--json', 'status');
    like($j->{stdout}, qr/"state":\s*"ready"/, 'status JSON: redis state ready')
        or diag($j->{stdout});
    relay_ok('up');
}

# --- Redis killed: down once, traffic and reloads go on
{
    my $mark = log_mark($c);
    stop_kid($R);
    my @down = wait_log($c, qr/\[error\] \d+#m: redis: down \(127\.0\.0\.1:$rport: .+\), retrying$/,
        since => $mark);
    is(scalar @down, 1, 'Redis killed: "redis: down (...), retrying" logged');
    is(metric($sock, 'cuttle_redis_up'), 0, '/metrics: cuttle_redis_up 0');
    relay_ok('down');
    my $t0 = time;
    my $r = cuttle_reload($c);
    my $took = time - $t0;
    ok($r->{ok}, 'a reload while Redis is down succeeds');
    ok($took < 2, sprintf('... promptly (%.2f s)', $took));
    # Retries at 100 ms, 200 ms, 400 ms, ...: several in 1.5 s, none logged.
    sleep 1.5;
    my @all = log_since($c, $mark, qr/redis: down/);
    is(scalar @all, 1, 'the retries while down are not logged: one "down" line')
        or diag(join "\n", @all);
    my $st = cuttlectl_run('-s', $sock, 'status');
    like($st->{stdout}, qr/^redis\s+down \(127\.0\.0\.1:$rport: .+\) for \S+$/m,
        'cuttlectl status: down and why') or diag($st->{stdout});
    relay_ok('reloaded');
}

# --- Redis back: up again, once
{
    my $mark = log_mark($c);
    $R = redis_start('r1', $rport, 'requirepass otherpw', 'user cuttle on >userpw ~* &* +@all');
    my @up = wait_log($c, qr/\[notice\] \d+#m: redis: up again after \d+\.\ds \(127\.0\.0\.1:$rport, database 1\)$/,
        since => $mark, timeout => 10);
    is(scalar @up, 1, 'Redis back: "redis: up again after N s" logged once');
    ok(wait_until(sub { (metric($sock, 'cuttle_redis_up') // 0) == 1 }, 3),
        '/metrics: cuttle_redis_up 1 again');
    ok(metric($sock, 'cuttle_redis_state_changes_total') >= 3,
        '/metrics: state changes counted (up, down, up)');
}

# --- a Redis that accepts and never answers: down by command_timeout;
# signals and reloads meanwhile are as prompt as ever.
{
    my ($S, $sport) = silent_server();
    my $mark = log_mark($c);
    my $r = cuttle_reload($c, conf($direct =~ s/127\.0\.0\.1:$rport/127.0.0.1:$sport/r));
    ok($r->{ok}, 'reload onto a silent Redis succeeds');
    ok((grep { /redis: settings changed, reconnecting/ } @{ $r->{lines} }),
        'a changed redis section reconnects');
    my @down = wait_log($c, qr/redis: down \(127\.0\.0\.1:$sport: no reply within 300ms\), retrying$/,
        since => $mark);
    is(scalar @down, 1, 'no reply within command_timeout: down, once');
    ok(metric($sock, 'cuttle_redis_commands_total\{result="timeout"\}') >= 1,
        '/metrics: the command counted as a timeout');
    for my $i (1 .. 3) {
        my $t0 = time;
        my $rr = cuttle_reload($c);
        my $took = time - $t0;
        ok($rr->{ok} && $took < 2,
            sprintf('reload %d while Redis hangs completes in %.2f s', $i, $took));
    }
    relay_ok('silent');
    is(scalar(log_since($c, $mark, qr/redis: down/)), 1, 'still one "down" line');
    stop_kid($S);
}

# --- a wrong password: down, with Redis's reason
{
    my $bad = write_file("$dir/bad.password", "nope\n");
    chmod 0600, $bad or die "chmod: $!";
    my $mark = log_mark($c);
    my $r = cuttle_reload($c, conf($direct =~ s/\Q$pwfile\E/$bad/r));
    ok($r->{ok}, 'reload with a wrong password succeeds (Redis is not cuttle -t\'s)');
    my @down = wait_log($c, qr/redis: down \(127\.0\.0\.1:$rport: AUTH failed: WRONGPASS[^)]*\), retrying$/,
        since => $mark);
    is(scalar @down, 1, 'wrong password: down, AUTH failed with WRONGPASS, logged once')
        or diag(join "\n", log_since($c, $mark));
    is(metric($sock, 'cuttle_redis_up'), 0, '/metrics: cuttle_redis_up 0');
}

# --- the same section again: the connection is kept
{
    my $r = cuttle_reload($c, conf($direct));
    ok($r->{ok}, 'back to the right password');
    wait_log($c, qr/redis: up \(127\.0\.0\.1:$rport/, count => 2);
    my $mark = log_mark($c);
    $r = cuttle_reload($c);
    sleep 0.3;
    ok(!(grep { /redis:/ } log_since($c, $mark)), 'an unchanged redis section: no reconnection');
}

# --- Sentinel: a dead sentinel first, then one that names the master
{
    my ($mport, $sport, $dead) = (free_port(), free_port(), free_port());
    my $M = redis_start('m', $mport);
    my $sconf = write_file("$dir/sentinel.conf", join '', map { "$_\n" }
        "port $sport", 'bind 127.0.0.1', "dir $dir",
        "sentinel monitor mymaster 127.0.0.1 $mport 1");
    kid_spawn("$dir/sentinel.out", 'redis-sentinel', $sconf);
    wait_listen($sport) or BAIL_OUT('redis-sentinel does not listen: ' . slurp("$dir/sentinel.out"));
    my $mark = log_mark($c);
    my $r = cuttle_reload($c, conf(<<"EOF"));
  sentinel: {addresses: ["127.0.0.1:$dead", "127.0.0.1:$sport"], master: mymaster}
  prefix: t90
  node: node-a
  connect_timeout: 300ms
  command_timeout: 300ms
EOF
    ok($r->{ok}, 'reload onto Sentinel');
    my @up = wait_log($c, qr/redis: up \(127\.0\.0\.1:$mport, database 0, node "node-a", prefix "t90"\)$/,
        since => $mark);
    is(scalar @up, 1, 'the master named by the live sentinel is used, past a dead one');
    ok(!(grep { /redis: down/ } log_since($c, $mark)), '... with no outage logged');
    my $st = cuttlectl_run('-s', $sock, 'status');
    like($st->{stdout}, qr/^redis\s+up \(127\.0\.0\.1:$mport\)/m, 'status names the master')
        or diag($st->{stdout});

    # The master killed: down, with the sentinel asked again at every retry.
    $mark = log_mark($c);
    stop_kid($M);
    my @down = wait_log($c, qr/redis: down \(/, since => $mark);
    is(scalar @down, 1, 'Sentinel master killed: down, once');
    $M = redis_start('m', $mport);
    @up = wait_log($c, qr/redis: up again after/, since => $mark, timeout => 10);
    is(scalar @up, 1, 'master back: up again through the sentinel');
}

cuttle_stop($c);
log_clean_ok();
done_testing();
