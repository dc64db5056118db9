# Mode udp with two workers: a session per client, each client's replies
# to it alone, round robin by session, the idle session_timeout, the
# responses count, max_sessions and the acl refusing new clients (and
# counted), a server that refuses datagrams (ICMP port unreachable) taken
# out, datagrams of 60,000 and 65,507 bytes whole, dig through cuttle to
# a DNS answerer, one-way syslog datagrams, a wildcard listener answering
# from the address the client sent to, IPv6, the sessions in "cuttlectl
# conns" and killed, a reload that keeps relaying a live session's
# replies, a binary upgrade, and udp keys refused by "cuttle -t".
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::MD5 qw(md5_hex);
use IO::Select;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);
use CuttleTest;

my $dir = tmpdir();
my $A = udp_backend(mode => 'echo', name => 'A');
my $B = udp_backend(mode => 'echo', name => 'B');
my $S = udp_backend(mode => 'echo', name => 'S');
my $R = udp_backend(mode => 'raw', name => 'R');
my $E = udp_backend(mode => 'echo', name => 'E');
my $T = udp_backend(mode => 'twice', name => 'T');
my $N = udp_backend(mode => 'dns', name => 'N', ip => '192.0.2.53');
my $L = udp_backend(mode => 'sink', name => 'L');
my $W = udp_backend(mode => 'slow', name => 'W', delay => 1.5);
my $K = backend(mode => 'name', name => 'K');
my $dead = '127.0.0.1:' . free_udp_port();       # nothing listens: port unreachable
my %port = map { $_ => free_udp_port() } qw(rr big dead dns log once few acl wild slow);
my $v6port = free_udp_port('::1');
my $sock = "$dir/admin.sock";

my $conf = <<"EOF";
admin: {socket: %TMP%/admin.sock}
upstreams:
  pair:
    servers:
      - {address: $A->{addr}}
      - {address: $B->{addr}}
  one:
    servers:
      - {address: $S->{addr}}
  raw:
    servers:
      - {address: $R->{addr}}
  dead:
    health: {passive: {max_fails: 1, fail_timeout: 30s}}
    servers:
      - {address: $dead}
      - {address: $E->{addr}}
  twice:
    servers:
      - {address: $T->{addr}}
  dns:
    servers:
      - {address: $N->{addr}}
  dnstcp:
    servers:
      - {address: $K->{addr}}
  log:
    servers:
      - {address: $L->{addr}}
  slow:
    servers:
      - {address: $W->{addr}}
listeners:
  - name: rr
    listen: 127.0.0.1:$port{rr}
    mode: udp
    upstream: pair
    udp: {session_timeout: 1s}
    access_log: {path: %TMP%/rr.access}
  - {name: big, listen: 127.0.0.1:$port{big}, mode: udp, upstream: raw, udp: {session_timeout: 1s}}
  - {name: dead, listen: 127.0.0.1:$port{dead}, mode: udp, upstream: dead, udp: {session_timeout: 2s}}
  - {name: dns, listen: 127.0.0.1:$port{dns}, mode: udp, upstream: dns, udp: {responses: 1}}
  - {name: dnstcp, listen: 127.0.0.1:$port{dns}, mode: tcp, upstream: dnstcp}
  - {name: log, listen: 127.0.0.1:$port{log}, mode: udp, upstream: log, udp: {session_timeout: 1s}}
  - {name: once, listen: 127.0.0.1:$port{once}, mode: udp, upstream: twice, udp: {responses: 1, session_timeout: 2s}}
  - {name: few, listen: 127.0.0.1:$port{few}, mode: udp, upstream: one, udp: {max_sessions: 2, session_timeout: 2s}}
  - name: acl
    listen: 127.0.0.1:$port{acl}
    mode: udp
    upstream: one
    acl: {deny: [127.0.0.1/32]}
    udp: {session_timeout: 2s}
  - {name: wild, listen: "*:$port{wild}", mode: udp, upstream: one, udp: {session_timeout: 2s}}
  - {name: six, listen: "[::1]:$v6port", mode: udp, upstream: one, udp: {session_timeout: 2s}}
  - {name: slow, listen: 127.0.0.1:$port{slow}, mode: udp, upstream: slow, udp: {session_timeout: 3s}}
