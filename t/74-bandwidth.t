# Bandwidth: bytes per second per connection, both ways, in mode tcp
# (spliced, and buffered through TLS) and mode http (a response body by
# splice and chunked, a request body), and per key across two workers.
# Each timed transfer is 50 MiB at 20 MiB/s and must take 2.5 s within
# 10 %; every byte arrives (md5), a listener without bandwidth is not
# slowed, pauses are counted in /metrics.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::MD5 qw(md5_hex);
use JSON::PP qw(decode_json);
use List::Util qw(sum0);
use IO::Socket::IP;
use IO::Socket::SSL;
use POSIX qw(_exit);
use Socket qw(SHUT_WR);
use Time::HiRes qw(time);
use CuttleTest;

my $MiB = 1024 * 1024;
my $SIZE = 50 * $MiB;
my $RATE = 20 * $MiB;
my $WANT = $SIZE / $RATE;           # seconds
my $dir = tmpdir();

# 50 MiB that no compression or pattern makes easy, and their md5.
{
    open(my $in, '<:raw', '/dev/urandom') or die "/dev/urandom: $!";
    open(my $out, '>:raw', "$dir/data") or die "$dir/data: $!";
    my $left = $SIZE;
    while ($left > 0) {
        my $n = read($in, my $buf, $left > $MiB ? $MiB : $left) or die "urandom: $!";
        print $out $buf;
        $left -= $n;
    }
    close $out or die "$dir/data: $!";
}
my $DATA = slurp("$dir/data");
my $MD5 = md5_hex($DATA);

