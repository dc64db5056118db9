# The command line around a running master: -T (the effective config),
# -s reload|reopen|quit|stop|upgrade through pid_file and its errors,
# SIGQUIT letting a connection in flight finish, shutdown_timeout
# cutting one that does not, and a binary upgrade that works and one
# whose new binary cannot start.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Socket qw(SHUT_WR);
use Time::HiRes qw(time);
use CuttleTest;

my $dir = tmpdir();
my $E = backend(mode => 'echo', name => 'E');

# A config with one echo listener on a fresh port (and its port).
sub echo_config {
    my (%o) = @_;
    my $port = free_port();
    my $extra = $o{extra} // '';
    return ($port, <<"EOF");
${extra}upstreams:
  u:
    servers:
      - {address: $E->{addr}}
listeners:
  - {name: echo, listen: 127.0.0.1:$port, mode: tcp, upstream: u}
EOF
}

# "cuttle -s NAME -c FILE".
sub ctl {
    my ($name, $conf) = @_;
    return cuttle_run('-s', $name, '-c', $conf);
}

# --- -T: every default filled in, and the output is itself a valid
# config that prints the same.
{
    my ($port, $yaml) = echo_config();
    my $f = write_file("$dir/show.yaml", "workers: auto\n"
        . "error_log: {path: $dir/show-error.log, level: info}\n$yaml");
    my $r = cuttle_run('-T', '-c', $f);
    is($r->{status}, 0, '-T on a valid file exits 0') or diag($r->{stderr});
    my $out = $r->{stdout};
    like($out, qr/^shutdown_timeout: 30s$/m, '-T shows shutdown_timeout: 30s')
        or diag($out);
    like($out, qr/^daemon: false$/m, '-T shows daemon: false');
    like($out, qr/^workers: [1-9]\d*$/m, '-T shows "workers: auto" as a number');
    like($out, qr/\bretries: 1\b/, '-T shows the listener default retries: 1');
    like($out, qr/\b127\.0\.0\.1:$port\b/, '-T shows the listen address');
    my $again = write_file("$dir/show-effective.yaml", $out);
    my $t = cuttle_run('-t', '-c', $again);
    is($t->{status}, 0, '-t accepts what -T printed') or diag($t->{stderr});
    my $r2 = cuttle_run('-T', '-c', $again);
    is($r2->{stdout}, $out, '-T of the -T output prints the same config');

    my $bad = write_file("$dir/show-bad.yaml", "workers: many\n$yaml");
    my $rb = cuttle_run('-T', '-c', $bad);
    is($rb->{status}, 1, '-T on an invalid file exits 1');
    like($rb->{stderr}, qr/^\Q$bad\E:1:10: /m, '-T reports the error at 1:10')
        or diag($rb->{stderr});
    is($rb->{stdout}, '', '-T prints no config for an invalid file');
}

# --- -s errors: no pid_file in the config, no master running, and an
# unknown signal name.
{
    my ($port, $yaml) = echo_config();
    my $nopid = write_file("$dir/nopid.yaml", "workers: 1\n$yaml");
    my $r = ctl('reload', $nopid);
    is($r->{status}, 1, '-s reload without pid_file exits 1');
    like($r->{stderr}, qr/pid_file/, '... and says that pid_file is missing')
        or diag($r->{stderr});

    my $pf = "$dir/nobody-runs.pid";
    my $none = write_file("$dir/none.yaml", "workers: 1\npid_file: $pf\n$yaml");
    $r = ctl('reload', $none);
    is($r->{status}, 1, '-s reload with no master running exits 1');
    like($r->{stderr}, qr/\Q$pf\E/, '... and names the pid file')
        or diag($r->{stderr});

    $r = ctl('bogus', $none);
    is($r->{status}, 2, '-s bogus is a usage error (exit 2)');
    isnt($r->{stderr}, '', '... with a message on stderr');
}

