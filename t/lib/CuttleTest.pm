package CuttleTest;

# The harness of cuttle's integration tests (t/NN-name.t, run by prove).
#
# Each test file starts real cuttle instances with its own heredoc config
# on free loopback ports, in front of real origins: small forked Perl TCP
# servers ("backends") whose behaviour is chosen by a mode.  Clients are
# plain sockets.  A master that this process did not fork (a daemon, or
# the new master of a binary upgrade) is followed through its pid_file
# and waited for by polling /proc.  Everything is bounded in time: every read goes through
# IO::Select with a deadline, every wait loop has one, and every process
# started here is stopped by its pid in END, whatever happened.
#
# Core modules only.  Environment:
#   CUTTLE_BIN   the binary (default: build/cuttle under the repository root)
#   CUTTLE_KEEP  keep the per-test directory under t/tmp/ (configs, logs)
#   CUTTLE_ASAN  set by "make asan": start-up waits are stretched

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::MD5;
use Exporter qw(import);
use File::Basename qw(basename dirname);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::IP;
use POSIX qw(WNOHANG _exit);
use Socket qw(SHUT_WR);
use Test::More ();
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    tmpdir free_port write_file slurp wait_until
    backend backend_start backend_stop backend_accepts
    cuttle_bin cuttle_run cuttle_start cuttle_stop cuttle_wait
    cuttle_master cuttle_reload cuttle_upgrade generation_workers
    pid_file_pid
    proc_children proc_title proc_alive proc_status wait_gone
    log_text log_grep log_mark log_since wait_log conn_lines wait_conn
    conn_malformed
    log_clean_ok
    tcp_connect send_all recv_line recv_bytes recv_until_eof
    exchange fetch_name
);

our $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/../..');
# Sanitizer builds start slower; only waits for start-up are stretched,
# never the bounds that the tests assert on.
our $SLOW = $ENV{CUTTLE_ASAN} ? 3 : 1;

my $MAIN_PID = $$;
my ($TMP, $NBACKEND, $NCUTTLE, $NRUN) = (undef, 0, 0, 0);
my (@BACKENDS, @CUTTLES, @RUNS, %PORTS_GIVEN);

# A client writing to a connection that cuttle closed must see EPIPE,
# not die.
$SIG{PIPE} = 'IGNORE';

# ---------------------------------------------------------------------
# Files, ports, waiting

# The per-test directory, t/tmp/NAME-XXXXXX, removed at exit unless
# CUTTLE_KEEP is set.
sub tmpdir {
    return $TMP if defined $TMP;
    my $base = "$ROOT/t/tmp";
    mkdir $base unless -d $base;
    (my $name = basename($0)) =~ s/\.t\z//;
    $TMP = tempdir("$name-XXXXXX", DIR => $base,
        CLEANUP => !$ENV{CUTTLE_KEEP});
    Test::More::diag("test directory: $TMP") if $ENV{CUTTLE_KEEP};
    return $TMP;
}

# A loopback port that nothing listens on: bound to port 0, read, closed.
# A port is never handed out twice by one test process.
sub free_port {
    my ($host) = @_;
    $host //= '127.0.0.1';
    for (1 .. 100) {
        my $s = IO::Socket::IP->new(LocalHost => $host, LocalPort => 0,
            Proto => 'tcp', Listen => 1)
            or die "free_port: cannot bind $host: $@";
        my $port = $s->sockport;
        close $s;
        return $port unless $PORTS_GIVEN{$port}++;
    }
    die "free_port: no fresh port on $host";
}

sub write_file {
    my ($path, $text) = @_;
    open(my $fh, '>', $path) or die "write $path: $!";
    print {$fh} $text;
    close $fh or die "close $path: $!";
    return $path;
}

# The file's content, or '' if it does not exist (yet).
sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or return '';
    local $/;
    my $t = <$fh>;
    return $t // '';
}

# Calls $code every $step seconds until it returns true or $timeout
# seconds have passed; returns its last value.
sub wait_until {
    my ($code, $timeout, $step) = @_;
    my $deadline = time + ($timeout // 5);
    $step //= 0.02;
    while (1) {
        my $v = $code->();
        return $v if $v || time >= $deadline;
        sleep $step;
    }
}

# Waits for $pid (a child of this process) to exit, at most $timeout s.
# Returns its wait status, or undef on timeout (or if it is not ours).
sub _reap {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        return $? if $r == $pid;
        return undef if $r == -1 || time >= $deadline;
        sleep 0.01;
    }
}

sub _status_text {
    my ($st) = @_;
    return 'no status' unless defined $st;
    return 'killed by signal ' . ($st & 127) if $st & 127;
    return 'exit ' . ($st >> 8);
}

# ---------------------------------------------------------------------
# Backends: forked origin servers.  Each has its own accept loop process,
# which forks one child per connection.  The loop writes one line per
# accepted connection to an "accepts" file, so that a test can count the
# connections a backend really received.

our $FLOOD_BYTES = 64 * 1024 * 1024;

