# The HTTP cache of a route, with 2 workers, against an origin that
# counts its requests and sets any field: a miss is fetched once and
# stored as it streams, then every worker answers it from the shared
# segment (Cache-Status, Age, the stored head and body, HEAD from a
# stored GET); what RFC 9111 keeps out is not stored (no-store,
# private, Set-Cookie, Authorization); a chunked body is stored as its
# payload; an object goes stale at its max-age; the request's no-cache
# and only-if-cached; the route's fallback lifetime; other methods pass,
# and HEAD too on a route whose methods leave it out;
# Host is normalised and fields not in the key cannot poison it; a
# reload keeps the objects; a worker killed while storing leaves
# nothing half-visible.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::IP;
use IO::Select;
use Time::HiRes qw(time sleep);
use CuttleTest;

my $O = http_origin(name => 'O');
my $port = free_port();
my $gzport = free_port();
my ($tport, $cport) = (free_port(), free_port());
# A CA and a certificate for 127.0.0.1, for the TLS listeners.
my $tlsdir = tmpdir() . '/tls';
mkdir $tlsdir or die "mkdir: $!";
for my $g (['ca'], ['server', '--cn', 'cache.test', '--san', 'IP:127.0.0.1']) {
    my $r = cuttlectl_run('cert', 'gen', @$g, '--out', $tlsdir);
    $r->{status} == 0 or BAIL_OUT("cuttlectl cert gen @$g: $r->{stderr}");
}

my $conf = <<"EOF";
error_log: {path: %LOG%, level: info}
caches:
  main: {size: 8m, max_object: 1m}
upstreams:
  o: {servers: [{address: "$O->{addr}"}]}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    routes:
      - match: {path_prefix: /fallback/}
        upstream: o
        cache: {zone: main, valid: {200: 1m}}
      - match: {path_prefix: /hidden/}
        upstream: o
        response_headers: {remove: [X-Secret]}
        cache: {zone: main}
      - match: {path_prefix: /soe/}
        upstream: o
        cache: {zone: main, stale_on_error: true}
      - match: {path_prefix: /nocache/}
        upstream: o
      - match: {path_prefix: /getonly/}
        upstream: o
        cache: {zone: main, methods: [GET]}
      - upstream: o
        cache: {zone: main}
  - name: tls
    listen: 127.0.0.1:$tport
    mode: http
    tls: {certificates: [{cert: $tlsdir/cache.test.crt, key: $tlsdir/cache.test.key}]}
    routes:
      - upstream: o
        cache: {zone: main}
  - name: tlscert
    listen: 127.0.0.1:$cport
    mode: http
    tls:
      certificates: [{cert: $tlsdir/cache.test.crt, key: $tlsdir/cache.test.key}]
      verify: optional
      client_ca: $tlsdir/ca.crt
      client_cert_headers: {verify: X-Client-Verify}
    routes:
      - upstream: o
        cache: {zone: main}
  - name: gz
    listen: 127.0.0.1:$gzport
    mode: http
    compress: {types: [text/html], min_size: 100}
    routes:
      - upstream: o
        cache: {zone: main}
EOF
my $c = cuttle_start($conf, workers => 2);

sub get {
    my ($target, %o) = @_;
    return http_get($port, $target, %o);
}

# The requests the origin got for target so far.
sub fetched { return scalar(origin_requests($O, target => $_[0])) }

my $ma = 'h=Cache-Control:max-age%3D60';

# ------------------------------------------------------------ miss, then hit

