# A binary upgrade hands the admin sockets (unix and TCP) to the new
# master like the listening sockets: both keep answering, the socket
# file survives the old master's exit, and the old master drains only
# once the new master's workers are ready.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $A = backend(mode => 'name', name => 'A');
my ($port, $aport) = (free_port(), free_port());
my $dir = tmpdir();
write_file("$dir/token", "s3cret-token-for-tests\n");
chmod 0600, "$dir/token";
for my $tcp (0, 1) {
my $what = $tcp ? 'unix and TCP' : 'unix only';
my $sock = "$dir/admin-$tcp.sock";

# Many connection slots make a worker's start take a while (it touches
# every slot), which is when an old master told to leave too early is
# already gone.
my $c = cuttle_start(<<"EOF2" . ($tcp ? "admin: {socket: $sock, listen: 127.0.0.1:$aport, token_file: $dir/token}\n" : "admin: {socket: $sock}\n"));
error_log: {path: %LOG%, level: info}
pid_file: %PIDFILE%
workers: 2
worker_connections: 400000
upstreams:
  u: {servers: [{address: $A->{addr}}]}
listeners:
  - {name: web, listen: 127.0.0.1:$port, mode: tcp, upstream: u}
EOF2

my $admin_up = sub {
    my $u = curl_run('--unix-socket', $sock, 'http://x/metrics');
    my $t = curl_run('-H', 'Authorization: Bearer s3cret-token-for-tests',
        "http://127.0.0.1:$aport/metrics");
    return ($u->{stdout} =~ /^cuttle_up 1$/m ? 1 : 0,
        !$tcp || $t->{stdout} =~ /^cuttle_up 1$/m ? 1 : 0);
};

is_deeply([$admin_up->()], [1, 1], "$what: the admin API answers on the unix socket and on TCP");
my $ino = (lstat $sock)[1];

my $u = cuttle_upgrade($c);
ok($u->{ok}, "$what: the upgrade succeeds")
    or diag(join "\n", @{$u->{lines}});
ok($u->{old_gone}, "$what: the old master exits");
my ($old, $new) = @{$u}{qw(old new)};
ok(-S $sock, "$what: the admin socket file is still there after the old master exited");
is((lstat $sock)[1], $ino, "$what: it is the same socket, handed over");
ok(wait_until(sub { my @r = $admin_up->(); $r[0] && $r[1] }, 5),
    "$what: the new master answers on both admin sockets");
is((fetch_name($port))[0], 'A', "$what: the listener serves after the upgrade");

# Ordering: every new worker said "ready" before the old master was asked to leave.
my @lines = @{$u->{lines}};
my ($quit) = grep { $lines[$_] =~ /\[notice\] $old#m: graceful shutdown requested/ } 0 .. $#lines;
my @ready = grep { $lines[$_] =~ /\[notice\] \d+#\d+: worker \d+ ready, generation/ } 0 .. $#lines;
ok(defined $quit && @ready >= 2, "$what: the old master was asked to leave; new workers got ready");
ok(defined $quit && @ready >= 2 && $ready[-1] < $quit,
    "$what: the old master is asked to drain only after the new workers are ready")
    or diag(join "\n", @lines);

cuttle_stop($c);
ok(!-e $sock, "$what: the new master removes the socket file it owns at exit");
}

log_clean_ok();
done_testing();
