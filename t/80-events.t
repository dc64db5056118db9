# Live events: GET /api/v1/events as a WebSocket (a client written out
# here: the handshake, masked frames) and as Server-Sent Events (curl
# -N, cuttlectl events), with 2 workers.  A subscriber sees a client's
# connection open and close, a server go down and up under active
# checks, a server drained and enabled, a worker killed and respawned,
# reloads that work and one that fails; ping is answered with pong; a
# message in fragments sets what it wants; each rule a client's frames
# break closes with its code (1002, 1003, 1007, 1008, 1009), a bad
# handshake gets 400, 403 or 426.  A subscriber that never reads loses
# events, is told how many when it reads again, and slows nobody: the
# other one gets every event.  Past connections_per_second the workers
# count connections instead, and say so once a second.  A reload ends
# the admin process: its subscribers are told, come back after the last
# event they saw, and miss nothing; cuttlectl crosses it by itself.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::UNIX;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX qw(WNOHANG);
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(sleep time);
use CuttleTest;

my $dir = tmpdir();
my $E = backend(mode => 'echo', name => 'E');
my $H = backend(mode => 'hold', name => 'H');
my $tport = free_port();
my $aport = free_port();
my $sock = "$dir/admin.sock";
my $token = 'events-test-token-0123456789';
write_file("$dir/token", "$token\n");
chmod 0600, "$dir/token" or die "chmod: $!";

sub conf {
    my ($cps) = @_;
    return <<"EOF";
admin:
  socket: %TMP%/admin.sock
  listen: 127.0.0.1:$aport
  token_file: %TMP%/token
  events: {connections_per_second: $cps, subscribers: 8, buffer: 16k}
upstreams:
  echo:
    servers:
      - {address: $E->{addr}}
  checked:
    health:
      active: {type: tcp, interval: 200ms, timeout: 150ms, rise: 1, fall: 1}
    servers:
      - {address: $H->{addr}}
listeners:
  - {name: front, listen: 127.0.0.1:$tport, mode: tcp, upstream: echo}
EOF
}

my $c = cuttle_start(conf(10000), workers => 2);
ok(wait_until(sub { -S $sock }, 5), 'the admin socket exists') or BAIL_OUT('no admin socket');

my @BG;    # cuttlectl processes running beside the test
END { kill 'TERM', grep { $_ && kill 0, $_ } @BG }

# ---------------------------------------------------------------------
# A WebSocket client

sub unix_connect {
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock) or return undef;
    $s->blocking(0);
    ${*$s}{ct_buf} = '';
    return $s;
}