{
    my $t = "/size/1000?$ma";
    my $a = get($t);
    is($a->{status}, 200, 'a miss: 200');
    like(hdr($a, 'Cache-Status') // '', qr/^cuttle; fwd=uri-miss; fwd-status=200; stored$/,
        '... Cache-Status says it was forwarded and stored');
    my $b = get($t);
    is($b->{status}, 200, 'the same again: 200');
    like(hdr($b, 'Cache-Status') // '', qr/^cuttle; hit; ttl=(59|60)$/, '... a hit, with its ttl');
    like(hdr($b, 'Age') // '', qr/^[01]$/, '... and an Age');
    is($b->{body}, $a->{body}, '... the same body');
    is(hdr($b, 'X-N'), hdr($a, 'X-N'), '... the stored head');
    is(hdr($b, 'Content-Length'), 1000, '... with its length');
    is(fetched($t), 1, 'the origin was asked once');
    # Several connections, so that both workers answer.
    my @more = map { get($t) } 1 .. 8;
    is(scalar(grep { ($_->{status} // 0) == 200 && $_->{body} eq $a->{body} } @more), 8,
        'eight more requests, on new connections: all answered');
    is(fetched($t), 1, '... from the cache, whichever worker took them');
    my $h = get($t, method => 'HEAD');
    is($h->{status}, 200, 'HEAD of a stored GET: 200');
    is(hdr($h, 'Content-Length'), 1000, '... the GET\'s length');
    is($h->{body}, '', '... no body');
    is(fetched($t), 1, '... and not from the origin');
}

# ------------------------------------------------------------ preconditions and ranges, from the store

{
    my $t = "/size/1000?$ma&h=ETag:%22v1%22&h=Last-Modified:Mon,%2001%20Jan%202024%2000:00:00%20GMT";
    my $a = get($t);
    is(hdr($a, 'ETag'), '"v1"', 'an object with a validator is stored');
    my $n = get($t, headers => [['If-None-Match', 'W/"v1"']]);
    is($n->{status}, 304, 'If-None-Match that matches (weakly): 304 from the cache');
    is(hdr($n, 'ETag'), '"v1"', '... with the ETag');
    like(hdr($n, 'Cache-Status') // '', qr/; hit; /, '... a hit');
    is($n->{body}, '', '... no body');
    my $m = get($t, headers => [['If-Modified-Since', 'Tue, 02 Jan 2024 00:00:00 GMT']]);
    is($m->{status}, 304, 'If-Modified-Since after Last-Modified: 304');
    my $f = get($t, headers => [['If-None-Match', '"v2"']]);
    is($f->{status}, 200, 'an ETag that does not match: the whole object');
    is(length $f->{body}, 1000, '... all of it');
    my $r = get($t, headers => [['Range', 'bytes=10-19']]);
    is($r->{status}, 206, 'Range of a stored object: 206');
    is(hdr($r, 'Content-Range'), 'bytes 10-19/1000', '... its Content-Range');
    is($r->{body}, substr($a->{body}, 10, 10), '... those bytes');
    my $u = get($t, headers => [['Range', 'bytes=5000-']]);
    is($u->{status}, 416, 'a Range beyond the object: 416');
    is(hdr($u, 'Content-Range'), 'bytes */1000', '... with the length');
    my $ir = get($t, headers => [['Range', 'bytes=0-9'], ['If-Range', '"v0"']]);
    is($ir->{status}, 200, 'If-Range with another ETag: the whole object');
    is(fetched($t), 1, 'all of it answered from the store');
    my $im = get($t, headers => [['If-Match', '"v1"']]);
    is($im->{status}, 200, 'If-Match: the origin decides');
    is(fetched($t), 2, '... and is asked');
}

# ------------------------------------------------------------ what is not stored

for my $case (['no-store', 'h=Cache-Control:no-store', 'no-store'],
              ['private', 'h=Cache-Control:private', 'private'],
              ['Set-Cookie', "$ma&h=Set-Cookie:a%3D1", 'set-cookie']) {
    my ($what, $q, $detail) = @$case;
    my $t = "/size/10?$q";
    my $a = get($t);
    like(hdr($a, 'Cache-Status') // '', qr/^cuttle; fwd=uri-miss; fwd-status=200; detail=$detail$/,
        "$what: not stored, and Cache-Status says why");
    get($t);
    is(fetched($t), 2, "$what: the origin is asked each time");
}
{
    # Vary: each variant stored apart, and answered to the requests that select it.
    my $t = "/echo/vary?$ma&h=Vary:Accept-Language";
    my $en = get($t, headers => [['Accept-Language', 'en']]);
    like(hdr($en, 'Cache-Status') // '', qr/fwd=uri-miss; fwd-status=200; stored$/, 'Vary: the first variant stored');
    my $en2 = get($t, headers => [['Accept-Language', 'en']]);
    like(hdr($en2, 'Cache-Status') // '', qr/; hit; /, '... and a hit for the same field');
    is($en2->{body}, $en->{body}, '... its body');
    my $fr = get($t, headers => [['Accept-Language', 'fr']]);
    like(hdr($fr, 'Cache-Status') // '', qr/fwd=vary-miss; fwd-status=200; stored$/,
        '... another value: a variant miss, stored');
    like($fr->{body}, qr/"fr"/, '... the origin saw that value');
    like(hdr(get($t, headers => [['Accept-Language', 'fr']]), 'Cache-Status') // '', qr/; hit; /,
        '... then a hit');
    is(get($t, headers => [['Accept-Language', 'en']])->{body}, $en->{body},
        '... and the first variant still answers its own');
    my $none = get($t);
    like(hdr($none, 'Cache-Status') // '', qr/fwd=vary-miss/, '... no such field: a variant of its own');
    like(hdr(get($t), 'Cache-Status') // '', qr/; hit; /, '... stored too');
    is(fetched($t), 3, '... three variants, three fetches');
    my $star = "/size/10?$ma&h=Vary:*";
    like(hdr(get($star), 'Cache-Status') // '', qr/detail=vary-star$/, 'Vary: * is not stored');
}
{
    my $t = "/size/10?$ma&auth";
    get($t, headers => [['Authorization', 'Basic eDp5']]);
    get($t, headers => [['Authorization', 'Basic eDp5']]);
    is(fetched($t), 2, 'a request with Authorization: not stored without public or s-maxage');
}

# ------------------------------------------------------------ a body cut short

{
    # Content-Length 200000, 1000 bytes, then the close: nothing of it is stored.
    my $t = "/bad/short-body?$ma";
    get($t, timeout => 5);
    my $r = get($t, timeout => 5);
    unlike(hdr($r, 'Cache-Status') // '', qr/; hit; /, 'a body shorter than its Content-Length is not stored');
    is(fetched($t), 2, '... the origin is asked again');
}

# ------------------------------------------------------------ compressed on the way out

{
    use IO::Uncompress::Gunzip qw(gunzip);
    my $t = "/html/3000?$ma&gz";
    my $plain = http_get($gzport, $t);
    my $a = http_get($gzport, $t, headers => [['Accept-Encoding', 'gzip']]);
    like(hdr($a, 'Cache-Status') // '', qr/; hit; /, 'a hit for a client that takes gzip');
    is(hdr($a, 'Content-Encoding'), 'gzip', '... compressed on its way out');
    my $out;
    gunzip(\$a->{body} => \$out);
    is($out, $plain->{body}, '... to the stored body');
    is(hdr($plain, 'Content-Encoding'), undef, 'the object itself is stored as the origin sent it');
    is(fetched($t), 1, '... one fetch for both');
    my $b = http_get($gzport, $t, headers => [['Accept-Encoding', 'gzip']], version => '1.0');
    my $out10;
    gunzip(\$b->{body} => \$out10);
    is($out10, $plain->{body}, '... and to an HTTP/1.0 client, until the close');
}

# ------------------------------------------------------------ a chunked body

{
    my $t = "/chunked/5000?$ma";
    my $a = get($t);
    my $b = get($t);
    like(hdr($b, 'Cache-Status') // '', qr/; hit; /, 'a chunked response is stored');
    is($b->{body}, $a->{body}, '... its payload');
    is(hdr($b, 'Content-Length'), 5000, '... sent with its length');
    is(fetched($t), 1, '... fetched once');
}

# ------------------------------------------------------------ freshness

{
    my $t = '/size/20?h=Cache-Control:max-age%3D2';
    get($t);
    like(hdr(get($t), 'Cache-Status') // '', qr/; hit; ttl=[012]$/, 'max-age=2: a hit at first');
    sleep 3.2;
    my $s = get($t);
    like(hdr($s, 'Cache-Status') // '', qr/^cuttle; fwd=stale; fwd-status=200; ttl=-\d+; stored$/,
        '... stale after it: fetched again and stored anew');
    is(fetched($t), 2, '... the origin asked twice');
    like(hdr(get($t), 'Cache-Status') // '', qr/; hit; /, '... and a hit again');
}
{
    # Stale with an ETag: revalidated with If-None-Match; the 304 freshens it.
    my $t = '/size/300?h=Cache-Control:max-age%3D3&h=ETag:%22r1%22&inm=1';
    my $a = get($t);
    sleep 4.2;
    my $r = get($t);
    is($r->{status}, 200, 'a stale object with a validator: 200 to the client');
    like(hdr($r, 'Cache-Status') // '', qr/^cuttle; fwd=stale; fwd-status=304; ttl=[123]$/,
        '... revalidated: the origin said 304');
    is($r->{body}, $a->{body}, '... the stored body');
    my @q = origin_requests($O, target => $t);
    is(scalar @q, 2, '... after one more request to the origin');
    my %h = map { lc $_->[0] => $_->[1] } @{ $q[-1]{headers} // [] };
    is($h{'if-none-match'}, '"r1"', '... which carried If-None-Match');
    like(hdr(get($t), 'Cache-Status') // '', qr/; hit; ttl=[123]$/, '... and it is fresh again');
}
{
    # A route that removes a field: the revalidation's 304 does not bring it back.
    my $t = '/hidden/size/30?h=Cache-Control:max-age%3D3&h=ETag:%22h1%22&h=X-Secret:s&inm=1';
    my $a = get($t);
    ok(!defined hdr($a, 'X-Secret'), 'a field the route removes is not sent');
    sleep 4.2;
    my $r = get($t);
    like(hdr($r, 'Cache-Status') // '', qr/fwd-status=304/, 'revalidated by a 304 that carries it');
    ok(!defined hdr($r, 'X-Secret'), '... and still not sent');
    ok(!defined hdr(get($t), 'X-Secret'), '... nor by the hits after');
}
{
    # stale-while-revalidate: the first request after it went stale is answered stale at
    # once and the object is revalidated in the background; the others meanwhile get the
    # stale object too, and the origin is asked once, with the stored validator.
    # Ages are whole seconds: a lifetime of 3 leaves a revalidated object fresh to look at.
    my $t = '/slow/600?h=Cache-Control:max-age%3D3,%20stale-while-revalidate%3D60&h=ETag:%22w1%22&inm=1';
    get($t);
    sleep 4.2;
    my $t0 = time;
    my $first = get($t);
    my $took = time - $t0;
    like(hdr($first, 'Cache-Status') // '', qr/; hit; ttl=-\d+$/,
        'stale-while-revalidate: the first request after it went stale is answered stale');
    ok($took < 0.4, sprintf('... at once, not after the origin\'s 600 ms (%.3f s)', $took));
    my $other = get($t);
    like(hdr($other, 'Cache-Status') // '', qr/; hit; ttl=-\d+$/,
        '... as is the next, while the revalidation goes on');
    ok(wait_until(sub { fetched($t) == 2 }, 3), '... which asks the origin once more');
    my @q = origin_requests($O, target => $t);
    my %h = map { lc $_->[0] => $_->[1] } @{ $q[-1]{headers} // [] };
    is($h{'if-none-match'}, '"w1"', '... with If-None-Match');
    is($h{'x-forwarded-for'}, '127.0.0.1', '... on behalf of the client');
    ok(wait_until(sub { (hdr(get($t), 'Cache-Status') // '') =~ /; hit; ttl=[123]$/ }, 3),
        '... and the 304 makes it fresh again');
    is(fetched($t), 2, '... with no other request to the origin');
}
# GET over TLS with curl: (Cache-Status, seconds it took).
sub tls_get {
    my ($p, $t) = @_;
    my $r = curl_run('--cacert', "$tlsdir/ca.crt", '-D', '-', '-o', '/dev/null',
        '-w', 'took=%{time_total}', "https://127.0.0.1:$p$t");
    my ($cs) = $r->{stdout} =~ /^Cache-Status: (.*?)\r?$/mi;
    my ($took) = $r->{stdout} =~ /took=([\d.]+)/;
    return ($cs // '', $took // 99);
}
{
    # Over TLS too, with X-Forwarded-Proto as the client's; but where a client
    # certificate makes a difference the first request revalidates itself.
    my $t = '/slow/600?h=Cache-Control:max-age%3D3,%20stale-while-revalidate%3D60&h=ETag:%22t1%22&inm=1&tls=1';
    tls_get($tport, $t);
    sleep 4.2;
    my ($cs, $took) = tls_get($tport, $t);
    like($cs, qr/; hit; ttl=-\d+$/, 'TLS: the first request after it went stale is answered stale');
    ok($took < 0.4, "... at once ($took s)");
    ok(wait_until(sub { fetched($t) == 2 }, 3), '... and the background revalidation asks the origin');
    my @q = origin_requests($O, target => $t);
    my %h = map { lc $_->[0] => $_->[1] } @{ $q[-1]{headers} // [] };
    is($h{'x-forwarded-proto'}, 'https', '... as https, for a TLS client');
    is($h{'if-none-match'}, '"t1"', '... with If-None-Match');

    $t =~ s/tls=1/tls=2/;
    tls_get($cport, $t);
    sleep 4.2;
    ($cs, $took) = tls_get($cport, $t);
    like($cs, qr/fwd=stale; fwd-status=304/,
        'a listener that sends client certificate fields: the first request revalidates itself');
    ok($took >= 0.5, "... and waits for the origin ($took s)");
}
{
    # stale-if-error: the origin fails, the stale object answers.
    my $flag = tmpdir() . '/fail-flag';
    my $t = "/size/400?h=Cache-Control:max-age%3D1,%20stale-if-error%3D60&fail=$flag";
    my $a = get($t);
    sleep 2.2;
    write_file($flag, "1");
    my $r = get($t);
    is($r->{status}, 200, 'the origin answers 503: a stale object within stale-if-error answers');
    like(hdr($r, 'Cache-Status') // '', qr/fwd=stale; fwd-status=503; ttl=-\d+; detail=stale-if-error/,
        '... and Cache-Status says so');
    is($r->{body}, $a->{body}, '... with its body');
    unlink $flag;
    my $t2 = "/size/401?h=Cache-Control:max-age%3D1&fail=$flag";
    get($t2);
    sleep 2.2;
    write_file($flag, "1");
    is(get($t2)->{status}, 503, 'without stale-if-error: the 503 goes through');
    unlink $flag;
    my $t3 = "/soe/size/402?h=Cache-Control:max-age%3D1&fail=$flag";
    get($t3);
    sleep 2.2;
    write_file($flag, "1");
    my $r3 = get($t3);
    is($r3->{status}, 200, 'a route with stale_on_error: the stale object answers a 503');
    unlink $flag;
}
{
    my $t = "/size/30?$ma&rq";
    get($t);
    my $r = get($t, headers => [['Cache-Control', 'no-cache']]);
    like(hdr($r, 'Cache-Status') // '', qr/^cuttle; fwd=request; /,
        'a request with no-cache goes to the origin');
    is(fetched($t), 2, '... which is asked again');
    my $o = get('/size/31?never-stored', headers => [['Cache-Control', 'only-if-cached']]);
    is($o->{status}, 504, 'only-if-cached with nothing stored: 504');
    is(fetched('/size/31?never-stored'), 0, '... and the origin is not asked');
}
{
    my $t = '/fallback/size/40';
    get($t);
    my $r = get($t);
    like(hdr($r, 'Cache-Status') // '', qr/; hit; ttl=(59|60)$/,
        'no lifetime from the origin: the route\'s valid gives one');
    is(fetched($t), 1, '... fetched once');
}

# ------------------------------------------------------------ methods, keys

{
    my $t = "/echo/post?$ma";
    get($t, method => 'POST', body => 'x');
    my $r = get($t, method => 'POST', body => 'x');
    like(hdr($r, 'Cache-Status') // '', qr/^cuttle; fwd=method; /, 'POST: forwarded, as its method asks');
    is(fetched($t), 2, '... each time');
}
{
    # A route with methods: [GET] stores and answers GETs, and sends HEADs on.
    my $t = "/getonly/size/62?$ma";
    my $a = get($t);
    like(hdr($a, 'Cache-Status') // '', qr/; stored$/, 'methods [GET]: a GET is stored');
    like(hdr(get($t), 'Cache-Status') // '', qr/; hit; /, '... and answered');
    my $h = get($t, method => 'HEAD');
    is($h->{status}, 200, '... a HEAD: 200');
    like(hdr($h, 'Cache-Status') // '', qr/^cuttle; fwd=method; /, '... forwarded, as the route asks');
    get($t, method => 'HEAD');
    is(scalar(origin_requests($O, target => $t, method => 'HEAD')), 2, '... each time');
    is(scalar(origin_requests($O, target => $t, method => 'GET')), 1, '... and the GET once');
}
{
    # RFC 9111 4.4: a POST that succeeds makes its URI stale, and Location's.
    my $t = "/size/60?$ma&inv";
    my $l = "/size/61?$ma&inv";
    get($t);
    get($l);
    like(hdr(get($t), 'Cache-Status') // '', qr/; hit; /, 'stored');
    my $p = get("/status/201?$ma&inv&h=Location:" . '%2Fsize%2F61%3F' . "h%3DCache-Control:max-age%253D60%26inv",
        method => 'POST', body => 'x');
    is($p->{status}, 201, 'a POST to another URI answered 201 with a Location');
    like(hdr(get($l), 'Cache-Status') // '', qr/fwd=uri-miss/, '... the object of its Location is gone');
    my $q = get($t, method => 'POST', body => 'x');
    like(hdr(get($t), 'Cache-Status') // '', qr/fwd=uri-miss/, 'a POST to the URI itself: gone too');
    is(fetched($t), 3, '... and fetched again');
}
{
    my $t = "/size/50?$ma&host";
    get($t, host => 'Example.TEST:80');
    my $r = get($t, host => 'example.test');
    like(hdr($r, 'Cache-Status') // '', qr/; hit; /, 'Host in another case and with the default port: one key');
    my $p = get($t, host => 'other.test', headers => [['X-Forwarded-Host', 'example.test']]);
    like(hdr($p, 'Cache-Status') // '', qr/fwd=uri-miss/,
        'another Host is another key, whatever X-Forwarded-Host says');
    my $q = get($t, host => 'example.test', headers => [['X-Forwarded-Host', 'evil.test']]);
    like(hdr($q, 'Cache-Status') // '', qr/; hit; /, '... and X-Forwarded-Host changes no stored answer');
}
{
    my $t = "/nocache/size/10?$ma";
    my $r = get($t);
    ok(!defined hdr($r, 'Cache-Status'), 'a route without cache: no Cache-Status');
}

# ------------------------------------------------------------ one fetch per miss

{
    # 20 requests at once for a cold key whose origin takes 700 ms: one fetch.
    my $t = "/slow/700?$ma&collapse";
    my @s;
    for (1 .. 20) {
        my $s = tcp_connect($port) or die;
        send_all($s, "GET $t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        push @s, $s;
    }
    my @r = map { my $x = recv_until_eof($_, 10); close $_; $x->{data} } @s;
    is(scalar(grep { /^HTTP\/1\.1 200 / } @r), 20, '20 concurrent requests for one cold key: all 200');
    my ($body) = $r[0] =~ /\r\n\r\n(.*)\z/s;
    is(scalar(grep { /\r\n\r\n\Q$body\E\z/ } @r), 20, '... with the same body');
    is(fetched($t), 1, '... from one fetch');
    my $followers = grep { /\r\nCache-Status: cuttle; fwd=miss; fwd-status=200; collapsed\r\n/ } @r;
    cmp_ok($followers, '>=', 1, "... the others followed it, collapsed ($followers of them)");
}
{
    # The fetch they follow fails before its head: they go to the origin themselves.
    my $t = "/slow/300?$ma&h=Set-Cookie:x%3D1&collapse2";
    my @s = map { my $s = tcp_connect($port) or die;
        send_all($s, "GET $t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); $s } 1 .. 5;
    my @r = map { my $x = recv_until_eof($_, 10); close $_; $x->{data} } @s;
    is(scalar(grep { /^HTTP\/1\.1 200 / } @r), 5, 'a response that is not stored: every request still answered');
}

# ------------------------------------------------------------ the origin out of reach

{
    # A stale object on a route with stale_on_error, then the origin's address refuses.
    my $t = "/soe/size/403?h=Cache-Control:max-age%3D1&down";
    my $a = get($t);
    sleep 2.2;
    my $closed = free_port();
    (my $down = $conf) =~ s/address: "\Q$O->{addr}\E"/address: "127.0.0.1:$closed"/;
    ok(cuttle_reload($c, $down)->{ok}, 'reload with the origin out of reach');
    my $r = get($t, timeout => 5);
    is($r->{status}, 200, 'the connect refused: the stale object answers');
    like(hdr($r, 'Cache-Status') // '', qr/fwd=stale; fwd-status=502; ttl=-\d+; detail=stale-if-error/,
        '... and says so');
    is($r->{body}, $a->{body}, '... with its body');
    is(get("/size/404?$ma&down", timeout => 5)->{status}, 502, 'nothing stored: 502');
    ok(cuttle_reload($c, $conf)->{ok}, 'the origin back');
}
{
    # A POST whose body moves the request's buffer still invalidates its URI.
    my $t = "/size/70?$ma&bigpost";
    get($t);
    like(hdr(get($t), 'Cache-Status') // '', qr/; hit; /, 'stored');
    my $p = get($t, method => 'POST', body => 'y' x 200000, timeout => 10);
    is($p->{status}, 200, 'a POST with a 200 KB body');
    like(hdr(get($t), 'Cache-Status') // '', qr/fwd=uri-miss/, '... invalidates the URI all the same');
}

# ------------------------------------------------------------ reload, and a worker killed mid-store

{
    my $t = "/size/1000?$ma";
    my $r = cuttle_reload($c);
    ok($r->{ok}, 'reload');
    my $h = get($t);
    like(hdr($h, 'Cache-Status') // '', qr/; hit; /, 'after a reload: still a hit');
    is(fetched($t), 1, '... the origin still asked once');
}
{
    # A large body, to a client that reads nothing: the fill stops mid-way.
    my $t = "/size/900000?$ma&killed";
    my $s = tcp_connect($port) or die;
    setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), 4096);
    send_all($s, "GET $t HTTP/1.1\r\nHost: x\r\n\r\n");
    ok(wait_until(sub { fetched($t) == 1 }, 5), 'a large object is being fetched');
    sleep 0.5;
    my %w = %{ generation_workers($c, 4) };
    kill 'KILL', values %w;
    expect_killed(values %w);
    close $s;
    ok(wait_log($c, qr/worker \d+ \(pid \d+\) killed by signal 9/), 'the workers were killed');
    sleep 1;
    my $r = get($t, timeout => 10);
    like(hdr($r, 'Cache-Status') // '', qr/fwd=uri-miss; fwd-status=200; stored/,
        'the next request: a clean miss, stored');
    is(length($r->{body} // ''), 900000, '... with the whole body');
    my $again = get($t, timeout => 10);
    like(hdr($again, 'Cache-Status') // '', qr/; hit; /, '... then a hit');
    is($again->{body}, $r->{body}, '... of the whole object');
}

cuttle_stop($c);
log_clean_ok($c);
done_testing();
