# The descriptor reserve: with worker_rlimit_nofile 64 and more clients
# than fit, the worker stops accepting while an accepted client could
# not get its upstream connection, says so once with the limit, and
# takes the waiting clients as earlier ones leave.  No client is
# accepted and then closed unanswered (a worker that accepts up to the
# limit has no descriptor left for the upstream connections).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use Time::HiRes qw(time);
use CuttleTest;

my $O = http_origin(name => 'O');
my $port = free_port();
my $N = 60;
my $c = cuttle_start(<<"EOF", workers => 1);
worker_connections: 64
worker_rlimit_nofile: 64
upstreams:
  o:
    servers:
      - {address: $O->{addr}}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    routes:
      - match: {path_prefix: /}
        upstream: o
EOF

# Every client connects (the kernel's backlog holds those not accepted),
# then each sends its request: an accepted one needs its upstream now.
my %cl;
for my $i (1 .. $N) {
    $cl{$i} = tcp_connect($port) or die "connect $i: $@";
}
wait_log($c, qr/too many open files/i, timeout => 5);
for my $i (1 .. $N) {
    http_send($cl{$i}, target => "/c/$i", headers => [['Connection', 'close']])
        or die "send $i";
}
# Clients leave as soon as they have their answer; the rest are served then.
my ($answered, @lost) = (0);
my $deadline = time + 30 * $CuttleTest::SLOW;
while (%cl && time < $deadline) {
    my $sel = IO::Select->new(values %cl);
    my %by = map { ("$cl{$_}" => $_) } keys %cl;
    for my $s ($sel->can_read($deadline - time)) {
        my $i = $by{"$s"};
        my $r = http_recv($s, timeout => 5);
        if (($r->{status} // 0) == 200) {
            $answered++;
        } else {
            push @lost, $i;
        }
        close $s;
        delete $cl{$i};
    }
}
is($answered, $N, "all $N clients answered") or diag("unanswered: @lost; waiting: "
    . join ' ', sort { $a <=> $b } keys %cl);
is(scalar @lost, 0, 'no client was accepted and closed without its answer');
my @l = log_grep($c, qr/too many open files/);
is(scalar @l, 1, 'the limit was logged once') or diag(join "\n", @l);
like($l[0] // '', qr/open files limit 64\b/, '... with the limit');

log_clean_ok();
done_testing();