my %MODES = (
    # Echoes until EOF, then closes (after EOF everything read has been
    # written back, so a half-closed client still gets it all).
    'echo' => sub {
        my ($b, $s) = @_;
        while (defined(my $d = _srv_read($s))) {
            _srv_write($s, $d) or return;
        }
    },
    # Reads until EOF, and only then writes everything back: the reply
    # can only reach a half-closed client if cuttle keeps that direction.
    'eof-echo' => sub {
        my ($b, $s) = @_;
        my $buf = '';
        while (defined(my $d = _srv_read($s))) {
            $buf .= $d;
        }
        _srv_write($s, $buf);
    },
    # "NAME\n", shutdown of the write side, then drain until EOF.
    'name' => sub {
        my ($b, $s) = @_;
        _srv_write($s, "$b->{name}\n") or return;
        shutdown($s, SHUT_WR);
        1 while defined _srv_read($s);
    },
    # "NAME\n", then keep the connection until the peer closes.
    'hold' => sub {
        my ($b, $s) = @_;
        _srv_write($s, "$b->{name}\n") or return;
        1 while defined _srv_read($s);
    },
    # Writes FLOOD_BYTES bytes as fast as the peer takes them, then closes:
    # a client that does not read shows whether cuttle buffers or pushes back.
    'flood' => sub {
        my ($b, $s) = @_;
        my $chunk = 'x' x 65536;
        for (1 .. $FLOOD_BYTES / 65536) {
            _srv_write($s, $chunk) or return;
        }
    },
    # Reads everything; at EOF writes "BYTES MD5HEX\n".
    'sink-count' => sub {
        my ($b, $s) = @_;
        my $md5 = Digest::MD5->new;
        my $n = 0;
        while (defined(my $d = _srv_read($s))) {
            $n += length $d;
            $md5->add($d);
        }
        _srv_write($s, "$n " . $md5->hexdigest . "\n");
    },
);

# Blocking read in a backend child: data, or undef at EOF or error.
sub _srv_read {
    my ($s) = @_;
    while (1) {
        my $n = sysread($s, my $buf, 65536);
        return $buf if $n;
        return undef if defined $n || !$!{EINTR};
    }
}

sub _srv_write {
    my ($s, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $!{EINTR};
            return 0;
        }
        $off += $n;
    }
    return 1;
}

# backend(mode => 'echo'|'eof-echo'|'name'|'hold'|'flood'|'sink-count',
#         name => 'A', host => '127.0.0.1'|'::1', port => N)
# Starts a backend and returns it: {name, mode, host, port, addr, pid};
# addr is "127.0.0.1:PORT" or "[::1]:PORT", as written in a config.
sub backend {
    my %o = @_;
    my $b = {
        mode => $o{mode} // 'echo',
        host => $o{host} // '127.0.0.1',
        name => $o{name} // 'backend' . ($NBACKEND + 1),
        port => $o{port},
    };
    die "backend: unknown mode $b->{mode}" unless $MODES{$b->{mode}};
    die "backend: bad name $b->{name}" unless $b->{name} =~ /\A[\w.-]+\z/;
    $NBACKEND++;
    $b->{accepts} = tmpdir() . "/backend-$NBACKEND-$b->{name}.accepts";
    push @BACKENDS, $b;
    return backend_start($b);
}

# (Re)starts a stopped backend on its port, so that a test can take a
# server down and bring it back.
sub backend_start {
    my ($b) = @_;
    die "backend $b->{name} is running" if $b->{pid};
    my $l = IO::Socket::IP->new(LocalHost => $b->{host},
        LocalPort => $b->{port} // 0, Proto => 'tcp', Listen => 128,
        ReuseAddr => 1)
        or die "backend $b->{name}: cannot listen on $b->{host}: $@";
    $b->{port} = $l->sockport;
    $PORTS_GIVEN{$b->{port}} = 1;
    $b->{addr} = ($b->{host} =~ /:/ ? "[$b->{host}]" : $b->{host})
        . ":$b->{port}";
    my $pid = fork;
    die "backend: fork: $!" unless defined $pid;
    if ($pid == 0) {
        eval { _backend_loop($b, $l) };
        _exit(0);
    }
    close $l;
    $b->{pid} = $pid;
    return $b;
}

