# The client connections in the admin API: GET /api/v1/connections and
# "cuttlectl conns" list live TCP (IPv4 and IPv6) and HTTP connections
# with their listener, client, server and byte counts; DELETE
# /api/v1/connections/ID and "cuttlectl kill ID" close one, and only
# with the token over TCP; the ID is checked strictly.  Then /metrics:
# the per-listener counters, status classes and duration histogram,
# and the servers' response-time histogram, against the requests made.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use CuttleTest;

my $dir = tmpdir();

my $H = backend(mode => 'hold', name => 'H');
my $H6 = backend(mode => 'hold', name => 'H6');
my $O = http_origin(name => 'O');
my $tport = free_port();
my $tport6 = free_port('::1');
my $hport = free_port();
my $aport = free_port();
my $sock = "$dir/admin.sock";
my $token = 'conns-test-token-0123456789';
write_file("$dir/token", "$token\n");
chmod 0600, "$dir/token" or die "chmod: $!";

my $c = cuttle_start(<<"EOF", workers => 2);
admin: {socket: %TMP%/admin.sock, listen: 127.0.0.1:$aport, token_file: %TMP%/token}
upstreams:
  hold:
    servers:
      - {address: $H->{addr}}
  hold6:
    servers:
      - {address: $H6->{addr}}
  site:
    servers:
      - {address: $O->{addr}}
listeners:
  - {name: tcpl, listen: 127.0.0.1:$tport, mode: tcp, upstream: hold}
  - {name: tcp6, listen: "[::1]:$tport6", mode: tcp, upstream: hold6}
  - name: webl
    listen: 127.0.0.1:$hport
    mode: http
    routes:
      - upstream: site
EOF
ok(wait_until(sub { -S $sock }, 5), 'the admin socket exists') or BAIL_OUT('no admin socket');

# ctl(ARGS...): cuttlectl on the admin socket, at most 10 s; {status, stdout, stderr}.
sub ctl { return cuttlectl_run('-s', $sock, @_) }

