# Backpressure: a server that sends faster than the client reads must be
# slowed down, not buffered.  cuttle's memory stays flat while a 64 MiB
# flood waits for a client that does not read, and every byte arrives
# once the client reads.  The other way, a client that keeps sending to a
# server that does not read is stopped without cuttle spinning.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Select;
use Test::More;
use Time::HiRes qw(time sleep);
use CuttleTest;

my $F = backend(mode => 'flood', name => 'F');
my $S = backend(mode => 'stall', name => 'S', rcvbuf => 4096);
my ($port, $sport) = (free_port(), free_port());
my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  flood:
    servers:
      - {address: $F->{addr}}
  stall:
    servers:
      - {address: $S->{addr}}
listeners:
  - {name: flood, listen: 127.0.0.1:$port, mode: tcp, upstream: flood}
  - {name: stall, listen: 127.0.0.1:$sport, mode: tcp, upstream: stall}
EOF

sub rss_kb {
    my ($pid) = @_;
    my ($kb) = slurp("/proc/$pid/status") =~ /^VmRSS:\s+(\d+) kB/m;
    return $kb;
}

my $worker = $c->{slots}{0};
my $before = rss_kb($worker);
my $s = tcp_connect($port) or die "connect: $@";
# Let the flood run into a client that does not read.
ok(wait_stalled($s), 'the flood filled the client\'s receive queue');
my $stalled = rss_kb($worker);
my $growth = $stalled - $before;
# One 16 KiB relay buffer is all cuttle may add; sanitizer builds carry
# their own overhead, still far below the 64 MiB in flight.
ok($growth < 16 * 1024, "worker RSS grew by $growth kB while the client did not read")
    or diag("before $before kB, stalled $stalled kB");

my ($total, $deadline) = (0, time + 30);
my $sel = IO::Select->new($s);
while (time < $deadline) {
    last unless $sel->can_read($deadline - time);
    my $n = sysread($s, my $buf, 1 << 20);
    last unless $n;
    $total += $n;
}
close $s;
is($total, $CuttleTest::FLOOD_BYTES, 'every flooded byte reached the client once it read');
my ($l) = wait_conn($c, 1, listener => 'flood');
ok($l && $l->{to_client} == $CuttleTest::FLOOD_BYTES && $l->{end} eq 'done',
    'conn line counts the bytes and ends "done"') or diag($l ? $l->{line} : 'no conn line');

# CPU time (user + system) of a process so far, in clock ticks.
sub cpu_ticks {
    my ($pid) = @_;
    my @f = split ' ', (slurp("/proc/$pid/stat") =~ /\)\s+(.*)/s)[0];
    return $f[11] + $f[12];
}

# Writes of $size bytes every 2 ms for $secs, each smaller than cuttle's
# buffer: cuttle reads them one by one while it can write them on.
sub trickle {
    my ($sock, $size, $secs) = @_;
    my $end = time + $secs;
    my $chunk = 'u' x $size;
    while (time < $end) {
        syswrite($sock, $chunk);
        sleep 0.002;
    }
}

# Upload to a server that never reads (a 4 KiB receive buffer): first the
# server's window, then cuttle's socket buffer fill up, and cuttle holds a
# partly filled buffer it cannot write.  It must then read the client
# until that buffer is full and stop, not wake again and again for bytes
# it does not read.
{
    my $u = tcp_connect($sport) or die "connect: $@";
    $u->blocking(0);
    trickle($u, 4096, 1.5);
    my $t0 = cpu_ticks($worker);
    trickle($u, 500, 2);
    my $used = cpu_ticks($worker) - $t0;
    ok($used < 50 * $CuttleTest::SLOW,
        "upload to a server that does not read: the worker used $used ticks in 2 s");
    close $u;
}

cuttle_stop($c);
log_clean_ok();
done_testing();