sub _backend_loop {
    my ($b, $l) = @_;
    my %kids;
    my $stop = sub {
        kill 'KILL', keys %kids if %kids;
        _exit(0);
    };
    $SIG{TERM} = $stop;
    open(my $alog, '>>', $b->{accepts}) or die "$b->{accepts}: $!";
    my $sel = IO::Select->new($l);
    while (1) {
        # Orphaned (the test died hard): stop too.
        $stop->() if getppid() != $MAIN_PID;
        while ((my $k = waitpid(-1, WNOHANG)) > 0) {
            delete $kids{$k};
        }
        next unless $sel->can_read(0.2);
        my $s = $l->accept or next;
        syswrite($alog, sprintf("accept %s %s\n",
            $s->peerhost // '?', $s->peerport // '?'));
        my $pid = fork;
        if (!defined $pid) {
            close $s;
            next;
        }
        if ($pid == 0) {
            $SIG{TERM} = 'DEFAULT';
            close $l;
            alarm 120;     # never outlive a wedged test for long
            eval { $MODES{$b->{mode}}->($b, $s) };
            _exit(0);
        }
        $kids{$pid} = 1;
        close $s;
    }
}

# Stops a backend and every connection it holds; its port then refuses.
sub backend_stop {
    my ($b) = @_;
    return unless $b->{pid};
    kill 'TERM', $b->{pid};
    if (!defined _reap($b->{pid}, 3)) {
        kill 'KILL', $b->{pid};
        _reap($b->{pid}, 3);
    }
    delete $b->{pid};
}

# How many connections the backend has accepted so far.
sub backend_accepts {
    my ($b) = @_;
    my @l = grep { /^accept / } split /\n/, slurp($b->{accepts});
    return scalar @l;
}

# ---------------------------------------------------------------------
# cuttle

sub cuttle_bin {
    my $bin = $ENV{CUTTLE_BIN} // "$ROOT/build/cuttle";
    die "cuttle binary '$bin' not found or not executable"
        . " (build it with make, or set CUTTLE_BIN)\n" unless -f $bin && -x _;
    return abs_path($bin);
}

# Child side of a fork: stdio to files, die with the parent, exec.
sub _exec_cuttle {
    my ($bin, $stdout, $stderr, @args) = @_;
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>', $stdout) or _exit(126);
    if ($stderr eq $stdout) {
        open(STDERR, '>&', \*STDOUT) or _exit(126);
    } else {
        open(STDERR, '>', $stderr) or _exit(126);
    }
    # PR_SET_PDEATHSIG: if the test process is killed outright, the
    # master still gets SIGTERM.
    eval {
        package main;
        no warnings;
        require 'syscall.ph';
        syscall(&SYS_prctl, 1, 15);
    };
    { no warnings 'exec'; exec {$bin} $bin, @args; }
    _exit(127);
}

# cuttle_run(ARGS...): runs cuttle to completion (at most 10 s) and
# returns {status, signal, stdout, stderr, timeout}.
sub cuttle_run {
    my @args = @_;
    my $bin = cuttle_bin();
    my $dir = tmpdir();
    my $n = ++$NRUN;
    my $r = { kind => 'run', args => [@args],
        out_file => "$dir/run-$n.stdout", err_file => "$dir/run-$n.stderr" };
    push @RUNS, $r;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    _exec_cuttle($bin, $r->{out_file}, $r->{err_file}, @args) if $pid == 0;
    my $st = _reap($pid, 10 * $SLOW);
    if (!defined $st) {
        $r->{timeout} = 1;
        kill 'KILL', $pid;
        $st = _reap($pid, 5);
    }
    $r->{status} = defined $st && !($st & 127) ? $st >> 8 : -1;
    $r->{signal} = defined $st ? $st & 127 : 0;
    $r->{stdout} = slurp($r->{out_file});
    $r->{stderr} = slurp($r->{err_file});
    return $r;
}

# cuttle_start($yaml, workers => N, log_level => 'info', ready => CODE)
#
# Writes the config (with %LOG%, %TMP% and %PIDFILE% replaced by the
# error log path, the test directory and a pid file path in it;
# "error_log:" and "workers:" are prepended when the text has none),
# starts "cuttle -c FILE" with stdout and stderr in a file, and waits up
# to 10 s until N workers have logged "worker K ready" for distinct K.
# Dies (failing the test) if cuttle exits or is not ready in time.
# Returns
#   {pid, log, out, conf, nworkers, slots => {K => worker pid},
#    pid_file (when the config has one)}.
#
# With "daemon: true" in the config, the started command must exit 0
# within 10 s (its result is in {launch}: status, elapsed, pid); the master
# is then found through pid_file, which the config must name.  {pid} is
# always the current master: a binary upgrade (cuttle_upgrade) moves it
# to the new master, which is not a child of this process.
#
# ready => CODE replaces the wait for "worker K ready" lines in the log
# file (for an error_log that is not a file): CODE->($c) is called until
# it returns true.
sub cuttle_start {
    my ($yaml, %o) = @_;
    my $bin = cuttle_bin();
    my $dir = tmpdir();
    my $n = ++$NCUTTLE;
    my $c = { kind => 'cuttle', n => $n, log => "$dir/error-$n.log",
        out => "$dir/cuttle-$n.out", conf => "$dir/cuttle-$n.yaml",
        known_workers => {}, masters => {},
        log_level => $o{log_level} // 'info' };
    my ($text, $workers) = _conf_fill($c, $yaml, $o{workers});
    write_file($c->{conf}, $text);
    $c->{nworkers} = $workers;
    my $daemon = $text =~ /^daemon:\s*(?:true|yes|on)\s*$/m;
    die "cuttle_start: daemon: true needs a pid_file\n"
        if $daemon && !$c->{pid_file};

    my $t0 = time;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    _exec_cuttle($bin, $c->{out}, $c->{out}, '-c', $c->{conf}) if $pid == 0;
    $c->{child} = $pid;
    $c->{pid} = $pid;
    $c->{masters}{$pid} = 1;
    push @CUTTLES, $c;

    if ($daemon) {
        my $st = _reap($pid, 10 * $SLOW);
        $c->{launch} = { status => $st, elapsed => time - $t0, pid => $pid };
        $c->{child} = 0;
        if (!defined $st || $st != 0) {
            kill 'KILL', $pid unless defined $st;
            _reap($pid, 5) unless defined $st;
            my $why = defined $st ? _status_text($st) : 'no exit within 10 s';
            Test::More::diag("cuttle $n (daemon) launch: $why\n" . _tails($c));
            $c->{exited} = 1;
            _cuttle_kill($c);
            die "cuttle_start: the daemon launch failed: $why"
                . " (config $c->{conf})\n";
        }
        my $master = wait_until(sub {
            my $p = pid_file_pid($c->{pid_file});
            $p && proc_alive($p) ? $p : 0;
        }, 5 * $SLOW);
        if (!$master) {
            Test::More::diag("cuttle $n (daemon): no live pid in"
                . " $c->{pid_file}\n" . _tails($c));
            $c->{exited} = 1;
            die "cuttle_start: the daemon wrote no pid_file\n";
        }
        $c->{pid} = $master;
        $c->{masters}{$master} = 1;
    }

    my $master = $c->{pid};
    my $state = wait_until(sub {
        if (!_master_alive($c, $master)) {
            $c->{exited} = 1;
            return 'exited';
        }
        return $o{ready}->($c) ? 'ready' : 0 if $o{ready};
        return keys %{_ready_slots($c)} >= $workers ? 'ready' : 0;
    }, 10 * $SLOW);
    if (!$state || $state ne 'ready') {
        my $why = $state ? 'exited (' . _status_text($c->{status}) . ')'
            : 'was not ready within ' . 10 * $SLOW . ' s';
        Test::More::diag("cuttle $n $why\n" . _tails($c));
        _cuttle_kill($c) unless $c->{exited};
        die "cuttle_start: cuttle $why (config $c->{conf})\n";
    }
    $c->{slots} = _ready_slots($c);
    $c->{known_workers}{$_} = 1 for values %{$c->{slots}};
    return $c;
}

# The config text for $c: placeholders replaced, error_log and workers
# prepended when missing.  Returns (text, workers).  Notes the pid_file.
sub _conf_fill {
    my ($c, $yaml, $workers) = @_;
    my $dir = tmpdir();
    my $pidfile = "$dir/cuttle-$c->{n}.pid";
    $yaml =~ s/%LOG%/$c->{log}/g;
    $yaml =~ s/%TMP%/$dir/g;
    $yaml =~ s/%PIDFILE%/$pidfile/g;
    if ($yaml =~ /^workers:\s*(\d+)\s*$/m) {
        die "cuttle config: workers => $workers but the config says $1"
            if defined $workers && $workers != $1;
        $workers = $1;
    } elsif ($yaml =~ /^workers:/m) {
        $workers //= 2;     # "auto", or a bad value to test a failing reload
    } else {
        $workers //= 2;
        $yaml = "workers: $workers\n$yaml";
    }
    $yaml = "error_log: {path: $c->{log}, level: $c->{log_level}}\n$yaml"
        unless $yaml =~ /^error_log:/m;
    $c->{pid_file} = $1 if $yaml =~ /^pid_file:\s*"?([^"\s]+)"?\s*$/m;
    return ($yaml, $workers);
}

# {slot => pid} from the latest "worker K ready" line of each slot.
sub _ready_slots {
    my ($c) = @_;
    my %r;
    for (split /\n/, log_text($c)) {
        $r{$2} = $1 if /\[notice\] (\d+)#(\d+): worker (\d+) ready\b/
            && $2 == $3;
    }
    return \%r;
}

# {slot => pid} of the workers that logged "worker K ready, generation
# G" (the latest line of each slot).
sub generation_workers {
    my ($c, $gen) = @_;
    my %r;
    for (split /\n/, log_text($c)) {
        $r{$2} = $1 if /\[notice\] (\d+)#(\d+): worker (\d+) ready, generation (\d+)$/
            && $2 == $3 && $4 == $gen;
    }
    return \%r;
}

# The pid in a pid file ("PID\n"), or undef.
sub pid_file_pid {
    my ($path) = @_;
    return undef unless defined $path;
    return slurp($path) =~ /\A(\d+)\n\z/ ? $1 : undef;
}

# The current master: the live cuttle named by the pid file when it is
# not the one we know (after a binary upgrade), else {pid}.
sub cuttle_master {
    my ($c) = @_;
    my $p = pid_file_pid($c->{pid_file});
    if ($p && $p != $c->{pid} && proc_alive($p)
            && proc_title($p) =~ /\bcuttle\b/) {
        $c->{masters}{$p} = 1;
        $c->{pid} = $p;
        delete $c->{exited};
    }
    return $c->{pid};
}

# Whether $pid (a master of $c) still runs.  Our own child is reaped,
# and its status kept in {status}.
sub _master_alive {
    my ($c, $pid) = @_;
    if ($c->{child} && $pid == $c->{child}) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) {
            $c->{status} = $?;
            $c->{child} = 0;
            return 0;
        }
        return $r == 0;
    }
    return proc_alive($pid);
}

