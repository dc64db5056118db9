# What a client held on a plain http listener shows, with 2 workers: its
# first request (method, Host and path) is read without being consumed,
# listed by the API and cuttlectl pending, and served unchanged once the
# client is approved; a head that comes in pieces is shown when it is
# complete; a held client costs no CPU while it waits; a malformed head
# is not shown and the client stays held, to be answered 400 by the http
# mode when let in; a denial answers 403 with the listener's deny_body.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use IO::Socket::IP;
use IO::Select;
use Time::HiRes qw(time sleep);
use CuttleTest;

my $dir = tmpdir();
my $O = http_origin(name => 'O');
my $web = free_port();
my $sock = "$dir/admin.sock";

my $c = cuttle_start(<<"EOF", workers => 2);
error_log: {path: %LOG%, level: info}
admin: {socket: $sock}
upstreams:
  web: {servers: [{address: "$O->{addr}"}]}
listeners:
  - name: web
    listen: 127.0.0.1:$web
    mode: http
    max_header_size: 2k
    routes: [{upstream: web}]
    approval: {policy: ask, wait: 20s, deny_body: "Ask the desk for access.\\n"}
EOF

sub ctl { return cuttlectl_run('-s', $sock, @_) }

sub client {
    my ($from) = @_;
    my $s = IO::Socket::IP->new(LocalHost => $from, PeerHost => "127.0.0.1", PeerPort => $web,
        Timeout => 3) or die "connect from $from: $@";
    return $s;
}

sub read_for {
    my ($s, $n, $t) = @_;
    my ($buf, $eof, $sel, $end) = ('', 0, IO::Select->new($s), time + $t);
    while (length $buf < $n && time < $end) {
        last unless $sel->can_read($end - time);
        my $r = sysread($s, my $b, $n - length $buf);
        if (!$r) { $eof = 1; last }
        $buf .= $b;
    }
    return ($buf, $eof);
}

sub held {
    my ($from) = @_;
    my $r = ctl('pending', '--json');
    my @p = grep { $_->{client} =~ /^\Q$from\E:/ }
        @{ (eval { decode_json($r->{stdout}) } // {})->{pending} // [] };
    return $p[0];
}

# CPU ticks (user + system) the workers used so far.
sub worker_ticks {
    my $t = 0;
    for my $pid (values %{ CuttleTest::_ready_slots($c) }) {
        my @f = split ' ', (slurp("/proc/$pid/stat") =~ s/^.*\)\s+//sr);
        $t += $f[11] + $f[12];
    }
    return $t;
}

# ------------------------------------------------------------ the request shown

{
    my $h = client('127.0.0.2');
    syswrite($h, "GET /held/page?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
    my $p;
    ok(wait_until(sub { ($p = held('127.0.0.2')) && defined $p->{request} }, 3),
        'a held http client is listed with its request');
    is($p->{request}, 'GET example.com /held/page?x=1', '... method, Host and path') if $p;
    like(ctl('pending')->{stdout}, qr/\bweb\s+127\.0\.0\.2:\d+\s+\S+\s+GET example\.com \/held\/page\?x=1$/m,
        'cuttlectl pending prints it');
    is(scalar(origin_requests($O, target => '/held/page?x=1')), 0, 'nothing reached the origin');

    # Held, its head read: the workers must not spin on the bytes left unread.
    my $t0 = worker_ticks();
    sleep 1.5;
    my $spent = worker_ticks() - $t0;
    cmp_ok($spent, '<', 30, "the workers sleep while the client waits ($spent ticks in 1.5 s)");

    my $r = ctl('approve', '127.0.0.2', '--listener', 'web');
    is($r->{status}, 0, 'approve it');
    my ($resp) = read_for($h, 4096, 3);
    like($resp, qr{^HTTP/1\.1 200}, 'let in: the request it sent while held is served');
    is(scalar(origin_requests($O, target => '/held/page?x=1')), 1, '... once, unchanged');
}

# ------------------------------------------------------------ a head in pieces

{
    my $h = client('127.0.0.3');
    syswrite($h, "POST /form HTTP/1.1\r\n");
    sleep 0.4;
    my $p = held('127.0.0.3');
    ok($p && !defined $p->{request}, 'a head not yet complete: held, no request shown');
    # Its bytes stay unread in the socket: the workers must not spin on them.
    my $t0 = worker_ticks();
    sleep 1.5;
    my $spent = worker_ticks() - $t0;
    cmp_ok($spent, '<', 30, "... and the workers sleep meanwhile ($spent ticks in 1.5 s)");
    syswrite($h, "Host: pieces.test\r\nContent-Length: 0\r\n");
    sleep 0.3;
    syswrite($h, "\r\n");
    ok(wait_until(sub { ($p = held('127.0.0.3')) && defined $p->{request} }, 3),
        'the rest comes: shown');
    is($p->{request}, 'POST pieces.test /form', '... as POST pieces.test /form') if $p;
    ctl('approve', '127.0.0.3', '--listener', 'web');
    my ($resp) = read_for($h, 4096, 3);
    like($resp, qr{^HTTP/1\.1 200}, 'and served when let in');
}

# ------------------------------------------------------------ garbage, and a head too large

{
    my $g = client('127.0.0.4');
    syswrite($g, "NOT HTTP AT ALL\r\n\r\n");
    sleep 0.5;
    my $p = held('127.0.0.4');
    ok($p, 'a client that sends garbage stays held');
    ok($p && !defined $p->{request}, '... and shows no request');
    my $big = client('127.0.0.5');
    syswrite($big, "GET /big HTTP/1.1\r\nHost: x\r\nX-Fill: " . ('a' x 3000) . "\r\n\r\n");
    sleep 0.5;
    $p = held('127.0.0.5');
    ok($p && !defined $p->{request}, 'a head beyond max_header_size: held, not shown');
    ctl('approve', '127.0.0.4', '--listener', 'web');
    my ($resp) = read_for($g, 4096, 3);
    like($resp, qr{^HTTP/1\.1 400}, 'the garbage let in: the http mode answers 400');
    ctl('approve', '127.0.0.5', '--listener', 'web');
    ($resp) = read_for($big, 4096, 3);
    like($resp, qr{^HTTP/1\.1 431}, 'the large head let in: 431');
}

# ------------------------------------------------------------ deny_body

{
    my $d = client('127.0.0.6');
    syswrite($d, "GET /no HTTP/1.1\r\nHost: x\r\n\r\n");
    ok(wait_until(sub { my $p = held('127.0.0.6'); $p && defined $p->{request} }, 3), 'held');
    ctl('deny', '127.0.0.6', '--listener', 'web');
    my ($resp, $eof) = read_for($d, 4096, 3);
    like($resp, qr{^HTTP/1\.1 403 Forbidden\r\n}, 'denied: 403');
    like($resp, qr{\r\nContent-Length: 25\r\n}i, '... with the length of deny_body');
    like($resp, qr{\r\n\r\nAsk the desk for access\.\n\z}, '... and deny_body');
    ok(!held('127.0.0.6'), 'gone from the list');
}

ok(wait_log($c, qr/approval: client 127\.0\.0\.6:\d+ refused on listener "web"/), 'the refusal is logged');

cuttle_stop($c);
log_clean_ok($c);
done_testing();
