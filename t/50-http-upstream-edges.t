# mode: http and the upstream's edge cases: a read timeout on a pooled
# connection is not followed by the same request on a new connection to
# the same server; an invalid chunked body that comes with the head gets
# the client a 502, not a closed connection; at most 32 interim
# responses are relayed, a 33rd is a 502.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $P = http_origin(name => 'P');      # pooled, then silent
my $C = http_origin(name => 'C');      # invalid chunked bodies
my $I = http_origin(name => 'I');      # interim responses
my $port = free_port();

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  pooled:
    keepalive: {max_idle: 4, idle_timeout: 60s}
    # Passive counting off: this is about the connector alone.
    health: {passive: {max_fails: 0}}
    servers:
      - {address: $P->{addr}}
  chunk:
    servers:
      - {address: $C->{addr}}
  interim:
    keepalive: {max_idle: 4, idle_timeout: 60s}
    servers:
      - {address: $I->{addr}}
listeners:
  - name: edges
    listen: 127.0.0.1:$port
    mode: http
    timeouts: {read: 500ms}
    retries: 1
    routes:
      - match: {path_prefix: /p/}
        upstream: pooled
      - match: {path_prefix: /c/}
        upstream: chunk
      - match: {path_prefix: /i/}
        upstream: interim
EOF

# --- a read timeout on a pooled connection: 504, the request seen once.
{
    my $r = http_get($port, '/p/echo');
    is($r->{status}, 200, 'a first request leaves a pooled connection');
    my $mark = log_mark($c);
    $r = http_get($port, '/p/hang', timeout => 10);
    http_error_ok($r, 504, 'the next one, silent on the pooled connection: 504');
    my @hangs = grep { $_->{ev} eq 'hang' } origin_log($P);
    is(scalar @hangs, 1, 'the origin saw the request once, not again on a new connection')
        or diag(explain(\@hangs));
    is($hangs[0]{n}, 2, '... on the pooled connection (its second request)');
    my @to = wait_log($c, qr/reading the response header from .* failed \(110: /, since => $mark);
    is(scalar @to, 1, 'one read timeout logged, not two') or diag(join "\n", @to);
}

# --- an invalid chunked body in the first read: 502, not 0 bytes.
{
    my $mark = log_mark($c);
    my $r = http_get($port, '/c/bad/chunk');
    http_error_ok($r, 502, 'an invalid chunk size right after the head: 502');
    is(scalar wait_log($c, qr/reading the response from \S+ failed \(missing chunk size\)/,
        since => $mark), 1, '... logged as an upstream failure with its reason');
}

# --- interim responses: 32 relayed, a 33rd is a 502.
{
    my $s = tcp_connect($port) or die "connect: $@";
    http_send($s, target => '/i/interim/32');
    my $r = http_recv($s);
    is($r->{status}, 200, '32 interim responses, then the final one: 200');
    is(scalar @{$r->{interim}}, 32, '... with the 32 relayed');
    http_send($s, target => '/i/interim/33');
    $r = http_recv($s);
    http_error_ok($r, 502, '33 interim responses: 502');
    is(scalar @{$r->{interim}}, 32, '... after the first 32');
    close $s;
    ok(wait_log($c, qr/the response header from \S+ failed \(more than 32 interim responses\)/),
        'the limit is logged as an invalid response head');
}

log_clean_ok();
done_testing();
