# Mode udp through SOCKS 5 UDP ASSOCIATE hops ("via" on the upstream):
# datagrams to UDP echo servers and back through a cuttle socks hop
# (two clients kept apart), through two cuttle hops (the second asking
# for a password, reached through the first) with a 60,000-byte
# datagram, through a hop on ::1, through dante alone and dante behind
# a cuttle hop; a fake hop in the test that checks what the session
# names in its UDP ASSOCIATE and sends, and answers with good and bad
# headers (counted) before it goes away; datagrams that wait for a hop
# that is slow to answer, and those beyond the queue dropped and
# counted; a dead hop, a refused password and a hop that never answers
# end the session with a log line naming the hop, its datagram counted,
# and no passive failure of the server; hops that cannot carry UDP
# refused by "cuttle -t" at file:line:col.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Select;
use IO::Socket::IP;
use POSIX qw(_exit);
use Socket qw(inet_aton inet_ntoa unpack_sockaddr_in);
use Test::More;
use Time::HiRes qw(sleep);
use CuttleTest;

my $dir = tmpdir();
my $A = udp_backend(mode => 'echo', name => 'A');
my $B = udp_backend(mode => 'echo', name => 'B');
my $closed = free_port();
my $pw = "$dir/htpasswd";
write_file($pw, `htpasswd -nbB -C 5 hopper 'hop pw'`);
my $sock = "$dir/admin.sock";

my ($S1, $S2) = map { free_port() } 1 .. 2;
my $S6 = free_port('::1');
my $hop1 = cuttle_start(<<"EOF", workers => 1);
error_log: {path: %LOG%, level: info}
listeners:
  - {name: hop1, listen: "127.0.0.1:$S1", mode: socks, socks: {udp: true}}
  - {name: hop1v6, listen: "[::1]:$S6", mode: socks, socks: {udp: true}}
EOF
my $hop2 = cuttle_start(<<"EOF", workers => 1);
error_log: {path: %LOG%, level: info}
listeners:
  - name: hop2
    listen: 127.0.0.1:$S2
    mode: socks
    socks: {versions: [5], udp: true}
    auth: {basic: {realm: hops, htpasswd: $pw}}
EOF

# dante, in the foreground, stopped by its pid.  Its rule admits a UDP
# client by the address the UDP ASSOCIATE names (then by its first
# datagram's, for all zeros): cuttle names its session's socket to a
# first hop, and zeros to a later one (RFC 1928 7).
my @KIDS;
END { for my $p (@KIDS) { kill 'TERM', $p; waitpid($p, 0) } }
sub spawn {
    my ($out, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', $out);
        open(STDERR, '>&', \*STDOUT);
        exec @cmd or _exit(127);
    }
    push @KIDS, $pid;
    return $pid;
}
my $D = free_port();
write_file("$dir/danted.conf", <<"EOF");
logoutput: $dir/danted.log
internal: 127.0.0.1 port = $D
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
  command: connect udpassociate udpreply
  log: connect disconnect error
}
EOF
spawn("$dir/danted.out", 'danted', '-f', "$dir/danted.conf", '-N', '1');
ok(wait_until(sub { IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $D) }, 10),
    'dante listens') or diag(slurp("$dir/danted.out"));

# Hops of the test's own: listening sockets that it accepts on when it wants.
sub listener {
    my $s = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 8,
        ReuseAddr => 1) or die "listen: $@";
    return $s;
}
my ($gate, $mute, $fake) = map { listener() } 1 .. 3;
my ($G, $M, $F) = map { $_->sockport } $gate, $mute, $fake;

my %port = map { $_ => free_udp_port() } qw(one two six dante mixed fake gate dead badpw mute);
my $c = cuttle_start(<<"EOF", workers => 2);
error_log: {path: %LOG%, level: info}
admin: {socket: %TMP%/admin.sock}
upstreams:
  pair:
    via: ["socks5://127.0.0.1:$S1"]
    servers: [{address: "$A->{addr}"}, {address: "$B->{addr}"}]
  two:
    via: ["socks5://127.0.0.1:$S1", "socks5://hopper:hop%20pw\@127.0.0.1:$S2"]
    servers: [{address: "$A->{addr}"}]
  six: {via: ["socks5://[::1]:$S6"], servers: [{address: "$A->{addr}"}]}
  dante: {via: ["socks5://127.0.0.1:$D"], servers: [{address: "$A->{addr}"}]}
  mixed:
    via: ["socks5://127.0.0.1:$S1", "socks5://127.0.0.1:$D"]
    servers: [{address: "$B->{addr}"}]
  fake: {via: ["socks5://127.0.0.1:$F"], servers: [{address: "$A->{addr}"}]}
  gate: {via: ["socks5://127.0.0.1:$G"], servers: [{address: "$A->{addr}"}]}
  dead:
    via: ["socks5://127.0.0.1:$closed"]
    health: {passive: {max_fails: 1, fail_timeout: 30s}}
    servers: [{address: "$A->{addr}"}]
  badpw:
    via: ["socks5://hopper:wrong\@127.0.0.1:$S2"]
    health: {passive: {max_fails: 1, fail_timeout: 30s}}
    servers: [{address: "$B->{addr}"}]
  mute: {via: ["socks5://127.0.0.1:$M"], servers: [{address: "$A->{addr}"}]}
