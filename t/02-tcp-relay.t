# The TCP relay: bytes intact both ways, large payloads, half-close, TCP
# urgent data, an IPv6 server, the end of a stream sent with its last
# bytes, and the per-connection log line with its byte counts.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::MD5 qw(md5_hex);
use Socket qw(SHUT_WR);
use CuttleTest;

my $echo = backend(mode => 'echo', name => 'echo');
my $sink = backend(mode => 'sink-count', name => 'sink');
my $late = backend(mode => 'eof-echo', name => 'late');
my $six = backend(mode => 'name', name => 'six', host => '::1');
my $fin = backend(mode => 'name', name => 'fin', corked => 1);
my $urg = backend(mode => 'urgent', name => 'urg');
my $burg = backend(mode => 'urgent', name => 'burg', prefix => 4_000_000,
    keep_open => 1);
my %port = map { $_ => free_port() } qw(echo sink late six urg burg fin);

my $c = cuttle_start(<<"EOF", workers => 2);
upstreams:
  echo:
    servers:
      - {address: $echo->{addr}}
  sink:
    servers:
      - {address: $sink->{addr}}
  late:
    servers:
      - {address: $late->{addr}}
  six:
    servers:
      - {address: "$six->{addr}"}
  urg:
    servers:
      - {address: $urg->{addr}}
  burg:
    servers:
      - {address: $burg->{addr}}
  fin:
    servers:
      - {address: $fin->{addr}}
listeners:
  - {name: echo, listen: 127.0.0.1:$port{echo}, mode: tcp, upstream: echo}
  - {name: sink, listen: 127.0.0.1:$port{sink}, mode: tcp, upstream: sink}
  - {name: late, listen: 127.0.0.1:$port{late}, mode: tcp, upstream: late}
  - {name: six, listen: 127.0.0.1:$port{six}, mode: tcp, upstream: six}
  - {name: urg, listen: 127.0.0.1:$port{urg}, mode: tcp, upstream: urg}
  - {name: burg, listen: 127.0.0.1:$port{burg}, mode: tcp, upstream: burg}
  - {name: fin, listen: 127.0.0.1:$port{fin}, mode: tcp, upstream: fin}
EOF

sub random_bytes {
    my ($n) = @_;
    open(my $fh, '<:raw', '/dev/urandom') or die "/dev/urandom: $!";
    my $got = read($fh, my $buf, $n);
    die "short read from /dev/urandom" unless $got == $n;
    return $buf;
}

# Checks the conn line of one client connection, found by its port among
# the lines logged since $mark.
sub conn_ok {
    my ($name, $mark, $client_port, %want) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($l) = wait_conn($c, 1, since => $mark,
        client => "127.0.0.1:$client_port");
    ok($l, "$name: conn line logged") or return;
    my %got = map { $_ => $l->{$_} } keys %want;
    is_deeply(\%got, \%want, "$name: conn line fields") or diag($l->{line});
}

# --- echo: several sizes and many round trips on one connection.
{
    my $mark = log_mark($c);
    my $s = tcp_connect($port{echo}) or die "connect: $@";
    my $cport = $s->sockport;
    my ($total, @bad) = (0);
    for my $size (1, 100, 4096, 65536, 1_000_000) {
        my $data = random_bytes($size);
        my $back = exchange($s, $data, 10);
        push @bad, "$size bytes: got " . length($back)
            . ($back eq $data ? '' : ', content differs')
            unless $back eq $data;
        $total += $size;
    }
    is_deeply(\@bad, [], 'echo: 1 B .. 1 MB come back intact');
    my @rt = grep {
        my $m = "round trip $_\n";
        exchange($s, $m, 3) ne $m;
    } 1 .. 50;
    is_deeply(\@rt, [], 'echo: 50 round trips on the same connection');
    $total += length("round trip $_\n") for 1 .. 50;
    shutdown($s, SHUT_WR);
    my $r = recv_until_eof($s, 5);
    ok($r->{eof} && $r->{data} eq '', 'echo: EOF after our shutdown');
    close $s;
    conn_ok('echo', $mark, $cport, server => $echo->{addr}, listener => 'echo',
        from_client => $total, to_client => $total, end => 'done');
}

