# The one upstream connector, as every mode sees it: an http
# connection's line names the server of its route's upstream (not of
# some other upstream) with its byte counts; an invalid response head is
# a passive health failure like a reset, and an idempotent request is
# retried on the next server while a POST gets its 502.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $A = http_origin(name => 'A');
my $H0 = http_origin(name => 'H0', force => 'hang');
my $H1 = http_origin(name => 'H1', force => 'hang');
my $BAD = http_origin(name => 'BAD', force => 'bad');
my $GOOD = http_origin(name => 'GOOD');
my $BAD2 = http_origin(name => 'BAD2', force => 'bad');
my $GOOD2 = http_origin(name => 'GOOD2');
my $port = free_port();

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  a:
    servers:
      - {address: $A->{addr}}
  b:
    servers:
      - {address: $H0->{addr}}
      - {address: $H1->{addr}}
  mixed:
    balance: first
    health: {passive: {max_fails: 1, fail_timeout: 1h}}
    servers:
      - {address: $BAD->{addr}}
      - {address: $GOOD->{addr}}
  mixedpost:
    balance: first
    health: {passive: {max_fails: 1, fail_timeout: 1h}}
    servers:
      - {address: $BAD2->{addr}}
      - {address: $GOOD2->{addr}}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    retries: 1
    routes:
      - match: {path_prefix: /b/}
        upstream: b
      - match: {path_prefix: /mixed/}
        upstream: mixed
      - match: {path_prefix: /mixedpost/}
        upstream: mixedpost
      - match: {path_prefix: /}
        upstream: a
EOF

# --- connections cut mid-request (by the shutdown at the end): their
# lines name the server of the route's upstream, both of them in turn,
# and the bytes each client sent.
my @held;
for my $i (0, 1) {
    my $s = tcp_connect($port) or die "connect: $@";
    my $req = http_req_bytes(target => "/b/$i");
    send_all($s, $req, 5) or die "send: $!";
    my $origin = $i == 0 ? $H0 : $H1;
    ok(wait_until(sub { grep { $_->{ev} eq 'hang' } origin_log($origin) }, 5),
        "request $i reached $origin->{name}");
    push @held, { s => $s, cport => $s->sockport, len => length $req, origin => $origin };
}

# --- an invalid response head: counted, and a GET goes on to the next server.
{
    my $mark = log_mark($c);
    my $r = http_get($port, '/mixed/x');
    is($r->{status}, 200, 'GET: an invalid response head is retried on the next server')
        or diag(explain($r));
    is(scalar(origin_requests($BAD)), 1, 'the bad server got the GET once');
    is(scalar(origin_requests($GOOD)), 1, 'the good server answered it');
    ok(wait_log($c, qr/\[warn\] .*the response header from \Q$BAD->{addr}\E failed \(.+\) while reading the response header from upstream, client: 127\.0\.0\.1:\d+, listener: web, request: "GET \/mixed\/x"/,
        since => $mark), 'the failure is logged with its phase, client, listener and request');
    ok(wait_log($c, qr/upstream "mixed" server \Q$BAD->{addr}\E is down/, since => $mark),
        'it counts as a passive failure: max_fails 1 takes the server out');
    $r = http_get($port, '/mixed/y');
    is($r->{status}, 200, 'the next GET is served');
    is(scalar(origin_requests($BAD)), 1, '... without trying the server that is out');
}

# --- a POST is not sent twice: 502, and the failure still counts.
{
    my $mark = log_mark($c);
    my $r = http_get($port, '/mixedpost/x', method => 'POST', body => 'hello');
    http_error_ok($r, 502, 'POST: an invalid response head gives 502');
    is(scalar(origin_requests($GOOD2)), 0, 'POST: not sent to the other server');
    ok(wait_log($c, qr/upstream "mixedpost" server \Q$BAD2->{addr}\E is down/, since => $mark),
        'POST: the failure counts too');
}

cuttle_stop($c);
for my $i (0, 1) {
    my $h = $held[$i];
    my ($l) = conn_lines($c, client => "127.0.0.1:$h->{cport}");
    ok($l, "request $i: a conn line") or next;
    is($l->{server}, $h->{origin}{addr},
        "request $i: the line names $h->{origin}{name}, a server of the route's upstream");
    is($l->{end}, 'shutdown', "request $i: cut by the shutdown");
    is($l->{from_client}, $h->{len}, "request $i: from_client is the request's length");
    is($l->{to_client}, 0, "request $i: to_client is 0");
    close $h->{s};
}

backend_stop($_) for $A, $H0, $H1, $BAD, $GOOD, $BAD2, $GOOD2;
log_clean_ok();
done_testing();
