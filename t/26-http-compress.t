# mode: http compression: gzip when the client accepts it, the response
# has no Content-Encoding, its type (without parameters) is listed, its
# length (when known) is at least min_size, it has no Cache-Control:
# no-transform and is not a 206; then Content-Encoding: gzip, Vary:
# Accept-Encoding, chunked, no Content-Length, and a body that gunzips
# to the original.  Every other response passes unchanged.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use CuttleTest;

my $O = http_origin(name => 'O');
my %port = map { $_ => free_port() } qw(gz plain);

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  o:
    servers:
      - {address: $O->{addr}}
listeners:
  - name: gz
    listen: 127.0.0.1:$port{gz}
    mode: http
    compress: {types: [text/html, application/json], min_size: 1k, level: 5}
    routes:
      - match: {path_prefix: /}
        upstream: o
  - name: plain
    listen: 127.0.0.1:$port{plain}
    mode: http
    routes:
      - match: {path_prefix: /}
        upstream: o
EOF

sub gunzipped {
    my ($data) = @_;
    my $out;
    gunzip(\$data => \$out) or return "gunzip failed: $GunzipError";
    return $out;
}

# Checks that $r is the gzip form of $want.
sub compressed_ok {
    my ($r, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my %got = (error => $r->{error} // '-', encoding => $r->{h}{'content-encoding'} // '-',
        vary => ($r->{h}{vary} // '') =~ /\baccept-encoding\b/i ? 'Accept-Encoding' : $r->{h}{vary} // '-',
        framing => $r->{framing} // '-', length => $r->{h}{'content-length'} // '-',
        magic => unpack('H4', $r->{body} // ''));
    is_deeply(\%got, { error => '-', encoding => 'gzip', vary => 'Accept-Encoding',
        framing => 'chunked', length => '-', magic => '1f8b' },
        "$name: gzip, Vary, chunked, no Content-Length") or return;
    my $plain = gunzipped($r->{body});
    ok($plain eq $want, "$name: gunzips to the original " . length($want) . ' bytes')
        or diag(substr($plain, 0, 200));
}

# Checks that $r passed unchanged.
sub unchanged_ok {
    my ($r, $want, $name, $encoding) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my %got = (error => $r->{error} // '-', encoding => $r->{h}{'content-encoding'} // '-',
        length => $r->{h}{'content-length'} // '-', same => ($r->{body} // '') eq $want ? 1 : 0);
    is_deeply(\%got, { error => '-', encoding => $encoding // '-', length => length $want,
        same => 1 }, "$name: unchanged");
}

my @GZ = (headers => [['Accept-Encoding', 'gzip']]);

# --- compressed.
{
    my $r = http_get($port{gz}, '/html/20000', @GZ);
    compressed_ok($r, origin_body(20000), 'text/html; charset=utf-8, 20000 bytes');
    ok(length $r->{body} < 20000 / 4, 'the gzip body is much smaller (' . length($r->{body}) . ' bytes)');
    compressed_ok(http_get($port{gz}, '/json/5000', headers => [['Accept-Encoding', 'deflate, gzip, br']]),
        origin_body(5000), 'application/json, Accept-Encoding: deflate, gzip, br');
    compressed_ok(http_get($port{gz}, '/html/1024', @GZ), origin_body(1024), 'exactly min_size');
    compressed_ok(http_get($port{gz}, '/chunked/30000?ct=text/html', @GZ), origin_body(30000),
        'a chunked text/html answer (length unknown)');
    compressed_ok(http_get($port{gz}, '/html/2000000', @GZ, timeout => 10), origin_body(2000000),
        'text/html, 2 MB');
    $r = http_get($port{gz}, '/html/20000?h=Vary:Cookie', @GZ);
    compressed_ok($r, origin_body(20000), 'with the origin\'s Vary: Cookie');
    like($r->{h}{vary} // '', qr/\bcookie\b/i, '... whose Vary keeps Cookie');
}

# --- unchanged.
{
    unchanged_ok(http_get($port{gz}, '/html/20000'), origin_body(20000), 'no Accept-Encoding');
    unchanged_ok(http_get($port{gz}, '/html/20000', headers => [['Accept-Encoding', 'br, deflate']]),
        origin_body(20000), 'Accept-Encoding without gzip');
    unchanged_ok(http_get($port{gz}, '/size/20000', @GZ), origin_body(20000),
        'application/octet-stream (not listed)');
    unchanged_ok(http_get($port{gz}, '/html/20000?ct=text/plain', @GZ), origin_body(20000),
        'text/plain (not listed)');
    unchanged_ok(http_get($port{gz}, '/html/1023', @GZ), origin_body(1023), 'under min_size');
    unchanged_ok(http_get($port{gz}, '/html/20000?h=Cache-Control:public,%20no-transform', @GZ),
        origin_body(20000), 'Cache-Control: no-transform');
    unchanged_ok(http_get($port{gz}, '/html/20000?h=Content-Encoding:br', @GZ),
        origin_body(20000), 'already Content-Encoding: br', 'br');
    unchanged_ok(http_get($port{gz},
        '/html/20000?status=206&h=Content-Range:bytes%200-19999/40000', @GZ),
        origin_body(20000), '206 Partial Content');
    unchanged_ok(http_get($port{plain}, '/html/20000', @GZ), origin_body(20000),
        'a listener without compress');
}

# --- on one connection: HEAD, a compressed answer, then a plain one.
{
    my $s = tcp_connect($port{gz}) or die "connect: $@";
    http_send($s, method => 'HEAD', target => '/html/20000', @GZ);
    my $r = http_recv($s, method => 'HEAD');
    is("$r->{status} " . length($r->{body}), '200 0', 'HEAD with gzip accepted: no body');
    http_send($s, target => '/html/5000', @GZ);
    compressed_ok(http_recv($s), origin_body(5000), 'after a HEAD on the same connection');
    http_send($s, target => '/size/7', @GZ);
    $r = http_recv($s);
    is($r->{error} // $r->{body}, origin_body(7), 'the connection goes on after a gzip answer');
    close $s;
}

# --- curl decodes it.
{
    my $r = curl_run('--compressed', "http://127.0.0.1:$port{gz}/html/50000");
    is($r->{status}, 0, 'curl --compressed: exit 0') or diag($r->{stderr});
    ok($r->{stdout} eq origin_body(50000), 'curl --compressed: the page decodes to the original');
    $r = curl_run('--compressed', '-o', '/dev/null', '-D', '-',
        "http://127.0.0.1:$port{gz}/html/50000");
    like($r->{stdout}, qr/^Content-Encoding: gzip\r$/mi, 'curl: it came gzipped');
}
log_clean_ok();
done_testing();
