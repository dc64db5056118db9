# Clients held for an approval decision, with 2 workers: a client that
# no rule or decision covers waits (nothing of it reaches the server),
# is listed by cuttlectl pending and the API, and goes on as if it had
# never waited once an operator approves its address; its next
# connection does not wait; a denial closes a waiting client (403 on an
# http listener); wait ends in on_timeout; max_pending refuses at once;
# rules and the allow and deny policies; a client that leaves while
# held disappears from the list; counts in /metrics.  Clients come from
# several loopback addresses so that each has decisions of its own.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use IO::Socket::IP;
use IO::Select;
use Time::HiRes qw(time sleep);
use POSIX ();
use CuttleTest;

my $dir = tmpdir();
my $E = backend(mode => 'echo', name => 'E');
my $O = http_origin(name => 'O');
my ($ask, $short, $full, $web, $open, $shut) = map { free_port() } 1 .. 6;
my $sock = "$dir/admin.sock";

my $c = cuttle_start(<<"EOF", workers => 2);
error_log: {path: %LOG%, level: info}
admin: {socket: $sock}
upstreams:
  echo: {servers: [{address: "$E->{addr}"}]}
  web: {servers: [{address: "$O->{addr}"}]}
listeners:
  - name: ask
    listen: 127.0.0.1:$ask
    mode: tcp
    upstream: echo
    approval: {policy: ask, wait: 20s, rules: {allow: [127.0.0.9/32], deny: [127.0.0.10/32]}}
  - name: short
    listen: 127.0.0.1:$short
    mode: tcp
    upstream: echo
    approval: {policy: ask, wait: 1s, on_timeout: allow}
  - name: full
    listen: 127.0.0.1:$full
    mode: tcp
    upstream: echo
    approval: {policy: ask, wait: 1s, max_pending: 2}
  - name: web
    listen: 127.0.0.1:$web
    mode: http
    routes: [{upstream: web}]
    approval: {policy: ask, wait: 20s}
  - name: open
    listen: 127.0.0.1:$open
    mode: tcp
    upstream: echo
    approval: {policy: allow, rules: {deny: [127.0.0.12/32]}}
  - name: shut
    listen: 127.0.0.1:$shut
    mode: tcp
    upstream: echo
    approval: {policy: deny}
EOF

sub ctl { return cuttlectl_run('-s', $sock, @_) }

sub client {
    my ($from, $port) = @_;
    my $s = IO::Socket::IP->new(LocalHost => $from, PeerHost => '127.0.0.1', PeerPort => $port,
        Timeout => 3) or die "connect from $from: $@";
    return $s;
}

# What comes back within $t seconds (up to $n bytes), and whether the end came.
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

