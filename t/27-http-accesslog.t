# mode: http logs: one access log line per request, in text and in JSON
# (the documented fields, "-" or null where no upstream was used, the
# reason of an error, JSON strings escaped), one line per request on a
# kept-alive connection, and one "http ..." line per request in the
# error log at info level.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP qw(decode_json);
use Time::HiRes qw(time);
use Time::Local qw(timegm);
use CuttleTest;

my $dir = tmpdir();
my $O = http_origin(name => 'O');
my $dead = free_port();     # nothing listens there
my %port = map { $_ => free_port() } qw(text json);
my %alog = (text => "$dir/access-text.log", json => "$dir/access-json.log");

my $routes = <<"EOF";
    routes:
      - match: {path_prefix: /v1/}
        upstream: o
      - match: {path_exact: /healthz}
        return: {status: 200, body: "ok\\n"}
      - match: {path_prefix: /dead/}
        upstream: dead
EOF
my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  o:
    servers:
      - {address: $O->{addr}}
  dead:
    servers:
      - {address: 127.0.0.1:$dead}
listeners:
  - name: web
    listen: 127.0.0.1:$port{text}
    mode: http
    retries: 0
    access_log: {path: $alog{text}, format: text}
$routes  - name: webjson
    listen: 127.0.0.1:$port{json}
    mode: http
    retries: 0
    access_log: {path: $alog{json}, format: json}
$routes
EOF

# Seconds since the epoch of "2026-11-23T10:49:26+00:00", or undef.
sub iso_epoch {
    my ($s) = @_;
    my @f = ($s // '') =~ /\A(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)([+-])(\d\d):(\d\d)\z/
        or return undef;
    my $off = ($f[7] * 3600 + $f[8] * 60) * ($f[6] eq '+' ? 1 : -1);
    return timegm($f[5], $f[4], $f[3], $f[2], $f[1] - 1, $f[0]) - $off;
}

my $TEXT_RE = qr!\A(?<ts>\S+)\ client=(?<client>\S+)\ listener=(?<listener>\S+)
    \ method=(?<method>\S+)\ target="(?<target>(?:[^"\\]|\\.)*)"
    \ status=(?<status>\d{3})\ bytes=(?<bytes>\d+)\ time=(?<time>\d+\.\d{3})s
    \ server=(?<server>\S+)\ connect=(?<connect>-|\d+\.\d{3}s)
    \ header=(?<header>-|\d+\.\d{3}s)\ response=(?<response>-|\d+\.\d{3}s)
    \ reason=(?<reason>"(?:[^"\\]|\\.)*")\z!x;