listeners:
  - {name: one, listen: "127.0.0.1:$port{one}", mode: udp, upstream: pair, udp: {session_timeout: 1s}}
  - {name: two, listen: "127.0.0.1:$port{two}", mode: udp, upstream: two, udp: {session_timeout: 1s}}
  - {name: six, listen: "127.0.0.1:$port{six}", mode: udp, upstream: six, udp: {session_timeout: 1s}}
  - {name: dante, listen: "127.0.0.1:$port{dante}", mode: udp, upstream: dante, udp: {session_timeout: 1s}}
  - {name: mixed, listen: "127.0.0.1:$port{mixed}", mode: udp, upstream: mixed, udp: {session_timeout: 1s}}
  - {name: fake, listen: "127.0.0.1:$port{fake}", mode: udp, upstream: fake, udp: {session_timeout: 30s}}
  - {name: gate, listen: "127.0.0.1:$port{gate}", mode: udp, upstream: gate, udp: {connect_timeout: 30s}}
  - {name: dead, listen: "127.0.0.1:$port{dead}", mode: udp, upstream: dead}
  - {name: badpw, listen: "127.0.0.1:$port{badpw}", mode: udp, upstream: badpw}
  - {name: mute, listen: "127.0.0.1:$port{mute}", mode: udp, upstream: mute, udp: {connect_timeout: 1s}}
EOF
ok(wait_until(sub { -S $sock }, 5), 'the admin socket exists') or BAIL_OUT('no admin socket');

sub metrics { return curl_run('--unix-socket', $sock, 'http://x/metrics')->{stdout} }

sub sample {
    my ($name, $labels) = @_;
    return metrics() =~ /^\Q$name\E\{\Q$labels\E\} (\S+)$/m ? $1 : undef;
}

sub dropped { return sample('cuttle_udp_dropped_total', "listener=\"$_[0]\",reason=\"$_[1]\"") }

