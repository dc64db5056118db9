# Logs: per-listener access logs in text and JSON, reopening every log
# file on request (the rotated files stop growing, new ones are created
# and written), and an error log sent to syslog over a unix datagram
# socket with RFC 3164 framing and the daemon facility's priorities.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use JSON::PP qw(decode_json);
use Socket qw(AF_UNIX SOCK_DGRAM SHUT_WR pack_sockaddr_un);
use Time::HiRes qw(time);
use Time::Local qw(timegm);
use CuttleTest;

my $dir = tmpdir();
my $E = backend(mode => 'echo', name => 'E');
my %port = map { $_ => free_port() } qw(text json);
my %alog = (text => "$dir/access-text.log", json => "$dir/access-json.log");

# Seconds since the epoch of "2026-11-23T10:49:26+00:00", or undef.
sub iso_epoch {
    my ($s) = @_;
    my @f = $s =~ /\A(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)([+-])(\d\d):(\d\d)\z/
        or return undef;
    my $off = ($f[7] * 3600 + $f[8] * 60) * ($f[6] eq '+' ? 1 : -1);
    return timegm($f[5], $f[4], $f[3], $f[2], $f[1] - 1, $f[0]) - $off;
}

# One echo exchange of $data through $port, closed by a half-close;
# returns the client port.
sub one_conn {
    my ($port, $data) = @_;
    my $s = tcp_connect($port) or die "connect: $@";
    my $cport = $s->sockport;
    is(exchange($s, $data, 3), $data, "echo through port $port");
    shutdown($s, SHUT_WR);
    recv_until_eof($s, 3);
    close $s;
    return $cport;
}

# Waits (5 s) for the line of $file that contains $needle.
sub wait_line {
    my ($file, $needle) = @_;
    my $l;
    wait_until(sub {
        ($l) = grep { index($_, $needle) >= 0 } split /\n/, slurp($file);
        $l;
    }, 5);
    return $l;
}

my $c = cuttle_start(<<"EOF", workers => 2);
pid_file: %PIDFILE%
upstreams:
  u:
    servers:
      - {address: $E->{addr}}
listeners:
  - name: plain
    listen: 127.0.0.1:$port{text}
    mode: tcp
    upstream: u
    access_log: {path: $alog{text}, format: text}
  - name: structured
    listen: 127.0.0.1:$port{json}
    mode: tcp
    upstream: u
    access_log: {path: $alog{json}, format: json}
EOF

