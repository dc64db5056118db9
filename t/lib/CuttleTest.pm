package CuttleTest;

# The harness of cuttle's integration tests (t/NN-name.t, run by prove).
#
# Each test file starts real cuttle instances with its own heredoc config
# on free loopback ports, in front of real origins: small forked Perl TCP
# servers ("backends") whose behaviour is chosen by a mode, one of which
# is an HTTP/1.1 origin (http_origin) that logs what it receives.
# Clients are plain sockets, with HTTP requests built and responses
# parsed byte for byte here, and curl where a real client is wanted.
# A master that this process did not fork (a daemon, or the new master
# of a binary upgrade) is followed through its pid_file and waited for
# by polling /proc.  Everything is bounded in time: every read goes
# through IO::Select with a deadline, every wait loop has one, and every
# process started here is stopped by its pid in END, whatever happened.
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
use IO::Socket::UNIX;
use POSIX qw(WNOHANG _exit);
use Socket qw(IPPROTO_TCP MSG_OOB SHUT_WR SOL_SOCKET SO_RCVBUF TCP_CORK TCP_INFO);
use Test::More ();
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    tmpdir free_port free_udp_port write_file slurp wait_until
    backend backend_start backend_stop backend_accepts
    udp_backend udp_backend_got udp_client udp_recv
    cuttle_bin cuttle_run cuttlectl_bin cuttlectl_run cuttle_start cuttle_stop cuttle_wait
    cuttle_master cuttle_reload cuttle_upgrade generation_workers
    pid_file_pid
    proc_children proc_title proc_alive proc_status wait_gone admin_pid
    log_text log_grep log_mark log_since wait_log conn_lines wait_conn
    conn_malformed
    log_clean_ok expect_killed
    tcp_connect send_all send_urgent recv_line recv_bytes recv_until_eof tcp_segs_in
    recv_queue wait_stalled
    exchange fetch_name
    proc_rss_kb black_hole_port
    http_origin origin_log origin_requests origin_body ws_accept
    http_req_bytes http_send http_recv http_get http_json hdr hdr_all
    http_error_ok show_bytes admin_req
    curl_run curl_proxy mmdb_write dns_server
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

