# timeouts.idle: a connection with no traffic is closed by cuttle and
# logged end="idle timeout"; one with traffic every 300 ms lives on.
# The bounds are wide on purpose: this checks behaviour, not timing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use Socket qw(SHUT_WR);
use Time::HiRes qw(time sleep);
use CuttleTest;

my $E = backend(mode => 'echo', name => 'E');
my $port = free_port();
my $c = cuttle_start(<<"EOF", workers => 2);
upstreams:
  u:
    servers:
      - {address: $E->{addr}}
listeners:
  - name: idle
    listen: 127.0.0.1:$port
    mode: tcp
    upstream: u
    timeouts: {idle: 1s}
EOF

my $idle = tcp_connect($port) or die "connect: $@";
my $active = tcp_connect($port) or die "connect: $@";
my $iport = $idle->sockport;
is(exchange($idle, "ping\n", 3), "ping\n", 'idle connection relays first');
my $t_idle = time;
is(exchange($active, "tick0\n", 3), "tick0\n", 'active connection relays');
my $t_active = time;

# Watch the idle connection while the active one sends every 300 ms,
# for 2.5 s (and up to 3.5 s for the idle one to be closed).
my ($closed_after, $idle_data, @active_fail) = (undef, '');
my $sel = IO::Select->new($idle);
my ($i, $next) = (0, time + 0.3);
while (time < $t_idle + 3.5) {
    last if defined $closed_after && time >= $t_active + 2.5;
    if (!defined $closed_after && $sel->can_read(0.02)) {
        my $n = sysread($idle, my $buf, 4096);
        if ($n) {
            $idle_data .= $buf;
        } elsif (defined $n || !($!{EAGAIN} || $!{EINTR})) {
            $closed_after = time - $t_idle;
        }
    } elsif (defined $closed_after) {
        sleep 0.02;
    }
    if (time >= $next && time < $t_active + 2.5) {
        $i++;
        my $m = "tick$i\n";
        my $got = exchange($active, $m, 1);
        push @active_fail, "tick$i: got '$got'" unless $got eq $m;
        $next += 0.3;
    }
}

ok(defined $closed_after, 'the idle connection is closed by cuttle');
$closed_after //= 99;
ok($closed_after >= 0.5 && $closed_after <= 3,
    sprintf('... after about 1 s (%.2f s; accepted 0.5 .. 3)', $closed_after));
is($idle_data, '', '... with no data');
close $idle;

is_deeply(\@active_fail, [], "the active connection relayed all $i ticks");
my $alive_for = time - $t_active;
is(exchange($active, "last\n", 2), "last\n",
    sprintf('the active connection is still open after %.1f s', $alive_for));
my $aport = $active->sockport;
shutdown($active, SHUT_WR);
my $r = recv_until_eof($active, 3);
ok($r->{eof}, 'active connection ends with EOF after our shutdown');
close $active;

my ($li) = wait_conn($c, 1, client => "127.0.0.1:$iport");
ok($li && $li->{end} eq 'idle timeout' && $li->{from_client} == 5
    && $li->{to_client} == 5,
    'logged end="idle timeout" with its byte counts')
    or diag($li ? $li->{line} : join "\n", log_grep($c, qr/ conn /));
my ($la) = wait_conn($c, 1, client => "127.0.0.1:$aport");
ok($la && $la->{end} eq 'done', 'the active connection logged end="done"')
    or diag($la ? $la->{line} : 'no conn line');

cuttle_stop($c);
log_clean_ok();
done_testing();