# Waits up to $timeout s for the master to exit; returns its wait status
# if it was our child, -1 if it was not (a daemon, or a master started by
# a binary upgrade; then only its being gone is known), undef on timeout.
sub cuttle_wait {
    my ($c, $timeout) = @_;
    return $c->{status} // -1 if $c->{exited};
    my $pid = cuttle_master($c);
    my $ours = $c->{child} && $pid == $c->{child};
    my $gone = wait_until(sub { !_master_alive($c, $pid) }, $timeout, 0.01);
    return undef unless $gone;
    $c->{exited} = 1;
    $c->{status} = -1 unless $ours && defined $c->{status};
    return $c->{status};
}

# Waits up to $timeout s (default 5) until $pid is gone (or a zombie);
# true if it is.
sub wait_gone {
    my ($pid, $timeout) = @_;
    return wait_until(sub { !proc_alive($pid) }, $timeout // 5, 0.01);
}

# SIGTERM to the master.  Asserts that it exits within 10 s with status
# 0 (when it is our child: otherwise only that it is gone), and that
# every worker is gone after it.  Returns the wait status.
sub cuttle_stop {
    my ($c) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return $c->{status} if $c->{exited};
    my $master = cuttle_master($c);
    my @workers = proc_children($master);
    $c->{known_workers}{$_} = 1 for @workers;
    kill 'TERM', $master;
    my $st = cuttle_wait($c, 10);
    if (!Test::More::ok(defined $st, "cuttle $c->{n}: master exits within"
            . " 10 s of SIGTERM")) {
        Test::More::diag(_tails($c));
        _cuttle_kill($c);
        return undef;
    }
    Test::More::is(_status_text($st), 'exit 0',
        "cuttle $c->{n}: master exit status after SIGTERM") if $st != -1;
    my $gone = wait_until(sub { !grep { proc_alive($_) } @workers }, 2);
    Test::More::ok($gone, "cuttle $c->{n}: no worker outlives the master")
        or Test::More::diag('alive: ' . join ' ', grep { proc_alive($_) }
            @workers);
    return $st;
}

# cuttle_reload($c, $yaml, workers => N, ready => 1, timeout => 10)
#
# Writes $yaml (if defined; filled in as by cuttle_start) over the
# config, sends SIGHUP to the master and waits for the outcome: a
# "generation G started with N workers" or a "reload failed" line
# logged by the master after the signal.  On success it also waits
# (unless ready => 0) for the N workers of generation G to be ready, and
# then updates {slots} and {nworkers}.  Returns {ok, failed, timeout,
# generation, nworkers, lines => [lines logged since the signal]}.
sub cuttle_reload {
    my ($c, $yaml, %o) = @_;
    my $timeout = ($o{timeout} // 10) * $SLOW;
    if (defined $yaml) {
        my ($text) = _conf_fill($c, $yaml, $o{workers});
        write_file($c->{conf}, $text);
    }
    my $master = cuttle_master($c);
    my $mark = log_mark($c);
    my %r;
    kill 'HUP', $master or die "cuttle_reload: kill HUP $master: $!";
    wait_until(sub {
        for (log_since($c, $mark)) {
            if (/\[notice\] $master#m: generation (\d+) started with (\d+) workers?$/) {
                @r{qw(ok generation nworkers)} = (1, $1, $2);
            }
            $r{failed} = 1 if /\[error\] $master#m: reload failed;/;
        }
        return $r{ok} || $r{failed};
    }, $timeout, 0.01);
    $r{timeout} = 1 unless $r{ok} || $r{failed};
    if ($r{ok} && ($o{ready} // 1)) {
        my $w;
        wait_until(sub {
            $w = generation_workers($c, $r{generation});
            keys %$w >= $r{nworkers};
        }, $timeout);
        $r{slots} = $w;
        if (keys %$w >= $r{nworkers}) {
            $c->{slots} = $w;
            $c->{nworkers} = $r{nworkers};
            $c->{known_workers}{$_} = 1 for values %$w;
        } else {
            $r{not_ready} = 1;
        }
    }
    $r{lines} = [log_since($c, $mark)];
    return \%r;
}

# cuttle_upgrade($c, timeout => 10, wait_old => 1, send => CODE)
#
# SIGUSR2 to the master (or calls send->(OLD PID) instead, e.g. to run
# "cuttle -s upgrade"; its return value is kept in {sent}), then waits
# until the pid file names a new live master, that master has logged
# "... started, N workers (upgrade from pid OLD)" and N of its children
# have logged "worker K ready"; then (unless wait_old => 0, at most
# old_timeout s) until the old master has exited.  {pid} becomes
# the new master.  Returns {ok, old, new, old_gone, old_status (when the
# old master was our child), lines => [lines logged since the signal]}.
sub cuttle_upgrade {
    my ($c, %o) = @_;
    my $timeout = ($o{timeout} // 10) * $SLOW;
    my $old = cuttle_master($c);
    my $was_child = $c->{child} && $old == $c->{child};
    my $mark = log_mark($c);
    my %r = (old => $old);
    if ($o{send}) {
        $r{sent} = $o{send}->($old);
    } else {
        kill 'USR2', $old or die "cuttle_upgrade: kill USR2 $old: $!";
    }
    my $new = wait_until(sub {
        my $p = pid_file_pid($c->{pid_file});
        $p && $p != $old && proc_alive($p) ? $p : 0;
    }, $timeout);
    if ($new) {
        $r{new} = $new;
        $c->{masters}{$new} = 1;
        $c->{pid} = $new;
        my $n;
        $r{ok} = wait_until(sub {
            my $re = qr/\[notice\] $new#m: cuttle \S+ started, (\d+) workers? \(upgrade from pid $old\)$/;
            ($n) = map { $_ =~ $re ? $1 : () } log_since($c, $mark);
            return 0 unless defined $n;
            my %kids = map { $_ => 1 } proc_children($new);
            my %w = map { $kids{$_->[1]} ? ($_->[0] => $_->[1]) : () }
                map { /\[notice\] (\d+)#(\d+): worker \2 ready\b/
                    ? [$2, $1] : () } log_since($c, $mark);
            return 0 unless keys %w >= $n;
            $c->{slots} = \%w;
            $c->{nworkers} = $n;
            $c->{known_workers}{$_} = 1 for values %w;
            return 1;
        }, $timeout);
    }
    if ($o{wait_old} // 1) {
        my $gone = wait_until(sub {
            if ($was_child) {
                my $w = waitpid($old, WNOHANG);
                if ($w == $old) {
                    $r{old_status} = $?;
                    $c->{child} = 0;
                    return 1;
                }
                return $w == -1;
            }
            return !proc_alive($old);
        }, $o{old_timeout} // $timeout);
        $r{old_gone} = $gone ? 1 : 0;
    }
    $r{lines} = [log_since($c, $mark)];
    return \%r;
}

# Unconditional clean-up: SIGKILL to every master of $c still running
# (checked by title, so that a recycled pid is left alone), to their
# children and grandchildren (a master started by an upgrade and its
# workers), and to the workers we know of.
sub _cuttle_kill {
    my ($c) = @_;
    cuttle_master($c) unless $c->{exited};
    my @masters = grep { proc_alive($_) && proc_title($_) =~ /\bcuttle\b/ }
        keys %{$c->{masters}};
    my @w = keys %{$c->{known_workers}};
    for my $m (@masters) {
        for my $k (proc_children($m)) {
            push @w, $k, proc_children($k);
        }
    }
    kill 'KILL', @masters if @masters;
    if ($c->{child}) {
        kill 'KILL', $c->{child};
        _reap($c->{child}, 5);
        $c->{child} = 0;
    }
    $c->{exited} = 1;
    for my $p (@w) {
        kill 'KILL', $p if proc_alive($p) && proc_title($p) =~ /\bcuttle\b/;
    }
}

sub _tails {
    my ($c) = @_;
    my $t = '';
    for my $f ($c->{log}, $c->{out}) {
        my @l = split /\n/, slurp($f);
        @l = @l[-40 .. -1] if @l > 40;
        $t .= "--- $f (last " . scalar(@l) . " lines)\n"
            . join('', map { "$_\n" } @l);
    }
    return $t;
}

# ---------------------------------------------------------------------
# Processes

# Children of $pid (from /proc/PID/task/PID/children, else by scanning
# /proc for the parent pid).
sub proc_children {
    my ($pid) = @_;
    if (open(my $fh, '<', "/proc/$pid/task/$pid/children")) {
        my $t = <$fh> // '';
        return grep { /^\d+$/ } split ' ', $t;
    }
    my @kids;
    opendir(my $dh, '/proc') or return ();
    for my $p (grep { /^\d+$/ } readdir $dh) {
        my $st = slurp("/proc/$p/stat");
        push @kids, $p if $st =~ /\)\s+\S+\s+(\d+)/ && $1 == $pid;
    }
    return @kids;
}

# The command line as ps shows it: NULs as spaces, trailing padding cut.
sub proc_title {
    my ($pid) = @_;
    my $t = slurp("/proc/$pid/cmdline");
    $t =~ s/\0+\z//;
    $t =~ tr/\0/ /;
    $t =~ s/\s+\z//;
    return $t;
}

# The fields of /proc/PID/status ("Uid" => "0 0 0 0", "PPid" => ...);
# empty if the process is gone.
sub proc_status {
    my ($pid) = @_;
    my %h;
    for (split /\n/, slurp("/proc/$pid/status")) {
        $h{$1} = $2 if /^(\w+):\s*(.*?)\s*$/;
    }
    return \%h;
}

# Exists and is not a zombie.
sub proc_alive {
    my ($pid) = @_;
    my $st = slurp("/proc/$pid/stat");
    return 0 unless $st =~ /\)\s+(\S)/;
    return $1 ne 'Z' && $1 ne 'X';
}

# ---------------------------------------------------------------------
# The error log

sub log_text { return slurp($_[0]{log}) }

# Lines of the error log matching $re.
sub log_grep {
    my ($c, $re) = @_;
    return grep { $_ =~ $re } split /\n/, log_text($c);
}

# A mark in the error log (its current length), for log_since.
sub log_mark { return length log_text($_[0]) }

# The whole lines of the error log written after $mark, matching $re if
# given.  (After a log reopen the mark refers to the old file: take a
# new one.)
sub log_since {
    my ($c, $mark, $re) = @_;
    my $t = log_text($c);
    return () if length $t <= $mark;
    $t = substr($t, $mark);
    $t =~ s/[^\n]*\z//;
    my @l = split /\n/, $t;
    return defined $re ? grep { $_ =~ $re } @l : @l;
}

# Waits (default 5 s) until at least $count (default 1) lines match $re
# (only lines after the mark since => MARK, if given); returns the
# matching lines (fewer on timeout).
sub wait_log {
    my ($c, $re, %o) = @_;
    my $count = $o{count} // 1;
    my @l;
    wait_until(sub {
        @l = defined $o{since} ? log_since($c, $o{since}, $re)
            : log_grep($c, $re);
        @l >= $count;
    }, $o{timeout} // 5);
    return @l;
}

my $CONN_RE = qr!
    ^\d{4}/\d\d/\d\d\ \d\d:\d\d:\d\d\ \[info\]\ (\d+)\#(\d+):\ conn
    \ client=(\S+)\ listener=(\S+)\ server=(\S+)
    \ from_client=(\d+)\ to_client=(\d+)\ time=(\d+\.\d{3})s
    \ end="([^"]*)"\z!x;

# The "conn ..." lines of the log as hashes {pid, slot, client, listener,
# server, from_client, to_client, time, end}, keeping those whose fields
# equal (or match, for a qr//) every filter given.
sub conn_lines {
    my ($c, %f) = @_;
    my @r;
    for my $line (split /\n/, log_text($c)) {
        my %h;
        @h{qw(pid slot client listener server from_client to_client time
            end)} = $line =~ $CONN_RE or next;
        $h{line} = $line;
        next if grep {
            ref $f{$_} eq 'Regexp' ? $h{$_} !~ $f{$_} : $h{$_} ne $f{$_}
        } keys %f;
        push @r, \%h;
    }
    return @r;
}

# Lines that look like connection summaries but do not have the format.
sub conn_malformed {
    my ($c) = @_;
    return grep { / conn client=/ && $_ !~ $CONN_RE }
        split /\n/, log_text($c);
}

# Waits (default 5 s) for at least $n conn lines matching the filters.
sub wait_conn {
    my ($c, $n, %f) = @_;
    my $timeout = delete $f{timeout} // 5;
    my @l;
    wait_until(sub { @l = conn_lines($c, %f); @l >= $n }, $timeout);
    return @l;
}

# Every test file ends with this.  Stops the instances still running
# (sanitizers report leaks at exit), then asserts that no error log has
# an [alert] line and that no log, stderr or -t output has a sanitizer
# report.  Without arguments it checks everything this test started.
sub log_clean_ok {
    my @objs = @_ ? @_ : (@CUTTLES, @RUNS);
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (@alerts, @reports);
    for my $o (@objs) {
        my @files;
        if ($o->{kind} eq 'cuttle') {
            cuttle_stop($o) unless $o->{exited};
            push @alerts, map { "$o->{log}: $_" }
                grep { /\[alert\]/ } split /\n/, log_text($o);
            @files = ($o->{log}, $o->{out});
        } else {
            @files = ($o->{out_file}, $o->{err_file});
        }
        for my $f (@files) {
            push @reports, map { "$f: $_" }
                grep { /AddressSanitizer|LeakSanitizer|runtime error:/ }
                split /\n/, slurp($f);
        }
    }
    Test::More::ok(!@alerts, 'error log has no [alert]')
        or Test::More::diag(join "\n", @alerts[0 .. ($#alerts > 20 ? 20 : $#alerts)]);
    Test::More::ok(!@reports, 'no sanitizer report')
        or Test::More::diag(join "\n", @reports[0 .. ($#reports > 20 ? 20 : $#reports)]);
}

# ---------------------------------------------------------------------
# Clients.  Sockets are non-blocking; every wait goes through select.

# tcp_connect($port, host => '127.0.0.1', local => '127.0.0.2')
# Returns a connected non-blocking socket, or undef ($@ says why).
sub tcp_connect {
    my ($port, %o) = @_;
    my $s = IO::Socket::IP->new(PeerHost => $o{host} // '127.0.0.1',
        PeerPort => $port, Proto => 'tcp', Timeout => $o{timeout} // 3,
        ($o{local} ? (LocalHost => $o{local}) : ()))
        or return undef;
    $s->blocking(0);
    ${*$s}{ct_buf} = '';
    return $s;
}

sub _take_buf {
    my ($s) = @_;
    my $b = ${*$s}{ct_buf} // '';
    ${*$s}{ct_buf} = '';
    return $b;
}

# Writes all of $data within $timeout s (default 10); returns true if
# everything was written.
sub send_all {
    my ($s, $data, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    my $sel = IO::Select->new($s);
    my $off = 0;
    while ($off < length $data) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        next unless $sel->can_write($left);
        my $n = syswrite($s, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $!{EAGAIN} || $!{EINTR};
            return 0;
        }
        $off += $n;
    }
    return 1;
}

# One read of whatever is there, waiting at most $left s.  Returns data,
# '' on timeout, or undef at EOF / error (then $! tells which; 0 is EOF).
sub _read_some {
    my ($s, $left) = @_;
    my $sel = IO::Select->new($s);
    return '' unless $sel->can_read($left > 0 ? $left : 0);
    my $n = sysread($s, my $buf, 65536);
    return $buf if $n;
    if (defined $n) {
        $! = 0;
        return undef;
    }
    return '' if $!{EAGAIN} || $!{EINTR};
    return undef;
}

# Reads until EOF (or error, or $timeout s, default 5).  Returns
# {data, closed, eof, reset, error, timeout, elapsed}: closed is true for
# an orderly EOF (eof) as well as for a reset.
sub recv_until_eof {
    my ($s, $timeout) = @_;
    my $t0 = time;
    my $deadline = $t0 + ($timeout // 5);
    my %r = (data => _take_buf($s));
    while (1) {
        my $left = $deadline - time;
        if ($left <= 0) {
            $r{timeout} = 1;
            last;
        }
        my $d = _read_some($s, $left);
        if (!defined $d) {
            $r{closed} = 1;
            if ($!) {
                $r{error} = "$!";
                $r{reset} = 1 if $!{ECONNRESET};
            } else {
                $r{eof} = 1;
            }
            last;
        }
        $r{data} .= $d;
    }
    $r{elapsed} = time - $t0;
    return \%r;
}

# Reads exactly $len bytes if they come within $timeout s; returns what
# arrived (shorter on EOF or timeout).
sub recv_bytes {
    my ($s, $len, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    my $data = _take_buf($s);
    while (length $data < $len) {
        my $d = _read_some($s, $deadline - time);
        last unless defined $d;
        last if $d eq '' && time >= $deadline;
        $data .= $d;
    }
    ${*$s}{ct_buf} = substr($data, $len) if length $data > $len;
    return substr($data, 0, $len);
}

# One line (with its "\n"), or undef if none came within $timeout s.
sub recv_line {
    my ($s, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    my $data = _take_buf($s);
    while ($data !~ /\n/) {
        my $d = _read_some($s, $deadline - time);
        last unless defined $d;
        last if $d eq '' && time >= $deadline;
        $data .= $d;
    }
    if ($data =~ s/\A([^\n]*\n)//) {
        ${*$s}{ct_buf} = $data;
        return $1;
    }
    ${*$s}{ct_buf} = $data;
    return undef;
}

# Sends $data and reads at the same time until as many bytes came back
# (for echo backends; no deadlock on large payloads).  Returns what came
# back within $timeout s (default 10).
sub exchange {
    my ($s, $data, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    my $want = length $data;
    my $got = _take_buf($s);
    my $off = 0;
    while (length $got < $want) {
        my $left = $deadline - time;
        last if $left <= 0;
        my $rs = IO::Select->new($s);
        my $ws = $off < $want ? IO::Select->new($s) : undef;
        my ($r, $w) = IO::Select->select($rs, $ws, undef, $left);
        if ($w && @$w) {
            my $n = syswrite($s, $data, $want - $off > 65536 ? 65536
                : $want - $off, $off);
            if (defined $n) {
                $off += $n;
            } elsif (!$!{EAGAIN} && !$!{EINTR}) {
                last;
            }
        }
        if ($r && @$r) {
            my $n = sysread($s, my $buf, 65536);
            if ($n) {
                $got .= $buf;
            } elsif (defined $n || (!$!{EAGAIN} && !$!{EINTR})) {
                last;
            }
        }
    }
    ${*$s}{ct_buf} = substr($got, $want) if length $got > $want;
    return substr($got, 0, $want);
}

# One whole connection to a "name" backend through $port: connect, read
# until EOF, close.  Returns the name (undef if the connection failed or
# brought no line) and the recv_until_eof result with the client port.
sub fetch_name {
    my ($port, %o) = @_;
    my $s = tcp_connect($port, %o);
    return (undef, { error => "connect: $@" }) unless $s;
    my $r = recv_until_eof($s, $o{timeout} // 3);
    $r->{client_port} = $s->sockport;
    close $s;
    my $name = $r->{data} =~ /\A([\w.-]+)\n\z/ ? $1 : undef;
    return ($name, $r);
}

# ---------------------------------------------------------------------

END {
    if (defined $MAIN_PID && $$ == $MAIN_PID) {
        my $status = $?;
        my $tb = Test::More->builder;
        if (@CUTTLES && !$tb->is_passing) {
            Test::More::diag(_tails($_)) for @CUTTLES;
        }
        _cuttle_kill($_) for @CUTTLES;
        backend_stop($_) for @BACKENDS;
        $? = $status;
    }
}

1;