# --- 10 MB to a sink that answers with its byte count and MD5.
{
    my $size = 10 * 1024 * 1024;
    my $data = random_bytes($size);
    my $mark = log_mark($c);
    my $s = tcp_connect($port{sink}) or die "connect: $@";
    my $cport = $s->sockport;
    ok(send_all($s, $data, 30), 'sink: 10 MB sent');
    shutdown($s, SHUT_WR);
    my $r = recv_until_eof($s, 30);
    my $want = "$size " . md5_hex($data) . "\n";
    is($r->{data}, $want, 'sink: the server got 10 MB with the same MD5');
    ok($r->{eof}, 'sink: EOF after the answer');
    close $s;
    conn_ok('sink', $mark, $cport, server => $sink->{addr},
        from_client => $size, to_client => length $want, end => 'done');
}

# --- half-close: the server answers only after it saw our EOF.
{
    my $data = random_bytes(200_000);
    my $mark = log_mark($c);
    my $s = tcp_connect($port{late}) or die "connect: $@";
    my $cport = $s->sockport;
    ok(send_all($s, $data, 10), 'half-close: 200 kB sent');
    ok(shutdown($s, SHUT_WR), 'half-close: client shut down its write side');
    my $r = recv_until_eof($s, 10);
    is(length $r->{data}, length $data,
        'half-close: the whole answer arrives after our shutdown');
    ok($r->{data} eq $data, 'half-close: answer intact');
    ok($r->{eof}, 'half-close: then EOF');
    close $s;
    conn_ok('half-close', $mark, $cport, server => $late->{addr},
        from_client => length $data, to_client => length $data,
        end => 'done');
}

# --- TCP urgent data: a read stops short at the urgent mark, with bytes
# and the end of the stream still behind it.  The urgent byte itself is
# not relayed (cuttle does not read out-of-band data); the rest is.
{
    my $s = tcp_connect($port{urg}) or die "connect: $@";
    my $r = recv_until_eof($s, 10);
    is($r->{data}, 'abdef', 'urgent, from the server: the bytes after the mark arrive');
    ok($r->{eof}, 'urgent, from the server: then EOF');
    close $s;
    $s = tcp_connect($port{late}) or die "connect: $@";
    ok(send_urgent($s, 'ab', 'c', 'def'), 'urgent, from the client: sent');
    $r = recv_until_eof($s, 10);
    is($r->{data}, 'abdef', 'urgent, from the client: the bytes after the mark arrive');
    ok($r->{eof}, 'urgent, from the client: then EOF');
    close $s;
    # After 4 MB, the direction moves by splice(), which cannot pass the
    # mark; no end of stream follows to tell that more bytes are there.
    $s = tcp_connect($port{burg}) or die "connect: $@";
    my $d = recv_bytes($s, 4_000_005, 20);
    ok(length $d == 4_000_005 && substr($d, -5) eq 'abdef',
        'urgent after a bulk transfer: every byte after the mark arrives')
        or diag(length($d) . ' bytes, ending ' . show_bytes(substr($d, -8)));
    close $s;
}

# --- a server's last bytes and its FIN arrive together, and cuttle passes
# them on together: the client receives the SYN-ACK and one segment, not
# a segment for the bytes and another for the FIN.
SKIP: {
    my $s = tcp_connect($port{fin}) or die "connect: $@";
    my $r = recv_until_eof($s, 10);
    is($r->{data}, "fin\n", 'last bytes with the FIN: the bytes arrive');
    ok($r->{eof}, 'last bytes with the FIN: then EOF');
    my $segs = tcp_segs_in($s);
    skip 'the kernel has no tcpi_segs_in', 1 unless defined $segs;
    is($segs, 2, 'last bytes with the FIN: in one segment after the SYN-ACK');
    close $s;
}

# --- an IPv6 server.
{
    my $mark = log_mark($c);
    my ($name, $r) = fetch_name($port{six});
    is($name, 'six', 'IPv6 server [::1] reached');
    conn_ok('ipv6', $mark, $r->{client_port}, server => $six->{addr},
        listener => 'six', from_client => 0, to_client => 4,
        end => 'done');
}

is_deeply([conn_malformed($c)], [], 'every conn line has the documented format');
cuttle_stop($c);
log_clean_ok();
done_testing();
