# mode: http bodies.  Request bodies with Content-Length and chunked
# (extensions and trailers too) reach the origin intact; response bodies
# with Content-Length and chunked reach the client intact (chunked to an
# HTTP/1.1 client, not to an HTTP/1.0 one); Expect: 100-continue is
# answered by cuttle and not forwarded, unless the answer is already
# known to be 413; and a 1 GiB upload streams through with the worker's
# memory flat.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::MD5 qw(md5_hex);
use Time::HiRes qw(time);
use CuttleTest;

my $O = http_origin(name => 'O');
my %port = map { $_ => free_port() } qw(big small);
my $dir = tmpdir();

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  o:
    servers:
      - {address: $O->{addr}}
listeners:
  - name: big
    listen: 127.0.0.1:$port{big}
    mode: http
    max_body_size: 2g
    routes:
      - match: {path_prefix: /}
        upstream: o
  - name: small
    listen: 127.0.0.1:$port{small}
    mode: http
    max_body_size: 1k
    routes:
      - match: {path_prefix: /}
        upstream: o
EOF

sub random_bytes {
    my ($n) = @_;
    open(my $fh, '<:raw', '/dev/urandom') or die "/dev/urandom: $!";
    my $got = read($fh, my $buf, $n);
    die "short read from /dev/urandom" unless $got == $n;
    return $buf;
}