# --- -s reload, -s reopen, then -s quit with a connection in flight.
{
    my ($port, $yaml) = echo_config(extra => "pid_file: %PIDFILE%\n");
    my $c = cuttle_start($yaml, workers => 2);
    my $m = $c->{pid};
    is(pid_file_pid($c->{pid_file}), $m, 'pid_file holds the master pid and a newline');
    ok((log_grep($c, qr/\[notice\] \d+#0: worker 0 ready, generation 1$/)),
        'workers log "worker N ready, generation 1"');

    my $mark = log_mark($c);
    my $r = ctl('reload', $c->{conf});
    is($r->{status}, 0, '-s reload exits 0') or diag($r->{stderr});
    ok((wait_log($c, qr/\[notice\] $m#m: reloading configuration from \Q$c->{conf}\E$/,
        since => $mark)), 'master logs "reloading configuration from FILE"');
    ok((wait_log($c, qr/\[notice\] $m#m: generation 2 started with 2 workers$/,
        since => $mark)), 'an unchanged file starts generation 2');
    my $g2 = wait_until(sub {
        my $w = generation_workers($c, 2);
        keys %$w == 2 ? $w : 0;
    }, 5);
    ok($g2, 'two workers of generation 2 are ready');
    ok(!(log_since($c, $mark, qr/\] $m#m: reload: /)),
        'no "reload: ..." change line for an unchanged file');
    is(exchange(tcp_connect($port) // die("connect: $@"), "after reload\n", 3),
        "after reload\n", 'the listener serves after the reload');

    $mark = log_mark($c);
    $r = ctl('reopen', $c->{conf});
    is($r->{status}, 0, '-s reopen exits 0') or diag($r->{stderr});
    ok((wait_log($c, qr/\[notice\] $m#m: reopening logs$/, since => $mark)),
        'master logs "reopening logs"');
    my @w = values %{$g2 || {}};
    my $all = wait_until(sub {
        !grep { my $p = $_; !log_since($c, $mark, qr/\[notice\] $p#\d+: reopening logs$/) } @w;
    }, 5);
    ok(@w && $all, 'every worker logs "reopening logs"');

    # A connection in flight when the master is asked to quit.
    my $s = tcp_connect($port) or die "connect: $@";
    is(exchange($s, "before quit\n", 3), "before quit\n", 'held connection echoes');
    $mark = log_mark($c);
    $r = ctl('quit', $c->{conf});
    is($r->{status}, 0, '-s quit exits 0') or diag($r->{stderr});
    ok((wait_log($c, qr/\[notice\] $m#m: graceful shutdown requested$/, since => $mark)),
        'master logs "graceful shutdown requested"');
    my ($drain) = wait_log($c, qr/\[notice\] \d+#\d+: worker \d+ draining 1 connections$/,
        since => $mark);
    ok($drain, 'the worker holding the connection drains it') or diag(log_since($c, $mark));
    is(exchange($s, "during quit\n", 3), "during quit\n",
        'the connection in flight still echoes after QUIT');
    ok(proc_alive($m), 'the master waits for it');
    shutdown($s, SHUT_WR);
    my $e = recv_until_eof($s, 3);
    ok($e->{eof}, 'the connection ends normally');
    close $s;
    my $st = cuttle_wait($c, 5);
    ok(defined $st, 'the master exits once the connection closed');
    is($st, 0, 'master exit status 0 after a graceful shutdown');
    ok((log_since($c, $mark, qr/: worker \d+ exiting: drained$/)), 'workers log "exiting: drained"');
    ok(!-e $c->{pid_file}, 'pid_file removed when the master exits');
    ok(!tcp_connect($port), 'nothing listens on the port any more');
}

# --- -s stop: fast shutdown, even with a connection open.
{
    my ($port, $yaml) = echo_config(extra => "pid_file: %PIDFILE%\n");
    my $c = cuttle_start($yaml, workers => 2);
    my $s = tcp_connect($port) or die "connect: $@";
    my $cport = $s->sockport;
    is(exchange($s, "hi\n", 3), "hi\n", 'held connection echoes');
    my $t0 = time;
    my $r = ctl('stop', $c->{conf});
    is($r->{status}, 0, '-s stop exits 0') or diag($r->{stderr});
    my $st = cuttle_wait($c, 5);
    ok(defined $st, sprintf('the master exits within 5 s of -s stop (%.1f s)',
        time - $t0));
    is($st, 0, 'master exit status 0 after a fast shutdown');
    my $e = recv_until_eof($s, 3);
    ok($e->{closed}, 'the open connection is cut');
    close $s;
    my ($l) = conn_lines($c, client => "127.0.0.1:$cport");
    is($l && $l->{end}, 'shutdown', 'its conn line says end="shutdown"');
    ok(!-e $c->{pid_file}, 'pid_file removed');
}

# --- shutdown_timeout: an idle connection keeps a graceful shutdown
# going only that long.
{
    my ($port, $yaml) = echo_config(extra => "shutdown_timeout: 1s\n");
    my $c = cuttle_start($yaml, workers => 1);
    my $s = tcp_connect($port) or die "connect: $@";
    my $cport = $s->sockport;
    is(exchange($s, "idle soon\n", 3), "idle soon\n", 'held connection echoes');
    my $t0 = time;
    kill 'QUIT', $c->{pid};
    my $e = recv_until_eof($s, 6);
    my $cut = time - $t0;
    close $s;
    ok($e->{closed}, sprintf('the idle connection is closed after QUIT (%.1f s)', $cut));
    ok($cut >= 0.5, 'not at once: it was given the shutdown_timeout');
    ok($cut < 5, 'and cut by the 1 s shutdown_timeout, not the 30 s default');
    my ($l) = wait_conn($c, 1, client => "127.0.0.1:$cport");
    is($l && $l->{end}, 'shutdown', 'the cut connection is logged, end="shutdown"');
    my $st = cuttle_wait($c, 5);
    ok(defined $st, sprintf('the master exits (%.1f s after QUIT)', time - $t0));
    is($st, 0, 'master exit status 0');
}

# --- -s upgrade: a new master from the same binary takes over; then an
# upgrade whose new binary cannot start (invalid config) changes nothing.
{
    my ($port, $yaml) = echo_config(extra => "pid_file: %PIDFILE%\n");
    my $c = cuttle_start($yaml, workers => 2);
    my $old = $c->{pid};
    my $pf = $c->{pid_file};
    my $u = cuttle_upgrade($c, send => sub { ctl('upgrade', $c->{conf}) });
    is($u->{sent}{status}, 0, '-s upgrade exits 0') or diag($u->{sent}{stderr});
    my $new = $u->{new} // 0;
    ok($u->{ok}, "a new master ($old -> $new) runs with its two workers")
        or diag(join "\n", @{$u->{lines}});
    ok((grep { /\[notice\] $old#m: upgrade: started new binary \(pid $new\)$/ }
        @{$u->{lines}}), 'old master logs "upgrade: started new binary (pid NEW)"');
    ok((grep { /\[notice\] $new#m: cuttle \d+\.\d+\.\d+ started, 2 workers \(upgrade from pid $old\)$/ }
        @{$u->{lines}}), 'new master logs "started, 2 workers (upgrade from pid OLD)"');
    ok((grep { /\[notice\] $old#m: graceful shutdown requested$/ } @{$u->{lines}}),
        'the old master is asked to drain');
    ok($u->{old_gone}, 'the old master exits');
    is($u->{old_status}, 0, 'with status 0');
    is(pid_file_pid($pf), $new, 'pid_file names the new master');
    ok(!-e "$pf.oldbin", 'no pid_file.oldbin left');
    my @kids = proc_children($new);
    is(scalar @kids, 2, 'the new master has two children');
    my $s = tcp_connect($port) or die "connect: $@";
    my $cport = $s->sockport;
    is(exchange($s, "upgraded\n", 3), "upgraded\n", 'the listener serves after the upgrade');
    close $s;
    my ($l) = wait_conn($c, 1, client => "127.0.0.1:$cport");
    ok($l && grep({ $_ == $l->{pid} } @kids), 'served by a worker of the new master')
        or diag($l ? $l->{line} : 'no conn line');

    # The new binary reads the config: an invalid one makes it exit 1.
    my $good = slurp($c->{conf});
    write_file($c->{conf}, $good . "bogus_key: 1\n");
    my $mark = log_mark($c);
    kill 'USR2', $new;
    my ($fail) = wait_log($c, qr/\[error\] $new#m: upgrade failed: new binary \(pid \d+\) exited with status 1\b/,
        since => $mark, timeout => 10);
    ok($fail, 'a new binary that cannot start: "upgrade failed ... status 1"')
        or diag(join "\n", log_since($c, $mark));
    my $back = wait_until(sub { pid_file_pid($pf) && !-e "$pf.oldbin" }, 5);
    ok($back, 'pid_file.oldbin is renamed back');
    is(pid_file_pid($pf), $new, 'pid_file names the running master again');
    ok(proc_alive($new), 'the master runs on');
    is(exchange(tcp_connect($port) // die("connect: $@"), "still\n", 3), "still\n",
        'the listener still serves');

    write_file($c->{conf}, $good);
    my $r = ctl('stop', $c->{conf});
    is($r->{status}, 0, '-s stop on the upgraded master exits 0') or diag($r->{stderr});
    ok(wait_gone($new, 5), 'the upgraded master exits');
    ok(wait_until(sub { !-e $pf }, 2), 'pid_file removed');
    cuttle_wait($c, 1);
}

log_clean_ok();
done_testing();