sub dropped_is {
    my ($l, $why, $want) = @_;
    return wait_until(sub { (dropped($l, $why) // -1) == $want }, 5);
}

sub hexs { return join ' ', map { sprintf '%02x', $_ } unpack 'C*', $_[0] }

# The SOCKS UDP header naming an IPv4 address and port.
sub udp_hdr { my ($ip, $port) = @_; return "\0\0\0\x01" . inet_aton($ip) . pack('n', $port) }

# Exactly $n bytes from a stream socket within 5 s, or what came.
sub read_n {
    my ($s, $n) = @_;
    my ($buf, $sel) = ('', IO::Select->new($s));
    while (length $buf < $n && $sel->can_read(5)) {
        sysread($s, my $b, $n - length $buf) or last;
        $buf .= $b;
    }
    return $buf;
}

# A session's answers: $n datagrams (undef for each that did not come).
sub answers {
    my ($s, $n) = @_;
    return map { udp_recv($s, 3) // 'none' } 1 .. $n;
}

# ------------------------------------------------------------ through the hops

{
    my @cl = map { udp_client($port{one}) } 1 .. 2;
    for my $round (1 .. 3) {
        send($cl[$_], "c$_-r$round", 0) for 0 .. 1;
    }
    for my $i (0 .. 1) {
        my @got = answers($cl[$i], 3);
        my ($srv) = $got[0] =~ /^([AB]):/;
        is_deeply(\@got, [map { ($srv // '?') . ":c$i-r$_" } 1 .. 3],
            "one cuttle hop: client $i gets its 3 answers, from one server");
        is(udp_recv($cl[$i], 0.3), undef, "one cuttle hop: client $i gets nothing else");
    }
    my @lines = wait_conn($c, 2, listener => 'one', end => 'session timeout', timeout => 5);
    is(scalar @lines, 2, 'both sessions end by their session_timeout');
    ok(wait_log($hop1, qr/conn client=127\.0\.0\.1:\d+ listener=hop1 server=- .*end="done"/,
        count => 2), 'the hop had an association per session, closed with it');
}
{
    my $cl = udp_client($port{two});
    my $big = 'x' x 60000;
    send($cl, 'through two', 0);
    is(udp_recv($cl, 3), 'A:through two', 'two cuttle hops, the second with a password: echoed');
    send($cl, $big, 0);
    my $got = udp_recv($cl, 3) // '';
    is(length $got, 60002, 'a 60,000-byte datagram through two hops and back, whole');
    is($got, "A:$big", '... byte for byte');
    ok(wait_log($hop1, qr/listener=hop1 server=127\.0\.0\.1:$S2 /),
        'hop 2\'s control connection went through hop 1 (CONNECT)');
    ok(wait_log($hop2, qr/conn client=127\.0\.0\.1:\d+ listener=hop2 server=- /),
        'hop 2 had the association');
}
{
    my $cl = udp_client($port{six});
    send($cl, 'over IPv6', 0);
    is(udp_recv($cl, 3), 'A:over IPv6', 'a hop on ::1, for a server on 127.0.0.1: echoed');
    ok(wait_log($hop1, qr/conn client=\[::1\]:\d+ listener=hop1v6 server=- /),
        'the hop had the association over IPv6');
}
{
    my $cl = udp_client($port{dante});
    send($cl, "via dante $_", 0) for 1 .. 3;
    is_deeply([answers($cl, 3)], [map { "A:via dante $_" } 1 .. 3],
        'dante as the hop: 3 datagrams echoed, in order')
        or diag(slurp("$dir/danted.log"));
    my $c2 = udp_client($port{mixed});
    send($c2, 'cuttle then dante', 0);
    is(udp_recv($c2, 3), 'B:cuttle then dante', 'a cuttle hop, then dante: echoed')
        or diag(slurp("$dir/danted.log"));
    my $log = slurp("$dir/danted.log");
    like($log, qr/udp\/udpassociate \[: 127\.0\.0\.1\.\d+ /,
        'as the first hop, dante was named the address the session sends from');
    like($log, qr/udp\/udpassociate \[: 0\.0\.0\.0\.0 /,
        'as the second, all zeros');
}

# ------------------------------------------------------------ a hop of the test's own

{
    my $cl = udp_client($port{fake});
    my $fu = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Proto => 'udp')
        or die "udp: $@";
    send($cl, 'first', 0);
    ok(IO::Select->new($fake)->can_read(5), 'the session connects to the hop');
    my $ctl = $fake->accept;
    is(hexs(read_n($ctl, 3)), '05 01 00', 'greeting: SOCKS 5, no authentication');
    syswrite($ctl, "\x05\x00");
    my $req = read_n($ctl, 10);
    is(hexs(substr($req, 0, 4)), '05 03 00 01', 'UDP ASSOCIATE of an IPv4 address');
    my ($ip, $named) = (inet_ntoa(substr($req, 4, 4)), unpack('n', substr($req, 8, 2)));
    is($ip, '127.0.0.1', 'it names the address the session sends from');
    ok($named > 0, '... and a port');
    syswrite($ctl, "\x05\x00\x00\x01" . inet_aton('127.0.0.1') . pack('n', $fu->sockport));
    ok(IO::Select->new($fu)->can_read(5), 'the datagram comes to BND');
    my $from = recv($fu, my $d, 70000, 0);
    my ($fport) = unpack_sockaddr_in($from);
    is($fport, $named, 'from the port named in the UDP ASSOCIATE');
    is(hexs($d), hexs(udp_hdr('127.0.0.1', $A->{port}) . 'first'),
        'behind one header, that names the server');
    send($fu, udp_hdr('127.0.0.1', $A->{port}) . 'good 1', 0, $from);
    send($fu, udp_hdr('127.0.0.1', $B->{port}) . 'not the server', 0, $from);
    send($fu, "\0\0\x01\x01" . inet_aton('127.0.0.1') . pack('n', $A->{port}) . 'fragment', 0,
        $from);
    send($fu, "\0\x01\0\x01" . inet_aton('127.0.0.1') . pack('n', $A->{port}) . 'rsv', 0, $from);
    send($fu, udp_hdr('127.0.0.1', $A->{port}) . 'good 2', 0, $from);
    is_deeply([answers($cl, 2)], ['good 1', 'good 2'],
        'the client gets the datagrams whose header names the server, unwrapped');
    ok(dropped_is('fake', 'peer', 1), 'a header that names another address: dropped, counted');
    ok(dropped_is('fake', 'fragment', 1), 'a fragment: dropped, counted');
    ok(dropped_is('fake', 'header', 1), 'a malformed header: dropped, counted');
    ok(wait_log($c, qr/listener "fake": a datagram from hop 1 of 1 \(socks5:\/\/127\.0\.0\.1:$F\) of upstream "fake" is dropped: the header does not name the server/),
        'the drop is said, with the hop');
    close($ctl);
    ok(wait_log($c, qr/UDP association through proxies for udp server \Q$A->{addr}\E failed \(hop 1 of 1 \(socks5:\/\/127\.0\.0\.1:$F\): closed the control connection of its association\) while relaying datagrams, client: 127\.0\.0\.1:\d+, listener: fake/),
        'the hop went away: the log names it and why');
    my @l = wait_conn($c, 1, listener => 'fake', end => 'hop closed', timeout => 5);
    is(scalar @l, 1, '... and the session ended with it');
}

# ------------------------------------------------------------ waiting for the hop

{
    my $cl = udp_client($port{gate});
    send($cl, "g$_", 0) for 1 .. 12;
    # The hop has not answered (the test holds its connection unaccepted):
    # 8 wait, the 4 others are dropped.
    ok(dropped_is('gate', 'wait', 4), '4 datagrams beyond the 8 that may wait: dropped, counted');
    ok(IO::Select->new($gate)->can_read(5), 'the session is connected to the hop');
    my $in = $gate->accept;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        # The hop answers now: its bytes are relayed to hop1 and back.
        my $out = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $S1) or _exit(1);
        my $sel = IO::Select->new($in, $out);
        while (my @r = $sel->can_read(30)) {
            for my $s (@r) {
                sysread($s, my $b, 65536) or _exit(0);
                syswrite($s == $in ? $out : $in, $b);
            }
        }
        _exit(0);
    }
    push @KIDS, $pid;
    close($in);
    is_deeply([answers($cl, 8)], [map { "A:g$_" } 1 .. 8],
        'the 8 that waited go once the association is up, in their order');
    is(udp_recv($cl, 0.5), undef, 'and the dropped ones never do');
}

# ------------------------------------------------------------ failing hops

for my $case (
    ['dead', qr/\(hop 1 of 1 \(socks5:\/\/127\.0\.0\.1:$closed\): Connection refused\) while opening the session/,
        'hop failed', 'a hop where nothing listens', $A],
    ['badpw', qr/\(hop 1 of 1 \(socks5:\/\/127\.0\.0\.1:$S2\): user name or password refused\) while opening the session/,
        'hop failed', 'a hop that refuses the password', $B],
    ['mute', qr/\(hop 1 of 1 \(socks5:\/\/127\.0\.0\.1:$M\): did not answer in time\) while opening the session/,
        'hop timeout', 'a hop that does not answer within connect_timeout', $A],
) {
    my ($l, $re, $end, $what, $srv) = @$case;
    my $cl = udp_client($port{$l});
    send($cl, "to $l", 0);
    is(udp_recv($cl, 2), undef, "$what: no answer");
    ok(wait_log($c, qr/UDP association through proxies for udp server \Q$srv->{addr}\E failed $re, client: 127\.0\.0\.1:\d+, listener: $l/),
        "$what: the log names the hop and why");
    my @lines = wait_conn($c, 1, listener => $l, end => $end, timeout => 5);
    is(scalar @lines, 1, "$what: the session ended (\"$end\")");
    ok(dropped_is($l, 'no_server', 1), "$what: the datagram is counted as reaching no server");
}
for my $u (['dead', $A], ['badpw', $B]) {
    my ($name, $srv) = @$u;
    my $labels = "upstream=\"$name\",server=\"$srv->{addr}\"";
    is(sample('cuttle_server_failures_total', $labels), 0,
        "$name: the hop's failure is not the server's");
    is(sample('cuttle_server_up', $labels), 1, "$name: the server stays up (max_fails 1)");
}

# ------------------------------------------------------------ configuration

for my $bad (
    [qq{["socks5://127.0.0.1:1080", "http://127.0.0.1:3128"]}, qr/bad\.yaml:3:38: hop 2 \(http:\/\/127\.0\.0\.1:3128\) of upstream "u" cannot carry the datagrams of udp listener "x": only a SOCKS 5 hop relays UDP/],
    [qq{["socks4://127.0.0.1:1080"]}, qr/bad\.yaml:3:11: hop 1 \(socks4:\/\/127\.0\.0\.1:1080\) of upstream "u"/],
) {
    my ($via, $re) = @$bad;
    my $f = "$dir/bad.yaml";
    write_file($f, "upstreams:\n  u:\n    via: $via\n    servers: [{address: 127.0.0.1:9}]\n"
        . "listeners:\n  - {name: x, listen: \"127.0.0.1:" . free_udp_port()
        . "\", mode: udp, upstream: u}\n");
    my $r = cuttle_run('-t', '-c', $f);
    isnt($r->{status}, 0, "refused: $via");
    like($r->{stderr}, $re, '... at the hop, saying why') or diag($r->{stderr});
}

cuttle_stop($_) for $c, $hop1, $hop2;
log_clean_ok($c, $hop1, $hop2);
done_testing();