# --- text access log.
{
    my $cport = one_conn($port{text}, "hello\n");
    my $l = wait_line($alog{text}, "client=127.0.0.1:$cport ");
    ok($l, 'text access log: a line for the connection') or diag(slurp($alog{text}));
    $l //= '';
    my ($ts, $t) = $l =~ m!\A(\S+)\ client=127\.0\.0\.1:$cport\ listener=plain
        \ server=\Q$E->{addr}\E\ from_client=6\ to_client=6
        \ time=(\d+\.\d{3})s\ end="done"\z!x;
    ok(defined $ts, 'text access log: the documented fields and values') or diag($l);
    my $epoch = iso_epoch($ts // '');
    ok(defined $epoch && abs($epoch - time) < 60,
        'text access log: an ISO 8601 time with offset, close to now') or diag($l);
    ok(!(grep { /listener=structured/ } split /\n/, slurp($alog{text})),
        'text access log: only its own listener');
}

# --- JSON access log.
{
    my $cport = one_conn($port{json}, "hello json\n");
    my $l = wait_line($alog{json}, qq("client":"127.0.0.1:$cport"));
    ok($l, 'JSON access log: a line for the connection') or diag(slurp($alog{json}));
    my $j = eval { decode_json($l // '') };
    ok(ref $j eq 'HASH', 'JSON access log: the line is a JSON object') or diag($@);
    $j = {} unless ref $j eq 'HASH';
    is_deeply([sort keys %$j],
        [qw(client end from_client listener server time time_ms to_client)],
        'JSON access log: the documented keys');
    is_deeply({ map { $_ => $j->{$_} } qw(client listener server from_client to_client end) },
        { client => "127.0.0.1:$cport", listener => 'structured', server => $E->{addr},
          from_client => 11, to_client => 11, end => 'done' },
        'JSON access log: values');
    like($l // '', qr/"from_client":11\b.*"to_client":11\b/,
        'JSON access log: byte counts are numbers, not strings');
    like($j->{time_ms} // '', qr/\A\d+\z/, 'JSON access log: time_ms is an integer');
    my $epoch = iso_epoch($j->{time} // '');
    ok(defined $epoch && abs($epoch - time) < 60,
        'JSON access log: an ISO 8601 time with offset, close to now');
}

# --- reopen: rotate every file away, ask for a reopen, and see the new
# files created and written while the rotated ones stop growing.
{
    my %old = (error => $c->{log}, %alog);
    rename($_, "$_.1") or die "rename $_: $!" for values %old;
    my @pids = ($c->{pid}, values %{$c->{slots}});
    my $r = cuttle_run('-s', 'reopen', '-c', $c->{conf});
    is($r->{status}, 0, '-s reopen exits 0') or diag($r->{stderr});
    my $both = sub { slurp("$c->{log}.1") . slurp($c->{log}) };
    my $all = wait_until(sub {
        my $t = $both->();
        !grep { $t !~ /\[notice\] $_#\w+: reopening logs$/m } @pids;
    }, 5);
    ok($all, 'the master and each worker log "reopening logs"');
    ok(-e $c->{log}, 'a new error log is created');
    my %size = map { $_ => -s "$old{$_}.1" } keys %old;

    my $tport = one_conn($port{text}, "after\n");
    my $jport = one_conn($port{json}, "after json\n");
    ok(wait_line($alog{text}, "client=127.0.0.1:$tport "),
        'the new text access log gets the new line');
    ok(wait_line($alog{json}, qq("client":"127.0.0.1:$jport")),
        'the new JSON access log gets the new line');
    ok(wait_conn($c, 2, client => qr/^127\.0\.0\.1:(?:$tport|$jport)$/),
        'the new error log gets the conn lines of the workers');
    my %now = map { $_ => -s "$old{$_}.1" } keys %old;
    is_deeply(\%now, \%size, 'the rotated files did not grow');
    ok(!(grep { /client=127\.0\.0\.1:(?:$tport|$jport)\b/ }
        split /\n/, slurp("$alog{text}.1") . slurp("$c->{log}.1")),
        'no new connection is logged in a rotated file');
}

cuttle_stop($c);

# --- syslog: a datagram socket bound by the test.
{
    my $path = "$dir/syslog.sock";
    socket(my $sock, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
    bind($sock, pack_sockaddr_un($path)) or die "bind $path: $!";
    my $sel = IO::Select->new($sock);
    my @got;
    my $recv = sub {
        while ($sel->can_read(0)) {
            defined recv($sock, my $d, 8192, 0) or last;
            push @got, $d;
        }
    };
    my $port = free_port();
    my $dport = free_port();
    my $dead = free_port();      # nothing listens there
    my $yaml = <<"EOF";
error_log: {path: "syslog:$path", level: info}
upstreams:
  u:
    servers:
      - {address: $E->{addr}}
  dead:
    servers:
      - {address: 127.0.0.1:$dead}
listeners:
  - {name: app, listen: 127.0.0.1:$port, mode: tcp, upstream: u}
  - {name: dead, listen: 127.0.0.1:$dport, mode: tcp, upstream: dead}
EOF
    my $s = cuttle_start($yaml, workers => 2, ready => sub {
        $recv->();
        2 == grep { /: \[notice\] .*worker [01] ready\b/ } @got;
    });
    my $m = $s->{pid};
    ok((grep { /\A<29>\w{3} [ \d]\d \d\d:\d\d:\d\d cuttle\[$m\]: \[notice\] .*cuttle \d+\.\d+\.\d+ started, 2 workers/ } @got),
        'syslog: "<29>Mmm dd hh:mm:ss cuttle[MASTER]: [notice] ... started"');
    my @ready = grep { /\A<29>\w{3} [ \d]\d \d\d:\d\d:\d\d cuttle\[(\d+)\]: \[notice\] .*worker [01] ready\b/ } @got;
    is(scalar @ready, 2, 'syslog: the two "worker N ready" notices, with PRI 29');
    my %kids = map { $_ => 1 } proc_children($m);
    ok(2 == grep({ /cuttle\[(\d+)\]/ && $kids{$1} } @ready),
        'syslog: ... each under the pid of a worker') or diag(join "\n", @ready);

    my $cport = one_conn($port, "to syslog\n");
    fetch_name($dport);
    wait_until(sub {
        $recv->();
        (grep { /\A<30>.*\[info\] .*conn client=127\.0\.0\.1:$cport / } @got)
            && (grep { /\A<28>.*\[warn\] / } @got);
    }, 5);
    ok((grep { /\A<30>\w{3} [ \d]\d \d\d:\d\d:\d\d cuttle\[\d+\]: \[info\] .*conn client=127\.0\.0\.1:$cport / } @got),
        'syslog: the conn line, at info: PRI 30');
    ok((grep { /\A<28>\w{3} [ \d]\d \d\d:\d\d:\d\d cuttle\[\d+\]: \[warn\] .*connect\(\) to 127\.0\.0\.1:$dead failed/ } @got),
        'syslog: the failed connect, at warn: PRI 28');
    my %sev = (debug => 7, info => 6, notice => 5, warn => 4, error => 3, alert => 1);
    my @bad = grep {
        !/\A<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d cuttle\[\d+\]: \[(\w+)\] \S/
            || !defined $sev{$2} || $1 != 24 + $sev{$2}
    } @got;
    is_deeply(\@bad, [], 'syslog: every datagram is framed, its PRI matching its level');
    cuttle_stop($s);
    close $sock;
}

log_clean_ok();
done_testing();
