# Reloads under load lose nothing.  Forked clients keep cuttle busy: four
# make short connections in a loop (a random line, its echo, close), two
# make long paced transfers (2 MiB each, half-close, MD5 compared).
# Meanwhile the test reloads the master 24 times, 3 of them changing the
# number of workers and half of them adding or removing a server, with a
# binary upgrade (SIGUSR2) in the middle, after which the new master (found
# through pid_file) gets the remaining reloads.  Every failure a client
# sees is recorded; there must be none.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::MD5 qw(md5_hex);
use IO::Select;
use POSIX qw(WNOHANG _exit);
use Socket qw(SHUT_WR);
use Time::HiRes qw(time sleep);
use CuttleTest;

my $dir = tmpdir();
my $E1 = backend(mode => 'echo', name => 'E1');
my $E2 = backend(mode => 'echo', name => 'E2');
my $port = free_port();
my $STOP = "$dir/stop-clients";
my $HARD_STOP = time + 35;       # clients stop by themselves at the latest
my $SHORT_CLIENTS = 4;
my $LONG_CLIENTS = 2;
my $LONG_MIN = 20;               # transfers each long client must complete
my $LONG_SIZE = 2 * 1024 * 1024;
my $CHUNK = 65536;
my $PACE = 0.01;                 # s between chunks: about 0.3 s a transfer

sub config {
    my (%o) = @_;
    my $servers = "      - {address: $E1->{addr}}\n";
    $servers .= "      - {address: $E2->{addr}}\n" if $o{two};
    return <<"EOF";
workers: $o{workers}
pid_file: %PIDFILE%
upstreams:
  u:
    servers:
$servers
listeners:
  - {name: echo, listen: 127.0.0.1:$port, mode: tcp, upstream: u}
EOF
}

# ---------------------------------------------------------------------
# Clients: each appends "fail ..." lines to its own file as failures
# happen, and a last "done ..." line.

sub stopping { return -e $STOP || time >= $HARD_STOP }

sub short_client {
    my ($fh, $id) = @_;
    my ($ok, $n) = (0, 0);
    while (!stopping()) {
        $n++;
        my $line = "short $id/$n " . join('', map { chr(97 + rand 26) } 1 .. 20 + rand 60) . "\n";
        my $s = tcp_connect($port, timeout => 3);
        if (!$s) {
            print {$fh} "fail short $id/$n: connect: $@\n";
            next;
        }
        my $back = exchange($s, $line, 5);
        if ($back eq $line) {
            $ok++;
        } else {
            my $err = "$!";
            print {$fh} "fail short $id/$n: got " . length($back) . ' of '
                . length($line) . ' bytes' . ($back eq substr($line, 0, length $back)
                ? '' : ' (differs)') . " ($err)\n";
        }
        close $s;
    }
    print {$fh} "done ok=$ok\n";
}

# Sends $data a chunk every $PACE s while reading, half-closes, reads
# until EOF.  Returns (data read, error or undef).
sub paced_transfer {
    my ($s, $data) = @_;
    my ($len, $off, $got, $shut) = (length $data, 0, '', 0);
    my $t0 = time;
    my $deadline = $t0 + 20;
    while (1) {
        my $now = time;
        return ($got, 'timeout') if $now > $deadline;
        if (!$shut && $off >= $len) {
            shutdown($s, SHUT_WR) or return ($got, "shutdown: $!");
            $shut = 1;
        }
        my $allowed = int(($now - $t0) / $PACE + 1) * $CHUNK;
        $allowed = $len if $allowed > $len;
        my $ws = $off < $allowed ? IO::Select->new($s) : undef;
        my $wait = $off < $len && !$ws ? $t0 + ($allowed / $CHUNK) * $PACE - $now : 1;
        $wait = 0.001 if $wait < 0.001;
        my ($r, $w) = IO::Select->select(IO::Select->new($s), $ws, undef, $wait);
        if ($w && @$w) {
            my $n = syswrite($s, $data, $allowed - $off, $off);
            if (defined $n) {
                $off += $n;
            } elsif (!$!{EAGAIN} && !$!{EINTR}) {
                return ($got, "write after $off bytes: $!");
            }
        }
        if ($r && @$r) {
            my $n = sysread($s, my $buf, 65536);
            if ($n) {
                $got .= $buf;
            } elsif (defined $n) {
                return ($got, $off < $len ? "EOF after sending $off bytes" : undef);
            } elsif (!$!{EAGAIN} && !$!{EINTR}) {
                return ($got, "read after $off bytes sent: $!");
            }
        }
    }
}

