# The admin process and the workers hold only their own descriptors: a
# worker has no admin socket and no other slot's listening socket, the
# admin process no listening socket of a listener.  With user: set, the
# admin process runs as that user, and what it did as root still works:
# killing a client connection (a signal to a worker of the same user)
# and reloading (asked of the master over the admin link), whose result,
# a failure with its first error included, reaches "cuttlectl reload".
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use CuttleTest;

plan skip_all => 'user: needs root to switch users' if $> != 0;
my ($uid, $gid) = ((getpwnam('nobody'))[2], (getgrnam('nogroup'))[2]);
plan skip_all => 'no user nobody or group nogroup on this system'
    unless defined $uid && defined $gid;

my $dir = tmpdir();
# Workers and the admin process, as nobody, reopen the logs in it.
chmod 0711, $dir or die "chmod $dir: $!";
my $H = backend(mode => 'hold', name => 'H');
my ($port, $aport) = (free_port(), free_port());
my $sock = "$dir/admin.sock";
my $token = 'isolation-token-0123456789';
write_file("$dir/token", "$token\n");
chmod 0600, "$dir/token" or die "chmod: $!";

my $yaml = <<"EOF";
user: nobody
group: nogroup
admin: {socket: %TMP%/admin.sock, listen: 127.0.0.1:$aport, token_file: %TMP%/token}
upstreams:
  hold:
    servers:
      - {address: $H->{addr}}
listeners:
  - name: tcpl
    listen: 127.0.0.1:$port
    mode: tcp
    upstream: hold
    access_log: {path: %TMP%/access.log}
EOF
my $c = cuttle_start($yaml, workers => 2);
ok(wait_until(sub { -S $sock }, 5), 'the admin socket exists') or BAIL_OUT('no admin socket');

sub ctl { return cuttlectl_run('-s', $sock, @_) }

# The socket inodes of the unix socket at PATH, or of TCP sockets that
# listen on 127.0.0.1:PORT.
sub unix_inodes {
    my ($path) = @_;
    return map { (split ' ')[6] } grep { / \Q$path\E$/ } split /\n/, slurp('/proc/net/unix');
}

sub tcp_listen_inodes {
    my ($p) = @_;
    my $local = sprintf('0100007F:%04X', $p);
    return map { (split ' ')[9] }
        grep { my @f = split ' '; @f > 9 && $f[1] eq $local && $f[3] eq '0A' }
        split /\n/, slurp('/proc/net/tcp');
}

# fd => target of every descriptor of PID.
sub fds_of {
    my ($pid) = @_;
    my %fd;
    opendir(my $dh, "/proc/$pid/fd") or return {};
    for (grep { /^\d+$/ } readdir $dh) {
        my $t = readlink("/proc/$pid/fd/$_");
        $fd{$_} = $t if defined $t;
    }
    return \%fd;
}

my %admin_ino = map { $_ => 1 } unix_inodes($sock), tcp_listen_inodes($aport);
my %listen_ino = map { $_ => 1 } tcp_listen_inodes($port);
is(scalar keys %admin_ino, 2, 'the admin unix socket and TCP port are found in /proc/net');
is(scalar keys %listen_ino, 2, 'the listener has one socket per worker slot');

# Files a child may hold besides sockets: stdio, logs, the segment, its
# own event loop.
my $allowed = qr{^(?:/dev/null|\Q$dir\E/\S+\.(?:log|out)|/memfd:cuttle-shm.*|anon_inode:\[eventpoll\])$};

sub check_fds {
    my ($what, $pid, $want_sockets) = @_;
    my $fds = fds_of($pid);
    ok(scalar keys %$fds, "$what: /proc/$pid/fd is readable") or return;
    my @sockets = sort map { /^socket:\[(\d+)\]$/ ? $1 : () } values %$fds;
    my @other = sort grep { !/^socket:/ && !/$allowed/ } values %$fds;
    is_deeply(\@other, [], "$what: no descriptor but stdio, logs, the segment and its loop")
        or diag(explain($fds));
    $want_sockets->(\@sockets, $fds);
}