# --- request bodies.
{
    my $data = random_bytes(300_000);
    my $r = http_get($port{big}, '/echo', method => 'POST', body => $data);
    my $j = http_json($r);
    is_deeply([$j->{body_len}, $j->{body_md5}], [length $data, md5_hex($data)],
        'Content-Length request body: intact at the origin') or diag(explain($r));

    my @pieces = map { substr($data, 0, $_) } 1, 10, 1000, 65536, 200_000, 7;
    $r = http_get($port{big}, '/echo', method => 'POST', chunks => \@pieces);
    $j = http_json($r);
    my $all = join '', @pieces;
    is_deeply([$j->{body_len}, $j->{body_md5}], [length $all, md5_hex($all)],
        'chunked request body: intact at the origin') or diag(explain($r));

    my $s = tcp_connect($port{big}) or die "connect: $@";
    send_all($s, "POST /echo HTTP/1.1\r\nHost: b.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "5;name=value\r\nhello\r\n6;x\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    $r = http_recv($s);
    $j = http_json($r);
    is_deeply([$j->{body_len}, $j->{body_md5}], [11, md5_hex('hello world')],
        'chunked request body with extensions and a trailer: intact') or diag(explain($r));
    http_send($s, target => '/echo?after=1');
    is(http_json(http_recv($s))->{target}, '/echo?after=1',
        '... and the connection serves the next request');
    close $s;

    $r = http_get($port{big}, '/mirror', method => 'PUT', body => $data);
    ok(!$r->{error} && $r->{body} eq $data, 'mirror: a Content-Length body there and back')
        or diag($r->{error} // length $r->{body});
    $r = http_get($port{big}, '/mirror?chunked=1', method => 'POST', chunks => \@pieces);
    is($r->{framing}, 'chunked', 'mirror: a chunked answer is relayed chunked to HTTP/1.1');
    ok(!$r->{error} && $r->{body} eq $all, 'mirror: a chunked body there and back');
}

# --- response bodies.
{
    my $n = 3_000_000;
    my $r = http_get($port{big}, "/size/$n");
    is($r->{framing}, 'length', 'Content-Length response: relayed with its length');
    ok(!$r->{error} && $r->{body} eq origin_body($n), "Content-Length response: $n bytes intact");
    $r = http_get($port{big}, "/chunked/$n");
    is($r->{framing}, 'chunked', 'chunked response to HTTP/1.1: chunked');
    ok(!$r->{error} && $r->{body} eq origin_body($n), "chunked response: $n bytes intact");
    # A large Content-Length body goes on by splice: the connection must
    # come out of it ready for the next request, twice over.
    my $s = tcp_connect($port{big}) or die "connect: $@";
    for my $size (500_000, 17, 1_000_003) {
        http_send($s, target => "/size/$size");
        my $k = http_recv($s, timeout => 10);
        ok(!$k->{error} && $k->{body} eq origin_body($size),
            "keep-alive: a $size-byte answer intact on the same connection")
            or diag($k->{error} // length $k->{body});
    }
    close $s;
    $r = http_get($port{big}, '/chunked/50000', version => '1.0');
    isnt($r->{framing}, 'chunked', 'chunked response to HTTP/1.0: not chunked');
    ok(!$r->{error} && $r->{body} eq origin_body(50000), 'chunked response to HTTP/1.0: intact')
        or diag(explain({ %$r, body => length $r->{body} }));
}

# --- Expect: 100-continue, on a raw socket.
{
    my $s = tcp_connect($port{big}) or die "connect: $@";
    send_all($s, "POST /echo HTTP/1.1\r\nHost: b.test\r\nContent-Length: 11\r\n"
        . "Expect: 100-continue\r\n\r\n");
    # No body yet: the 100 must come first.
    my $r = http_recv($s, timeout => 3);
    is(join(' ', map { $_->{status} } @{$r->{interim}}), '100',
        'Expect: 100-continue: "100 Continue" before the body is sent');
    is($r->{interim}[0]{raw}, "HTTP/1.1 100 Continue\r\n\r\n", '... exactly "HTTP/1.1 100 Continue"')
        if @{$r->{interim}};
    like($r->{error} // '', qr/\Atimeout before a complete head \(got 0 bytes\)/,
        '... and nothing else before the body');
    send_all($s, 'hello world');
    $r = http_recv($s);
    my $j = http_json($r);
    is("$r->{status} " . ($j->{body_len} // '-'), '200 11', 'the body then goes up: 200');
    is_deeply([hdr_all($j, 'Expect')], [], 'Expect is not forwarded');
    close $s;

    # 413 known from Content-Length: no 100.
    $s = tcp_connect($port{small}) or die "connect: $@";
    send_all($s, "POST /echo HTTP/1.1\r\nHost: b.test\r\nContent-Length: 5000\r\n"
        . "Expect: 100-continue\r\n\r\n");
    $r = http_recv($s, timeout => 3);
    is(scalar @{$r->{interim} // []}, 0, 'Expect with a body over max_body_size: no 100');
    http_error_ok($r, 413, '... but 413 at once');
    ok(recv_until_eof($s, 3)->{closed}, '... and the connection is closed');
    close $s;
}

# --- Expect: 100-continue with curl.
{
    my $file = write_file("$dir/upload.bin", random_bytes(200_000));
    my $r = curl_run('-v', '-H', 'Expect: 100-continue', '--expect100-timeout', '10',
        '--data-binary', "\@$file", "http://127.0.0.1:$port{big}/echo");
    is($r->{status}, 0, 'curl with Expect: exit 0') or diag($r->{stderr});
    like($r->{stderr}, qr/^< HTTP\/1\.1 100 Continue\r?$/m, 'curl received "100 Continue"');
    my $j = http_json({ body => $r->{stdout} });
    is_deeply([$j->{body_len}, $j->{body_md5}], [200_000, md5_hex(slurp($file))],
        'curl: the body reached the origin intact');
    is_deeply([hdr_all($j, 'Expect')], [], 'curl: Expect not forwarded');
}

# --- a 64 MiB answer to a client that does not read: the worker must
# slow the origin down, not buffer; every byte arrives once it reads.
{
    my $n = 64 << 20;
    my $worker = $c->{slots}{0};
    my $rss0 = proc_rss_kb($worker) // die "no RSS for worker $worker";
    my $s = tcp_connect($port{big}) or die "connect: $@";
    http_send($s, target => "/size/$n");
    ok(wait_stalled($s), '64 MiB answer: the client\'s receive queue is full');
    my $growth = (proc_rss_kb($worker) // 0) - $rss0;
    ok($growth < 16 * 1024,
        "64 MiB answer, client not reading: the worker's RSS grew by $growth kB (< 16 MiB)");
    my $r = http_recv($s, timeout => 20);
    ok(!$r->{error} && length($r->{body}) == $n && $r->{body} eq origin_body($n),
        '64 MiB answer: every byte arrives once the client reads')
        or diag($r->{error} // length $r->{body});
    close $s;
}

# --- 1 GiB upload, made on the fly: 1024 blocks of 1 MiB, each with its
# number in front.  The worker's RSS is sampled while it streams.
{
    my $size = 1 << 30;
    my $block = random_bytes(1 << 20);
    my $md5 = Digest::MD5->new;
    my $worker = $c->{slots}{0};
    my $rss0 = proc_rss_kb($worker) // die "no RSS for worker $worker";
    my $max = $rss0;
    my $s = tcp_connect($port{big}) or die "connect: $@";
    my $t0 = time;
    my $sent = 0;
    my $ok = send_all($s, "POST /upload HTTP/1.1\r\nHost: b.test\r\nContent-Length: $size\r\n\r\n");
    for my $i (0 .. 1023) {
        last unless $ok;
        substr($block, 0, 4) = pack('N', $i);
        $md5->add($block);
        $ok = send_all($s, $block, 30 - (time - $t0));
        $sent += length $block if $ok;
        if ($i % 16 == 0) {
            my $kb = proc_rss_kb($worker) // 0;
            $max = $kb if $kb > $max;
        }
    }
    is($sent, $size, '1 GiB upload: every byte sent within 30 s')
        or diag(sprintf('%d MiB in %.1f s', $sent >> 20, time - $t0));
    my $r = http_recv($s, timeout => 15);
    my $j = http_json($r);
    is_deeply([$r->{status}, $j->{body_len}, $j->{body_md5}], [200, $size, $md5->hexdigest],
        '1 GiB upload: the origin got every byte, the MD5 matches')
        or diag(explain({ %$r, body => substr($r->{body} // '', 0, 300) }));
    my $growth = $max - $rss0;
    ok($growth < 64 * 1024,
        "1 GiB upload: the worker's RSS grew by $growth kB (< 64 MiB; $rss0 kB before)")
        or diag("before $rss0 kB, max $max kB");
    diag(sprintf('1 GiB upload: %.1f s', time - $t0)) if $ENV{CUTTLE_KEEP};
    close $s;
}
log_clean_ok();
done_testing();