# ws_request($s, path =>, key =>, version =>, upgrade =>, host =>,
# http10 => 1, headers => [...]): the opening handshake; the answer's head.
sub ws_request {
    my ($s, %o) = @_;
    my $key = $o{key} // encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
    my @h = ('Host: ' . ($o{host} // 'localhost'), 'Upgrade: ' . ($o{upgrade} // 'websocket'),
        'Connection: Upgrade');
    push @h, "Sec-WebSocket-Key: $key" if length $key;
    push @h, 'Sec-WebSocket-Version: ' . ($o{version} // 13);
    push @h, @{$o{headers} // []};
    send_all($s, 'GET ' . ($o{path} // '/api/v1/events') . ' HTTP/' . ($o{http10} ? '1.0' : '1.1')
        . "\r\n" . join('', map { "$_\r\n" } @h) . "\r\n") or return { error => "send: $!" };
    my $r = http_recv($s, timeout => 5);
    $r->{key} = $key;
    return $r;
}

# A frame as the server sent it: {op, fin, masked, payload}, or undef
# when none came whole within $timeout s.
sub ws_frame {
    my ($s, $timeout) = @_;
    $timeout //= 5;
    my $h = recv_bytes($s, 2, $timeout);
    return undef if length $h < 2;
    my ($b0, $b1) = unpack('CC', $h);
    my $len = $b1 & 0x7f;
    $len = unpack('n', recv_bytes($s, 2, $timeout)) if $len == 126;
    $len = unpack('Q>', recv_bytes($s, 8, $timeout)) if $len == 127;
    my $p = $len ? recv_bytes($s, $len, $timeout) : '';
    return undef if length $p < $len;
    return { op => $b0 & 15, fin => $b0 >> 7, rsv => ($b0 >> 4) & 7, masked => $b1 >> 7,
        payload => $p };
}

# Sends a frame, masked unless mask => 0; len => N announces N bytes
# whatever the payload; rsv => bits.
sub ws_send {
    my ($s, $op, $payload, %o) = @_;
    my $masked = $o{mask} // 1;
    my $len = $o{len} // length $payload;
    my $h = pack('C', (($o{fin} // 1) ? 0x80 : 0) | (($o{rsv} // 0) << 4) | $op);
    my $m = $masked ? 0x80 : 0;
    $h .= $len < 126 ? pack('C', $m | $len) : $len < 65536 ? pack('Cn', $m | 126, $len)
        : pack('CQ>', $m | 127, $len);
    if ($masked) {
        my $key = join '', map { chr int rand 256 } 1 .. 4;
        $payload = $payload ^ substr($key x (int(length($payload) / 4) + 1), 0, length $payload);
        $h .= $key;
    }
    return send_all($s, $h . $payload);
}

# Reads frames until a text frame whose JSON satisfies $want (any, by
# default): returns that JSON, and in list context the frames before it
# ({json} for text ones).  undef on a close frame ({close} in the list)
# or after $timeout s.
sub ws_until {
    my ($s, $want, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    my @seen;
    while (time < $deadline) {
        my $f = ws_frame($s, $deadline - time) or last;
        if ($f->{op} == 8) {
            push @seen, { close => length $f->{payload} >= 2 ? unpack('n', $f->{payload}) : 0,
                reason => substr($f->{payload}, 2) };
            last;
        }
        if ($f->{op} == 1) {
            my $j = eval { decode_json($f->{payload}) };
            return wantarray ? ($j, \@seen) : $j if $j && (!$want || $want->($j));
            push @seen, { %$f, json => $j };
            next;
        }
        push @seen, $f;
    }
    return wantarray ? (undef, \@seen) : undef;
}

# The close code a subscriber gets (events before it skipped), or 'none'.
sub ws_close_code {
    my ($s, $timeout) = @_;
    my (undef, $seen) = ws_until($s, sub { 0 }, $timeout);
    my ($cl) = grep { exists $_->{close} } @$seen;
    return $cl ? $cl->{close} : 'none';
}

# A subscriber on the unix socket (or TCP with the token): (socket,
# answer, hello), or (undef, answer) when the handshake failed.
sub ws_open {
    my (%o) = @_;
    my $s = $o{tcp} ? tcp_connect($aport) : unix_connect();
    return (undef, { error => "connect: $!" }) unless $s;
    push @{$o{headers}}, "Authorization: Bearer $token" if $o{tcp} && !$o{no_token};
    my $r = ws_request($s, %o);
    return (undef, $r) unless ($r->{status} // 0) == 101;
    my $hello = ws_until($s, undef, 5);
    return ($s, $r, $hello);
}

# A client of listener front: sends $data (if any), reads it back, closes.
# Returns its address as the events show it.
sub client {
    my ($data) = @_;
    my $s = tcp_connect($tport) or die "connect: $@";
    my $addr = '127.0.0.1:' . $s->sockport;
    is(exchange($s, $data, 5), $data, "$addr: echoed") if defined $data;
    close $s;
    return $addr;
}

sub ctl { return cuttlectl_run('-s', $sock, @_) }

# cuttlectl ARGS in the background, its output to $out.
sub ctl_bg {
    my ($out, @args) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', $out) or POSIX::_exit(126);
        open(STDERR, '>', "$out.err") or POSIX::_exit(126);
        exec(cuttlectl_bin(), '-s', $sock, @args) or POSIX::_exit(127);
    }
    push @BG, $pid;
    return $pid;
}

# ---------------------------------------------------------------------
# The handshake, and a first event

my ($ws, $r, $hello) = ws_open();
is($r->{status}, 101, 'an upgrade of GET /api/v1/events: 101') or diag(explain($r));
is($r->{h}{'sec-websocket-accept'}, ws_accept($r->{key} // ''),
    '... with the Sec-WebSocket-Accept of the key');
is(lc($r->{h}{upgrade} // ''), 'websocket', '... Upgrade: websocket');
is($hello->{kind}, 'hello', 'the first message is the hello');
like($hello->{seq} // '', qr/^\d+$/, '... with the seq it starts after');
BAIL_OUT('no WebSocket subscriber') unless $ws;

# cuttlectl follows from here on, until cuttle stops.
my $ctl_out = "$dir/ctl-events.out";
my $ctl_pid = ctl_bg($ctl_out, 'events');
my $ctl_json = "$dir/ctl-events.json";
my $ctl_json_pid = ctl_bg($ctl_json, '--json', 'events', 'conn_open', 'reload');
sleep 0.5;

my $client = client("hello\n");
{
    my $open = ws_until($ws, sub { $_[0]{kind} eq 'conn_open' && $_[0]{client} eq $client });
    ok($open, "conn_open of $client") or diag('none');
    $open //= {};
    is($open->{listener}, 'front', '... listener front');
    ok(defined $open->{worker} && $open->{worker} =~ /^[01]$/, '... a worker slot');
    like($open->{id} // '', qr/^[1-9]\d*$/, '... the connection id');
    like($open->{time} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, '... its time');
    my $close = ws_until($ws, sub { $_[0]{kind} eq 'conn_close' && $_[0]{client} eq $client });
    ok($close, "conn_close of $client") or diag('none');
    $close //= {};
    is_deeply([@$close{qw(listener from_client to_client server upstream id)}],
        ['front', 6, 6, $E->{addr}, 'echo', $open->{id}],
        '... with its listener, bytes, server, upstream and id');
    ok(defined $close->{duration_ms} && defined $close->{end}, '... its duration and end');
    ok($close->{seq} > $open->{seq} && $open->{seq} > $hello->{seq}, 'seqs grow');
}

# ---------------------------------------------------------------------
# Ping, and a filter sent in fragments

ws_send($ws, 9, 'are you there');
{
    my (undef, $seen) = ws_until($ws, sub { 0 }, 1);
    my ($pong) = grep { ($_->{op} // -1) == 10 } @$seen;
    ok($pong, 'a ping is answered with a pong');
    is($pong && $pong->{payload}, 'are you there', '... carrying its payload');
    ok($pong && !$pong->{masked}, '... unmasked');
}

ws_send($ws, 1, '{"kinds":', fin => 0);
ws_send($ws, 9, 'p');
ws_send($ws, 0, '["admin_state"', fin => 0);
ws_send($ws, 0, ']}');
ws_until($ws, sub { 0 }, 0.5);
client("x\n");
is(ctl('drain', 'checked', $H->{addr})->{status}, 0, 'drain of a server');
{
    my ($ev, $seen) = ws_until($ws, sub { 1 });
    is($ev && $ev->{kind}, 'admin_state', 'a filter in three fragments (a ping among them): '
        . 'the next event is the admin state, not the connection before it')
        or diag(explain($ev, $seen));
    is_deeply([@{$ev // {}}{qw(upstream server admin)}], ['checked', $H->{addr}, 'drain'],
        '... of the server drained');
}
ctl('enable', 'checked', $H->{addr});
ok(ws_until($ws, sub { $_[0]{kind} eq 'admin_state' && $_[0]{admin} eq 'enabled' }),
    'enable: admin_state enabled');
ws_send($ws, 1, '{"kinds":[]}');

# ---------------------------------------------------------------------
# Health, and a worker killed

backend_stop($H);
{
    my $ev = ws_until($ws, sub { $_[0]{kind} eq 'health' && $_[0]{health} eq 'down' }, 5);
    ok($ev, 'the checked server stopped: a health event, down');
    is_deeply([@{$ev // {}}{qw(upstream server check checks)}], ['checked', $H->{addr},
        'active', 1], '... of the server, by active checks, after 1 check');
    ok(length($ev && $ev->{reason} // ''), '... with the reason: ' . ($ev && $ev->{reason} // ''));
}
backend_start($H);
ok(ws_until($ws, sub { $_[0]{kind} eq 'health' && $_[0]{health} eq 'up' }, 5),
    'and back: health up');

{
    my $victim = $c->{slots}{0};
    my $mark = log_mark($c);
    expect_killed($victim);
    kill 'KILL', $victim;
    my $ev = ws_until($ws, sub { $_[0]{kind} eq 'worker_exit' && $_[0]{pid} == $victim }, 5);
    ok($ev, "worker 0 (pid $victim) killed: worker_exit");
    is_deeply([@{$ev // {}}{qw(worker signal status respawn core_dumped generation)}],
        [0, 9, undef, JSON::PP::true, JSON::PP::false, 1],
        '... slot 0, signal 9, no status, respawned, generation 1');
    ok(wait_log($c, qr/worker 0 ready/, since => $mark), 'the worker is back');
}

# ---------------------------------------------------------------------
# Server-Sent Events

{
    my $from = $hello->{seq};
    my $addr = client("sse\n");
    my $r = curl_run('-N', '--max-time', '2', '-D', "$dir/sse.head", '--unix-socket', $sock,
        "http://x/api/v1/events?since=$from&kinds=conn_open,conn_close");
    is($r->{status}, 28, 'curl -N follows the stream until its --max-time');
    like(slurp("$dir/sse.head"), qr{^HTTP/1\.1 200 .*^Content-Type: text/event-stream\r$}ms,
        '... a 200 of text/event-stream');
    my @data = map { decode_json($_) } $r->{stdout} =~ /^data: (\{.*\})$/mg;
    my @ids = $r->{stdout} =~ /^id: (\d+)$/mg;
    is($data[0]{kind}, 'hello', '... the hello first');
    is($data[0]{seq}, $from, "... which starts after since=$from");
    my @mine = grep { ($_->{client} // '') eq $addr } @data;
    is_deeply([map { $_->{kind} } @mine], ['conn_open', 'conn_close'],
        "... the connection of $addr, from the ring, after since");
    ok(!grep({ $_->{kind} !~ /^(?:hello|conn_open|conn_close)$/ } @data),
        '... and only the kinds asked for');
    is(scalar @ids, scalar @data, '... each with an id: line');
    is_deeply([grep { $_->{seq} } @data[1 .. $#data]], [@data[1 .. $#data]], '... and a seq');

    $r = curl_run('-N', '--max-time', '1', '-H', "Last-Event-ID: $from", '--unix-socket', $sock,
        'http://x/api/v1/events?kinds=conn_open');
    my ($open) = grep { ($_->{client} // '') eq $addr } map { decode_json($_) }
        $r->{stdout} =~ /^data: (\{.*\})$/mg;
    ok($open && $open->{kind} eq 'conn_open', 'Last-Event-ID resumes as since does');
}

# ---------------------------------------------------------------------
# Bad handshakes and bad frames

{
    my $s = unix_connect();
    my $r = ws_request($s, version => 12);
    is($r->{status}, 426, 'Sec-WebSocket-Version: 12: 426');
    is($r->{h}{'sec-websocket-version'}, '13', '... with Sec-WebSocket-Version: 13');
    for my $case (['no key', key => ''], ['a short key', key => 'dGhlIHNhbXBsZQ=='],
            ['Upgrade: h2c', upgrade => 'h2c'], ['HTTP/1.0', http10 => 1],
            ['an unknown kind', path => '/api/v1/events?kinds=conn_open,nope'],
            ['since=abc', path => '/api/v1/events?since=abc']) {
        my ($name, %o) = @$case;
        $s = unix_connect();
        is(ws_request($s, %o)->{status}, 400, "$name: 400");
    }
    my $p = curl_run('-X', 'POST', '-w', '%{http_code}', '-o', '/dev/null', '--unix-socket', $sock,
        'http://x/api/v1/events');
    is($p->{stdout}, '405', 'POST /api/v1/events: 405');
}

# TCP: the token, and the Origin of a browser.
{
    my (undef, $r) = ws_open(tcp => 1, no_token => 1);
    is($r->{status}, 401, 'over TCP without the token: 401');
    (undef, $r) = ws_open(tcp => 1, host => "127.0.0.1:$aport",
        headers => ['Origin: http://evil.example']);
    is($r->{status}, 403, 'over TCP with the token and the Origin of another site: 403');
    my ($s, $ok, $h) = ws_open(tcp => 1, host => "127.0.0.1:$aport",
        headers => ["Origin: http://127.0.0.1:$aport"]);
    is($ok->{status}, 101, 'with its own Origin: 101');
    is($h && $h->{kind}, 'hello', '... and the hello');
    close $s if $s;
    ($s, $ok) = ws_open(tcp => 1);
    is($ok->{status}, 101, 'with the token and no Origin (not a browser): 101');
    close $s if $s;
}

for my $case (
        ['an unmasked frame', 1002, sub { ws_send($_[0], 1, 'hi', mask => 0) }],
        ['a reserved bit', 1002, sub { ws_send($_[0], 1, 'hi', rsv => 4) }],
        ['opcode 3', 1002, sub { ws_send($_[0], 3, 'hi') }],
        ['a continuation first', 1002, sub { ws_send($_[0], 0, 'hi') }],
        ['a fragmented ping', 1002, sub { ws_send($_[0], 9, 'hi', fin => 0) }],
        ['a frame of 1 MiB announced', 1009,
            sub { ws_send($_[0], 2, 'x' x 100, len => 1 << 20) }],
        ['a message of 5000 bytes in pieces', 1009, sub {
            ws_send($_[0], 1, 'x' x 3000, fin => 0);
            ws_send($_[0], 0, 'x' x 2000) }],
        ['text that is not UTF-8', 1007, sub { ws_send($_[0], 1, "\xc0\x80") }],
        ['text cut inside a character', 1007, sub { ws_send($_[0], 1, "ok \xe2\x82") }],
        ['a binary message', 1003, sub { ws_send($_[0], 2, "\x01\x02") }],
        ['a message that is no filter', 1008, sub { ws_send($_[0], 1, '{"kinds":["nope"]}') }],
        ['a close of its own', 1000, sub { ws_send($_[0], 8, pack('n', 1000) . 'bye') }]) {
    my ($name, $code, $send) = @$case;
    my ($s) = ws_open();
    ok($s, "$name: subscribed") or next;
    $send->($s);
    is(ws_close_code($s, 5), $code, "$name: close $code");
    my $e = recv_until_eof($s, 3);
    ok($e->{closed}, '... and the connection ends');
}

# ---------------------------------------------------------------------
# A subscriber that never reads, beside one that does (cuttlectl)

{
    my ($slow) = ws_open();
    ok($slow, 'a subscriber that will not read');
    my $fast_out = "$dir/ctl-fast.out";
    my $fast = ctl_bg($fast_out, '--json', 'events', 'conn_open', 'conn_close');
    sleep 0.5;
    my $n = 300;
    my %clients;
    for (1 .. $n) {
        my $s = tcp_connect($tport) or next;
        $clients{'127.0.0.1:' . $s->sockport} = 1;
        close $s;
        sleep 0.004;
    }
    is(scalar keys %clients, $n, "$n clients connected and left");
    my %got;
    ok(wait_until(sub {
        %got = ();
        for (map { eval { decode_json($_) } } split /\n/, slurp($fast_out)) {
            $got{"$_->{kind} $_->{client}"} = 1 if $_ && $clients{$_->{client} // ''};
        }
        keys %got >= 2 * $n;
    }, 10), "the other subscriber (cuttlectl) got all " . 2 * $n . ' events')
        or diag(scalar(keys %got) . ' of them');
    ok(!grep(/"kind":"lost"/, split /\n/, slurp($fast_out)), '... and lost none');
    kill 'TERM', $fast;
    waitpid($fast, 0);

    my ($lost, $events) = (0, 0);
    my $deadline = time + 10;
    while (time < $deadline && $events + $lost < 2 * $n) {
        my $f = ws_frame($slow, 2) or last;
        next unless $f->{op} == 1;
        my $j = decode_json($f->{payload});
        if ($j->{kind} eq 'lost') {
            $lost += $j->{count};
        } elsif ($clients{$j->{client} // ''}) {
            $events++;
        }
    }
    ok($lost > 0, "the subscriber that did not read lost events, and is told when it reads: $lost");
    ok($events > 0, "... it got $events of them");
    is($events + $lost, 2 * $n, '... and the events it got and those it lost are all of them');
    my $more = client();
    ok(ws_until($slow, sub { $_[0]{kind} eq 'conn_open' && $_[0]{client} eq $more }, 5),
        '... and it gets the events that come next');
    my $m = curl_run('--unix-socket', $sock, 'http://x/metrics')->{stdout};
    my ($mlost) = $m =~ /^cuttle_events_lost_total (\d+)$/m;
    ok(($mlost // 0) >= $lost, "cuttle_events_lost_total counts them ($mlost)");
    like($m, qr/^cuttle_events_total [1-9]\d*$/m, 'cuttle_events_total counts the events');
    close $slow;
}

# ---------------------------------------------------------------------
# The subscribers' bound

{
    my $count = sub {
        my ($n) = curl_run('--unix-socket', $sock, 'http://x/metrics')->{stdout}
            =~ /^cuttle_events_subscribers (\d+)$/m;
        return $n // -1;
    };
    ok(wait_until(sub { $count->() == 3 }, 5), 'cuttle_events_subscribers: 3 now (ws, cuttlectl x2)')
        or diag($count->());
    my @subs;
    for (1 .. 5) {
        my ($s) = ws_open();
        push @subs, $s if $s;
    }
    is(scalar @subs, 5, 'up to subscribers: 8');
    my (undef, $r) = ws_open();
    is($r->{status}, 503, 'one more: 503');
    close $_ for @subs;
}

# ---------------------------------------------------------------------
# Reloads

my $last = $hello->{seq};
{
    # It read nothing since the flood: what waits for it is read first, so
    # that the reload's few events find room and go out at once.
    my (undef, $backlog) = ws_until($ws, sub { 0 }, 1);
    ok(grep({ ($_->{json}{kind} // '') eq 'lost' } @$backlog),
        'the first subscriber did not read during the flood either: told it lost events');
    my $rl = cuttle_reload($c, conf(10));
    ok($rl->{ok}, 'a reload to connections_per_second: 10') or diag(explain($rl));
    my ($ev, $seen) = ws_until($ws, sub { $_[0]{kind} eq 'reload' }, 5);
    is_deeply([@{$ev // {}}{qw(ok generation)}], [JSON::PP::true, 2],
        'the subscriber sees the reload: ok, generation 2');
    my ($restart, $seen2) = ws_until($ws, sub { $_[0]{kind} eq 'restart' }, 5);
    ok($restart, '... then the restart of the admin process');
    my $code = ws_close_code($ws, 5);
    is($code, 1012, '... and a close 1012 (service restart)');
    close $ws;
    $last = $restart->{seq} // $ev->{seq};
    ($ws, my $r2, my $h2) = ws_open(path => "/api/v1/events?since=$last");
    is($r2->{status}, 101, "back with since=$last");
    is($h2 && $h2->{seq}, $last, '... the hello says where it starts');
    # The old workers exit around the restart: before it, or after, from the ring.
    my @exits = grep { $_->{kind} eq 'worker_exit' && $_->{generation} == 1 }
        map { $_->{json} // () } @$seen, @$seen2;
    wait_until(sub {
        my $j = ws_until($ws, sub { $_[0]{kind} eq 'worker_exit' }, 0.5);
        push @exits, $j if $j && $j->{generation} == 1;
        @exits >= 2;
    }, 10);
    is_deeply([sort map { $_->{worker} } @exits], [0, 1],
        '... both old workers exit once each, none missed nor repeated across the restart')
        or diag(explain(\@exits));
    ok(!grep({ $_->{respawn} || $_->{status} != 0 } @exits), '... status 0, not respawned');
}
{
    write_file($c->{conf}, "workers: [\n");
    my $rl = cuttle_reload($c, undef);
    ok($rl->{failed}, 'a reload of a broken file fails');
    my $ev = ws_until($ws, sub { $_[0]{kind} eq 'reload' }, 5);
    is($ev && $ev->{ok}, JSON::PP::false, '... its event: ok false');
    is($ev && $ev->{generation}, 2, '... generation 2 still');
    like($ev && $ev->{error} // '', qr/\S/, '... with the error: ' . ($ev && $ev->{error} // ''));
}

# ---------------------------------------------------------------------
# Past connections_per_second: counted, once a second

{
    ws_send($ws, 1, '{"kinds":["conn_open","conn_close","connections"]}');
    ws_until($ws, sub { 0 }, 0.3);
    my $n = 100;
    my %clients;
    for (1 .. $n) {
        my $s = tcp_connect($tport) or next;
        $clients{'127.0.0.1:' . $s->sockport} = 1;
        close $s;
    }
    my ($opened, $closed, $single_open, $single_close, $counts) = (0, 0, 0, 0, 0);
    my $deadline = time + 5;
    while (time < $deadline && ($opened + $single_open < $n || $closed + $single_close < $n)) {
        my $j = ws_until($ws, undef, 1) or next;
        if ($j->{kind} eq 'connections') {
            is($j->{listener}, 'front', 'a connections event of front') unless $counts++;
            $opened += $j->{opened};
            $closed += $j->{closed};
        } elsif ($clients{$j->{client} // ''}) {
            $single_open++ if $j->{kind} eq 'conn_open';
            $single_close++ if $j->{kind} eq 'conn_close';
        }
    }
    ok($counts > 0, "$n connections at once: $counts connections events");
    ok($single_open + $single_close < $n,
        "... fewer events one by one than connections ($single_open + $single_close)");
    is($opened + $single_open, $n, "... opened: $single_open one by one, $opened counted");
    is($closed + $single_close, $n, "... closed: $single_close one by one, $closed counted");
}

# ---------------------------------------------------------------------
# cuttlectl events, and the end

ok(wait_until(sub { slurp($ctl_out) =~ /^\S+Z conn_open listener=front client=\Q$client\E id=\d+ worker=\d pid=\d+$/m }, 3),
    "cuttlectl events printed the conn_open of $client") or diag(slurp($ctl_out));
like(slurp($ctl_out), qr/^\S+Z reload ok=true generation=2$/m, '... the reload');
like(slurp($ctl_out), qr/^\S+Z worker_exit worker=0 pid=\d+ generation=1 signal=9 core_dumped=false respawn=true lived_ms=\d+$/m,
    '... the worker killed');
like(slurp($ctl_out), qr/^\S+Z health upstream=checked server=\Q$H->{addr}\E health=down check=active reason="[^"]+" checks=1$/m,
    '... the server down');
like(slurp($ctl_out), qr/^\S+Z reload ok=false generation=2 error=/m,
    '... the failed reload, after the restart of the admin process');
{
    my @j = map { decode_json($_) } split /\n/, slurp($ctl_json);
    ok((grep { $_->{kind} eq 'conn_open' && $_->{client} eq $client } @j),
        'cuttlectl --json events conn_open reload: the JSON of the conn_open');
    ok(!grep({ $_->{kind} !~ /^(?:conn_open|reload)$/ } @j), '... and only those kinds');
    is(scalar(grep { $_->{kind} eq 'reload' } @j), 2, '... both reloads');
}
is(ctl('events', 'nope')->{status}, 2, 'cuttlectl events nope: usage, exit 2');

cuttle_stop($c);
{
    my $end = ws_until($ws, sub { $_[0]{kind} eq 'shutdown' }, 5);
    ok($end, 'at the end the subscriber is told: shutdown');
    is(ws_close_code($ws, 5), 1001, '... and closed with 1001 (going away)');
    my %st;
    ok(wait_until(sub {
        for my $p ($ctl_pid, $ctl_json_pid) {
            $st{$p} = $? >> 8 if !exists $st{$p} && waitpid($p, WNOHANG) == $p;
        }
        keys %st == 2;
    }, 5), 'cuttlectl events ends with cuttle');
    is_deeply([@st{$ctl_pid, $ctl_json_pid}], [0, 0], '... exit status 0')
        or diag(slurp("$ctl_out.err"));
    @BG = ();
}

log_clean_ok();
done_testing();