sub long_client {
    my ($fh, $id) = @_;
    open(my $rnd, '<:raw', '/dev/urandom') or die "/dev/urandom: $!";
    read($rnd, my $body, $LONG_SIZE) == $LONG_SIZE or die 'short read of /dev/urandom';
    close $rnd;
    my ($n, $intact) = (0, 0);
    while (($n < $LONG_MIN || !stopping()) && $n < 3 * $LONG_MIN && time < $HARD_STOP + 10) {
        $n++;
        my $data = sprintf("long %d/%d\n", $id, $n) . $body;
        my $s = tcp_connect($port, timeout => 3);
        if (!$s) {
            print {$fh} "fail long $id/$n: connect: $@\n";
            next;
        }
        my ($got, $err) = paced_transfer($s, $data);
        close $s;
        if (!defined $err && $got eq $data) {
            $intact++;
            next;
        }
        print {$fh} "fail long $id/$n: " . ($err // 'complete') . ', got '
            . length($got) . ' of ' . length($data) . ' bytes'
            . (md5_hex($got) eq md5_hex($data) ? '' : ', MD5 differs') . "\n";
    }
    print {$fh} "done transfers=$n intact=$intact\n";
}

my %clients;    # pid => result file
sub start_client {
    my ($kind, $id) = @_;
    my $file = "$dir/client-$kind-$id.txt";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(my $fh, '>>', $file) or _exit(1);
        $fh->autoflush(1);
        eval {
            $kind eq 'short' ? short_client($fh, $id) : long_client($fh, $id);
        };
        print {$fh} "fail $kind $id: died: $@" if $@;
        _exit(0);
    }
    $clients{$pid} = $file;
}

# ---------------------------------------------------------------------

