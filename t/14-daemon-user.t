# daemon: true (the command returns once the master runs in the
# background, found through pid_file, stopped with -s stop) and user /
# group (workers run as nobody:nogroup, the master stays root, and the
# workers can still write the log files created by a reopen).  The
# tests run as root, as cuttle's user: option needs.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Socket qw(SHUT_WR);
use CuttleTest;

my $dir = tmpdir();
my $E = backend(mode => 'echo', name => 'E');

# The session id of a process (field 6 of /proc/PID/stat).
sub session_of {
    my ($pid) = @_;
    return slurp("/proc/$pid/stat") =~ /\)\s+\S+\s+\d+\s+\d+\s+(\d+)/ ? $1 : -1;
}

# --- daemon: true
{
    my $port = free_port();
    my $c = cuttle_start(<<"EOF", workers => 2);
daemon: true
pid_file: %PIDFILE%
upstreams:
  u:
    servers:
      - {address: $E->{addr}}
listeners:
  - {name: echo, listen: 127.0.0.1:$port, mode: tcp, upstream: u}
EOF
    is($c->{launch}{status}, 0, 'daemon: the command exits 0');
    ok($c->{launch}{elapsed} < 5, sprintf('... within a few seconds (%.1f s)',
        $c->{launch}{elapsed}));
    my $m = $c->{pid};
    ok(proc_alive($m), "pid_file names a live master ($m)");
    is(proc_title($m), 'cuttle: master', 'it is the master');
    my $ppid = proc_status($m)->{PPid} // -1;
    ok($ppid != $$ && $ppid != $c->{launch}{pid}, "its parent is not the test (PPid $ppid)");
    isnt(session_of($m), session_of($$), 'it left the session of the test');
    my @kids = proc_children($m);
    is(scalar @kids, 2, 'two workers');
    is(exchange(tcp_connect($port) // die("connect: $@"), "daemon\n", 3),
        "daemon\n", 'the listener serves');
    my $r = cuttle_run('-s', 'stop', '-c', $c->{conf});
    is($r->{status}, 0, '-s stop exits 0') or diag($r->{stderr});
    ok(defined cuttle_wait($c, 5), 'the master exits');
    ok(wait_until(sub { !grep { proc_alive($_) } @kids }, 3), 'its workers too');
    ok(!-e $c->{pid_file}, 'pid_file removed');
    ok(!tcp_connect($port), 'the port refuses');
}

# --- user: nobody, group: nogroup
SKIP: {
    # The daemon part above runs as anyone; switching users needs root.
    skip 'user: needs root to switch users', 1 if $> != 0;
    my ($uid, $gid) = ((getpwnam('nobody'))[2], (getgrnam('nogroup'))[2]);
    skip 'no user nobody or group nogroup on this system', 1
        unless defined $uid && defined $gid;
    # The test directory is created 0700: the workers, running as nobody,
    # must be able to reach the log files they reopen in it.
    chmod 0711, $dir or die "chmod $dir: $!";
    my $port = free_port();
    my $alog = "$dir/access-user.log";
    my $c = cuttle_start(<<"EOF", workers => 2);
user: nobody
group: nogroup
pid_file: %PIDFILE%
upstreams:
  u:
    servers:
      - {address: $E->{addr}}
listeners:
  - name: echo
    listen: 127.0.0.1:$port
    mode: tcp
    upstream: u
    access_log: {path: $alog, format: text}
EOF
    my $m = $c->{pid};
    my %id = (Uid => "$uid $uid $uid $uid", Gid => "$gid $gid $gid $gid");
    my @workers = values %{$c->{slots}};
    is(scalar @workers, 2, 'two workers');
    for my $w (@workers) {
        my $st = proc_status($w);
        is_deeply({ map { $_ => join(' ', split ' ', $st->{$_} // '') } qw(Uid Gid) },
            \%id, "worker $w: real, effective, saved and fs uid and gid are nobody's");
        ok(!grep({ $_ == 0 } split ' ', $st->{Groups} // ''),
            "worker $w: not in group root") or diag("Groups: $st->{Groups}");
    }
    my $mst = proc_status($m);
    is(join(' ', split ' ', $mst->{Uid} // ''), '0 0 0 0', 'the master stays uid 0');

    my $s = tcp_connect($port) or die "connect: $@";
    my $cport = $s->sockport;
    is(exchange($s, "as nobody\n", 3), "as nobody\n", 'traffic works');
    shutdown($s, SHUT_WR);
    recv_until_eof($s, 3);
    close $s;
    ok(wait_conn($c, 1, client => "127.0.0.1:$cport"), 'the worker logs the connection');

    rename($c->{log}, "$c->{log}.1") or die "rename: $!";
    rename($alog, "$alog.1") or die "rename: $!";
    kill 'USR1', $m;
    my $all = wait_until(sub {
        my $t = slurp("$c->{log}.1") . slurp($c->{log});
        !grep { $t !~ /\[notice\] $_#\w+: reopening logs$/m } $m, @workers;
    }, 5);
    ok($all, 'after USR1 the master and both workers log "reopening logs"');
    ok(!(grep { /\[(?:error|alert)\]/ } split /\n/, slurp($c->{log})),
        'no error reopening the logs') or diag(slurp($c->{log}));

    # Enough connections that both workers serve some.
    my (%by, @ports);
    for (1 .. 20) {
        my $t = tcp_connect($port) or die "connect: $@";
        push @ports, $t->sockport;
        is(exchange($t, "again\n", 3), "again\n", 'traffic after the reopen') if $_ == 1;
        close $t;
    }
    my @l = wait_conn($c, scalar @ports, client => qr/^127\.0\.0\.1:(?:${\join '|', @ports})$/);
    is(scalar @l, scalar @ports, 'the workers write their conn lines to the new error log');
    $by{$_->{pid}}++ for @l;
    ok(!grep({ !$by{$_} } @workers), 'both workers wrote to it')
        or diag(explain(\%by));
    my $alines = wait_until(sub {
        my @a = grep { /client=127\.0\.0\.1:(?:${\join '|', @ports}) / } split /\n/, slurp($alog);
        @a == @ports;
    }, 5);
    ok($alines, 'the workers write the new access log');
    my $r = cuttle_run('-s', 'stop', '-c', $c->{conf});
    is($r->{status}, 0, '-s stop exits 0');
    is(cuttle_wait($c, 5), 0, 'the master exits with status 0');

    # A master killed outright: workers that dropped privileges still
    # learn of its death (the parent-death signal set after setuid()).
    my $port2 = free_port();
    my $k = cuttle_start(<<"EOF2", workers => 2);
user: nobody
group: nogroup
upstreams:
  u:
    servers:
      - {address: $E->{addr}}
listeners:
  - {name: echo, listen: 127.0.0.1:$port2, mode: tcp, upstream: u}
EOF2
    my @kw = values %{$k->{slots}};
    is(scalar @kw, 2, 'user nobody: two workers');
    kill 'KILL', $k->{pid};
    ok(defined cuttle_wait($k, 5), 'the master is killed');
    ok(wait_until(sub { !grep { proc_alive($_) } @kw }, 5),
        'its workers, running as nobody, exit with it')
        or diag(join ' ', grep { proc_alive($_) } @kw);
    kill 'KILL', grep { proc_alive($_) } @kw;
}

log_clean_ok();
done_testing();