# --- workers: their slot's listening socket, no admin socket
for my $slot (sort keys %{$c->{slots}}) {
    my $w = $c->{slots}{$slot};
    check_fds("worker $slot", $w, sub {
        my ($s, $fds) = @_;
        is(scalar(grep { $admin_ino{$_} } @$s), 0, "worker $slot holds no admin socket")
            or diag(explain($fds));
        is(scalar(@$s), 1, "worker $slot holds one socket")
            or diag(explain($fds));
        ok($listen_ino{$s->[0] // 0}, '... a listening socket of its listener');
    });
}

# --- the admin process: its two sockets and its end of the link, as nobody
sub check_admin {
    my ($when, $not) = @_;
    my $a;
    # After a reload, the previous one answers the request and exits.
    ok(wait_until(sub { $a = admin_pid($c); $a && $a != ($not // 0) }, 5),
        "$when: the admin process runs") or return;
    # Right after its fork it still holds what the master holds, as root:
    # wait until it has made itself what it serves as.
    wait_until(sub {
        my $st = proc_status($a);
        ($st->{Uid} // '') eq join("\t", ($uid) x 4)
            && !grep { /^socket:\[(\d+)\]$/ && $listen_ino{$1} } values %{fds_of($a)};
    }, 5);
    check_fds("admin process $when", $a, sub {
        my ($s, $fds) = @_;
        is(scalar(grep { $listen_ino{$_} } @$s), 0,
            "admin process $when holds no listening socket of a listener")
            or diag(explain($fds));
        is(scalar(grep { $admin_ino{$_} } @$s), 2, '... its two admin sockets');
        is(scalar(@$s), 3, '... and one more: its end of the admin link')
            or diag(explain($fds));
    });
    my $st = proc_status($a);
    is($st->{Uid}, join("\t", ($uid) x 4), "admin process $when: real, effective, saved and fs uid are nobody's");
    is($st->{Gid}, join("\t", ($gid) x 4), "... and its gids nogroup's");
    return $a;
}
my $admin1 = check_admin('at start');

# --- kill, as nobody, of a client connection of a worker
{
    my $s = tcp_connect($port) or BAIL_OUT("connect: $@");
    is(recv_line($s, 3), "H\n", 'a client gets through to H');
    my $client = '127.0.0.1:' . $s->sockport;
    my $e;
    ok(wait_until(sub {
        my $r = ctl('--json', 'conns');
        my $j = eval { decode_json($r->{stdout}) } // {};
        ($e) = grep { $_->{client} eq $client } @{$j->{connections} // []};
        $e;
    }, 5), "conns lists $client");
    my $r = ctl('kill', $e->{id} // 0);
    is($r->{status}, 0, 'kill from the unprivileged admin process exits 0') or diag($r->{stderr});
    ok(recv_until_eof($s, 5)->{closed}, '... and the connection is closed');
}

# --- reload through the API, done by the master
{
    my $r = ctl('reload');
    is($r->{status}, 0, 'cuttlectl reload exits 0') or diag($r->{stderr});
    is($r->{stdout}, "reload done: generation 2\n", '... once generation 2 runs');
    ok(wait_log($c, qr/#m: reload requested through the admin API$/),
        'the master logs where the request came from');
    ok(check_admin('after the reload', $admin1), 'a new admin process answers for generation 2');
}

# --- a failed reload: exit 1, with the first error
{
    write_file($c->{conf}, slurp($c->{conf}) =~ s/upstream: hold$/upstream: nosuch/mr);
    my $r = ctl('reload');
    is($r->{status}, 1, 'cuttlectl reload of an invalid file exits 1') or diag($r->{stdout});
    like($r->{stderr}, qr/^cuttlectl: reload failed: \Q$c->{conf}\E:\d+:\d+: .*nosuch.*; still running generation 2$/,
        '... and prints the first error at its position') or diag($r->{stderr});
    my $j = cuttlectl_run('-s', $sock, '--json', 'reload');
    my $body = eval { decode_json($j->{stdout}) } // {};
    is($j->{status}, 1, 'reload --json exits 1 too');
    ok(defined $body->{ok} && !$body->{ok}, '... and prints {"ok":false,...}') or diag($j->{stdout});
    my $h = curl_run('-X', 'POST', '-w', '\n%{http_code}', '--unix-socket', $sock,
        'http://x/api/v1/reload');
    like($h->{stdout}, qr/\n422\z/, 'POST /api/v1/reload of an invalid file: 422')
        or diag($h->{stdout});
    ok(wait_log($c, qr/\[error\] \d+#m: reload failed; still running generation 2/),
        'the master logs the failure');
}

log_clean_ok();
done_testing();
