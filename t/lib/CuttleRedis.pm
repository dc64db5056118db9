# Real redis-server and redis-sentinel for the tests of a cluster: each
# on a free loopback port, with no persistence, started by the test and
# stopped by its pid (at the latest when the test ends).
package CuttleRedis;
use strict;
use warnings;
use Exporter 'import';
use IO::Socket::IP;
use POSIX ();
use Time::HiRes qw(time sleep);
use CuttleTest qw(write_file slurp wait_until);

our @EXPORT = qw(redis_available kid_spawn kid_stop redis_start redis_stop
    sentinel_start redis_cmd wait_listen redis_acl_start);

my %KIDS;
END { for my $p (keys %KIDS) { kill 'TERM', $p; waitpid($p, 0) } }

# Are redis-server and redis-sentinel installed?  The reason when not.
sub redis_available {
    for my $bin (qw(redis-server redis-sentinel)) {
        return "$bin is not installed (make deps installs it)"
            unless grep { -x "$_/$bin" } split /:/, $ENV{PATH};
    }
    return undef;
}

# Runs @cmd with its output appended to $out; our child, stopped by pid.
sub kid_spawn {
    my ($out, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', $out);
        open(STDERR, '>&', \*STDOUT);
        exec @cmd or POSIX::_exit(127);
    }
    $KIDS{$pid} = 1;
    return $pid;
}

sub kid_stop {
    my ($pid, $sig) = @_;
    return unless $pid && $KIDS{$pid};
    kill $sig // 'TERM', $pid;
    waitpid($pid, 0);
    delete $KIDS{$pid};
}

sub wait_listen {
    my ($port) = @_;
    return wait_until(sub {
        IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port) ? 1 : 0 }, 10, 0.05);
}

# A redis-server named $name on $port in $dir, from a config file of its
# own (more lines in @lines): no persistence.  Its pid.
sub redis_start {
    my ($dir, $name, $port, @lines) = @_;
    my $conf = write_file("$dir/$name.conf", join '', map { "$_\n" }
        "port $port", 'bind 127.0.0.1', "dir $dir", 'save ""', 'appendonly no',
        "dbfilename $name.rdb", @lines);
    my $pid = kid_spawn("$dir/$name.out", 'redis-server', $conf);
    wait_listen($port) or die "redis-server $name does not listen: " . slurp("$dir/$name.out");
    return $pid;
}

sub redis_stop { kid_stop(@_) }

# The least a node needs of Redis, as README.md (Cluster, Redis access)
# gives it: a user "cuttle" with password $pw, keys and channels under
# $prefix only.  The default user stays, for redis-cli in the tests.
sub acl_line {
    my ($prefix, $pw) = @_;
    return "user cuttle on >$pw resetkeys ~$prefix:* resetchannels &$prefix:* -\@all "
        . '+auth +select +ping +role +subscribe +hgetall +eval +evalsha +script|load '
        . '+get +set +hget +hset +hdel +hmget +publish +time +type +pttl +pexpire '
        . '+zadd +zremrangebyscore +zcard';
}

# redis_start() with that user; (pid, the redis section's lines that log in
# as it, indented by two).  The password file is made in $dir.
sub redis_acl_start {
    my ($dir, $name, $port, $prefix) = @_;
    my $pw = "pw-$name";
    my $file = write_file("$dir/$name.password", "$pw\n");
    chmod 0600, $file or die "chmod $file: $!";
    my $pid = redis_start($dir, $name, $port, acl_line($prefix, $pw));
    return ($pid, "  user: cuttle\n  password_file: $file\n");
}

# A redis-sentinel on $port watching the master at $mport as "mymaster"
# (quorum 1, failover after $down_ms).  Its pid.
sub sentinel_start {
    my ($dir, $name, $port, $mport, $down_ms) = @_;
    $down_ms //= 1000;
    my $conf = write_file("$dir/$name.conf", join '', map { "$_\n" }
        "port $port", 'bind 127.0.0.1', "dir $dir",
        "sentinel monitor mymaster 127.0.0.1 $mport 1",
        "sentinel down-after-milliseconds mymaster $down_ms",
        'sentinel failover-timeout mymaster 2000');
    my $pid = kid_spawn("$dir/$name.out", 'redis-sentinel', $conf);
    wait_listen($port) or die "redis-sentinel $name does not listen: " . slurp("$dir/$name.out");
    return $pid;
}

# One command through redis-cli on $port; its output, trimmed.
sub redis_cmd {
    my ($port, @args) = @_;
    open(my $fh, '-|', 'redis-cli', '-p', $port, @args) or die "redis-cli: $!";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    $out =~ s/\s+\z//;
    return $out;
}

1;
