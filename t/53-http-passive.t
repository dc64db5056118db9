# Passive health is on by default, as nginx's max_fails=1: a server
# whose connect failed is left out for fail_timeout (10s), so the next
# requests do not each try it first; "passive: {max_fails: 0}" turns it
# off.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $G = http_origin(name => 'G');
my ($dead, $dead2) = (free_port(), free_port());     # nothing listens there
my $port = free_port();

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  default:
    servers:
      - {address: 127.0.0.1:$dead}
      - {address: $G->{addr}}
  off:
    health: {passive: {max_fails: 0}}
    servers:
      - {address: 127.0.0.1:$dead2}
      - {address: $G->{addr}}
listeners:
  - name: p
    listen: 127.0.0.1:$port
    mode: http
    retries: 1
    routes:
      - match: {path_prefix: /off/}
        upstream: off
      - upstream: default
EOF

for my $t (['/d/echo', $dead, 1, 'default'], ['/off/echo', $dead2, 2, 'max_fails: 0']) {
    my ($path, $d, $want, $name) = @{$t};
    my @bad;
    for my $i (1 .. 6) {
        my $r = http_get($port, "$path?i=$i");
        push @bad, "$i: " . ($r->{error} // $r->{status}) unless ($r->{status} // 0) == 200;
    }
    is_deeply(\@bad, [], "$name: 6 of 6 served by the live server");
    my @w = log_grep($c, qr/connect\(\) to 127\.0\.0\.1:$d failed/);
    if ($name eq 'default') {
        is(scalar @w, 1, "$name: the dead server was tried once in 6 requests");
    } else {
        cmp_ok(scalar @w, '>=', $want, "$name: the dead server was tried again and again");
    }
}
like(log_text($c), qr/server 127\.0\.0\.1:$dead is down for 10000ms/,
    'default: the dead server is taken out for 10s, and that is logged');

log_clean_ok();
done_testing();
