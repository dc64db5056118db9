# Purging the HTTP cache and looking into it, with 2 workers: objects
# stored (a miss, then a hit) leave by URL through cuttlectl (in every
# zone, or one; any spelling of the URL that the workers key alike), by
# URL prefix, and all of a zone; in a zone keyed by a request field,
# every variant of the URL goes.  The PURGE method of a route with
# "purge": 200 with the count from an address in the list, 403 from
# another, 405 on a route whose cache has no list, and logged at info.
# "cuttlectl cache" and GET /api/v1/caches show counters that move;
# /metrics has the cache families with a zone label; the API's errors
# (400 with a reason, 404, 405, 401 without the token on TCP).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use CuttleTest;

my $dir = tmpdir();
my $O = http_origin(name => 'O');
my ($port, $aport) = (free_port(), free_port());
my $sock = "$dir/admin.sock";
my $token = 'purge-test-token-0123456789';
write_file("$dir/token", "$token\n");
chmod 0600, "$dir/token" or die "chmod: $!";

plan skip_all => 'cannot send from 127.0.0.2'
    unless IO::Socket::IP->new(LocalHost => '127.0.0.2', Proto => 'tcp');

my $c = cuttle_start(<<"EOF", workers => 2);
error_log: {path: %LOG%, level: info}
admin:
  socket: $sock
  listen: 127.0.0.1:$aport
  token_file: %TMP%/token
caches:
  main: {size: 8m, max_object: 1m}
  lang: {size: 4m, key: ["header:Accept-Language"]}
  small: {size: 1m, max_object: 256k}
upstreams:
  o: {servers: [{address: "$O->{addr}"}]}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    routes:
      - match: {path_prefix: /lang/}
        upstream: o
        cache: {zone: lang, purge: [127.0.0.1/32]}
      - match: {path_prefix: /nopurge/}
        upstream: o
        cache: {zone: main}
      - match: {path_prefix: /nocache/}
        upstream: o
      - match: {path_prefix: /small/}
        upstream: o
        cache: {zone: small}
      - upstream: o
        cache: {zone: main, purge: [127.0.0.1/32]}
EOF

my $ma = 'h=Cache-Control:max-age%3D60';

sub status_of {
    my ($r) = @_;
    return $r->{h}{'cache-status'} // '';
}

sub get { return http_get($port, @_) }

sub is_hit { return status_of(get(@_)) =~ /; hit;/ }

# Stores $t (a miss, then a hit); true when the second was a hit.
sub store {
    my ($t, %o) = @_;
    my $a = get($t, %o);
    return status_of($a) =~ /fwd=uri-miss; fwd-status=200; stored/ && is_hit($t, %o);
}

sub ctl { return cuttlectl_run('-s', $sock, @_) }

