# worker_rlimit_nofile for a master that is not root: the workers raise
# their soft open files limit (the hard one stays), a reload gives the
# new workers the new value (higher than the old one, which a master
# that had lowered its own hard limit to the first value could not),
# and a value above the hard limit is a configuration error that a
# reload refuses.  cuttle runs as nobody with a hard limit of 4096.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

plan skip_all => 'needs root to start cuttle as nobody with a given hard limit'
    if $> != 0;

my $dir = tmpdir();
chmod 0777, $dir or die "chmod $dir: $!";
my $bin = CuttleTest::cuttle_bin();
my $wrap = "$dir/cuttle-nobody";
write_file($wrap, "#!/bin/sh\nexec prlimit --nofile=1024:4096 setpriv --reuid=65534"
    . " --regid=65534 --clear-groups -- $bin \"\$\@\"\n");
chmod 0755, $wrap or die "chmod $wrap: $!";
local $ENV{CUTTLE_BIN} = $wrap;

# The (soft, hard) open files limits of a process.
sub nofile {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/limits") or return ();
    while (<$fh>) {
        return ($1, $2) if /^Max open files\s+(\d+)\s+(\d+)/;
    }
    return ();
}

my $port = free_port();
my $conf = sub {
    my ($n) = @_;
    return <<"EOF";
worker_rlimit_nofile: $n
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    routes:
      - match: {path_prefix: /}
        return: {status: 200, body: "ok\\n"}
EOF
};
my $c = cuttle_start($conf->(2000), workers => 1);
is_deeply([nofile($c->{slots}{0})], [2000, 4096],
    'the worker has soft limit 2000, the hard limit stays 4096');
is_deeply([nofile($c->{pid})], [1024, 4096], "the master's limits are unchanged");

my $r = cuttle_reload($c, $conf->(3000), workers => 1);
ok($r->{ok}, 'reload with worker_rlimit_nofile 3000') or diag(explain($r->{lines}));
is_deeply([nofile($c->{slots}{0})], [3000, 4096], '... the new worker has soft limit 3000');
ok(!log_grep($c, qr/cannot set the open files limit|setrlimit/), 'no failed setrlimit');

$r = cuttle_reload($c, $conf->(5000), workers => 1);
ok($r->{failed}, 'reload with worker_rlimit_nofile 5000 (above the hard limit) fails');
ok(grep({ /worker_rlimit_nofile 5000 is above the hard open files limit 4096/ }
    @{$r->{lines}}), '... saying why') or diag(explain($r->{lines}));
is_deeply([nofile($c->{slots}{0})], [3000, 4096], '... and the worker keeps 3000');

log_clean_ok();
done_testing();