# api(METHOD, PATH, tcp => 1, token => 1): one request to the admin API
# with curl, over the unix socket or the TCP address; {code, body, json}.
sub api {
    my ($method, $path, %o) = @_;
    my @args = ('-X', $method, '-w', '\n%{http_code}');
    push @args, '-H', "Authorization: Bearer $token" if $o{token};
    push @args, $o{tcp} ? "http://127.0.0.1:$aport$path"
        : ('--unix-socket', $sock, "http://x$path");
    my $r = curl_run(@args);
    my ($body, $code) = $r->{stdout} =~ /\A(.*)\n(\d{3})\z/s;
    return { code => $code // "none ($r->{stderr})", body => $body // '',
        json => scalar eval { decode_json($body // '') } };
}

# The entries of GET /api/v1/connections (the whole answer in list context).
sub conns {
    my $r = api('GET', '/api/v1/connections');
    my $l = $r->{json} && $r->{json}{connections};
    return wantarray ? (@{$l // []}) : $r;
}

# The entry whose client is ADDR, or undef.
sub conn_of {
    my ($addr) = @_;
    my ($e) = grep { $_->{client} eq $addr } conns();
    return $e;
}

my %workers;    # slot => pid, from status
{
    my $r = ctl('--json', 'status');
    my $j = eval { decode_json($r->{stdout}) } // {};
    %workers = map { $_->{slot} => $_->{pid} } @{$j->{workers} // []};
    is(scalar keys %workers, 2, 'status lists two workers');
}

# --- a TCP connection, listed
my $t0 = time;
my $s = tcp_connect($tport) or BAIL_OUT("connect: $@");
is(recv_line($s, 3), "H\n", 'a TCP client gets through to H');
ok(send_all($s, "hello\n"), 'and sends 6 bytes');
my $cport = $s->sockport;
my $client = "127.0.0.1:$cport";

my $e;
ok(wait_until(sub { $e = conn_of($client); $e && $e->{from_client} == 6 }, 5),
    "GET /api/v1/connections lists $client with the 6 bytes it sent")
    or diag(explain([conns()]));
$e //= {};
is($e->{listener}, 'tcpl', '... its listener');
is($e->{server}, $H->{addr}, '... its server');
is($e->{upstream}, 'hold', '... its upstream');
is($e->{to_client}, 2, '... the 2 bytes it received');
is($e->{generation}, 1, '... generation 1');
ok(defined $e->{worker} && defined $workers{$e->{worker}}
    && $workers{$e->{worker}} == $e->{pid}, '... the slot and pid of a worker')
    or diag(explain($e, \%workers));
like($e->{id} // '', qr/^[1-9]\d*$/, '... a numeric id');
ok(($e->{started} // 0) >= int($t0) - 1 && $e->{started} <= time + 1,
    '... started (unix seconds) when it connected');
ok(defined $e->{age_ms} && $e->{age_ms} >= 0, '... an age in ms');
my $id = $e->{id} // 0;

{
    my $r = conns();
    is($r->{code}, 200, 'GET /api/v1/connections answers 200');
    my @ids = map { $_->{id} } @{$r->{json}{connections} // []};
    is_deeply(\@ids, [sort { $a <=> $b } @ids], 'the list is sorted by id');
    is($r->{json}{total}, scalar @ids, 'total is the number listed');
    ok(defined $r->{json}{truncated} && !$r->{json}{truncated}, 'truncated is false');

    $r = api('GET', '/api/v1/connections?limit=0');
    is($r->{code}, 200, '?limit=0 answers 200');
    is(scalar @{$r->{json}{connections} // [1]}, 0, '... with no connection');
    ok($r->{json}{truncated} && $r->{json}{total} >= 1, '... truncated, with the total');
    for my $q ('limit=abc', 'limit=-1', 'limit=', 'limit=99999999999999999999999') {
        is(api('GET', "/api/v1/connections?$q")->{code}, 400, "?$q is a 400");
    }
}

# --- the same through cuttlectl
{
    my $r = ctl('--json', 'conns');
    is($r->{status}, 0, 'conns --json exits 0') or diag($r->{stderr});
    my $j = eval { decode_json($r->{stdout}) } // {};
    my ($je) = grep { $_->{client} eq $client } @{$j->{connections} // []};
    ok($je, "conns --json lists $client") or diag($r->{stdout});
    is_deeply([@{$je // {}}{qw(id listener server)}], [$id, 'tcpl', $H->{addr}],
        '... with its id, listener and server');

    $r = ctl('conns');
    is($r->{status}, 0, 'conns exits 0') or diag($r->{stderr});
    like($r->{stdout}, qr/^ID\s+WORKER\s+LISTENER\s+CLIENT\s+SERVER\s+TLS\s+AGE\s+IN\s+OUT$/m,
        'conns has the column header') or diag($r->{stdout});
    like($r->{stdout},
        qr/^$id\s+$e->{worker}\s+tcpl\s+\Q$client\E\s+\Q$H->{addr}\E\s+-\s+\d+s\s+6\s+2$/m,
        'conns shows the connection: id, worker, listener, client, server, no TLS, age, bytes')
        or diag($r->{stdout});
}

# --- an IPv6 client
SKIP: {
    my $s6 = tcp_connect($tport6, host => '::1');
    skip "no IPv6 loopback: $@", 3 unless $s6;
    is(recv_line($s6, 3), "H6\n", 'an IPv6 client gets through to H6');
    my $c6 = '[::1]:' . $s6->sockport;
    my $e6;
    ok(wait_until(sub { $e6 = conn_of($c6) }, 5), "the API lists $c6")
        or diag(explain([conns()]));
    is_deeply([@{$e6 // {}}{qw(listener server)}], ['tcp6', $H6->{addr}],
        '... on tcp6, to H6');
    close $s6;
}

# --- over TCP: the token is needed, for a DELETE as for a GET
{
    my $r = api('DELETE', "/api/v1/connections/$id", tcp => 1);
    is($r->{code}, 401, 'DELETE over TCP without the token: 401');
    like($r->{json}{error} // '', qr/Bearer/, '... saying what is needed');
    is(api('GET', '/api/v1/connections', tcp => 1)->{code}, 401,
        'GET over TCP without the token: 401');
    ok(send_all($s, "more\n"), 'the client sends 5 more bytes');
    ok(wait_until(sub { my $x = conn_of($client); $x && $x->{from_client} == 11 }, 5),
        'the connection is still relayed (11 bytes from the client)');

    $r = api('GET', '/api/v1/connections', tcp => 1, token => 1);
    is($r->{code}, 200, 'GET over TCP with the token: 200');
    ok((grep { $_->{id} == $id } @{$r->{json}{connections} // []}), '... lists it');
    for my $bad ('abc', '-1', '+1', '1x', '%31', '18446744073709551616', '') {
        is(api('DELETE', "/api/v1/connections/$bad", tcp => 1, token => 1)->{code}, 400,
            "DELETE /api/v1/connections/$bad: 400");
    }
    is(api('DELETE', '/api/v1/connections/18446744073709551615')->{code}, 404,
        'DELETE of the largest id, not in use: 404');
    is(api('POST', "/api/v1/connections/$id")->{code}, 405, 'POST on a connection: 405');
    is(api('GET', "/api/v1/connections/$id")->{code}, 405, 'GET on a connection: 405');
    is(api('DELETE', '/api/v1/connections')->{code}, 405, 'DELETE on the list: 405');
    ok(conn_of($client), 'after all that the connection is still listed');
}

# --- cuttlectl kill
{
    my $mark = log_mark($c);
    my $r = ctl('kill', $id);
    is($r->{status}, 0, "kill $id exits 0") or diag($r->{stderr});
    is($r->{stdout}, "connection $id killed\n", '... and says so');
    my $eof = recv_until_eof($s, 3);
    ok($eof->{closed}, 'the client sees its connection closed') or diag(explain($eof));
    close $s;
    ok(wait_until(sub { !conn_of($client) }, 3), 'the connection leaves the list');
    ok(wait_log($c, qr/killed by the admin API/, since => $mark),
        'the error log says "killed by the admin API"') or diag(join "\n", log_since($c, $mark));
    ok(wait_log($c, qr/admin: kill of connection $id, client: \Q$client\E/, since => $mark),
        'the admin process logs the kill');
    my @l = wait_conn($c, 1, client => $client);
    is($l[0]{end}, 'killed by the admin API', "the conn line of $client ends so")
        if @l;

    $r = ctl('kill', $id);
    is($r->{status}, 1, 'kill of a connection that is gone exits 1');
    is($r->{stderr}, "cuttlectl: kill $id: no such connection\n", "... with the API's message");
    $r = ctl('kill', '987654321');
    is($r->{status}, 1, 'kill of an unknown id exits 1');
    for my $bad ('abc', '12a', '', '99999999999999999999999') {
        $r = ctl('kill', $bad);
        is($r->{status}, 2, "kill '$bad' exits 2");
        like($r->{stderr}, qr/^cuttlectl: kill: invalid connection id/, '... and says why');
    }
    is(ctl('kill')->{status}, 2, 'kill without an id exits 2');
    is(ctl('kill', 1, 2)->{status}, 2, 'kill with two ids exits 2');
}

# --- DELETE over TCP with the token
{
    my $s2 = tcp_connect($tport) or BAIL_OUT("connect: $@");
    is(recv_line($s2, 3), "H\n", 'a second TCP client gets through');
    my $c2 = '127.0.0.1:' . $s2->sockport;
    my $e2;
    ok(wait_until(sub { $e2 = conn_of($c2) }, 5), "$c2 is listed");
    my $r = api('DELETE', "/api/v1/connections/$e2->{id}", tcp => 1, token => 1);
    is($r->{code}, 202, 'DELETE over TCP with the token: 202');
    is_deeply($r->{json}, { id => $e2->{id}, killed => JSON::PP::true },
        '... {"id": ID, "killed": true}');
    ok(recv_until_eof($s2, 3)->{closed}, 'that client sees its connection closed');
    close $s2;
}

# --- HTTP: a keep-alive connection is listed; the metrics count the requests
my $nreq = 0;
{
    my $hs = tcp_connect($hport) or BAIL_OUT("connect: $@");
    http_send($hs, target => '/one');
    my $r = http_recv($hs);
    is($r->{status}, 200, 'an HTTP request on a keep-alive connection: 200');
    $nreq++;
    my $hc = '127.0.0.1:' . $hs->sockport;
    my $he;
    ok(wait_until(sub { $he = conn_of($hc); $he && $he->{to_client} > 0 }, 5),
        "the API lists the HTTP client $hc, with the bytes of its answer")
        or diag(explain([conns()]));
    is($he->{listener}, 'webl', '... on webl');
    ok($he->{from_client} > 0, '... and the bytes of its request');

    for my $path ('/a', '/b', '/c', '/d') {
        my $g = http_get($hport, $path);
        $nreq++;
        is($g->{status}, 200, "GET $path: 200");
    }
    my $g = http_get($hport, '/status/404');
    $nreq++;
    is($g->{status}, 404, 'GET /status/404: 404 from the origin');
    close $hs;
}

# One sample's value from the metrics text, or undef.
sub sample {
    my ($text, $name, $labels) = @_;
    return $text =~ /^\Q$name\E\{\Q$labels\E\} (\S+)$/m ? $1 : undef;
}

# The buckets of a histogram as [le, count] in the order given.
sub buckets {
    my ($text, $name, $labels) = @_;
    my @b;
    while ($text =~ /^\Q$name\E_bucket\{\Q$labels\E,le="([^"]+)"\} (\d+)$/mg) {
        push @b, [$1, $2];
    }
    return @b;
}

# Asserts that a histogram's buckets are cumulative, end with +Inf, and
# that +Inf is _count; returns _count.
sub histogram_ok {
    my ($text, $name, $labels) = @_;
    my @b = buckets($text, $name, $labels);
    my $count = sample($text, "${name}_count", $labels);
    ok(@b > 1, "$name\{$labels}: buckets") or return $count;
    my ($mono, $le) = (1, 1);
    for my $i (1 .. $#b) {
        $mono = 0 if $b[$i][1] < $b[$i - 1][1];
        $le = 0 if $b[$i][0] ne '+Inf' && $b[$i][0] <= $b[$i - 1][0];
    }
    ok($mono, '... cumulative') or diag(explain(\@b));
    ok($le, '... with rising bounds') or diag(explain(\@b));
    is($b[-1][0], '+Inf', '... the last one +Inf');
    is($b[-1][1], $count, '... which is _count');
    ok(defined sample($text, "${name}_sum", $labels), '... and a _sum');
    return $count;
}

{
    my $L = 'listener="webl"';
    my $m;
    # A worker counts a request once its answer is sent, and the
    # counters one after the other: wait until the last one has them all.
    ok(wait_until(sub {
        my $r = api('GET', '/metrics');
        $m = $r->{body};
        (sample($m, 'cuttle_listener_requests_total', $L) // -1) >= $nreq
            && (sample($m, 'cuttle_listener_duration_seconds_count', $L) // -1) >= $nreq;
    }, 5), "/metrics counts the $nreq requests") or diag($m);
    is(sample($m, 'cuttle_listener_requests_total', $L), $nreq,
        "cuttle_listener_requests_total{$L} is $nreq");
    is(sample($m, 'cuttle_listener_responses_total', "$L,code=\"2xx\""), $nreq - 1,
        '... responses_total code="2xx" is ' . ($nreq - 1));
    is(sample($m, 'cuttle_listener_responses_total', "$L,code=\"4xx\""), 1,
        '... code="4xx" is 1');
    is(sample($m, 'cuttle_listener_responses_total', "$L,code=\"5xx\""), 0,
        '... code="5xx" is 0');
    is(sample($m, 'cuttle_listener_connections_total', $L), 6,
        '... connections_total is 6');
    is(histogram_ok($m, 'cuttle_listener_duration_seconds', $L), $nreq,
        'the webl duration histogram counts every request');
    cmp_ok(sample($m, 'cuttle_listener_duration_seconds_sum', $L), '>', 0,
        '... and their time');

    my $S = "upstream=\"site\",server=\"$O->{addr}\"";
    cmp_ok(histogram_ok($m, 'cuttle_server_response_seconds', $S) // 0, '>', 0,
        "cuttle_server_response_seconds_count{$S} > 0");

    my $T = 'listener="tcpl"';
    is(sample($m, 'cuttle_listener_connections_total', $T), 2,
        'tcpl: connections_total is 2');
    is(sample($m, 'cuttle_listener_connections_active', $T), 0,
        'tcpl: connections_active is 0 after the kills');
    is(sample($m, 'cuttle_listener_requests_total', $T), 0, 'tcpl: no requests');
    is(sample($m, 'cuttle_listener_bytes_received_total', $T), 11,
        'tcpl: bytes_received_total is the 11 bytes sent');
    is(sample($m, 'cuttle_listener_bytes_sent_total', $T), 4,
        'tcpl: bytes_sent_total is the 2 x 2 bytes received');
    is(histogram_ok($m, 'cuttle_listener_duration_seconds', $T), 2,
        'the tcpl duration histogram counts both connections');

    for my $f (qw(cuttle_listener_duration_seconds cuttle_server_response_seconds
            cuttle_listener_requests_total cuttle_server_up)) {
        my @help = $m =~ /^# HELP \Q$f\E /mg;
        my @type = $m =~ /^# TYPE \Q$f\E /mg;
        is(scalar @help . '/' . scalar @type, '1/1', "one HELP and one TYPE line for $f");
    }
    my @bad = grep { !/^(?:# (?:HELP|TYPE) \w+ .+|\w+(?:\{[^{}]*\})? [-+.\deE]+)$/ }
        split /\n/, $m;
    ok(!@bad, 'every /metrics line is a comment or a sample') or diag(join "\n", @bad);

    # The keep-alive connection closed by the client last may take a moment.
    my $sl;
    wait_until(sub {
        my $r = ctl('--json', 'status');
        my $j = eval { decode_json($r->{stdout}) } // {};
        ($sl) = grep { $_->{name} eq 'webl' } @{$j->{listeners} // []};
        $sl && $sl->{active} == 0;
    }, 5);
    is_deeply([@{$sl // {}}{qw(accepted active requests)}], [6, 0, $nreq],
        'status --json: webl accepted 6, active 0, requests ' . $nreq);
}
log_clean_ok();
done_testing();