sub ctl_json {
    my $r = ctl('--json', @_);
    return ($r, eval { decode_json($r->{stdout}) } // {});
}

sub zone_of {
    my ($name) = @_;
    my (undef, $j) = ctl_json('cache');
    my ($z) = grep { $_->{name} eq $name } @{ $j->{caches} // [] };
    return $z // {};
}

# PURGE $t from $from (127.0.0.1 by default): the response.
sub purge_req {
    my ($t, %o) = @_;
    my $s = tcp_connect($port, local => $o{from} // '127.0.0.1') or return { error => $@ };
    http_send($s, method => 'PURGE', target => $t, headers => $o{headers} // []);
    my $r = http_recv($s);
    close $s;
    return $r;
}

ok(wait_until(sub { -S $sock }, 5), 'the admin socket exists') or BAIL_OUT('no admin socket');

# ------------------------------------------------------------ cuttlectl cache

{
    my $r = ctl('cache');
    is($r->{status}, 0, 'cache exits 0') or diag($r->{stderr});
    like($r->{stdout}, qr/^ZONE\s+OBJECTS\s+BYTES\s+CAPACITY\s+HITS\s+MISSES\s+STALE\s+REVALIDATED\s+COLLAPSED\s+STORES\s+EVICTIONS\s+ABORTS\s+BUSY\s+REPAIRS$/m,
        '... a table of the zones');
    like($r->{stdout}, qr/^main\s+0\s+0\s+\d+\s+0\s+0\s+0\s+0\s+0\s+0\s+0\s+0\s+0\s+0$/m, '... main, empty');
    like($r->{stdout}, qr/^lang\s+0\s/m, '... and lang');
    my $z = zone_of('main');
    is($z->{size}, 8 << 20, '--json: the zone\'s size');
    is($z->{max_object}, 1 << 20, '... max_object');
    ok($z->{capacity} > 0 && $z->{capacity} <= 8 << 20, '... its capacity');
    is_deeply([sort grep { exists $z->{$_} } qw(objects bytes hits misses evictions stores aborts busy repairs)],
        [sort qw(objects bytes hits misses evictions stores aborts busy repairs)], '... and every counter');
}

# ------------------------------------------------------------ purge by URL

my $img1 = "/img/size/10?$ma";
my $img2 = "/img/size/20?$ma";
my $app = "/app/size/30?$ma";
{
    ok(store($_), "$_ stored: a miss, then a hit") for $img1, $img2, $app;
    my $z = zone_of('main');
    is($z->{objects}, 3, 'cache --json: 3 objects');
    ok($z->{hits} >= 3, '... at least 3 hits') or diag(explain $z);
    ok($z->{stores} >= 3, '... 3 stores');
    my $hits = $z->{hits};
    ok(is_hit($app), 'one hit more');
    is(zone_of('main')->{hits}, $hits + 1, '... and the hits count it');

    my $r = ctl('purge', "http://localhost$img1", '--zone', 'main');
    is($r->{status}, 0, 'purge URL --zone main exits 0') or diag($r->{stderr});
    is($r->{stdout}, "purged 1 object of http://localhost$img1 in zone main\n", '... and says so');
    like(status_of(get($img1)), qr/fwd=uri-miss/, '... the next GET is a miss');
    ok(is_hit($img2), '... another URL is still a hit');
    is(zone_of('main')->{objects}, 3, '... and the miss stored it again');

    # Any spelling that the workers key alike: scheme and host case, the
    # default port, dot segments, an escaped unreserved byte.
    $r = ctl('purge', "HTTP://LocalHost:80/img/./x/../%73ize/10?$ma");
    is($r->{stdout}, "purged 1 object of HTTP://LocalHost:80/img/./x/../%73ize/10?$ma in every zone\n",
        'purge of another spelling, in every zone: 1 object');
    like(status_of(get($img1)), qr/fwd=uri-miss/, '... it was the same one');
    my ($j);
    ($r, $j) = ctl_json('purge', "http://localhost/img/size/11?$ma");
    is($j->{purged}, 0, 'purge --json of a URL never stored: 0');
    is_deeply([map { $_->{zone} } @{ $j->{zones} }], ['main', 'lang', 'small'], '... and each zone is named');
}

# ------------------------------------------------------------ by prefix, and all

{
    ok(is_hit($img1), 'the miss after the purge stored it again');
    my $r = ctl('purge', '--prefix', 'http://localhost/img/', '--zone', 'main');
    is($r->{status}, 0, 'purge --prefix exits 0') or diag($r->{stderr});
    is($r->{stdout}, "purged 2 objects under http://localhost/img/ in zone main\n",
        '... the 2 objects under /img/');
    like(status_of(get($img2)), qr/fwd=uri-miss/, '... gone');
    ok(is_hit($app), '... /app/ is not');
    $r = ctl('purge', '--prefix', 'http://other.test/');
    is($r->{stdout}, "purged 0 objects under http://other.test/ in every zone\n",
        'another host\'s prefix: nothing');

    # /app/ and the /img/ one that the miss above stored again.
    is(zone_of('main')->{objects}, 2, 'two objects left in main');
    $r = ctl('purge', '--zone', 'main', '--all');
    is($r->{status}, 0, 'purge --zone main --all exits 0') or diag($r->{stderr});
    is($r->{stdout}, "purged 2 objects (all) in zone main\n", '... both');
    is(zone_of('main')->{objects}, 0, '... the zone is empty');
    like(status_of(get($app)), qr/fwd=uri-miss/, '... and the next GET a miss');
}

# ------------------------------------------------------------ a zone with key parts

my $lang = "/lang/size/40?$ma";
{
    ok(store($lang, headers => [['Accept-Language', $_]]), "Accept-Language $_: stored")
        for 'en', 'fr';
    ok(store($lang), 'without Accept-Language: stored');
    is(zone_of('lang')->{objects}, 3, 'three variants in zone lang');
    ok(store("/lang/size/41?$ma", headers => [['Accept-Language', 'en']]), 'another URL stored');
    my $r = ctl('purge', "http://localhost$lang", '--zone', 'lang');
    is($r->{stdout}, "purged 3 objects of http://localhost$lang in zone lang\n",
        'purge of the URL: its 3 variants');
    like(status_of(get($lang, headers => [['Accept-Language', 'fr']])), qr/fwd=uri-miss/,
        '... gone');
    ok(is_hit("/lang/size/41?$ma", headers => [['Accept-Language', 'en']]),
        '... the other URL is not');
}

# ------------------------------------------------------------ the PURGE method

{
    my $t = "/p/size/50?$ma";
    ok(store($t), 'stored');
    my $mark = log_mark($c);
    my $r = purge_req($t);
    is($r->{status}, 200, 'PURGE from the purge list: 200');
    is($r->{body}, "{\"purged\":1}\n", '... with the count');
    like($r->{h}{'content-type'} // '', qr{^application/json}, '... as JSON');
    is(purge_req($t)->{body}, "{\"purged\":0}\n", 'PURGE again: 0');
    like(status_of(get($t)), qr/fwd=uri-miss/, '... and the next GET is a miss (which stores it)');
    my $logged = qr/\[info\] .*cache purge client=127\.0\.0\.1:\d+ listener=web zone=main /;
    $logged = qr{$logged\Qurl="http://localhost$t" purged=1\E$};
    ok(wait_until(sub { scalar log_since($c, $mark, $logged) }, 5), 'the purge is logged at info');
    is(scalar(origin_requests($O, method => 'PURGE')), 0, 'no PURGE reached the origin');

    $r = purge_req($t, from => '127.0.0.2');
    is($r->{status}, 403, 'PURGE from an address not in the list: 403');
    ok(is_hit($t), '... the object stays');
    $r = purge_req("/nopurge/size/60?$ma");
    is($r->{status}, 405, 'PURGE on a route whose cache has no purge list: 405');
    $r = purge_req("/nocache/size/70");
    is($r->{status}, 200, 'PURGE on a route without a cache: the origin\'s answer');
    is(scalar(origin_requests($O, method => 'PURGE')), 1, '... it went there');

    # fr was stored again by the miss above.
    ok(store($lang, headers => [['Accept-Language', $_]]), "lang variant $_ stored") for 'de', 'it';
    $r = purge_req($lang, headers => [['Accept-Language', 'de']]);
    is($r->{body}, "{\"purged\":3}\n", 'PURGE in a zone with key parts: every variant');
    like(status_of(get($lang, headers => [['Accept-Language', 'it']])), qr/fwd=uri-miss/,
        '... another\'s too');
}

# ------------------------------------------------------------ the API and /metrics

sub api { return admin_req($aport, $_[0], $_[1], unix => $sock) }

{
    my $r = api('GET', '/api/v1/caches');
    is($r->{status}, 200, 'GET /api/v1/caches: 200');
    my $j = eval { decode_json($r->{body}) } // {};
    is_deeply([map { $_->{name} } @{ $j->{caches} // [] }], ['main', 'lang', 'small'], '... every zone');

    $r = api('DELETE', '/api/v1/caches/nope?url=http%3A%2F%2Flocalhost%2F');
    is($r->{status}, 404, 'an unknown zone: 404');
    like($r->{body}, qr/no such cache zone/, '... says so');
    $r = api('DELETE', '/api/v1/caches/main');
    is($r->{status}, 400, 'no parameter: 400');
    like($r->{body}, qr/url=URL, prefix=URL or all=1/, '... says what to give');
    $r = api('DELETE', '/api/v1/caches/main?url=ftp%3A%2F%2Fx%2F');
    is($r->{status}, 400, 'another scheme: 400');
    like($r->{body}, qr/not http or https/, '... says so');
    $r = api('DELETE', '/api/v1/caches/main?url=localhost%2Fa');
    like($r->{body}, qr/not an absolute URL/, 'no scheme: 400 and why');
    $r = api('DELETE', '/api/v1/caches?all=1');
    is($r->{status}, 400, 'all=1 without a zone: 400');
    $r = api('DELETE', '/api/v1/caches/main?url=http%3A%2F%2Fa%2F&all=1');
    is($r->{status}, 400, 'two at once: 400');
    $r = api('GET', '/api/v1/caches/main?all=1');
    is($r->{status}, 405, 'a purge by GET: 405');
    $r = api('DELETE', '/api/v1/caches/main?all=1');
    is($r->{status}, 200, 'DELETE ?all=1: 200');

    $r = admin_req($aport, 'DELETE', '/api/v1/caches/main?all=1');
    is($r->{status}, 401, 'over TCP without the token: 401');
    $r = admin_req($aport, 'DELETE', '/api/v1/caches/main?all=1', bearer => $token);
    is($r->{status}, 200, '... with it: 200');

    my $c1 = ctl('purge', '--zone', 'nope', 'http://localhost/');
    is($c1->{status}, 1, 'cuttlectl purge in an unknown zone exits 1');
    like($c1->{stderr}, qr/no such cache zone/, '... and says why');
    is(ctl('purge')->{status}, 2, 'purge without what: exit 2');
    is(ctl('purge', '--all')->{status}, 2, 'purge --all without --zone: exit 2');
    is(ctl('purge', 'http://a/', '--prefix', 'http://b/')->{status}, 2, 'a URL and a prefix: exit 2');
    my $c2 = ctl('purge', 'http://a b/');
    is($c2->{status}, 1, 'a bad URL: exit 1');

    ok(is_hit("/lang/size/41?$ma", headers => [['Accept-Language', 'en']]), 'one more hit');
    $r = api('GET', '/metrics');
    is($r->{status}, 200, '/metrics: 200');
    for my $f (qw(hits_total misses_total stores_total evictions_total aborts_total stale_total
                  revalidations_total collapsed_total)) {
        like($r->{body}, qr/^# TYPE cuttle_cache_$f counter$/m, "cuttle_cache_$f is a counter");
    }
    for my $f (qw(objects bytes capacity_bytes)) {
        like($r->{body}, qr/^# TYPE cuttle_cache_$f gauge$/m, "cuttle_cache_$f is a gauge");
    }
    like($r->{body}, qr/^cuttle_cache_hits_total\{zone="lang"\} [1-9]\d*$/m, 'lang\'s hits');
    like($r->{body}, qr/^cuttle_cache_objects\{zone="main"\} 0$/m, 'main\'s objects: 0 after --all');
    like($r->{body}, qr/^cuttle_cache_capacity_bytes\{zone="main"\} [1-9]\d*$/m, 'main\'s capacity');
}

# ------------------------------------------------------------ eviction, memory flat

{
    # 100 objects of 100 KB through a zone of 1m: the least recently used go.
    my %w = %{ generation_workers($c, 1) };
    my $rss = sub { my $t = 0; $t += (slurp("/proc/$_/status") =~ /^VmRSS:\s+(\d+)/m)[0] // 0
        for values %w; $t };
    store("/small/size/100000?$ma&e=$_") for 1 .. 20;
    my $before = $rss->();
    my $stored = 0;
    for (21 .. 100) { $stored++ if store("/small/size/100000?$ma&e=$_") }
    is($stored, 80, 'every object is stored in turn in a zone ten times too small');
    my $after = $rss->();
    cmp_ok($after - $before, '<', 2048, "the workers' memory stays flat ($before kB, then $after kB)");
    my ($ev) = api('GET', '/metrics')->{body} =~ /^cuttle_cache_evictions_total\{zone="small"\} (\d+)$/m;
    cmp_ok($ev // 0, '>=', 70, 'the least recently used were evicted (' . ($ev // 0) . ')');
    ok(!is_hit("/small/size/100000?$ma&e=1"), '... the first one among them');
    ok(is_hit("/small/size/100000?$ma&e=100"), '... not the last');
}

cuttle_stop($c);
log_clean_ok($c);
done_testing();