sub pending {
    my $r = ctl('pending', '--json');
    return @{ (eval { decode_json($r->{stdout}) } // {})->{pending} // [] };
}

# ------------------------------------------------------------ ask, then approve

my $a1 = client('127.0.0.2', $ask);
syswrite($a1, "held\n");
my ($got) = read_for($a1, 5, 1);
is($got, '', 'a client no decision covers waits: nothing comes back');
my @p = grep { $_->{client} =~ /^127\.0\.0\.2:/ } pending();
is(scalar @p, 1, 'it is listed as pending');
is($p[0]{listener}, 'ask', '... on its listener') if @p;
like(ctl('pending')->{stdout}, qr/\bask\s+127\.0\.0\.2:\d+/, 'cuttlectl pending shows it');
my $t0 = time;
my $r = ctl('approve', '127.0.0.2', '--for', '1h', '--note', 'test');
is($r->{status}, 0, 'cuttlectl approve 127.0.0.2') or diag($r->{stderr});
($got) = read_for($a1, 5, 3);
my $waited = time - $t0;
is($got, "held\n", 'the waiting connection goes on: its bytes reach the server and come back');
cmp_ok($waited, '<', 1, "... as soon as the decision is made (${\ sprintf '%.3f', $waited} s)");
is(scalar(grep { $_->{client} =~ /^127\.0\.0\.2:/ } pending()), 0, 'no longer pending');
{
    my $a2 = client('127.0.0.2', $ask);
    syswrite($a2, "again\n");
    ($got) = read_for($a2, 6, 3);
    is($got, "again\n", 'the next connection from the address does not wait');
}
ok(wait_log($c, qr/approval: client 127\.0\.0\.2:\d+ let in on listener "ask" \(decision 127\.0\.0\.2\/32/),
    'the log names the decision that let it in');

# ------------------------------------------------------------ ask, then deny

{
    my $d = client('127.0.0.3', $ask);
    read_for($d, 1, 0.5);
    $r = ctl('deny', '127.0.0.3');
    is($r->{status}, 0, 'cuttlectl deny 127.0.0.3');
    my (undef, $eof) = read_for($d, 1, 3);
    ok($eof, 'the waiting client is closed');
    my $d2 = client('127.0.0.3', $ask);
    (undef, $eof) = read_for($d2, 1, 3);
    ok($eof, 'and the next one at once');
}

# ------------------------------------------------------------ http: 403

{
    my $h = client('127.0.0.4', $web);
    syswrite($h, "GET /held HTTP/1.1\r\nHost: x\r\n\r\n");
    read_for($h, 1, 0.5);
    is(scalar(grep { $_->{client} =~ /^127\.0\.0\.4:/ } pending()), 1, 'an http client waits too');
    ctl('deny', '127.0.0.4', '--listener', 'web');
    my ($resp) = read_for($h, 4096, 3);
    like($resp, qr{^HTTP/1\.1 403 Forbidden}, 'denied: 403');
    is(scalar(origin_requests($O, target => '/held')), 0, 'nothing reached the origin');
    my $h2 = client('127.0.0.5', $web);
    syswrite($h2, "GET /approved HTTP/1.1\r\nHost: x\r\n\r\n");
    read_for($h2, 1, 0.5);
    ctl('approve', '127.0.0.0/29', '--listener', 'web');
    ($resp) = read_for($h2, 4096, 3);
    like($resp, qr{^HTTP/1\.1 200}, 'a network approved for the listener: the request it sent while waiting is served');
}

# ------------------------------------------------------------ timeouts, limits, rules, policies

{
    my $s = client('127.0.0.6', $short);
    syswrite($s, "late\n");
    my $t1 = time;
    ($got) = read_for($s, 5, 4);
    is($got, "late\n", 'wait ends with on_timeout allow: the client goes on');
    cmp_ok(time - $t1, '>=', 0.8, '... after the wait');
}
{
    my @f = map { client("127.0.0.$_", $full) } 7, 8;
    read_for($f[0], 1, 0.3);
    my $third = client('127.0.0.11', $full);
    my (undef, $eof) = read_for($third, 1, 0.8);
    ok($eof, 'beyond max_pending a new client is refused at once');
    (undef, $eof) = read_for($f[0], 1, 3);
    ok($eof, 'wait ends with on_timeout deny: closed');
}
{
    my $s = client('127.0.0.9', $ask);
    syswrite($s, "rule\n");
    ($got) = read_for($s, 5, 3);
    is($got, "rule\n", 'rules.allow lets a client in without waiting');
    $s = client('127.0.0.10', $ask);
    my (undef, $eof) = read_for($s, 1, 3);
    ok($eof, 'rules.deny closes it at once');
    $s = client('127.0.0.2', $open);
    syswrite($s, "open\n");
    ($got) = read_for($s, 5, 3);
    is($got, "open\n", 'policy allow lets in who no rule refuses');
    $s = client('127.0.0.12', $open);
    (undef, $eof) = read_for($s, 1, 3);
    ok($eof, '... and a rule still refuses');
    $s = client('127.0.0.13', $shut);
    (undef, $eof) = read_for($s, 1, 3);
    ok($eof, 'policy deny closes who nothing lets in');
}

# ------------------------------------------------------------ leaving while held

{
    my $l = client('127.0.0.14', $ask);
    read_for($l, 1, 0.5);
    is(scalar(grep { $_->{client} =~ /^127\.0\.0\.14:/ } pending()), 1, 'held');
    close $l;
    ok(wait_until(sub { !grep { $_->{client} =~ /^127\.0\.0\.14:/ } pending() }, 3),
        'a client that leaves disappears from the list');
}

# ------------------------------------------------------------ live events

{
    my $out = "$dir/events.sse";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>', $out);
        open(STDERR, '>', '/dev/null');
        exec('curl', '-sN', '--max-time', '4', '--unix-socket', $sock,
            'http://x/api/v1/events?kinds=pending,decision') or POSIX::_exit(127);
    }
    sleep 0.5;
    my $e = client('127.0.0.15', $ask);
    read_for($e, 1, 0.5);
    ctl('approve', '127.0.0.15');
    read_for($e, 1, 0.5);
    waitpid($pid, 0);
    my $sse = slurp($out);
    like($sse, qr/"kind":"pending"[^\n]*"client":"127\.0\.0\.15:\d+"[^\n]*"detail":"waits"|"client":"127\.0\.0\.15:\d+"[^\n]*"kind":"pending"/,
        'events: the client that waits') or diag($sse);
    like($sse, qr/"kind":"decision"[^\n]*allow 127\.0\.0\.15/, 'events: the decision');
    like($sse, qr/"detail":"let in"/, 'events: the client let in');
}

# ------------------------------------------------------------ metrics

{
    my $m = curl_run('--unix-socket', $sock, 'http://x/metrics')->{stdout};
    my %n;
    $n{"$1 $2"} = $3 while $m =~ /^cuttle_approval_clients_total\{listener="(\w+)",result="(\w+)"\} (\d+)$/mg;
    cmp_ok($n{'ask pending'} // 0, '>=', 3, '/metrics: clients held');
    cmp_ok($n{'ask allowed'} // 0, '>=', 3, '/metrics: let in');
    cmp_ok($n{'ask denied'} // 0, '>=', 3, '/metrics: refused');
    is($n{'short timed_out'} // 0, 1, '/metrics: a wait that ran out');
    cmp_ok($n{'full full'} // 0, '>=', 1, '/metrics: refused beyond max_pending');
    like($m, qr/^cuttle_approval_pending\{listener="ask"\} 0$/m, '/metrics: nobody held now');
}

cuttle_stop($c);
log_clean_ok($c);
done_testing();