my $c = cuttle_start(config(workers => 2, two => 0), log_level => 'notice');
my $first = $c->{pid};
is(exchange(tcp_connect($port) // die("connect: $@"), "warm up\n", 3),
    "warm up\n", 'the echo listener serves');
start_client('short', $_) for 1 .. $SHORT_CLIENTS;
start_client('long', $_) for 1 .. $LONG_CLIENTS;
sleep 0.5;

# Reload i uses these workers (3 changes: 2 -> 3, 3 -> 1, 1 -> 2) and
# has E2 when i is odd; the upgrade comes after reload 12.
my %workers_at = (4 => 3, 9 => 1, 16 => 2);
my ($workers, $upgrade_after, $nreloads) = (2, 12, 24);
my (@reload_fail, %gens, @worker_changes, $u);
for my $i (1 .. $nreloads) {
    my $before = $workers;
    $workers = $workers_at{$i} // $workers;
    my $master = $c->{pid};
    my $r = cuttle_reload($c, config(workers => $workers, two => $i % 2));
    if (!$r->{ok} || $r->{not_ready}) {
        push @reload_fail, "reload $i of $master: " . ($r->{failed} ? 'failed'
            : $r->{timeout} ? 'no outcome in 10 s' : 'workers not ready')
            . "\n" . join("\n", @{$r->{lines}});
    } else {
        push @{$gens{$master}}, $r->{generation};
        push @reload_fail, "reload $i: $r->{nworkers} workers, not $workers"
            if $r->{nworkers} != $workers;
    }
    if ($before != $workers) {
        push @worker_changes, scalar grep {
            /\[notice\] $master#m: reload: workers $before -> $workers$/
        } @{$r->{lines}};
    }
    if ($i == $upgrade_after) {
        $u = cuttle_upgrade($c, old_timeout => 15);
    }
    sleep 0.15 + rand 0.1;
}
write_file($STOP, "stop\n");

# Wait for the clients (their own deadlines bound them; this only
# guards against a wedged one).
my $deadline = time + 30;
while (%clients && time < $deadline) {
    for my $pid (keys %clients) {
        delete $clients{$pid} if waitpid($pid, WNOHANG) == $pid;
    }
    sleep 0.05 if %clients;
}
my @wedged = keys %clients;
kill 'KILL', @wedged if @wedged;
waitpid($_, 0) for @wedged;
is_deeply(\@wedged, [], 'every client stopped by itself');

# ---------------------------------------------------------------------
# Results

my (@failures, $short_ok, @long);
$short_ok = 0;
for my $f (glob "$dir/client-*.txt") {
    for (split /\n/, slurp($f)) {
        push @failures, $_ if /^fail /;
        $short_ok += $1 if /^done ok=(\d+)$/;
        push @long, [$1, $2] if /^done transfers=(\d+) intact=(\d+)$/;
    }
}
is_deeply(\@reload_fail, [], "all $nreloads reloads succeeded with their workers ready");
is_deeply(\@worker_changes, [1, 1, 1],
    'the three worker changes logged "reload: workers A -> B"');
ok($u && $u->{ok}, 'the binary upgrade started a new master with its workers')
    or diag(explain($u));
ok($u && $u->{old_gone}, 'the old master exited after the upgrade');
is($u && $u->{old_status}, 0, 'with status 0');
is(scalar @failures, 0, 'no client saw a failure')
    or diag(join "\n", @failures[0 .. ($#failures > 30 ? 30 : $#failures)]);
# About 70 a second on a quiet 2-CPU machine; the floor only shows that
# the short clients kept going through the whole run.
cmp_ok($short_ok, '>=', 150, "short exchanges completed: $short_ok");
is(scalar @long, $LONG_CLIENTS, 'every long client reported');
for my $l (@long) {
    cmp_ok($l->[0], '>=', $LONG_MIN, "a long client completed $l->[0] transfers");
    is($l->[1], $l->[0], '... all of them intact');
}

# Exactly one master now: the upgraded one, named by pid_file.
my $new = $u && $u->{new} // 0;
my @alive = grep { proc_alive($_) } $first, $new;
is_deeply(\@alive, [$new], "one master alive: the upgraded one ($first -> $new)");
is(pid_file_pid($c->{pid_file}), $new, 'pid_file names it');
ok(!-e "$c->{pid_file}.oldbin", 'no pid_file.oldbin left');

# Generations: 2..13 in the first master; in the new one, 12 more, one
# apart.
is_deeply($gens{$first}, [2 .. 1 + $upgrade_after],
    "the first master went through generations 2..@{[1 + $upgrade_after]}");
my @g = @{$gens{$new} // []};
is(scalar @g, $nreloads - $upgrade_after,
    'the new master started one generation per reload');
ok(@g && !grep({ $g[$_] != $g[0] + $_ } 0 .. $#g),
    "one apart (@g[0, -1])") or diag("@g");
ok(!(log_grep($c, qr/reload failed/)), 'no "reload failed" in the log');
my $last = $g[-1] // 0;
my %lastw = reverse %{generation_workers($c, $last)};
my $settled = wait_until(sub {
    my @k = proc_children($new);
    @k == keys %lastw && !grep { !exists $lastw{$_} } @k;
}, 5);
ok($settled, "the new master's children are the 2 workers of generation $last")
    or diag('children: ' . join(' ', proc_children($new))
        . '; generation workers: ' . join(' ', keys %lastw));
is_deeply([log_grep($c, qr/\[(?:error|alert)\]/)], [], 'no [error] line in the log');

log_clean_ok();
done_testing();
