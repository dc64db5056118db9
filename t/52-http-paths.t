# mode: http routes the normalized path: "." and ".." segments removed,
# runs of '/' merged (as nginx's merge_slashes), escapes of unreserved
# characters decoded, so that "/x/../admin/" and "/%61dmin/" reach the
# "/admin/" route; a path above the root or with a broken escape is 400.
# The target goes upstream as it came, or normalized with
# forward_normalized_path.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $A = http_origin(name => 'A');
my $B = http_origin(name => 'B');
my %port = map { $_ => free_port() } qw(orig norm);
my $routes = <<"EOF";
    routes:
      - match: {path_prefix: /admin/}
        upstream: admin
      - match: {path_exact: /exact}
        upstream: admin
      - upstream: public
EOF

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  admin:
    servers:
      - {address: $A->{addr}}
  public:
    servers:
      - {address: $B->{addr}}
listeners:
  - name: orig
    listen: 127.0.0.1:$port{orig}
    mode: http
$routes
  - name: norm
    listen: 127.0.0.1:$port{norm}
    mode: http
    forward_normalized_path: true
$routes
EOF

# --- every spelling of /admin/ reaches the admin route.
for my $t ('/x/../admin/', '/%61dmin/', '//admin/', '/admin/./', '/./admin//',
        '/public/%2e%2e/admin/', '/ex%61ct', '/admin/a/../b?q=/../x') {
    my $r = http_get($port{orig}, $t);
    is(hdr($r, 'X-Origin'), 'A', "$t: the admin route");
    is(http_json($r)->{target}, $t, "$t: forwarded as sent");
}
{
    my $r = http_get($port{orig}, '/public/admin/');
    is(hdr($r, 'X-Origin'), 'B', '/public/admin/: not the admin route');
    $r = http_get($port{orig}, '/admin%2Fx');
    is(hdr($r, 'X-Origin'), 'B', '/admin%2Fx: an escaped "/" is not a segment');
}

# --- refused.
for my $t (['/../admin/', 'above the root'], ['/a/../../admin/', 'above the root, later'],
        ['/%2e%2e/admin/', 'above the root, escaped'], ['/admin/%zz', 'a broken escape'],
        ['/admin/%4', 'a short escape']) {
    my $r = http_get($port{orig}, $t->[0]);
    http_error_ok($r, 400, "$t->[0] ($t->[1]): 400");
}
is(scalar(origin_requests($A)) + 0, 8 + 0, 'the admin origin saw the 8 admin requests only');

# --- forward_normalized_path: what was routed is what is sent.
{
    my $r = http_get($port{norm}, '/x/../%61dmin//a?q=/../%61');
    is(hdr($r, 'X-Origin'), 'A', 'forward_normalized_path: routed to admin');
    is(http_json($r)->{target}, '/admin/a?q=/../%61',
        '... and sent normalized, the query as it came');
    $r = http_get($port{norm}, '/plain/path?x');
    is(http_json($r)->{target}, '/plain/path?x', '... a plain path as it came');
}

log_clean_ok();
done_testing();
