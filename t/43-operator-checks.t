# "cuttle -t" checks the files a master would write (error log, access
# log, pid file) without creating or truncating any; "cuttle -s" sends
# nothing to a pid that is not a cuttle master.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use CuttleTest;

my $dir = tmpdir();
my $port = free_port();
sub config {
    my (%p) = @_;
    return "error_log: {path: $p{error}}\n" . ($p{pid} ? "pid_file: $p{pid}\n" : '')
        . "upstreams:\n  u: {servers: [{address: 127.0.0.1:9}]}\n"
        . "listeners:\n  - {name: web, listen: 127.0.0.1:$port, mode: tcp, upstream: u,"
        . " access_log: {path: $p{access}}}\n";
}

# --- -t: good paths pass and are left as they were.
{
    write_file("$dir/error.log", "old line\n");
    write_file("$dir/ok.yaml", config(error => "$dir/error.log", access => "$dir/access.log",
        pid => "$dir/cuttle.pid"));
    my $r = cuttle_run('-t', '-c', "$dir/ok.yaml");
    is($r->{status}, 0, '-t: writable and creatable paths pass') or diag($r->{stderr});
    is(slurp("$dir/error.log"), "old line\n", '-t truncates no log');
    ok(!-e "$dir/access.log" && !-e "$dir/cuttle.pid", '-t creates no file');
}

# --- -t: each unwritable path is an error of its own.
{
    mkdir "$dir/adir";
    write_file("$dir/bad.yaml", config(error => "$dir/nodir/error.log",
        access => "$dir/adir", pid => "$dir/nodir/cuttle.pid"));
    my $r = cuttle_run('-t', '-c', "$dir/bad.yaml");
    isnt($r->{status}, 0, '-t: unwritable paths fail the test');
    like($r->{stderr}, qr/^cuttle: error_log "\Q$dir\E\/nodir\/error\.log" cannot be created: .*No such file/m,
        '-t names the error_log that cannot be created');
    like($r->{stderr}, qr/^cuttle: access_log "\Q$dir\E\/adir" cannot be opened for writing: Is a directory$/m,
        '-t names the access_log that cannot be opened');
    like($r->{stderr}, qr/^cuttle: pid_file "\Q$dir\E\/nodir\/cuttle\.pid" cannot be created/m,
        '-t names the pid_file');
    like($r->{stderr}, qr/test failed$/m, '-t says the test failed');
}

# --- -s: a pid file naming some other process.
{
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) { exec 'sleep', '30'; exit 127 }
    write_file("$dir/cuttle.pid", "$pid\n");
    my $r = cuttle_run('-s', 'reload', '-c', "$dir/ok.yaml");
    isnt($r->{status}, 0, '-s refuses a pid that is not a cuttle master');
    like($r->{stderr}, qr/^cuttle: pid $pid in pid_file "\Q$dir\E\/cuttle\.pid" is not a cuttle master; no signal sent/m,
        'and says so');
    ok(waitpid($pid, POSIX::WNOHANG()) == 0, 'the other process got no signal');
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

log_clean_ok();
done_testing();
