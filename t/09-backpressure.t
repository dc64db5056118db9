# Backpressure: a server that sends faster than the client reads must be
# slowed down, not buffered.  cuttle's memory stays flat while a 64 MiB
# flood waits for a client that does not read, and every byte arrives
# once the client reads.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Select;
use Test::More;
use Time::HiRes qw(time sleep);
use CuttleTest;

my $F = backend(mode => 'flood', name => 'F');
my $port = free_port();
my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  flood:
    servers:
      - {address: $F->{addr}}
listeners:
  - {name: flood, listen: 127.0.0.1:$port, mode: tcp, upstream: flood}
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
sleep 1.5;
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

cuttle_stop($c);
log_clean_ok();
done_testing();
