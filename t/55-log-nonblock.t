# Worker logs never block: an access log that is a FIFO nobody reads,
# and an error log that is one, fill at 64 KiB; the worker keeps
# answering at full speed, drops the lines it cannot write, counts them
# in /metrics (cuttle_log_lines_dropped_total) and says so in the error
# log.  A blocking worker stops answering at the first full pipe.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Fcntl qw(O_RDONLY O_NONBLOCK);
use POSIX qw(mkfifo);
use Time::HiRes qw(time);
use CuttleTest;

my $dir = tmpdir();
my $N = 2000;

# A FIFO with a read end held open and never read: writes fill it and then block.
sub fifo_unread {
    my ($path) = @_;
    mkfifo($path, 0600) or die "mkfifo $path: $!";
    sysopen(my $fh, $path, O_RDONLY | O_NONBLOCK) or die "open $path: $!";
    return $fh;
}

# Empties the FIFO, so that the master (which logs blocking) can log its shutdown.
sub fifo_drain {
    my ($fh) = @_;
    my $buf;
    1 while (sysread($fh, $buf, 65536) // 0) > 0;
}

# Sends $n requests one after the other on one keep-alive connection;
# returns how many were answered 200 before the deadline.
sub keepalive_run {
    my ($port, $n, $secs) = @_;
    my $s = tcp_connect($port) or return 0;
    my $deadline = time + $secs;
    my $ok = 0;
    for my $i (1 .. $n) {
        my $left = $deadline - time;
        last if $left <= 0;
        http_send($s, target => "/r/$i", timeout => $left) or last;
        my $r = http_recv($s, timeout => $left);
        last unless ($r->{status} // 0) == 200;
        $ok++;
    }
    close $s;
    return $ok;
}

sub metric {
    my ($sock, $log) = @_;
    my $r = curl_run('-s', '--unix-socket', $sock, 'http://x/metrics');
    return $r->{stdout} =~ /^cuttle_log_lines_dropped_total\{log="\Q$log\E"\} (\d+)$/m
        ? $1 : undef;
}

my $routes = <<'EOF';
    routes:
      - match: {path_prefix: /}
        return: {status: 200, body: "ok\n"}
EOF

# --- an access log on a FIFO nobody reads
{
    my $fifo = "$dir/access.fifo";
    my $rd = fifo_unread($fifo);
    my $port = free_port();
    my $c = cuttle_start(<<"EOF", workers => 1, log_level => 'notice');
admin: {socket: %TMP%/admin-a.sock}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    access_log: {path: $fifo}
$routes
EOF
    my $t0 = time;
    my $ok = keepalive_run($port, $N, 20 * $CuttleTest::SLOW);
    is($ok, $N, "$N keep-alive requests answered with the access log on an unread FIFO")
        or diag(sprintf '%d answered in %.1fs', $ok, time - $t0);
    my $d;
    ok(wait_until(sub { ($d = metric("$dir/admin-a.sock", 'access') // 0) > 0 }, 5),
        'cuttle_log_lines_dropped_total{log="access"} > 0') or diag($d // 'none');
    ok(wait_log($c, qr/dropped \d+ error log and [1-9]\d* access log lines/),
        'the error log says that access log lines were dropped');
    is(metric("$dir/admin-a.sock", 'error'), 0, '... and no error log line was dropped');
    fifo_drain($rd);
    cuttle_stop($c);
    fifo_drain($rd);
    close $rd;
}

# --- the error log on a FIFO nobody reads, at info: a line per request
{
    my $fifo = "$dir/error.fifo";
    my $rd = fifo_unread($fifo);
    my $port = free_port();
    my $sock = "$dir/admin-e.sock";
    my $c = cuttle_start(<<"EOF", workers => 1,
error_log: {path: $fifo, level: info}
admin: {socket: $sock}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
$routes
EOF
        ready => sub {
            curl_run('-s', '--unix-socket', $sock, 'http://x/metrics')->{stdout}
                =~ /^cuttle_up 1$/m && tcp_connect($port);
        });
    my $t0 = time;
    my $ok = keepalive_run($port, $N, 20 * $CuttleTest::SLOW);
    is($ok, $N, "$N keep-alive requests answered with the error log on an unread FIFO")
        or diag(sprintf '%d answered in %.1fs', $ok, time - $t0);
    my $d;
    ok(wait_until(sub { ($d = metric($sock, 'error') // 0) > 0 }, 5),
        'cuttle_log_lines_dropped_total{log="error"} > 0') or diag($d // 'none');
    fifo_drain($rd);
    cuttle_stop($c);
    fifo_drain($rd);
    close $rd;
}

log_clean_ok();
done_testing();