# The lines of an access log for client port $cport (at least $n,
# waiting up to 5 s): hashes of the text fields, or decoded JSON.
sub lines_for {
    my ($kind, $cport, $n) = @_;
    my @l;
    wait_until(sub {
        @l = grep { $kind eq 'text' ? /\bclient=127\.0\.0\.1:$cport / : /"127\.0\.0\.1:$cport"/ }
            split /\n/, slurp($alog{$kind});
        @l >= ($n // 1);
    }, 5);
    return map {
        my $line = $_;
        if ($kind eq 'text') {
            $line =~ $TEXT_RE ? { %+, line => $line } : { malformed => $line };
        } else {
            my $j = eval { decode_json($line) };
            ref $j eq 'HASH' ? { %$j, line => $line } : { malformed => $line };
        }
    } @l;
}

# "0.123s" (or "0.123", as the time field is captured) as a number.
sub secs { my ($v) = @_; return $v =~ /\A(\d+\.\d{3})s?\z/ ? $1 : undef }

# --- text: a proxied request.
my $body_len;
{
    my $r = http_get($port{text}, '/v1/x?y=1', host => 'app.test');
    is($r->{status}, 200, 'proxied request: 200');
    $body_len = length $r->{body};
    my ($l) = lines_for('text', $r->{client_port});
    ok($l && !$l->{malformed}, 'text: one line with the documented format')
        or diag(explain($l));
    $l = {} if !$l || $l->{malformed};
    is_deeply({ map { $_ => $l->{$_} } qw(client listener method target status server reason) },
        { client => "127.0.0.1:$r->{client_port}", listener => 'web', method => 'GET',
          target => '/v1/x?y=1', status => 200, server => $O->{addr}, reason => '"-"' },
        'text: the fields of a proxied request');
    my $epoch = iso_epoch($l->{ts});
    ok(defined $epoch && abs($epoch - time) < 60, 'text: an ISO 8601 time with offset, close to now')
        or diag($l->{ts});
    ok(($l->{bytes} // -1) >= $body_len && $l->{bytes} <= length $r->{raw},
        "text: bytes=$l->{bytes} counts what was sent ($body_len body, "
        . length($r->{raw}) . ' in all)');
    ok(defined secs($l->{connect} // '') && defined secs($l->{header} // '')
        && defined secs($l->{response} // ''), 'text: connect, header and response times');
}

# --- text: answers that used no upstream, and errors.
{
    my $r = http_get($port{text}, '/healthz');
    my ($l) = lines_for('text', $r->{client_port});
    is(join(' ', map { "$_=" . ($l->{$_} // '?') } qw(status server connect header response reason)),
        'status=200 server=- connect=- header=- response=- reason="-"',
        'text: a "return" route: no upstream fields');

    $r = http_get($port{text}, '/nowhere');
    ($l) = lines_for('text', $r->{client_port});
    is(join(' ', map { "$_=" . ($l->{$_} // '?') } qw(status server target)),
        'status=404 server=- target=/nowhere', 'text: 404');

    my $s = tcp_connect($port{text}) or die "connect: $@";
    my $cport = $s->sockport;
    send_all($s, "POST /v1/smuggle HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    http_recv($s);
    close $s;
    ($l) = lines_for('text', $cport);
    is(join(' ', map { "$_=" . ($l->{$_} // '?') } qw(status server reason)),
        'status=400 server=- reason="both Content-Length and Transfer-Encoding"',
        'text: a 400 with its reason');
    # The request line was valid: the log says what was asked.
    is(join(' ', map { "$_=" . ($l->{$_} // '?') } qw(method target)),
        'method=POST target=/v1/smuggle', 'text: the 400 of a valid request line has its method and target');

    $r = http_get($port{text}, '/dead/x');
    is($r->{status}, 502, 'a server that refuses: 502');
    ($l) = lines_for('text', $r->{client_port});
    is($l->{status}, 502, 'text: status=502');
    isnt($l->{reason} // '"-"', '"-"', 'text: 502 with a reason (' . ($l->{reason} // '?') . ')');
    like($l->{server} // '', qr/\A(?:-|127\.0\.0\.1:$dead)\z/, 'text: server is the one tried, or -');

    $r = http_get($port{text}, '/v1/slow/200');
    ($l) = lines_for('text', $r->{client_port});
    my ($h, $resp, $t) = map { secs($l->{$_} // '') // -1 } qw(header response time);
    ok($h >= 0.19 && $resp >= $h && $t >= $resp - 0.001,
        "text: an origin slow by 200 ms: header=$h response=$resp time=$t, in that order");
}

# --- text: a kept-alive connection logs each request.
{
    my $s = tcp_connect($port{text}) or die "connect: $@";
    my $cport = $s->sockport;
    for my $i (1 .. 3) {
        http_send($s, target => "/v1/ka?i=$i");
        http_recv($s);
    }
    close $s;
    my @l = lines_for('text', $cport, 3);
    is(join(' ', map { $_->{target} // '?' } @l), '/v1/ka?i=1 /v1/ka?i=2 /v1/ka?i=3',
        'text: three requests on one connection, three lines in order');
}

# --- one line per request also when cuttle closes the connection after
# it: an HTTP/1.0 client, "Connection: close", a close-delimited answer.
{
    my %case = (
        'HTTP/1.0' => [version => '1.0'],
        'Connection: close' => [headers => [['Connection', 'close']]],
        'a close-delimited answer' => [target => '/v1/close/100'],
    );
    my %cport;
    for my $name (sort keys %case) {
        my %o = (target => '/v1/once', @{$case{$name}});
        my $r = http_get($port{text}, delete $o{target}, %o, close_wait => 3);
        ok($r->{status} == 200 && $r->{closed}, "$name: 200, then closed");
        $cport{$name} = $r->{client_port};
    }
    my $count = sub {
        my ($name) = @_;
        my $p = $cport{$name};
        return (scalar(grep { /\bclient=127\.0\.0\.1:$p / } split /\n/, slurp($alog{text})),
            scalar(log_grep($c, qr/ http client=127\.0\.0\.1:$p /)));
    };
    # Give a second line the time to come, if one would.
    wait_until(sub { grep { my @n = $count->($_); $n[0] > 1 || $n[1] > 1 } keys %cport }, 1);
    for my $name (sort keys %cport) {
        is(join(' ', $count->($name)), '1 1',
            "$name: one access log line and one error log line");
        my ($l) = lines_for('text', $cport{$name});
        is($l->{reason}, '"-"', "$name: reason=\"-\"");
    }
}

# --- JSON.
{
    my $r = http_get($port{json}, '/v1/x?y=1', host => 'app.test');
    my ($j) = lines_for('json', $r->{client_port});
    ok($j && !$j->{malformed}, 'JSON: the line is a JSON object') or diag(explain($j));
    $j = {} if !$j || $j->{malformed};
    my $line = delete $j->{line} // '';
    is_deeply([sort keys %$j], [sort qw(time client listener method target status bytes time_ms
        server connect_ms header_ms response_ms reason)], 'JSON: the documented keys');
    is_deeply({ map { $_ => $j->{$_} } qw(client listener method target status server reason) },
        { client => "127.0.0.1:$r->{client_port}", listener => 'webjson', method => 'GET',
          target => '/v1/x?y=1', status => 200, server => $O->{addr}, reason => undef },
        'JSON: the fields of a proxied request');
    for my $k (qw(status bytes time_ms connect_ms header_ms response_ms)) {
        like($line, qr/"$k":\d+[,}]/, "JSON: $k is a number");
    }
    my $epoch = iso_epoch($j->{time});
    ok(defined $epoch && abs($epoch - time) < 60, 'JSON: time is ISO 8601, close to now');

    $r = http_get($port{json}, '/healthz');
    ($j) = lines_for('json', $r->{client_port});
    is_deeply({ map { $_ => (defined $j->{$_} && $j->{$_} eq '-' ? undef : $j->{$_}) }
        qw(status server connect_ms header_ms response_ms reason) },
        { status => 200, server => undef, connect_ms => undef, header_ms => undef,
          response_ms => undef, reason => undef },
        'JSON: a "return" route: null (or "-") for what needs an upstream');

    my $s = tcp_connect($port{json}) or die "connect: $@";
    my $cport = $s->sockport;
    send_all($s, "POST /v1/smuggle HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    http_recv($s);
    close $s;
    ($j) = lines_for('json', $cport);
    is_deeply([@$j{qw(status reason)}], [400, 'both Content-Length and Transfer-Encoding'],
        'JSON: a 400 with its reason as a string');

    # Quotes and backslashes in a target must come out escaped (cuttle
    # may also refuse such a target).
    my $weird = '/v1/q?a="b"\\c';
    $s = tcp_connect($port{json}) or die "connect: $@";
    $cport = $s->sockport;
    send_all($s, "GET $weird HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");
    $r = http_recv($s);
    close $s;
    ($j) = lines_for('json', $cport);
    ok($j && !$j->{malformed}, 'JSON: a target with quotes and a backslash: valid JSON')
        or diag(explain($j));
    ok(($j->{target} // '') eq $weird || ($j->{status} // 0) == 400,
        'JSON: ... with the target as it was sent (or a 400)') or diag($j->{line});
}

# --- the error log: one line per request at info.
{
    my $r = http_get($port{text}, '/v1/elog?y=1');
    my $cp = $r->{client_port};
    my @l = wait_log($c, qr/\[info\] \d+#\d+: http client=127\.0\.0\.1:$cp /);
    is(scalar @l, 1, 'error log: one "http" line for the request');
    like($l[0] // '', qr/\[info\]\ \d+\#\d+:\ http\ client=127\.0\.0\.1:$cp\ listener=web
        \ request="GET\ \/v1\/elog\?y=1\ HTTP\/1\.1"\ status=200\ bytes=\d+
        \ server=\Q$O->{addr}\E\ time=\d+\.\d{3}s\z/x, 'error log: the documented fields');

    my $s = tcp_connect($port{text}) or die "connect: $@";
    $cp = $s->sockport;
    send_all($s, "POST /v1/smuggle HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    http_recv($s);
    close $s;
    @l = wait_log($c, qr/\[info\] \d+#\d+: http client=127\.0\.0\.1:$cp /);
    like($l[0] // '', qr/\ status=400\ bytes=\d+\ server=-\ time=\d+\.\d{3}s
        \ reason="both\ Content-Length\ and\ Transfer-Encoding"\z/x,
        'error log: an error has its reason');
    like($l[0] // '', qr/\ request="POST\ \/v1\/smuggle\ HTTP\/1\.1"\ /x,
        'error log: the 400 of a valid request line has the request');
}
log_clean_ok();
done_testing();
