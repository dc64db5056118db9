# The connect timeout: a server whose accept queue is full never answers
# a SYN, so connect() hangs until timeouts.connect, is logged, and the
# next server is tried.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Socket;
use Test::More;
use CuttleTest;

# A listening socket with a backlog of 1 that nobody accepts from: two
# queued connections fill it, and from then on SYNs are dropped.
my $bport = free_port();
socket(my $hole, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
setsockopt($hole, SOL_SOCKET, SO_REUSEADDR, 1) or die "setsockopt: $!";
bind($hole, pack_sockaddr_in($bport, inet_aton('127.0.0.1'))) or die "bind: $!";
listen($hole, 1) or die "listen: $!";
my @filler = map { tcp_connect($bport) or die "fill: $@" } 1 .. 2;

my $A = backend(mode => 'name', name => 'A');
my %port = map { $_ => free_port() } qw(retry alone);

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  retry:
    servers:
      - {address: 127.0.0.1:$bport, weight: 100}
      - {address: $A->{addr}}
  alone:
    servers:
      - {address: 127.0.0.1:$bport}
listeners:
  - name: retry
    listen: 127.0.0.1:$port{retry}
    mode: tcp
    upstream: retry
    timeouts: {connect: 300ms}
    retries: 1
  - name: alone
    listen: 127.0.0.1:$port{alone}
    mode: tcp
    upstream: alone
    timeouts: {connect: 300ms}
    retries: 0
EOF

# The black hole has weight 100: the first pick is it, and the retry
# goes to A once the connect timeout fires.
{
    my ($name, $r) = fetch_name($port{retry});
    is($name, 'A', 'connect timed out on the first server, served by the next');
    ok($r->{elapsed} >= 0.25, sprintf('... not before the 300ms timeout (%.3f s)', $r->{elapsed}));
    my @w = wait_log($c, qr/connect\(\) to 127\.0\.0\.1:$bport failed \(110: Connection timed out\) while connecting to upstream/);
    ok(@w >= 1, 'the timed-out connect is logged with ETIMEDOUT');
}

{
    my $s = tcp_connect($port{alone}) or die "connect: $@";
    my $r = recv_until_eof($s, 5);
    ok($r->{closed} && $r->{data} eq '', 'only server hangs: client closed with no data');
    ok($r->{elapsed} >= 0.25 && $r->{elapsed} < 3,
        sprintf('... after the connect timeout (%.3f s)', $r->{elapsed}));
    my ($l) = wait_conn($c, 1, listener => 'alone');
    is($l && $l->{end}, 'no server available', 'logged end="no server available"');
}

cuttle_stop($c);
close $_ for @filler;
close $hole;
log_clean_ok();
done_testing();