# ---------------------------------------------------------------- the origin
# One server for both modes, a child per connection:
#   "GET N\n"            sends the first N bytes of the data and closes;
#   "PUT\n" + bytes      reads to the end, answers "BYTES MD5 SECONDS\n",
#                        the seconds from its first byte to the last;
#   "GET /len/N HTTP"    a response of N bytes with Content-Length;
#   "GET /chunked/N"     the same, chunked (64 KiB chunks);
#   "POST /up HTTP"      reads a Content-Length body, answers like PUT.
sub origin_serve {
    my ($s) = @_;
    binmode $s;
    my $head = '';
    while ($head !~ /\n/) {
        my $n = sysread($s, $head, 65536, length $head) or return;
    }
    if ($head =~ s/\AGET (\d+)\n//) {
        _send($s, $DATA, $1);
        return;
    }
    if ($head =~ s/\APUT\n//) {
        _sink($s, $head, undef);
        return;
    }
    while ($head !~ /\r\n\r\n/) {
        my $n = sysread($s, $head, 65536, length $head) or return;
    }
    $head =~ s/\A(.*?\r\n\r\n)//s;
    my $req = $1;
    if ($req =~ m{\AGET /len/(\d+) }) {
        _send($s, "HTTP/1.1 200 OK\r\nContent-Length: $1\r\nConnection: close\r\n\r\n")
            and _send($s, $DATA, $1);
    } elsif ($req =~ m{\AGET /chunked/(\d+) }) {
        my $n = $1;
        _send($s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        for (my $o = 0; $o < $n; $o += 65536) {
            my $part = substr($DATA, $o, $n - $o < 65536 ? $n - $o : 65536);
            _send($s, sprintf("%x\r\n", length $part) . $part . "\r\n") or return;
        }
        _send($s, "0\r\n\r\n");
    } elsif ($req =~ m{\APOST /up .*?\r\ncontent-length: (\d+)\r\n}si) {
        my $line = _sink($s, $head, $1, 1);
        _send($s, "HTTP/1.1 200 OK\r\nContent-Length: " . length($line)
            . "\r\nConnection: close\r\n\r\n$line");
    }
}

# Writes the first $len bytes of $data (all of it without $len), with no
# copy: a copy of 50 MiB in the child takes a few hundred ms of page
# faults before the first byte, time that a transfer's clock would count.
sub _send {
    my ($s, $data, $len) = @_;
    my $off = 0;
    $len //= length $data;
    while ($off < $len) {
        my $n = syswrite($s, $data, $len - $off, $off);
        return 0 unless defined $n;
        $off += $n;
    }
    return 1;
}

# Reads $len bytes (undef: to the end), the first ones in $have; the
# answer line, written at once unless $quiet.
sub _sink {
    my ($s, $have, $len, $quiet) = @_;
    my $md5 = Digest::MD5->new;
    my ($n, $t0) = (length $have, length $have ? time : undef);
    $md5->add($have);
    while (!defined $len || $n < $len) {
        my $r = sysread($s, my $buf, 1 << 20);
        last unless $r;
        $t0 //= time;
        $n += $r;
        $md5->add($buf);
    }
    my $line = sprintf("%d %s %.3f\n", $n, $md5->hexdigest, time - ($t0 // time));
    _send($s, $line) unless $quiet;
    return $line;
}

my $origin = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 64,
    ReuseAddr => 1) or die "origin: $@";
my $OPORT = $origin->sockport;
my $opid = fork // die "fork: $!";
if ($opid == 0) {
    $SIG{CHLD} = 'IGNORE';
    while (1) {
        my $s = $origin->accept or next;
        my $k = fork;
        if (defined $k && $k == 0) {
            close $origin;
            alarm 60;
            origin_serve($s);
            _exit(0);
        }
        close $s;
    }
}
close $origin;
END { kill 'KILL', $opid if $opid }

# ---------------------------------------------------------------- cuttle
my $r = cuttlectl_run('cert', 'gen', 'ca', '--name', 'ca', '--cn', 'ca', '--days', 30,
    '--out', $dir);
$r->{status} == 0 or BAIL_OUT("cuttlectl cert gen ca: $r->{stderr}");
$r = cuttlectl_run('cert', 'gen', 'server', '--name', 'srv', '--cn', 'srv.test', '--ca', 'ca',
    '--days', 20, '--san', 'DNS:srv.test', '--out', $dir);
$r->{status} == 0 or BAIL_OUT("cuttlectl cert gen server: $r->{stderr}");

my ($down, $tls, $up, $shared, $web, $free) = map { free_port() } 1 .. 6;
my $admin = "$dir/admin.sock";
my $c = cuttle_start(<<"EOF", workers => 2);
error_log: {path: %LOG%, level: info}
admin: {socket: $admin}
limits:
  per_client:
    key: client_ip
    bytes: 20m/s
    direction: download
upstreams:
  o: {servers: [{address: 127.0.0.1:$OPORT}]}
listeners:
  - {name: down, listen: 127.0.0.1:$down, mode: tcp, upstream: o,
     bandwidth: {download: 20m/s}}
  - name: tls
    listen: 127.0.0.1:$tls
    mode: tcp
    upstream: o
    tls: {certificates: [{cert: $dir/srv.crt, key: $dir/srv.key}]}
    bandwidth: {download: 20m}
  - {name: up, listen: 127.0.0.1:$up, mode: tcp, upstream: o,
     bandwidth: {upload: 20m/s}}
  - {name: shared, listen: 127.0.0.1:$shared, mode: tcp, upstream: o,
     bandwidth: {limits: [per_client]}}
  - name: web
    listen: 127.0.0.1:$web
    mode: http
    routes: [{upstream: o}]
    bandwidth: {download: 20m/s, upload: 20m/s}
  - {name: free, listen: 127.0.0.1:$free, mode: tcp, upstream: o}
EOF

# A socket to cuttle: plain, or TLS.
sub client {
    my ($port, $tls) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port) or die "connect: $@";
    if ($tls) {
        IO::Socket::SSL->start_SSL($s, SSL_verify_mode => SSL_VERIFY_NONE,
            SSL_hostname => 'srv.test') or die "TLS: $SSL_ERROR";
    }
    binmode $s;
    return $s;
}

# Sends $req and reads to the end: (bytes, md5, seconds from the request on).
sub fetch {
    my ($port, $req, %o) = @_;
    my $t0 = time;
    my $s = client($port, $o{tls});
    print $s $req;
    $s->flush;
    my ($got, $md5, $head) = (0, Digest::MD5->new, $o{http} ? '' : undef);
    while (1) {
        my $n = sysread($s, my $buf, 1 << 20);
        last unless $n;
        if (defined $head) {
            $head .= $buf;
            next unless $head =~ s/\A.*?\r\n\r\n//s;
            ($buf, $head) = ($head, undef);
        }
        $got += length $buf;
        $md5->add($buf);
    }
    close $s;
    return ($got, $md5->hexdigest, time - $t0);
}

sub dechunk {
    my ($body) = @_;
    my $out = '';
    while ($body =~ s/\A([0-9a-f]+)\r\n//i) {
        my $n = hex $1;
        last if $n == 0;
        $out .= substr($body, 0, $n, '');
        $body =~ s/\A\r\n//;
    }
    return $out;
}

sub rate_ok {
    my ($secs, $what) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok(abs($secs - $WANT) <= $WANT / 10,
        sprintf("%s: 50 MiB in %.2f s, %.1f MiB/s (20 MiB/s within 10 %%)", $what, $secs,
        $SIZE / $secs / $MiB));
}

sub worker_pipes {
    my $n = 0;
    for my $pid (values %{$c->{slots}}) {
        $n += grep { (readlink($_) // '') =~ /^pipe:/ } glob("/proc/$pid/fd/*");
    }
    return $n;
}

# ---- mode tcp, download, by splice
{
    my $before = worker_pipes();
    my $kid = fork // die;
    if ($kid == 0) {
        my @r = fetch($down, "GET $SIZE\n");
        write_file("$dir/down", "@r\n");
        _exit(0);
    }
    sleep 1;
    my $during = worker_pipes();
    waitpid($kid, 0);
    my ($got, $md5, $secs) = split ' ', slurp("$dir/down");
    is($got, $SIZE, 'tcp download: every byte arrived');
    is($md5, $MD5, 'tcp download: the bytes that were sent (md5)');
    rate_ok($secs, 'tcp download (spliced)');
    cmp_ok($during, '>', $before, "the tunnel spliced it: a pipe in use ($before, then $during)");
}

# ---- mode tcp, download through TLS: the buffered path
{
    my ($got, $md5, $secs) = fetch($tls, "GET $SIZE\n", tls => 1);
    is($got, $SIZE, 'tcp download over TLS: every byte arrived');
    is($md5, $MD5, 'tcp download over TLS: the bytes that were sent');
    rate_ok($secs, 'tcp download (buffered, TLS)');
}

# ---- mode tcp, upload: the origin times it from its first byte to the end
{
    my $s = client($up);
    print $s "PUT\n", $DATA;
    $s->flush;
    shutdown($s, SHUT_WR);
    my $line = <$s> // '';
    close $s;
    my ($got, $md5, $secs) = split ' ', $line;
    is($got, $SIZE, 'tcp upload: every byte arrived');
    is($md5 // '', $MD5, 'tcp upload: the bytes that were sent');
    rate_ok($secs // 0, 'tcp upload');
}

# ---- per key: four connections of one client share 20 MiB/s, across the
# workers.  SO_REUSEPORT picks the worker; the connections are opened
# first, and kept only once both workers hold some.
sub conn_worker {
    my ($port) = @_;
    my $j = eval { decode_json(`curl -s --unix-socket $admin http://localhost/api/v1/connections`) };
    my $list = ref $j eq 'HASH' ? (grep { ref eq 'ARRAY' } values %$j)[0] : $j;
    for my $e (@{$list // []}) {
        return $e->{worker} if ($e->{client} // '') =~ /:$port\z/;
    }
    return undef;
}

{
    my (%by, @socks);
    for (1 .. 40) {
        my $s = client($shared);
        # "w0": worker 0 is a true value too.
        my $w = wait_until(sub {
            my $k = conn_worker($s->sockport);
            defined $k ? "w$k" : 0;
        }, 5) || undef;
        push @{$by{$w // 'none'}}, $s;
        last if keys %by >= 2 && !$by{none} && grep({ @$_ >= 2 } values %by) >= 1
            && (sum0(map { scalar @$_ } values %by)) >= 4;
    }
    # Two from each worker where there are, else three and one.
    my @w = sort { @{$by{$b}} <=> @{$by{$a}} } grep { $_ ne 'none' } keys %by;
    @socks = (@{$by{$w[0]}}[0 .. (@w > 1 && @{$by{$w[1]}} >= 2 ? 1 : 2)],
        @w > 1 ? @{$by{$w[1]}}[0 .. (@{$by{$w[1]}} >= 2 ? 1 : 0)] : ());
    is(scalar @w, 2, 'per key: the four connections are on both workers');
    my $t0 = time;
    my @kids;
    for my $k (0 .. $#socks) {
        my $pid = fork // die;
        if ($pid == 0) {
            my $s = $socks[$k];
            print $s 'GET ' . $SIZE / 4 . "\n";
            $s->flush;
            my ($got, $md5) = (0, Digest::MD5->new);
            while (my $n = sysread($s, my $buf, 1 << 20)) {
                $got += $n;
                $md5->add($buf);
            }
            write_file("$dir/shared-$k", "$got " . $md5->hexdigest . "\n");
            _exit(0);
        }
        push @kids, $pid;
    }
    close $_ for map { @$_ } values %by;
    waitpid($_, 0) for @kids;
    my $secs = time - $t0;
    my ($total, $same) = (0, 0);
    for my $k (0 .. $#socks) {
        my ($got, $md5) = split ' ', slurp("$dir/shared-$k");
        $total += $got;
        $same++ if $md5 eq md5_hex(substr($DATA, 0, $SIZE / 4));
    }
    is($total, $SIZE, 'per key: every byte of the four connections arrived');
    is($same, 4, 'per key: each got the bytes that were sent');
    rate_ok($secs, 'per key, four connections on two workers together');
}

# ---- mode http: a response body by splice, and chunked (buffered)
{
    my ($got, $md5, $secs) = fetch($web, "GET /len/$SIZE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        http => 1);
    is($got, $SIZE, 'http download: the whole body');
    is($md5, $MD5, 'http download: the body that was sent');
    rate_ok($secs, 'http download (Content-Length, spliced)');

    my $t0 = time;
    my $s = client($web);
    print $s "GET /chunked/$SIZE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    $s->flush;
    my $all = '';
    1 while sysread($s, $all, 1 << 20, length $all);
    close $s;
    $secs = time - $t0;
    $all =~ s/\A.*?\r\n\r\n//s;
    my $body = dechunk($all);
    is(length $body, $SIZE, 'http chunked download: the whole body');
    is(md5_hex($body), $MD5, 'http chunked download: the body that was sent');
    rate_ok($secs, 'http download (chunked, buffered)');
}

# ---- mode http: a request body
{
    my $s = client($web);
    print $s "POST /up HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: $SIZE\r\n\r\n", $DATA;
    $s->flush;
    my $all = '';
    1 while sysread($s, $all, 65536, length $all);
    close $s;
    my ($got, $md5, $secs) = $all =~ /\r\n\r\n(\d+) (\w+) ([\d.]+)\n\z/;
    is($got, $SIZE, 'http upload: the whole body');
    is($md5 // '', $MD5, 'http upload: the body that was sent');
    rate_ok($secs // 0, 'http upload');
}

# ---- no bandwidth: no limit
{
    my ($got, $md5, $secs) = fetch($free, "GET $SIZE\n");
    is($md5, $MD5, 'a listener without bandwidth relays every byte');
    cmp_ok($secs, '<', $WANT / 2, sprintf('and is not slowed: %.2f s', $secs));
}

# ---- pauses counted
{
    my $m = `curl -s --unix-socket $admin http://localhost/metrics`;
    my ($d) = $m =~ /^cuttle_bandwidth_paused_total\{listener="down",direction="download"\} (\d+)$/m;
    my ($u) = $m =~ /^cuttle_bandwidth_paused_total\{listener="down",direction="upload"\} (\d+)$/m;
    cmp_ok($d // 0, '>', 10, "/metrics counts the pauses of a download (" . ($d // 'none') . ")");
    is($u, 0, 'and none of its upload, which has no rate');
    unlike($m, qr/cuttle_bandwidth_paused_total\{listener="free"/,
        'a listener without bandwidth has no such series');
}

# ---- configuration errors at their positions
{
    my $f = "$dir/bad.yaml";
    write_file($f, <<"EOF");
limits:
  bw:
    bytes: 1m
  hdr:
    key: header:X-A
    bytes: 1m
  req:
    rate: 10/s
upstreams:
  o: {servers: [{address: 127.0.0.1:9}]}
listeners:
  - name: a
    listen: 127.0.0.1:1
    mode: tcp
    upstream: o
    limits: [bw]
    bandwidth: {download: 10q, limits: [hdr, req, nope]}
  - {name: b, listen: 127.0.0.1:2, mode: tcp, upstream: o, bandwidth: {}}
EOF
    my $t = cuttle_run('-t', '-c', $f);
    isnt($t->{status}, 0, 'a bad bandwidth configuration is refused');
    like($t->{stderr}, qr/:16:14: limit "bw" is a bandwidth limit/, 'a bytes limit as a connection limit');
    like($t->{stderr}, qr/:17:27: invalid rate "10q" for "download"/, 'a rate that is not one');
    like($t->{stderr}, qr/:17:41: limit "hdr" has a key part that needs a request/,
        'a key part a connection does not have');
    like($t->{stderr}, qr/:17:46: limit "req" has no "bytes"/, 'a request limit under bandwidth');
    like($t->{stderr}, qr/:17:51: limit "nope" is not defined/, 'an unknown limit');
    like($t->{stderr}, qr/:18:71: "bandwidth" needs "download", "upload" or "limits"/,
        'an empty bandwidth');
}

log_clean_ok();
done_testing();
