# "cuttle -s reload" waits for the master's verdict: exit 0 when the
# new configuration runs, non-zero with the reason in one line when it
# was refused; /metrics has the last reload's result and time.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $A = backend(mode => 'name', name => 'A');
my $port = free_port();
my $dir = tmpdir();
my $sock = "$dir/admin.sock";
sub config {
    my ($extra) = @_;
    return "error_log: {path: %LOG%, level: info}\npid_file: %PIDFILE%\nworkers: 1\n"
        . "admin: {socket: $sock}\n"
        . "upstreams:\n  u: {servers: [{address: $A->{addr}}]}\n"
        . "listeners:\n  - {name: web, listen: 127.0.0.1:$port, mode: tcp, upstream: u}\n"
        . ($extra // '');
}
sub metric {
    my ($name) = @_;
    my $r = curl_run('--unix-socket', $sock, 'http://x/metrics');
    return $r->{stdout} =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

my $c = cuttle_start(config());
is(metric('cuttle_reload_last_success'), 1, 'before any reload: last_success 1');

my $r = cuttle_run('-s', 'reload', '-c', $c->{conf});
is($r->{status}, 0, '-s reload of a good file exits 0') or diag($r->{stderr});
ok(wait_log($c, qr/generation 2 started/), 'generation 2 runs');
ok(wait_until(sub { (metric('cuttle_reloads_total{result="ok"}') // 0) == 1 }, 5),
    'cuttle_reloads_total{result="ok"} 1');

# A file that "cuttle -t" accepts but the master cannot apply.
write_file($c->{conf}, (CuttleTest::_conf_fill($c, config("shm_size: 64m\n")))[0]);
$r = cuttle_run('-s', 'reload', '-c', $c->{conf});
isnt($r->{status}, 0, '-s reload exits non-zero when the master refused the file');
like($r->{stderr}, qr/^cuttle: reload failed: shm_size cannot change on reload; restart cuttle to resize it\n\z/,
    'and says why in one line');
is(metric('cuttle_reload_last_success'), 0, 'cuttle_reload_last_success 0');
is(metric('cuttle_reloads_total{result="failed"}'), 1, 'cuttle_reloads_total{result="failed"} 1');
my $t = metric('cuttle_reload_last_time_seconds');
ok(defined $t && abs($t - time) < 60, 'cuttle_reload_last_time_seconds is now');
is((fetch_name($port))[0], 'A', 'the old configuration keeps serving');

cuttle_stop($c);
log_clean_ok();
done_testing();