EOF
my $c = cuttle_start($conf, workers => 2);
ok(wait_until(sub { -S $sock }, 5), 'the admin socket exists') or BAIL_OUT('no admin socket');

sub ctl { return cuttlectl_run('-s', $sock, @_) }

sub metrics {
    my $r = curl_run('--unix-socket', $sock, 'http://x/metrics');
    return $r->{stdout};
}

# One sample of the metrics, or undef.
sub sample {
    my ($name, $labels) = @_;
    return metrics() =~ /^\Q$name\E\{\Q$labels\E\} (\S+)$/m ? $1 : undef;
}

# One datagram from a new client to $port; the answer (undef: none within $timeout).
sub ask {
    my ($port, $data, $timeout, %o) = @_;
    my $s = udp_client($port, %o);
    send($s, $data, 0) or return undef;
    return udp_recv($s, $timeout // 3);
}

# --- several clients at once: each gets its own answers, and only those.
{
    my @cl = map { udp_client($port{rr}) } 1 .. 20;
    for my $round (1 .. 3) {
        send($cl[$_], "c$_-r$round", 0) for 0 .. $#cl;
    }
    my (@wrong, %server);
    for my $i (0 .. $#cl) {
        my @got = map { udp_recv($cl[$i], 3) // 'none' } 1 .. 3;
        my ($srv) = $got[0] =~ /^([AB]):/;
        $server{$i} = $srv // '?';
        push @wrong, "client $i: @got"
            unless join(' ', sort @got) eq join(' ', map { ($srv // '?') . ":c$i-r$_" } 1 .. 3);
        push @wrong, "client $i: more: " . udp_recv($cl[$i], 0.2)
            if defined udp_recv($cl[$i], 0.2) ;
    }
    is_deeply(\@wrong, [], '20 clients each get their 3 answers from one server, and nothing else');
    my %n;
    $n{$_}++ for values %server;
    is_deeply(\%n, { A => 10, B => 10 }, '20 sessions land 10:10 on the two servers');
    my @lines = wait_conn($c, 20, listener => 'rr', end => 'session timeout', timeout => 5);
    is(scalar @lines, 20, '20 sessions end by their session_timeout');
    my %slots = map { $_->{slot} => 1 } @lines;
    is(scalar keys %slots, 2, 'both workers had sessions');
    is((grep { $_->{from_client} >= 15 && $_->{to_client} == $_->{from_client} + 6 } @lines), 20,
        'each session line counts the bytes each way (the answers have 2 more each)');
    my @acc = grep { /listener=rr / } split /\n/, slurp("$dir/rr.access");
    is((grep { /datagrams_in=3 datagrams_out=3$/ } @acc), 20,
        'the access log has a line per session with 3 datagrams each way');
}

# --- round robin by session, and the idle timeout ends one.
{
    my $s = udp_client($port{rr});
    my $cport = $s->sockport;
    send($s, 'one', 0);
    my $first = udp_recv($s, 3) // '';
    send($s, 'two', 0);
    my $second = udp_recv($s, 3) // '';
    my ($x) = $first =~ /^([AB]):one$/;
    ok(defined $x, "the first datagram is answered ($first)");
    is($second, ($x // '?') . ':two', 'the second goes to the same server: the same session');

    # Listed and counted while it lives.
    my $r = ctl('--json', 'conns');
    my $j = eval { decode_json($r->{stdout}) } // {};
    my ($e) = grep { $_->{client} eq "127.0.0.1:$cport" } @{$j->{connections} // []};
    ok($e, 'cuttlectl conns lists the session') or diag($r->{stdout});
    is($e->{listener} // '', 'rr', '... with its listener');
    is($e->{server} // '', ($x // '') eq 'A' ? $A->{addr} : $B->{addr}, '... and its server');

    my @end = wait_conn($c, 1, listener => 'rr', client => "127.0.0.1:$cport",
        end => 'session timeout', timeout => 4);
    is(scalar @end, 1, 'a second of silence ends the session');
    send($s, 'three', 0);
    my $third = udp_recv($s, 3) // '';
    my $y = ($x // '') eq 'A' ? 'B' : 'A';
    is($third, "$y:three", 'the next datagram opens a new session, on the other server');
    @end = wait_conn($c, 2, listener => 'rr', client => "127.0.0.1:$cport", timeout => 4);
    is(scalar @end, 2, 'two session lines for the client');

    # A live session killed through the admin API.
    send($s, 'four', 0);
    udp_recv($s, 3);
    $j = eval { decode_json(ctl('--json', 'conns')->{stdout}) } // {};
    ($e) = grep { $_->{client} eq "127.0.0.1:$cport" } @{$j->{connections} // []};
    ok($e && ctl('kill', $e->{id})->{status} == 0, 'cuttlectl kill takes the session id');
    @end = wait_conn($c, 1, listener => 'rr', client => "127.0.0.1:$cport",
        end => 'killed by the admin API', timeout => 3);
    is(scalar @end, 1, 'the session ends, killed');
}

# --- datagrams pass whole, up to the largest UDP payload over IPv4.
for my $len (60000, 65507) {
    my $data = join '', map { chr(($_ * 7 + 3) % 256) } 0 .. $len - 1;
    my $back = ask($port{big}, $data, 5) // '';
    is(length $back, $len, "a datagram of $len bytes comes back whole");
    is(md5_hex($back), md5_hex($data), '... byte for byte');
}
is_deeply([map { $_->[1] } udp_backend_got($R)], [60000, 65507],
    'the server got each in one datagram');

# --- a server that refuses datagrams is a failure, and the next session avoids it.
{
    my (@answers, $refused);
    for my $i (1 .. 6) {
        push @answers, ask($port{dead}, "d$i", 1) // 'none';
    }
    my @nones = grep { $_ eq 'none' } @answers;
    is(scalar @nones, 1, 'one client of six got no answer: its session went to the dead server')
        or diag("@answers");
    is_deeply([grep { $_ ne 'none' } @answers], [map { "E:d$_" } grep { $answers[$_ - 1] ne 'none' } 1 .. 6],
        'the others were answered by E');
    ok(log_grep($c, qr/\[warn\] .*recv\(\) from udp server \Q$dead\E failed \(111: Connection refused\) while relaying datagrams, client: 127\.0\.0\.1:\d+, listener: dead/),
        'the refusal is logged with the server, client and listener');
    ok(log_grep($c, qr/upstream "dead" server \Q$dead\E is down/), 'the server is down (max_fails 1)');
    my @l = conn_lines($c, listener => 'dead', end => 'server refused datagrams');
    is(scalar @l, 1, 'the session ended "server refused datagrams"');
    is($l[0]{server} // '', $dead, '... on the dead server');
}

# --- dig through cuttle; the TCP listener on the same port is another listener.
{
    my $pid = open(my $dig, '-|', 'dig', '@127.0.0.1', '-p', $port{dns}, '+short',
        '+tries=1', '+time=3', 'www.example.test', 'A');
    my $out = $pid ? join('', <$dig>) : "dig: $!";
    close $dig;
    is($out, "192.0.2.53\n", 'dig through cuttle gets the answerer\'s A record');
    my @l = wait_conn($c, 1, listener => 'dns', end => 'responses', timeout => 3);
    is(scalar @l, 1, 'the DNS session ends at its one response');
    ok($l[0] && $l[0]{time} < 1, '... at once, not at the session timeout');
    is((fetch_name($port{dns}))[0], 'K', 'TCP on the same port reaches the tcp listener');
}

# --- responses: 1 ends a session at the first answer; the second one is not relayed.
{
    my $s = udp_client($port{once});
    send($s, 'q1', 0);
    is(udp_recv($s, 3), 'T:1:q1', 'the first answer is relayed');
    is(udp_recv($s, 0.5), undef, 'the server\'s second answer is not: the session ended');
    send($s, 'q2', 0);
    is(udp_recv($s, 3), 'T:1:q2', 'the next datagram opens a new session');
    my @l = wait_conn($c, 2, listener => 'once', client => '127.0.0.1:' . $s->sockport,
        end => 'responses', timeout => 3);
    is(scalar @l, 2, 'two sessions, each ended by responses');
}

# --- one-way datagrams (syslog) reach the server.
{
    my $s = udp_client($port{log});
    my @msgs = map { "<13>Dec  7 00:00:0$_ host app: line $_" } 1 .. 5;
    send($s, $_, 0) for @msgs;
    ok(wait_until(sub { udp_backend_got($L) >= 5 }, 3), 'the log server got 5 datagrams');
    is_deeply([map { pack('H*', $_->[2]) } udp_backend_got($L)], \@msgs, '... in order, as sent');
    my %ports = map { $_->[0] => 1 } udp_backend_got($L);
    is(scalar keys %ports, 1, '... from one session socket');
    my @l = wait_conn($c, 1, listener => 'log', end => 'session timeout', timeout => 4);
    is($l[0]{to_client} // -1, 0, 'the session sent nothing back');
    is($l[0]{from_client} // -1, length(join '', @msgs), '... and carried every byte');
}

# --- max_sessions: per worker, a new client beyond it is dropped and counted.
{
    my @cl = map { udp_client($port{few}) } 1 .. 12;
    send($cl[$_], "f$_", 0) for 0 .. $#cl;
    # Every answer comes within the second: a select over all of them.
    my $sel = IO::Select->new(@cl);
    my %got;
    my $deadline = time + 1;
    while ((my $left = $deadline - time) > 0) {
        $got{fileno $_} = udp_recv($_, 0) for $sel->can_read($left);
    }
    my $answered = grep { defined } values %got;
    ok($answered >= 2 && $answered <= 4, "2 workers of max_sessions 2 answered $answered of 12");
    my $dropped;
    ok(wait_until(sub {
        $dropped = sample('cuttle_udp_dropped_total', 'listener="few",reason="sessions"');
        defined $dropped && $dropped == 12 - $answered;
    }, 3), 'the others are counted as dropped for sessions') or diag("dropped: " . ($dropped // 'none'));
    my @said = log_grep($c, qr/\[warn\] .*listener "few": its max_sessions 2 are open; datagrams from new clients are dropped/);
    ok(@said >= 1 && @said <= 2, 'and said in the error log, once per worker at most')
        or diag(scalar @said);
}

# --- the acl refuses a new client, counted.
{
    is(ask($port{acl}, 'no', 1), undef, 'a denied client gets no answer');
    is(ask($port{acl}, 'yes', 3, local => '127.0.0.3'), 'S:yes', 'an allowed one does');
    is(sample('cuttle_udp_dropped_total', 'listener="acl",reason="acl"'), 1,
        'the denied datagram is counted');
}

# --- a wildcard listener answers from the address the client sent to.
for my $to ('127.0.0.1', '127.0.0.2') {
    is(ask($port{wild}, "to $to", 3, host => $to), "S:to $to",
        "a client of $to on a wildcard listener gets its answer from $to");
}

# --- IPv6.
is(ask($v6port, 'six', 3, host => '::1'), 'S:six', 'an IPv6 client is answered');

# --- the datagram counters, when sessions end.
{
    my $in;
    ok(wait_until(sub {
        $in = sample('cuttle_udp_datagrams_total', 'listener="big",direction="received"');
        defined $in && $in == 2;
    }, 5), 'cuttle_udp_datagrams_total counts the datagrams of ended sessions')
        or diag('big received: ' . ($in // 'none'));
    is(sample('cuttle_udp_datagrams_total', 'listener="big",direction="sent"'), 2, '... each way');
}

# --- a reload with a live session: its answer still comes back.
{
    my $s = udp_client($port{slow});
    my $cport = $s->sockport;
    send($s, 'before', 0);
    ok(wait_until(sub { udp_backend_got($W) >= 1 }, 3), 'the slow server has the datagram');
    my $t0 = time;
    my $r = cuttle_reload($c, $conf);
    ok($r->{ok}, 'reload (SIGHUP) succeeds') or diag(join "\n", @{$r->{lines}});
    is(udp_recv($s, 5), 'W:before', 'the answer comes back through the old worker');
    my @l = wait_conn($c, 1, listener => 'slow', client => "127.0.0.1:$cport",
        end => 'session timeout', timeout => 8);
    my %new = map { $_ => 1 } values %{$r->{slots} // {}};
    ok(@l && !$new{$l[0]{pid}}, 'its session was a worker of the old generation');
    is(ask($port{slow}, 'after', 5), 'W:after', 'a new client is served by the new generation');
    ok(wait_until(sub { log_grep($c, qr/worker \d+ exiting: drained/) >= 2 }, 10),
        'the old workers exit once their sessions ended');
}

# --- a binary upgrade: the new master adopts the udp socket beside the tcp one.
{
    my ($up, $K2) = (free_udp_port(), backend(mode => 'name', name => 'K2'));
    my $u = cuttle_start(<<"EOF", workers => 2);
pid_file: %PIDFILE%
upstreams:
  one:
    servers:
      - {address: $S->{addr}}
  k:
    servers:
      - {address: $K2->{addr}}
listeners:
  - {name: u, listen: 127.0.0.1:$up, mode: udp, upstream: one, udp: {session_timeout: 1s}}
  - {name: t, listen: 127.0.0.1:$up, mode: tcp, upstream: k}
EOF
    is(ask($up, 'before', 3), 'S:before', 'served before the upgrade');
    my $r = cuttle_upgrade($u);
    ok($r->{ok} && $r->{old_gone}, 'the binary upgrade completes') or diag(join "\n", @{$r->{lines}});
    is(ask($up, 'after', 3), 'S:after', 'the new master serves the udp address');
    is((fetch_name($up))[0], 'K2', '... and the tcp one on the same port');
    cuttle_stop($u);
}

# --- configuration errors.
{
    write_file("$dir/bad.yaml", <<"EOF");
upstreams:
  u:
    servers:
      - {address: 127.0.0.1:53}
listeners:
  - name: d
    listen: 127.0.0.1:5353
    mode: udp
    upstream: u
    tls: {cert: x.pem, key: x.key}
    timeouts: {idle: 5s}
    udp: {max_sessions: 0, session_timout: 5s}
EOF
    my $r = cuttle_run('-t', '-c', "$dir/bad.yaml");
    isnt($r->{status}, 0, 'cuttle -t refuses bad udp keys');
    my $out = $r->{stdout} . $r->{stderr};
    like($out, qr/bad\.yaml:10:5: "tls" is not used with mode udp/, 'tls, at its position');
    like($out, qr/bad\.yaml:11:5: "timeouts" is not used with mode udp/, 'timeouts');
    like($out, qr/bad\.yaml:12:25: "max_sessions" must be an integer between 1 and 1000000/,
        'max_sessions 0');
    like($out, qr/bad\.yaml:12:28: unknown key "session_timout" in udp, did you mean "session_timeout"\?/,
        'a misspelt key, with the nearest');
}

cuttle_stop($c);
log_clean_ok();
done_testing();