# The same for UDP: a port on $host that no UDP socket is bound to.
sub free_udp_port {
    my ($host) = @_;
    $host //= '127.0.0.1';
    for (1 .. 100) {
        my $s = IO::Socket::IP->new(LocalHost => $host, LocalPort => 0,
            Proto => 'udp')
            or die "free_udp_port: cannot bind $host: $@";
        my $port = $s->sockport;
        close $s;
        # Free for TCP too: a udp listener may share its port with a tcp one.
        my $t = IO::Socket::IP->new(LocalHost => $host, LocalPort => $port,
            Proto => 'tcp', Listen => 1) or next;
        close $t;
        return $port unless $PORTS_GIVEN{$port}++;
    }
    die "free_udp_port: no fresh port on $host";
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
    # "NAME\n", shutdown of the write side, then drain until EOF.  With
    # the option corked, the name and the FIN leave in one segment.
    'name' => sub {
        my ($b, $s) = @_;
        setsockopt($s, IPPROTO_TCP, TCP_CORK, 1) or return if $b->{corked};
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
    # PREFIX bytes "x" (option prefix, default none), then "ab", "c" as TCP
    # urgent data, "def" and the end of the stream (none with the option
    # keep_open), these in one segment (corked): a read of it stops short
    # at the urgent mark.
    'urgent' => sub {
        my ($b, $s) = @_;
        _srv_write($s, 'x' x $b->{prefix}) or return if $b->{prefix};
        send_urgent($s, 'ab', 'c', 'def', $b->{keep_open});
        1 while defined _srv_read($s);
    },
    # Never reads: whatever the client sends piles up in front of it.
    'stall' => sub {
        sleep 1 while 1;
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
    # An HTTP/1.1 origin with keep-alive: see http_origin.
    'http' => sub { _origin_conn(@_) },
);

# Sends $before, then $urgent as TCP urgent (out-of-band) data, then
# $after and a FIN (none with $keep_open), corked so that they leave in
# one segment.
sub send_urgent {
    my ($s, $before, $urgent, $after, $keep_open) = @_;
    setsockopt($s, IPPROTO_TCP, TCP_CORK, 1) or die "TCP_CORK: $!";
    _srv_write($s, $before) or return 0;
    send($s, $urgent, MSG_OOB) == length $urgent or return 0;
    _srv_write($s, $after) or return 0;
    return setsockopt($s, IPPROTO_TCP, TCP_CORK, 0) if $keep_open;
    return shutdown($s, SHUT_WR);
}

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

# backend(mode => 'echo'|'eof-echo'|'name'|'hold'|'flood'|'urgent'|'stall'|
#         'sink-count'|'http', name => 'A', host => '127.0.0.1'|'::1', port => N,
#         rcvbuf => BYTES, prefix => BYTES, keep_open => 1, corked => 1)
# (mode "http" takes more options: see http_origin.)
# Starts a backend and returns it: {name, mode, host, port, addr, pid};
# addr is "127.0.0.1:PORT" or "[::1]:PORT", as written in a config.
sub backend {
    my %o = @_;
    my $b = {
        mode => $o{mode} // 'echo',
        host => $o{host} // '127.0.0.1',
        name => $o{name} // 'backend' . ($NBACKEND + 1),
        port => $o{port},
        rcvbuf => $o{rcvbuf},
        prefix => $o{prefix},
        keep_open => $o{keep_open},
        corked => $o{corked},
        # mode "http" only: see http_origin
        keepalive_timeout => $o{keepalive_timeout},
        force => $o{force},
    };
    die "backend: unknown mode $b->{mode}" unless $MODES{$b->{mode}};
    die "backend: bad name $b->{name}" unless $b->{name} =~ /\A[\w.-]+\z/;
    $NBACKEND++;
    $b->{accepts} = tmpdir() . "/backend-$NBACKEND-$b->{name}.accepts";
    $b->{events} = tmpdir() . "/backend-$NBACKEND-$b->{name}.events";
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
    # Inherited by accepted sockets: a small window from the first segment.
    setsockopt($l, SOL_SOCKET, SO_RCVBUF, $b->{rcvbuf}) or die "SO_RCVBUF: $!"
        if $b->{rcvbuf};
    return _backend_fork($b, $l, \&_backend_loop);
}

# Notes the port and address of backend $b's socket $s, and forks
# $loop->($b, $s) to serve it; returns $b with its pid.
sub _backend_fork {
    my ($b, $s, $loop) = @_;
    $b->{port} = $s->sockport;
    $PORTS_GIVEN{$b->{port}} = 1;
    $b->{addr} = ($b->{host} =~ /:/ ? "[$b->{host}]" : $b->{host})
        . ":$b->{port}";
    my $pid = fork;
    die "backend $b->{name}: fork: $!" unless defined $pid;
    if ($pid == 0) {
        eval { $loop->($b, $s) };
        _exit(0);
    }
    close $s;
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
# UDP backends: a forked server on a UDP socket of its own, which writes
# one line per datagram it receives to a "got" file ("PEERPORT LENGTH
# HEX", HEX being '-' past 256 bytes) and then answers by its mode:
#
#   echo    "NAME:" and the datagram
#   raw     the datagram as it came
#   twice   "NAME:1:" and the datagram, then "NAME:2:" and the datagram
#   dns     a DNS answer to a query: its question and one A record,
#           option ip (default 192.0.2.1); no answer to anything else
#   slow    as echo, after option delay seconds (default 1)
#   sink    none (syslog)

my %UDP_MODES = map { $_ => 1 } qw(echo raw twice dns slow sink);

# udp_backend(mode => 'echo', name => 'A', host => '127.0.0.1', ip => ..., delay => SEC)
# Returns {name, mode, host, port, addr, pid, got}; backend_stop() stops it.
sub udp_backend {
    my %o = @_;
    my $b = { mode => $o{mode} // 'echo', host => $o{host} // '127.0.0.1',
        name => $o{name} // 'udp' . ($NBACKEND + 1), ip => $o{ip} // '192.0.2.1',
        delay => $o{delay} // 1, udp => 1 };
    die "udp_backend: unknown mode $b->{mode}" unless $UDP_MODES{$b->{mode}};
    $NBACKEND++;
    $b->{got} = tmpdir() . "/udp-$NBACKEND-$b->{name}.got";
    my $s = IO::Socket::IP->new(LocalHost => $b->{host}, LocalPort => 0, Proto => 'udp')
        or die "udp_backend $b->{name}: cannot bind $b->{host}: $@";
    push @BACKENDS, $b;
    return _backend_fork($b, $s, \&_udp_loop);
}

sub _udp_loop {
    my ($b, $s) = @_;
    $SIG{TERM} = sub { _exit(0) };
    open(my $log, '>>', $b->{got}) or die "$b->{got}: $!";
    my $sel = IO::Select->new($s);
    while (1) {
        _exit(0) if getppid() != $MAIN_PID;
        next unless $sel->can_read(0.2);
        my $peer = recv($s, my $d, 65536, 0);
        next unless defined $peer;
        my ($port) = Socket::sockaddr_family($peer) == Socket::AF_INET6()
            ? Socket::unpack_sockaddr_in6($peer) : Socket::unpack_sockaddr_in($peer);
        syswrite($log, "$port " . length($d) . ' '
            . (length $d <= 256 ? unpack('H*', $d) : '-') . "\n");
        my @out;
        if ($b->{mode} eq 'echo') {
            @out = ("$b->{name}:$d");
        } elsif ($b->{mode} eq 'raw') {
            @out = ($d);
        } elsif ($b->{mode} eq 'twice') {
            @out = ("$b->{name}:1:$d", "$b->{name}:2:$d");
        } elsif ($b->{mode} eq 'dns') {
            @out = grep { defined } (_dns_answer($d, $b->{ip}));
        } elsif ($b->{mode} eq 'slow') {
            sleep $b->{delay};
            @out = ("$b->{name}:$d");
        }
        send($s, $_, 0, $peer) for @out;
    }
}

# The answer to DNS query $q: its id and question, QR and RA set, RD as
# asked, and one A record of $ip for the name asked; undef if $q does
# not hold one question.
sub _dns_answer {
    my ($q, $ip) = @_;
    return undef if length $q < 12;
    my ($id, $flags, $qd) = unpack('n n n', $q);
    return undef unless $qd == 1 && !($flags & 0x8000);
    my $i = 12;
    while (1) {
        return undef if $i >= length $q;
        my $l = ord substr($q, $i++, 1);
        last if $l == 0;
        return undef if $l >= 64;
        $i += $l;
    }
    return undef if $i + 4 > length $q;
    my $head = pack('n6', $id, 0x8080 | ($flags & 0x0100), 1, 1, 0, 0);
    return $head . substr($q, 12, $i + 4 - 12)
        . pack('n n n N n', 0xc00c, 1, 1, 60, 4) . Socket::inet_aton($ip);
}

# The datagrams a UDP backend received so far: [[peer port, length, hex]...].
sub udp_backend_got {
    my ($b) = @_;
    return map { [split / /] } grep { /^\S+ \d+ \S+$/ } split /\n/, slurp($b->{got});
}

# udp_client($port, host => '127.0.0.1', local => '127.0.0.2')
# A UDP socket connected to $host:$port: it sends there, and takes
# datagrams from there only.
sub udp_client {
    my ($port, %o) = @_;
    my $s = IO::Socket::IP->new(PeerHost => $o{host} // '127.0.0.1', PeerPort => $port,
        Proto => 'udp', ($o{local} ? (LocalHost => $o{local}) : ()))
        or die "udp_client: $@";
    return $s;
}

# One datagram from a UDP socket within $timeout s (default 3), or undef.
sub udp_recv {
    my ($s, $timeout) = @_;
    return undef unless IO::Select->new($s)->can_read($timeout // 3);
    my $peer = recv($s, my $d, 70000, 0);
    return defined $peer ? $d : undef;
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
sub cuttle_run { return _run(cuttle_bin(), @_) }

# cuttlectl_run(ARGS...): the same for cuttlectl, with
# $CUTTLE_ADMIN_SOCKET unset so that only -s names the socket.
sub cuttlectl_run {
    local $ENV{CUTTLE_ADMIN_SOCKET};
    delete $ENV{CUTTLE_ADMIN_SOCKET};
    return _run(cuttlectl_bin(), @_);
}

# $CUTTLECTL_BIN, or cuttlectl beside the cuttle binary.
sub cuttlectl_bin {
    my $bin = $ENV{CUTTLECTL_BIN} // dirname(cuttle_bin()) . '/cuttlectl';
    die "cuttlectl binary '$bin' not found or not executable"
        . " (build it with make, or set CUTTLECTL_BIN)\n" unless -f $bin && -x _;
    return abs_path($bin);
}

sub _run {
    my ($bin, @args) = @_;
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

# The pid of the admin process of $c (the master's child titled
# "cuttle: admin"), or undef when none runs.
sub admin_pid {
    my ($c) = @_;
    my ($p) = grep { proc_title($_) eq 'cuttle: admin' } proc_children($c->{pid});
    return $p;
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
# equal (or match, for a qr//) every filter given.  since => MARK keeps
# only lines written after a log_mark: a client port is unique only among
# open connections, and the kernel may hand an earlier client's port to a
# new one.
sub conn_lines {
    my ($c, %f) = @_;
    my $since = delete $f{since};
    my @r;
    for my $line (defined $since ? log_since($c, $since)
            : split /\n/, log_text($c)) {
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

# Worker pids that the test kills itself, which log_clean_ok() accepts.
my %KILLED;
sub expect_killed { $KILLED{$_} = 1 for @_ }

# Every test file ends with this.  Stops the instances still running
# (sanitizers report leaks at exit), then asserts that no error log has
# an [alert] line and that no log, stderr or -t output has a sanitizer
# report.  Without arguments it checks everything this test started.
sub log_clean_ok {
    my @objs = @_ ? @_ : (@CUTTLES, @RUNS);
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (@alerts, @reports, @crashes);
    for my $o (@objs) {
        my @files;
        if ($o->{kind} eq 'cuttle') {
            cuttle_stop($o) unless $o->{exited};
            push @alerts, map { "$o->{log}: $_" }
                grep { /\[alert\]/ } split /\n/, log_text($o);
            # The master respawns a crashed worker at once: a crash may
            # show only here.
            push @crashes, map { "$o->{log}: $_" }
                grep { /\bworker \d+ \(pid (\d+)\) killed by signal\b/ && !$KILLED{$1} }
                split /\n/, log_text($o);
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
    Test::More::ok(!@crashes, 'no worker was killed by a signal the test did not send')
        or Test::More::diag(join "\n", @crashes[0 .. ($#crashes > 20 ? 20 : $#crashes)]);
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

# Segments a connected TCP socket has received so far (tcpi_segs_in of
# TCP_INFO, Linux 4.2 and later), or undef where the kernel lacks it.
sub tcp_segs_in {
    my ($s) = @_;
    my $info = getsockopt($s, IPPROTO_TCP, TCP_INFO);
    # struct tcp_info: 8 bytes of u8 fields, 24 u32, 4 u64, then
    # tcpi_segs_out and tcpi_segs_in.
    return undef unless defined $info && length $info >= 144;
    return unpack('L', substr($info, 140, 4));
}

# Bytes waiting unread in a socket's receive queue (FIONREAD).
sub recv_queue {
    my ($s) = @_;
    my $n = pack('L', 0);
    ioctl($s, 0x541B, $n) or return undef;    # FIONREAD on Linux
    return unpack('L', $n);
}

# Waits (at most $timeout s, default 10) until the peer of $s, which
# this test does not read, has filled $s's receive queue: bytes wait in
# it and their count no longer grows over five looks 50 ms apart.  True
# once stalled.
sub wait_stalled {
    my ($s, $timeout) = @_;
    my ($last, $same) = (-1, 0);
    return wait_until(sub {
        my $n = recv_queue($s) // return 0;
        $same = $n > 0 && $n == $last ? $same + 1 : 0;
        $last = $n;
        return $same >= 5;
    }, $timeout // 10, 0.05);
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
# HTTP origins: the "http" backend mode.  One process per connection
# (as for every backend), keep-alive, and an events file with one JSON
# object per line: each request as it was received, and how each
# connection ended.  The answer is chosen by the first path segment
# that names a command, anywhere in the path ("/v1/echo" is "echo"):
#
#   echo (and any path without a command), upload
#                 200, a JSON of the request: origin, peer (the port of
#                 the upstream connection), n (requests so far on it),
#                 method, target, version, headers [[name, value]...],
#                 body_len, body_md5, framing, trailers
#   size/N        N bytes of origin_body, application/octet-stream, CL
#   html/N        the same as text/html; charset=utf-8
#   json/N        the same as application/json
#   chunked/N     N bytes in chunks of varied sizes (an extension on the
#                 first), then a trailer "X-Trailer: end"
#   close/N       N bytes, no Content-Length nor Transfer-Encoding: the
#                 body ends when the origin closes (close10/N: the same
#                 with an HTTP/1.0 status line)
#   status/NNN    that status; "status NNN\n" but for 204 (nothing) and
#                 304 (a Content-Length: 100 of the representation and
#                 no body)
#   slow/MS       sleeps MS ms, then as echo
#   hang          reads until the peer closes, never answers
#   noread        reads the head only, never the body, never answers
#   early103      two "103 Early Hints", then as echo
#   interim/N     N "103 Early Hints" in one write, then as echo
#   ws            the WebSocket handshake: 101 with Sec-WebSocket-Accept
#                 and "hello from origin\n" in the same write (not with
#                 ?greet=0), then echoes raw bytes until EOF (event
#                 "ws-eof" with the count)
#   bad/KIND      a malformed response, then close: cl-te, two-cl,
#                 cl-invalid, status, garbage, obs-fold, nul, space-colon,
#                 truncated-head, chunk (an invalid chunk size),
#                 short-body (Content-Length 200000, 1000 bytes sent)
#   reset         reads the request, then closes with RST, no answer
#   drop          reads the request, then closes (FIN), no answer
#   mirror        the request body back (CL, or chunked with ?chunked=1)
#
# Query parameters of every answer: h=NAME:VALUE (repeatable) adds a
# response field, ct=TYPE replaces the Content-Type, status=NNN the
# status of size/html/json/chunked, reason=TEXT the reason phrase of
# the status line, close=1 closes the connection after
# the answer without saying so; inm=1 answers 304 (with the h= fields)
# a request whose If-None-Match is the h= ETag, and fail=PATH answers
# 503 while the file PATH exists.  Every answer carries "Server:
# cuttle-test-origin", "X-Origin: NAME", "X-Peer: PORT" and "X-N: N".
# HEAD gets the fields of GET and no body.  A request that is not
# HTTP/1.1 with keep-alive, or has "Connection: close", is answered with
# "Connection: close" and the connection closed.

my %REASON = (
    100 => 'Continue', 101 => 'Switching Protocols', 103 => 'Early Hints',
    200 => 'OK', 201 => 'Created', 202 => 'Accepted', 204 => 'No Content',
    206 => 'Partial Content', 301 => 'Moved Permanently', 302 => 'Found',
    304 => 'Not Modified', 400 => 'Bad Request', 403 => 'Forbidden',
    404 => 'Not Found', 418 => "I'm a teapot",
    500 => 'Internal Server Error', 503 => 'Service Unavailable',
);

my $JSON;
sub _json {
    require JSON::PP;
    $JSON //= JSON::PP->new->ascii->canonical;
    return $JSON;
}

# http_origin(name => 'A', host => '127.0.0.1'|'::1', port => N,
#             keepalive_timeout => SEC, force => 'reset'|'drop'|'hang')
# Starts an HTTP origin (a backend of mode "http", see above) and
# returns it.  keepalive_timeout: an idle connection is closed by the
# origin after SEC seconds (event "idle-close").  force: every request
# is answered as that command, whatever its path.
sub http_origin {
    my %o = @_;
    return backend(%o, mode => 'http');
}

# The events of an origin, oldest first, as hashes ({ev => 'request',
# ...}, {ev => 'eof', peer, n}, {ev => 'idle-close'}, {ev => 'ws-eof'},
# {ev => 'hang-eof'}, {ev => 'eof-in-body'}, {ev => 'slow-done'}: a
# /slow answer was written, or its write failed).
sub origin_log {
    my ($b) = @_;
    my @e;
    for my $l (split /\n/, slurp($b->{events})) {
        my $e = eval { _json()->decode($l) } or next;
        push @e, $e;
    }
    return @e;
}

# The requests an origin received (complete ones: head and body), with
# optional filters (a string equals, a qr// matches) on their fields.
sub origin_requests {
    my ($b, %f) = @_;
    return grep {
        my $e = $_;
        $e->{ev} eq 'request' && !grep {
            my $v = $e->{$_} // '';
            ref $f{$_} eq 'Regexp' ? $v !~ $f{$_} : $v ne $f{$_}
        } keys %f;
    } origin_log($b);
}

# $n bytes of text whose every 64-byte line is numbered, so that a lost,
# doubled or moved piece shows; compressible, as a page is.  Bodies up
# to 4 MiB are kept once made; a larger one with $keep, which a test
# calls before it starts its origin, so that the origin's forked
# children have it at once instead of making it per request.
my %BODY_CACHE;
sub origin_body {
    my ($n, $keep) = @_;
    return $BODY_CACHE{$n} if exists $BODY_CACHE{$n};
    my $lines = int(($n + 63) / 64);
    my $t = join '', map {
        sprintf("%08d %-54s\n", $_, 'the quick brown fox jumps over the lazy dog')
    } 0 .. $lines - 1;
    die 'origin_body: lines are not 64 bytes' unless length $t == 64 * $lines;
    $t = substr($t, 0, $n);
    $BODY_CACHE{$n} = $t if $n <= 4 << 20 || $keep;
    return $t;
}

# The Sec-WebSocket-Accept of a Sec-WebSocket-Key (RFC 6455 4.2.2).
sub ws_accept {
    my ($key) = @_;
    require Digest::SHA;
    require MIME::Base64;
    return MIME::Base64::encode_base64(Digest::SHA::sha1(
        $key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'), '');
}

sub _origin_event {
    my ($b, $e) = @_;
    open(my $fh, '>>', $b->{events}) or return;
    syswrite($fh, _json()->encode({ origin => $b->{name}, %$e }) . "\n");
    close $fh;
}

# More bytes into $c->{buf}: false at EOF or error.
sub _origin_more {
    my ($c) = @_;
    while (1) {
        my $n = sysread($c->{s}, $c->{buf}, 262144, length $c->{buf});
        return 1 if $n;
        return 0 if defined $n || !$!{EINTR};
    }
}

sub _origin_conn {
    my ($b, $s) = @_;
    my $c = { s => $s, buf => '', peer => $s->peerport, n => 0 };
    while (1) {
        my $req = _origin_head($b, $c) or return;
        $c->{n}++;
        return unless _origin_handle($b, $c, $req);
    }
}

# Reads and parses one request head; undef when the connection ends
# (after logging how).  Lenient: it is there to see what cuttle sends.
sub _origin_head {
    my ($b, $c) = @_;
    my $sel = IO::Select->new($c->{s});
    while ((my $i = index($c->{buf}, "\r\n\r\n")) < 0) {
        if ($c->{buf} eq '' && $b->{keepalive_timeout}
                && !$sel->can_read($b->{keepalive_timeout})) {
            _origin_event($b, { ev => 'idle-close', peer => $c->{peer},
                n => $c->{n} });
            return undef;
        }
        if (!_origin_more($c) || length $c->{buf} > 1 << 20) {
            _origin_event($b, { ev => 'eof', peer => $c->{peer},
                n => $c->{n}, partial => length $c->{buf} });
            return undef;
        }
    }
    my $i = index($c->{buf}, "\r\n\r\n");
    my $head = substr($c->{buf}, 0, $i);
    substr($c->{buf}, 0, $i + 4) = '';
    my ($line, @lines) = split /\r\n/, $head, -1;
    my %r = (line => $line, headers => []);
    if ($line =~ m!\A(\S+) (\S+) HTTP/(\d\.\d)\z!) {
        @r{qw(method target version)} = ($1, $2, $3);
    } else {
        @r{qw(method target version)} = ('?', '?', '1.1');
        $r{bad} = 1;
    }
    for (@lines) {
        if (/\A([^:]+):[ \t]*(.*?)[ \t]*\z/s) {
            push @{$r{headers}}, [$1, $2];
        } else {
            $r{bad} = 1;
        }
    }
    my $path = $r{target};
    $path = $1 // '/' if $path =~ m!\A[a-z]+://[^/?]*(/.*)?\z!i;
    ($r{path}, $r{query}) = $path =~ /\A([^?]*)(?:\?(.*))?\z/s;
    $r{query} //= '';
    my %q;
    for (split /&/, $r{query}) {
        my ($k, $v) = split /=/, $_, 2;
        next unless defined $k;
        $v //= '';
        s/\+/ /g, s/%([0-9A-Fa-f]{2})/chr hex $1/ge for $k, $v;
        push @{$q{$k}}, $v;
    }
    $r{q} = \%q;
    return \%r;
}

sub _req_hdr {
    my ($r, $name) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name } @{$r->{headers}};
    return @v ? join(', ', @v) : undef;
}

# Reads the body of $r, giving each piece to $sink.  False at EOF.
sub _origin_body {
    my ($b, $c, $r, $sink) = @_;
    my $te = _req_hdr($r, 'Transfer-Encoding');
    my $cl = _req_hdr($r, 'Content-Length');
    if (defined $te && $te =~ /chunked\s*\z/i) {
        $r->{framing} = 'chunked';
        while (1) {
            my $i;
            while (($i = index($c->{buf}, "\r\n")) < 0) {
                _origin_more($c) or return 0;
            }
            my $line = substr($c->{buf}, 0, $i + 2, '');
            my ($hex) = $line =~ /\A([0-9A-Fa-f]+)/ or return 0;
            my $left = hex $hex;
            last if $left == 0;
            while ($left > 0) {
                _origin_more($c) or return 0 if $c->{buf} eq '';
                my $take = substr($c->{buf}, 0,
                    $left < length $c->{buf} ? $left : length $c->{buf}, '');
                $sink->($take);
                $left -= length $take;
            }
            while (length $c->{buf} < 2) {
                _origin_more($c) or return 0;
            }
            substr($c->{buf}, 0, 2, '');
        }
        my @trailers;
        while (1) {
            my $i;
            while (($i = index($c->{buf}, "\r\n")) < 0) {
                _origin_more($c) or return 0;
            }
            my $line = substr($c->{buf}, 0, $i + 2, '');
            last if $line eq "\r\n";
            push @trailers, [$1, $2] if $line =~ /\A([^:]+):[ \t]*(.*?)[ \t]*\r\n\z/;
        }
        $r->{trailers} = \@trailers;
        return 1;
    }
    if (defined $cl && $cl =~ /\A\d+\z/ && $cl > 0) {
        $r->{framing} = 'length';
        my $left = $cl;
        while ($left > 0) {
            _origin_more($c) or return 0 if $c->{buf} eq '';
            my $take = substr($c->{buf}, 0,
                $left < length $c->{buf} ? $left : length $c->{buf}, '');
            $sink->($take);
            $left -= length $take;
        }
        return 1;
    }
    $r->{framing} = defined $cl ? 'length' : 'none';
    return 1;
}

my $CMD_RE = qr!/(echo|upload|size|html|json|chunked|close10|close|status
    |slow|hang|noread|early103|interim|ws|bad|reset|drop|mirror)(?:/([^/?]*))?!x;

# Answers one request; true to keep the connection for the next one.
sub _origin_handle {
    my ($b, $c, $r) = @_;
    my ($cmd, $arg) = $r->{path} =~ $CMD_RE;
    $cmd //= 'echo';
    $cmd = $b->{force} if $b->{force};
    $arg //= '';
    my $s = $c->{s};
    my $conn = lc(_req_hdr($r, 'Connection') // '');
    my $keep = !$r->{bad} && ($r->{version} eq '1.1'
        ? $conn !~ /\bclose\b/ : $conn =~ /\bkeep-alive\b/);
    my $head_only = $r->{method} eq 'HEAD';
    my %common = (peer => $c->{peer}, n => $c->{n},
        map { $_ => $r->{$_} } qw(method target version headers));

    if ($cmd eq 'hang') {
        _origin_event($b, { ev => 'hang', %common });
        $c->{buf} = '' while _origin_more($c);
        _origin_event($b, { ev => 'hang-eof', peer => $c->{peer} });
        return 0;
    }
    if ($cmd eq 'noread') {
        _origin_event($b, { ev => 'noread', %common });
        # Never reads again; stopped by alarm or backend_stop.
        sleep 1 while getppid() > 1;
        return 0;
    }
    if ($cmd eq 'ws') {
        return _origin_ws($b, $c, $r, \%common);
    }

    my $md5 = Digest::MD5->new;
    my ($len, $keep_body, $body) = (0, $cmd eq 'mirror', '');
    my $ok = _origin_body($b, $c, $r, sub {
        $len += length $_[0];
        $md5->add($_[0]);
        $body .= $_[0] if $keep_body && length $body < 64 << 20;
    });
    if (!$ok) {
        _origin_event($b, { ev => 'eof-in-body', %common, body_len => $len });
        return 0;
    }
    my %req = (%common, body_len => $len, body_md5 => $md5->hexdigest,
        framing => $r->{framing}, trailers => $r->{trailers} // []);
    _origin_event($b, { ev => 'request', %req });

    my $q = $r->{q};
    my $silent_close = ($q->{close} // [''])->[0] eq '1';
    my @extra = map { /\A([^:]+):\s*(.*)\z/s ? [$1, $2] : () } @{$q->{h} // []};
    my $status = ($q->{status} // [200])->[0];
    my $ct = ($q->{ct} // [undef])->[0];
    my $write = sub { _srv_write($s, $_[0]) };
    my $head = sub {
        my ($st, @h) = @_;
        my $t = "HTTP/1.1 $st " . (($q->{reason} // [])->[0] // $REASON{$st} // 'Whatever') . "\r\n";
        $t .= "$_->[0]: $_->[1]\r\n" for [Server => 'cuttle-test-origin'],
            ['X-Origin' => $b->{name}], ['X-Peer' => $c->{peer}],
            ['X-N' => $c->{n}], @h, @extra;
        $t .= "Connection: close\r\n" unless $keep;
        return "$t\r\n";
    };
    my $simple = sub {
        my ($st, $type, $data) = @_;
        $write->($head->($st, ['Content-Type' => $ct // $type],
            ['Content-Length' => length $data]) . ($head_only ? '' : $data));
    };

    if ($cmd eq 'slow') {
        sleep(($arg =~ /\A\d+\z/ ? $arg : 1000) / 1000);
    }
    # inm=1: a request whose If-None-Match names the ETag given with h= is
    # answered 304 with the h= fields; fail=PATH: while PATH exists, 503.
    if (($q->{inm} // [''])->[0] eq '1') {
        my ($etag) = map { $_->[1] } grep { lc $_->[0] eq 'etag' } @extra;
        my $inm = _req_hdr($r, 'If-None-Match');
        if (defined $etag && defined $inm && $inm eq $etag) {
            $write->($head->(304));
            return $keep;
        }
    }
    if (defined $q->{fail} && -e $q->{fail}[0]) {
        $simple->(503, 'text/plain', "failing\n");
        return $keep;
    }

    if ($cmd eq 'echo' || $cmd eq 'upload' || $cmd eq 'slow'
            || $cmd eq 'early103' || $cmd eq 'interim') {
        if ($cmd eq 'interim') {
            # /interim/N: N "103 Early Hints" in one write, then the echo.
            $write->(join '', map { "HTTP/1.1 103 Early Hints\r\nLink: </$_.css>; rel=preload\r\n\r\n" }
                1 .. ($arg =~ /\A\d+\z/ ? $arg : 1));
        }
        if ($cmd eq 'early103') {
            $write->("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
            sleep 0.05;
            $write->("HTTP/1.1 103 Early Hints\r\nLink: </b.js>; rel=preload\r\n\r\n");
            sleep 0.05;
        }
        $simple->($status, 'application/json',
            _json()->encode({ origin => $b->{name}, %req }));
        # Tests wait for a late answer to have gone out (or failed to).
        _origin_event($b, { ev => 'slow-done', peer => $c->{peer} }) if $cmd eq 'slow';
    } elsif ($cmd eq 'size' || $cmd eq 'html' || $cmd eq 'json') {
        my %type = (size => 'application/octet-stream',
            html => 'text/html; charset=utf-8', json => 'application/json');
        $simple->($status, $type{$cmd}, origin_body($arg =~ /\A\d+\z/ ? $arg : 0));
    } elsif ($cmd eq 'chunked' || ($cmd eq 'mirror' && $q->{chunked})) {
        my $data = $cmd eq 'mirror' ? $body : origin_body($arg =~ /\A\d+\z/ ? $arg : 0);
        $write->($head->($status, ['Content-Type' => $ct // 'application/octet-stream'],
            ['Transfer-Encoding' => 'chunked'], ['Trailer' => 'X-Trailer']));
        if (!$head_only) {
            my ($off, $k) = (0, 0);
            my @sizes = (1, 10, 100, 1000, 4096, 65536, 7);
            while ($off < length $data) {
                my $n = $sizes[$k++ % @sizes];
                $n = length($data) - $off if $off + $n > length $data;
                my $ext = $k == 1 ? ';ext="first"' : '';
                $write->(sprintf("%x%s\r\n", $n, $ext) . substr($data, $off, $n) . "\r\n")
                    or return 0;
                $off += $n;
            }
            $write->("0\r\nX-Trailer: end\r\n\r\n");
        }
    } elsif ($cmd eq 'mirror') {
        $simple->($status, $ct // 'application/octet-stream', $body);
    } elsif ($cmd eq 'close' || $cmd eq 'close10') {
        my $v = $cmd eq 'close10' ? '1.0' : '1.1';
        my $data = origin_body($arg =~ /\A\d+\z/ ? $arg : 0);
        my $t = "HTTP/$v 200 OK\r\nServer: cuttle-test-origin\r\n"
            . "X-Origin: $b->{name}\r\nContent-Type: text/plain\r\n";
        $t .= "$_->[0]: $_->[1]\r\n" for @extra;
        $write->("$t\r\n" . ($head_only ? '' : $data));
        return 0;
    } elsif ($cmd eq 'status') {
        my $st = $arg =~ /\A[1-5]\d\d\z/ ? $arg : 200;
        if ($st == 204) {
            $write->($head->($st));
        } elsif ($st == 304) {
            $write->($head->($st, ['ETag' => '"v1"'], ['Content-Length' => 100]));
        } else {
            $simple->($st, 'text/plain', "status $st\n");
        }
    } elsif ($cmd eq 'bad') {
        my %bad = (
            'cl-te' => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            'two-cl' => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            'cl-invalid' => "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
            'status' => "HTTP/1.1 2OO OK\r\nContent-Length: 5\r\n\r\nhello",
            'garbage' => "hello, this is not HTTP\r\n\r\n",
            'obs-fold' => "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 5\r\n\r\nhello",
            'nul' => "HTTP/1.1 200 OK\r\nX-Nul: a\0b\r\nContent-Length: 5\r\n\r\nhello",
            'space-colon' => "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello",
            'truncated-head' => "HTTP/1.1 200 OK\r\nContent-Le",
            'short-body' => "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" . ('x' x 1000),
            'chunk' => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        );
        $write->($bad{$arg} // "HTTP/1.1 200 OK\r\n\x01\r\n\r\n");
        return 0;
    } elsif ($cmd eq 'reset') {
        setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_LINGER(), pack('ii', 1, 0));
        close $s;
        return 0;
    } elsif ($cmd eq 'drop') {
        return 0;
    }
    return 0 if $silent_close;
    return $keep;
}

sub _origin_ws {
    my ($b, $c, $r, $common) = @_;
    my $key = _req_hdr($r, 'Sec-WebSocket-Key');
    my $upgrade = lc(_req_hdr($r, 'Upgrade') // '');
    my $conn = lc(_req_hdr($r, 'Connection') // '');
    if (!defined $key || $upgrade ne 'websocket' || $conn !~ /\bupgrade\b/) {
        _origin_event($b, { ev => 'request', %$common, ws => 'refused' });
        my $t = "not an upgrade\n";
        _srv_write($c->{s}, "HTTP/1.1 400 Bad Request\r\nServer: cuttle-test-origin\r\n"
            . "Content-Length: " . length($t) . "\r\nConnection: close\r\n\r\n$t");
        return 0;
    }
    _origin_event($b, { ev => 'request', %$common, ws => 'accepted' });
    _srv_write($c->{s}, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        . "Connection: Upgrade\r\nSec-WebSocket-Accept: " . ws_accept($key)
        . "\r\nX-Origin: $b->{name}\r\n\r\n"
        . (($r->{q}{greet} // [1])->[0] ? "hello from origin\n" : '')) or return 0;
    my $n = 0;
    while (1) {
        if ($c->{buf} ne '') {
            $n += length $c->{buf};
            _srv_write($c->{s}, $c->{buf}) or last;
            $c->{buf} = '';
        }
        _origin_more($c) or last;
    }
    _origin_event($b, { ev => 'ws-eof', peer => $c->{peer}, bytes => $n });
    return 0;
}

# ---------------------------------------------------------------------
# HTTP clients.  Requests are built byte for byte; responses are parsed
# strictly enough that a stray byte (a body after HEAD, a wrong length)
# breaks the parse of the next response on the connection.

# http_req_bytes(method => 'GET', target => '/', version => '1.1',
#     host => 'localhost' (undef: no Host field), headers => [[N, V]...],
#     body => BYTES, chunks => [PIECE...] (chunked, with a last chunk),
#     no_length => 1 (no Content-Length for body))
sub http_req_bytes {
    my %o = @_;
    my $t = ($o{method} // 'GET') . ' ' . ($o{target} // '/') . ' HTTP/'
        . ($o{version} // '1.1') . "\r\n";
    my $host = exists $o{host} ? $o{host} : 'localhost';
    $t .= "Host: $host\r\n" if defined $host;
    $t .= "$_->[0]: $_->[1]\r\n" for @{$o{headers} // []};
    my $body = '';
    if ($o{chunks}) {
        $t .= "Transfer-Encoding: chunked\r\n";
        $body = join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) }
            grep { length } @{$o{chunks}}) . "0\r\n\r\n";
    } elsif (defined $o{body}) {
        $t .= 'Content-Length: ' . length($o{body}) . "\r\n" unless $o{no_length};
        $body = $o{body};
    }
    return "$t\r\n$body";
}

sub http_send {
    my ($s, %o) = @_;
    return send_all($s, http_req_bytes(%o), $o{timeout} // 10);
}

# More bytes into the socket's buffer before $deadline: 1, or 0 on
# timeout, or undef at EOF / error.
sub _fill {
    my ($s, $deadline) = @_;
    while (1) {
        my $d = _read_some($s, $deadline - time);
        return undef unless defined $d;
        if ($d ne '') {
            ${*$s}{ct_buf} .= $d;
            return 1;
        }
        return 0 if time >= $deadline;
    }
}

my $TOKEN = qr/[!#\$%&'*+.^_`|~0-9A-Za-z-]+/;

# One response head from the socket's buffer: a hash, or a string that
# says what went wrong.
sub _resp_head {
    my ($s, $deadline) = @_;
    while (1) {
        my $b = ${*$s}{ct_buf};
        my $i = index($b, "\r\n\r\n");
        if ($i >= 0) {
            my $raw = substr($b, 0, $i + 4);
            ${*$s}{ct_buf} = substr($b, $i + 4);
            my ($line, @lines) = split /\r\n/, substr($raw, 0, $i), -1;
            my %h = (raw => $raw, headers => []);
            @h{qw(version status reason)} = $line =~ m!\AHTTP/(1\.[01]) (\d\d\d) ([^\r\n]*)\z!
                or return "bad status line: $line";
            for (@lines) {
                /\A($TOKEN):[ \t]*(.*?)[ \t]*\z/ or return "bad field line: $_";
                push @{$h{headers}}, [$1, $2];
            }
            $h{h} = {};
            for (@{$h{headers}}) {
                my $k = lc $_->[0];
                $h{h}{$k} = defined $h{h}{$k} ? "$h{h}{$k}, $_->[1]" : $_->[1];
            }
            return \%h;
        }
        return "head over 1 MB" if length $b > 1 << 20;
        my $r = _fill($s, $deadline);
        return "closed before a complete head (got "
            . length(${*$s}{ct_buf}) . ' bytes)' unless defined $r;
        return 'timeout before a complete head (got '
            . length(${*$s}{ct_buf}) . ' bytes)' unless $r;
    }
}

# http_recv($s, method => 'HEAD', timeout => 5)
# Reads one response: interim (1xx but 101) responses are collected in
# {interim}.  Returns {version, status, reason, headers => [[N, V]...],
# h => {lc name => values joined by ", "}, body, framing ('length',
# 'chunked', 'close', 'none'), trailers, interim => [...], raw (every
# byte of the response), eof (the body ended with the connection)} or,
# when no whole response came, {error => WHY, raw => what came}.
sub http_recv {
    my ($s, %o) = @_;
    my $deadline = time + ($o{timeout} // 5);
    my @interim;
    my $raw = '';
    my $h;
    while (1) {
        $h = _resp_head($s, $deadline);
        return { error => $h, raw => $raw . ${*$s}{ct_buf}, interim => \@interim }
            unless ref $h;
        $raw .= $h->{raw};
        last unless $h->{status} =~ /\A1/ && $h->{status} != 101;
        push @interim, $h;
    }
    my $r = { %$h, interim => \@interim, body => '', trailers => [] };
    my $fail = sub {
        $r->{error} = $_[0];
        $r->{raw} = $raw . ${*$s}{ct_buf};
        return $r;
    };
    my $need = sub {   # at least $n bytes buffered
        my ($n) = @_;
        while (length(${*$s}{ct_buf}) < $n) {
            my $f = _fill($s, $deadline);
            return defined $f ? 'timeout in the body' : 'closed in the body'
                unless $f;
        }
        return '';
    };
    my $take = sub {
        my ($n) = @_;
        my $d = substr(${*$s}{ct_buf}, 0, $n, '');
        $raw .= $d;
        return $d;
    };
    my $te = $r->{h}{'transfer-encoding'};
    my $cl = $r->{h}{'content-length'};
    if (($o{method} // '') eq 'HEAD' || $r->{status} =~ /\A(?:1\d\d|204|304)\z/) {
        $r->{framing} = 'none';
    } elsif (defined $te) {
        return $fail->("Transfer-Encoding '$te' is not chunked")
            unless $te =~ /\Achunked\z/i;
        $r->{framing} = 'chunked';
        while (1) {
            my $i;
            while (($i = index(${*$s}{ct_buf}, "\r\n")) < 0) {
                my $f = _fill($s, $deadline);
                return $fail->(defined $f ? 'timeout in a chunk size' : 'closed in a chunk size')
                    unless $f;
            }
            my $line = $take->($i + 2);
            my ($hex) = $line =~ /\A([0-9A-Fa-f]{1,15})(?:;[^\r\n]*)?\r\n\z/
                or return $fail->("bad chunk size line: $line");
            my $n = hex $hex;
            if ($n == 0) {
                while (1) {
                    while (($i = index(${*$s}{ct_buf}, "\r\n")) < 0) {
                        my $f = _fill($s, $deadline);
                        return $fail->('no end of the trailers') unless $f;
                    }
                    my $t = $take->($i + 2);
                    last if $t eq "\r\n";
                    push @{$r->{trailers}}, [$1, $2]
                        if $t =~ /\A($TOKEN):[ \t]*(.*?)[ \t]*\r\n\z/;
                }
                last;
            }
            my $e = $need->($n + 2);
            return $fail->($e) if $e;
            $r->{body} .= $take->($n);
            return $fail->('no CRLF after chunk data') unless $take->(2) eq "\r\n";
        }
    } elsif (defined $cl) {
        return $fail->("bad Content-Length '$cl'") unless $cl =~ /\A\d+\z/;
        $r->{framing} = 'length';
        my $e = $need->($cl);
        return $fail->($e) if $e;
        $r->{body} = $take->($cl);
    } else {
        $r->{framing} = 'close';
        while (1) {
            my $f = _fill($s, $deadline);
            last unless defined $f;
            return $fail->('timeout in a close-delimited body') unless $f;
        }
        $r->{body} = $take->(length ${*$s}{ct_buf});
        $r->{eof} = 1;
    }
    $r->{raw} = $raw;
    return $r;
}

# http_get($port, $target, addr => '127.0.0.1', close_wait => SEC, and
# the options of http_req_bytes and http_recv)
# One request on a new connection, one response, then close.  With
# close_wait, also waits that long for cuttle to close the connection
# after the response: {closed} (and {after}: bytes that came instead).
# {client_port} is the client's port.
sub http_get {
    my ($port, $target, %o) = @_;
    my $s = tcp_connect($port, host => $o{addr} // '127.0.0.1')
        or return { error => "connect: $@" };
    my $cport = $s->sockport;
    http_send($s, %o, target => $target)
        or return { error => "send: $!", client_port => $cport };
    my $r = http_recv($s, %o);
    $r->{client_port} = $cport;
    if ($o{close_wait} && !$r->{error}) {
        if ($r->{eof}) {
            $r->{closed} = 1;
        } else {
            my $e = recv_until_eof($s, $o{close_wait});
            $r->{closed} = $e->{closed};
            $r->{after} = $e->{data};
        }
    }
    close $s;
    return $r;
}

# One request to the admin API on TCP port $port, or on the unix socket
# $o{unix}: method, path, and the fields cookie, origin, bearer (a token
# for Authorization), extra (more lines) and body (JSON); from: the
# local address to send from (127.0.0.2 ...).  Returns {status, h, body}:
# h maps lower-case field names to lists of values.
sub admin_req {
    my ($port, $method, $path, %o) = @_;
    my $s = $o{unix} ? IO::Socket::UNIX->new(Peer => $o{unix})
        : tcp_connect($port, ($o{from} ? (local => $o{from}) : ()));
    return { status => 'none', h => {}, body => "connect: $!" } unless $s;
    $s->blocking(0);
    my $body = $o{body} // '';
    my $r = "$method $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n";
    $r .= "Cookie: $o{cookie}\r\n" if defined $o{cookie};
    $r .= "Origin: $o{origin}\r\n" if defined $o{origin};
    $r .= "Authorization: Bearer $o{bearer}\r\n" if defined $o{bearer};
    $r .= "$_\r\n" for @{ $o{extra} // [] };
    $r .= "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n"
        if length $body;
    send_all($s, "$r\r\n$body");
    my $got = recv_until_eof($s, 5)->{data};
    my ($head, $b) = split /\r\n\r\n/, $got, 2;
    my %h;
    my ($st) = ($head // '') =~ m{\AHTTP/1\.1 (\d{3})};
    for (split /\r\n/, $head // '') {
        push @{ $h{lc $1} }, $2 if /^([^:]+):\s*(.*)$/;
    }
    return { status => $st // 'none', h => \%h, body => $b // '' };
}

# The decoded JSON body of a response (an echo), or {} if it is not one.
sub http_json {
    my ($r) = @_;
    my $j = eval { _json()->decode($r->{body} // '') };
    return ref $j eq 'HASH' ? $j : {};
}

# The values of the fields named $name in a response or an echo (its
# headers list), in order.
sub hdr_all {
    my ($r, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq lc $name } @{$r->{headers} // []};
}

# The same joined by ", ", or undef when there is none: fields that
# repeat mean the same as one field with the values in a list.
sub hdr {
    my @v = hdr_all(@_);
    return @v ? join(', ', @v) : undef;
}

# The reason phrases cuttle may give (RFC 9110, and RFC 7231's older
# names where they changed).
my %ERROR_REASON = (
    400 => ['Bad Request'], 404 => ['Not Found'], 408 => ['Request Timeout'],
    413 => ['Content Too Large', 'Payload Too Large'],
    414 => ['URI Too Long'], 431 => ['Request Header Fields Too Large'],
    501 => ['Not Implemented'], 502 => ['Bad Gateway'],
    504 => ['Gateway Timeout'], 505 => ['HTTP Version Not Supported'],
);
my %ERROR_CLOSES = map { $_ => 1 } 400, 408, 413, 414, 431, 501, 505;

# Asserts (one test) that $r is an answer of cuttle's own with $status:
# "STATUS Reason\n" as a text/plain body, Server: cuttle, and for the
# statuses that end a connection, Connection: close.
sub http_error_ok {
    my ($r, $status, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @reasons = @{$ERROR_REASON{$status} // die "no reason for $status"};
    my $reason = (grep { $_ eq ($r->{reason} // '') } @reasons) ? $r->{reason} : $reasons[0];
    my $ct = $r->{h}{'content-type'} // '-';
    $ct = 'text/plain' if $ct =~ m!\Atext/plain\s*(?:;.*)?\z!i;
    my %got = (status => $r->{status} // "none ($r->{error})",
        reason => $r->{reason}, body => $r->{body},
        'content-type' => $ct, server => $r->{h}{server} // '-');
    my %want = (status => $status, reason => $reason,
        body => "$status $reason\n", 'content-type' => 'text/plain',
        server => 'cuttle');
    if ($ERROR_CLOSES{$status}) {
        $got{connection} = lc($r->{h}{connection} // '-');
        $want{connection} = 'close';
    }
    return Test::More::is_deeply(\%got, \%want, $name)
        || Test::More::diag('raw: ' . show_bytes($r->{raw} // ''));
}

# Bytes made readable: controls escaped, cut at 600.
sub show_bytes {
    my ($t) = @_;
    $t = substr($t, 0, 600) . '...' if length $t > 600;
    $t =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    return $t;
}

# ---------------------------------------------------------------------
# Tools

# curl_run(ARGS...): runs curl (never through a proxy, at most 20 s) and
# returns {status, stdout, stderr}.
# curl_proxy(ARGS): curl_run through the proxy that ARGS name (-x,
# --socks5, ...), which curl_run's --noproxy would bypass.
sub curl_proxy { return _curl(0, @_) }

sub curl_run { return _curl(1, @_) }

sub _curl {
    my ($noproxy, @args) = @_;
    my $dir = tmpdir();
    my $n = ++$NRUN;
    my ($out, $err) = ("$dir/curl-$n.stdout", "$dir/curl-$n.stderr");
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', $out) or _exit(126);
        open(STDERR, '>', $err) or _exit(126);
        delete @ENV{qw(http_proxy HTTP_PROXY all_proxy ALL_PROXY)};
        { no warnings 'exec'; exec 'curl', '-sS', ($noproxy ? ('--noproxy', '*') : ()),
            '--max-time', '15', @args; }
        _exit(127);
    }
    my $st = _reap($pid, 20);
    if (!defined $st) {
        kill 'KILL', $pid;
        $st = _reap($pid, 5);
    }
    return { status => defined $st && !($st & 127) ? $st >> 8 : -1,
        stdout => slurp($out), stderr => slurp($err) };
}

# VmRSS of $pid in kB.
sub proc_rss_kb {
    my ($pid) = @_;
    my ($kb) = slurp("/proc/$pid/status") =~ /^VmRSS:\s+(\d+) kB/m;
    return $kb;
}

# A port where connect() hangs: a listening socket with a backlog of 1
# that nobody accepts from, filled by two queued connections, so that
# further SYNs are dropped.  Kept open until the test exits.
my @HOLES;
sub black_hole_port {
    my $port = free_port();
    socket(my $hole, Socket::PF_INET(), Socket::SOCK_STREAM(), 0) or die "socket: $!";
    setsockopt($hole, Socket::SOL_SOCKET(), Socket::SO_REUSEADDR(), 1)
        or die "setsockopt: $!";
    bind($hole, Socket::pack_sockaddr_in($port, Socket::inet_aton('127.0.0.1')))
        or die "bind: $!";
    listen($hole, 1) or die "listen: $!";
    push @HOLES, $hole, map { tcp_connect($port) or die "fill: $@" } 1 .. 2;
    return $port;
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

# ---------------------------------------------------------------------
# A name server

# dns_server(names => {NAME => [ADDR, ...]}, silent => [NAME, ...])
# Starts a UDP name server on 127.0.0.1 that answers A and AAAA
# questions for NAME with its IPv4 and IPv6 addresses (TTL 60), NODATA
# for a family a name lacks, NXDOMAIN for any other name, and nothing at
# all for a silent name (a name server that does not answer).  Returns
# {port, addr => "127.0.0.1:PORT", pid, queries => FILE}: each question
# is a line "NAME TYPE" of FILE.  Stopped in END like a backend.
sub dns_server {
    my %o = @_;
    my $s = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
        Proto => 'udp') or die "dns_server: $@";
    my $d = { name => 'dns', port => $s->sockport,
        queries => tmpdir() . "/dns-" . $s->sockport . ".log" };
    $d->{addr} = "127.0.0.1:$d->{port}";
    my %names = map { lc($_) => $o{names}{$_} } keys %{ $o{names} // {} };
    my %silent = map { lc($_) => 1 } @{ $o{silent} // [] };
    my $pid = fork;
    die "dns_server: fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(my $q, '>>', $d->{queries}) or _exit(1);
        $q->autoflush(1);
        while (1) {
            my $peer = $s->recv(my $m, 1500) // next;
            next if length $m < 17;
            my ($id, $flags) = unpack('n n', $m);
            my ($i, @labels) = (12);
            while ($i < length $m) {
                my $n = ord substr($m, $i, 1);
                last if $n == 0;
                push @labels, substr($m, $i + 1, $n);
                $i += 1 + $n;
            }
            my $name = lc join('.', @labels);
            my $qtype = unpack('n', substr($m, $i + 1, 2));
            my $question = substr($m, 12, $i + 5 - 12);
            print $q "$name $qtype\n";
            next if $silent{$name};
            my @rr;
            for my $a (@{ $names{$name} // [] }) {
                my $v6 = $a =~ /:/;
                next if ($qtype == 28) != $v6 || ($qtype != 1 && $qtype != 28);
                my $rdata = $v6 ? Socket::inet_pton(Socket::AF_INET6(), $a)
                    : Socket::inet_aton($a);
                push @rr, pack('n n n N n', 0xc00c, $qtype, 1, 60, length $rdata) . $rdata;
            }
            my $rcode = exists $names{$name} ? 0 : 3;
            my $head = pack('n n n n n n', $id, 0x8180 | ($flags & 0x0100) | $rcode, 1,
                scalar @rr, 0, 0);
            $s->send($head . $question . join('', @rr), 0, $peer);
        }
    }
    close $s;
    $d->{pid} = $pid;
    push @BACKENDS, $d;
    return $d;
}

# ---------------------------------------------------------------------
# Geo databases

# Writes a MaxMind DB (IPv4) to $path where each network of %$nets
# ("127.0.0.0/24" => "DE") has that country's ISO code, as
# {country => {iso_code => CODE}}.  Loopback networks are kept (the
# writer drops reserved ones by default).  Returns $path.
sub mmdb_write {
    my ($path, $nets) = @_;
    require MaxMind::DB::Writer::Tree;
    my %types = (country => 'map', iso_code => 'utf8_string');
    my $tree = MaxMind::DB::Writer::Tree->new(
        ip_version => 4, record_size => 24, database_type => 'cuttle-test-country',
        languages => ['en'], description => { en => 'cuttle tests' },
        remove_reserved_networks => 0,
        map_key_type_callback => sub { $types{ $_[0] } });
    $tree->insert_network($_, { country => { iso_code => $nets->{$_} } }) for sort keys %$nets;
    open my $fh, '>:raw', "$path.tmp" or die "open $path.tmp: $!";
    $tree->write_tree($fh);
    close $fh or die "close $path.tmp: $!";
    # Renamed into place, as a database update would be: a reload never
    # sees half a file.
    rename "$path.tmp", $path or die "rename $path: $!";
    return $path;
}

1;
