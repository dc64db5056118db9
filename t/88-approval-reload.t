# Clients held for approval across a reload, with 2 workers: the old
# workers keep them while they drain, decisions still reach them, and a
# client let in then is served as any connection of a draining worker
# is (an http one gets its response with "Connection: close", a tcp one
# relays, a socks one held at its destination goes there); the old
# generation ends once they are done.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::IP;
use IO::Select;
use JSON::PP;
use Time::HiRes qw(time sleep);
use CuttleTest;

my $dir = tmpdir();
my $O = http_origin(name => 'O');
my $E = backend(mode => 'echo', name => 'E');
my ($W, $T, $S) = (free_port(), free_port(), free_port());
my $sock = "$dir/admin.sock";

my $c = cuttle_start(<<"EOF", workers => 2);
error_log: {path: %LOG%, level: info}
admin: {socket: $sock}
upstreams:
  web: {servers: [{address: "$O->{addr}"}]}
  echo: {servers: [{address: "$E->{addr}"}]}
listeners:
  - name: web
    listen: 127.0.0.1:$W
    mode: http
    routes: [{upstream: web}]
    approval: {policy: ask, wait: 20s}
  - name: t
    listen: 127.0.0.1:$T
    mode: tcp
    upstream: echo
    approval: {policy: ask, wait: 20s}
  - name: sx
    listen: 127.0.0.1:$S
    mode: socks
    approval: {policy: ask, wait: 20s}
EOF

sub ctl { return cuttlectl_run('-s', $sock, @_) }

sub read_for {
    my ($s, $n, $t) = @_;
    my ($buf, $sel, $end) = ('', IO::Select->new($s), time + $t);
    while (length $buf < $n && time < $end) {
        last unless $sel->can_read($end - time);
        my $r = sysread($s, my $b, $n - length $buf);
        last unless $r;
        $buf .= $b;
    }
    return $buf;
}

sub from {
    my ($addr, $port) = @_;
    return IO::Socket::IP->new(LocalHost => $addr, PeerHost => '127.0.0.1', PeerPort => $port,
        Timeout => 3) || die "connect from $addr: $@";
}

sub held_count {
    my $r = ctl('pending', '--json');
    return scalar @{ (eval { decode_json($r->{stdout}) } // {})->{pending} // [] };
}

my $h = from('127.0.0.2', $W);
syswrite($h, "GET /across HTTP/1.1\r\nHost: x\r\n\r\n");
my $t = from('127.0.0.3', $T);
my $s = from('127.0.0.4', $S);
syswrite($s, "\x05\x01\x00");
is(read_for($s, 2, 3), "\x05\x00", 'the socks client is greeted');
syswrite($s, pack('C4 a4 n', 5, 1, 0, 1, pack('C4', 127, 0, 0, 1), $E->{port}));
ok(wait_until(sub { held_count() == 3 }, 3), 'three clients held');

my @old = values %{ generation_workers($c, 1) };
is(scalar @old, 2, 'two workers of generation 1');
my $r = cuttle_reload($c);
ok($r->{ok}, 'reload');
ok(wait_log($c, qr/worker \d+ draining \d+ connections/), 'the old workers drain');
is(held_count(), 3, 'the held clients are still listed');
sleep 0.5;
ok((grep { kill 0, $_ } @old) > 0, 'an old worker stays for them');

ctl('approve', $_) for qw(127.0.0.2 127.0.0.3 127.0.0.4);
my $resp = read_for($h, 8192, 3);
like($resp, qr{^HTTP/1\.1 200 }, 'the http client let in is served by its draining worker');
like($resp, qr{\r\nConnection: close\r\n}i, '... with Connection: close');
syswrite($t, "across\n");
is(read_for($t, 7, 3), "across\n", 'the tcp client let in relays');
my $rep = read_for($s, 10, 3);
is(length $rep >= 2 ? ord(substr($rep, 1, 1)) : -1, 0,
    'the socks client held at its destination goes there');
syswrite($s, "via socks\n");
is(read_for($s, 10, 3), "via socks\n", '... and its tunnel relays');
close $_ for $h, $t, $s;
ok(wait_until(sub { !grep { kill 0, $_ } @old }, 5), 'the old workers exit once their clients are done');
ok(wait_log($c, qr/generation 1 finished/), 'generation 1 finished');

cuttle_stop($c);
log_clean_ok($c);
done_testing();
