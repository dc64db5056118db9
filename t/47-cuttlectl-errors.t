# cuttlectl when the other end goes away: an admin socket that closes
# or resets the connection without answering, and an output that nobody
# reads any more, are errors with a message and exit status 1, never a
# death by SIGPIPE.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::UNIX;
use POSIX qw(_exit);
use CuttleTest;

my $dir = tmpdir();
my $CTL = cuttlectl_bin();

# A fake admin socket at PATH, served by a child: "read-close" reads the
# request head and closes, "close" closes at once, unread.
sub fake_admin {
    my ($path, $how) = @_;
    unlink $path;
    my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $path, Listen => 64)
        or die "listen $path: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        while (my $s = $l->accept) {
            if ($how eq 'read-close') {
                my $head = '';
                while ($head !~ /\r\n\r\n/) {
                    my $n = sysread($s, $head, 4096, length $head);
                    last unless $n;
                }
            }
            close $s;
        }
        _exit(0);
    }
    close $l;
    return $pid;
}

# --- a connection closed after the request, without an answer
{
    my $pid = fake_admin("$dir/rc.sock", 'read-close');
    my $r = cuttlectl_run('-s', "$dir/rc.sock", 'status');
    is($r->{signal}, 0, 'cuttlectl is not killed by a signal');
    is($r->{status}, 1, 'an admin socket that closes without answering: exit 1');
    like($r->{stderr}, qr/^cuttlectl: the admin process closed the connection without answering\b/,
        '... and says so') or diag($r->{stderr});
    kill 'TERM', $pid;
    waitpid($pid, 0);
}

# --- closed before the request is read: a write may meet EPIPE
{
    my $pid = fake_admin("$dir/c.sock", 'close');
    my (%signal, %status, @bad);
    for (1 .. 20) {
        my $r = cuttlectl_run('-s', "$dir/c.sock", 'status');
        $signal{$r->{signal}}++;
        $status{$r->{status}}++;
        push @bad, $r->{stderr} unless $r->{stderr} =~ /^cuttlectl: .*the admin process closed the connection\b/;
    }
    is_deeply(\%signal, { 0 => 20 }, '20 runs against a socket that closes at once: no signal');
    is_deeply(\%status, { 1 => 20 }, '... each exits 1');
    is_deeply(\@bad, [], '... saying that the admin process closed the connection');
    kill 'TERM', $pid;
    waitpid($pid, 0);
}

# --- stdout a pipe whose reader is gone
{
    my $H = backend(mode => 'hold', name => 'H');
    my $port = free_port();
    my $c = cuttle_start(<<"EOF", workers => 1);
admin: {socket: %TMP%/admin.sock}
upstreams:
  hold:
    servers:
      - {address: $H->{addr}}
listeners:
  - {name: tcpl, listen: 127.0.0.1:$port, mode: tcp, upstream: hold}
EOF
    ok(wait_until(sub { -S "$dir/admin.sock" }, 5), 'the admin socket exists');
    pipe(my $rd, my $wr) or die "pipe: $!";
    close $rd;
    my $err = "$dir/pipe.stderr";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>&', $wr) or _exit(126);
        open(STDERR, '>', $err) or _exit(126);
        # As a shell starts a pipeline: SIGPIPE at its default.
        $SIG{PIPE} = 'DEFAULT';
        { no warnings 'exec'; exec $CTL, '-s', "$dir/admin.sock", 'status'; }
        _exit(127);
    }
    close $wr;
    waitpid($pid, 0);
    my $st = $?;
    is($st & 127, 0, 'cuttlectl status into a closed pipe is not killed by SIGPIPE');
    is($st >> 8, 1, '... and exits 1');
    like(slurp($err), qr/^cuttlectl: cannot write to standard output: Broken pipe$/m,
        '... saying why') or diag(slurp($err));
}

log_clean_ok();
done_testing();
