# The timer heap has room for every connection slot and every idle
# pooled upstream connection: with a pool larger than worker_connections
# (40 upstreams, one kept-alive connection each, worker_connections 16)
# every pooled connection keeps its idle timer and is reused, and a new
# client still gets its header timeout.  A heap sized for the slots alone
# closes pooled connections that find it full and leaves clients with
# no timer.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $O = http_origin(name => 'O');
my $port = free_port();
my $NU = 40;
my $ups = join '', map { <<"EOF" } 1 .. $NU;
  u$_:
    servers:
      - {address: $O->{addr}}
    keepalive: {max_idle: 4, idle_timeout: 60s}
EOF
my $routes = join '', map { <<"EOF" } 1 .. $NU;
      - match: {path_prefix: /u$_/}
        upstream: u$_
EOF
my $c = cuttle_start(<<"EOF", workers => 1);
worker_connections: 16
upstreams:
$ups
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    timeouts: {header: 1s}
    routes:
$routes
EOF

my $s = tcp_connect($port) or die "connect: $@";
my $ok = 0;
for my $pass (1, 2) {
    for my $u (1 .. $NU) {
        http_send($s, target => "/u$u/p$pass");
        my $r = http_recv($s);
        $ok++ if ($r->{status} // 0) == 200;
    }
}
is($ok, 2 * $NU, "2 x $NU requests through $NU upstreams answered");
my %peers = map { $_->{peer} => 1 } origin_requests($O);
is(scalar keys %peers, $NU,
    "$NU upstream connections: every pooled one kept its idle timer and was reused");

# A client that sends nothing still has its header timeout.
my $idle = tcp_connect($port) or die "connect: $@";
my $r = recv_until_eof($idle, 10 * $CuttleTest::SLOW);
ok($r->{closed}, 'a silent client is closed by its header timeout')
    or diag(explain($r));
close $idle;
close $s;
ok(!log_grep($c, qr/cannot arm/), 'no timer failed');

log_clean_ok();
done_testing();
