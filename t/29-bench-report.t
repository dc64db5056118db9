# scripts/bench/report.pl: the figures it derives from the raw results of
# a run (CPU per request and its user-space part, CPU 1 per answer, IPIs,
# CPU per system call), the target verdicts, and the explanation of a
# failed target, which must follow the figures and be absent when the
# targets are met.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $report = "$FindBin::Bin/../scripts/bench/report.pl";
my $dir = tmpdir();

# Writes a run's work directory: a keep-alive scenario and a 100 KiB one
# over 3 rounds, cuttle and nginx (HAProxy absent), the origin alone for
# 100 KiB, and system-call counts.  %o sets cuttle's figures.
sub run_dir {
    my ($name, %o) = @_;
    my $d = "$dir/$name";
    mkdir $d or die "$d: $!";
    write_file("$d/meta", join('', map { "$_\n" } 'clk_tck=100', 'date=2026-01-01 00:00 UTC',
        'nproc=2', 'cpu=test', 'kernel=Linux test', 'cuttle=cuttle version 0.1.0',
        'nginx=nginx version: nginx/1.22.1', 'wrk=wrk 4.1.0', 'valgrind=valgrind-3.19.0',
        'rounds=3', 'duration=5', 'conns=50', 'bulk_mb=64', 'elapsed=600'));
    my $tsv = '';
    for my $round (1 .. 3) {
        # scenario proxy round req bytes dur_us p50_us p99_us errs non2xx
        # ticks load_ticks wall_us user_ticks ipis
        $tsv .= join("\t", 'http_keepalive', 'cuttle', $round, 100000, 1200000, 5000000, 900,
            1700, 0, 0, $o{ka_ticks}, 500, 5000000, 40, 300) . "\n";
        $tsv .= join("\t", 'http_keepalive', 'nginx', $round, 100000, 1200000, 5000000, 1000,
            2000, 0, 0, 200, 500, 5000000, 60, 100) . "\n";
        $tsv .= join("\t", 'http_100k', 'cuttle', $round, $o{big_req}, $o{big_req} * 102400,
            5000000, 3000, 6000, 0, 0, 215, 490, 5000000, 50, 11000) . "\n";
        $tsv .= join("\t", 'http_100k', 'nginx', $round, 48000, 48000 * 102400, 5000000, 3500,
            6500, 0, 0, 400, 490, 5000000, 90, 2400) . "\n";
        $tsv .= join("\t", 'http_100k', 'direct', $round, 60000, 60000 * 102400, 5000000, 2400,
            4000, 0, 0, 0, 490, 5000000, 0, 0) . "\n";
    }
    write_file("$d/results.tsv", $tsv);
    write_file("$d/syscalls.tsv", "http_keepalive\tcuttle\t100000\t425000\n"
        . "http_keepalive\tnginx\t100000\t500000\n");
    open(my $fh, '-|', $^X, $report, $d) or die "report.pl: $!";
    my $md = do { local $/; <$fh> } // '';
    ok(close($fh), "$name: report.pl exits 0");
    return $md;
}

# Cuttle 17 us per keep-alive request against nginx's 20 (0.85 x), and
# 50,000 answers of 100 KiB against nginx's 48,000 (1.04 x): both fail.
{
    my $md = run_dir('failing', ka_ticks => 170, big_req => 50000);

    like($md, qr/^\| cuttle \| 20,000 \| 1\.00 \| 0\.90 \| 1\.70 \| 0\.85 \| 17\.0 \| 4\.0 \| 0\.85 \| 0 \|$/m,
        'keep-alive row: CPU 17.0 us per request, 4.0 of it in user space, 0.85 x nginx');
    like($md, qr/^\| cuttle \| 1,024 \| 1\.04 \| 10,000 \| 3\.00 \| 6\.00 \| 43\.0 \| 0\.52 \| 98 % \| 98\.0 \| 0\.22 \| 0 \|$/m,
        '100 KiB row: CPU 1 98 % busy, 98.0 us of it per answer, 0.22 IPIs per answer');
    like($md, qr/^\| no proxy \| 1,229 \| 1\.25 \| 12,000 \| .* \| 81\.7 \| 0\.00 \| 0 \|$/m,
        '100 KiB without a proxy: 81.7 us of CPU 1 per answer');
    like($md, qr/^\| HTTP small, keep-alive \| 4\.25 \| 5\.00 \|$/m, 'system calls per request');
    like($md, qr/^\| HTTP small, keep-alive \| 4\.00 \| 4\.00 \|$/m,
        'CPU per system call: 17.0 / 4.25 and 20.0 / 5.00');
    like($md, qr/^\| HTTP small keep-alive: CPU\/req <= 0\.80 x nginx \| 0\.85 x \| 0\.85-0\.85, 0 of 3 \| \*\*fail\*\* \|$/m,
        'the keep-alive CPU target fails');
    like($md, qr/^\| HTTP 100 KiB: MB\/s >= 1\.2 x nginx \| 1\.04 x \| 1\.04-1\.04, 0 of 3 \| \*\*fail\*\* \|$/m,
        'the 100 KiB target fails');
    like($md, qr/0\.80 x nginx is 16\.0 us: at cuttle's cost per call, room for 4\.00 calls per request/,
        'the keep-alive explanation: 16.0 us leave room for 16.0 / 4.00 calls');
    like($md, qr/1\.2 x nginx's rate allows 85\.1 us per answer, 3\.4 us above no proxy at all; cuttle adds 16\.3 us, nginx 20\.4 us/,
        'the 100 KiB explanation: 102.1 / 1.2 us per answer, against 81.7 with no proxy');
    like($md, qr/0\.22 times per answer for cuttle and 0\.05 for nginx/,
        'the 100 KiB explanation gives the IPIs of both');
}

# Cuttle 15 us (0.75 x) and 60,000 answers (1.25 x): both pass, nothing
# to explain.
{
    my $md = run_dir('passing', ka_ticks => 150, big_req => 60000);

    like($md, qr/^\| HTTP small keep-alive: CPU\/req <= 0\.80 x nginx \| 0\.75 x \| .* \| pass \|$/m,
        'the keep-alive CPU target passes');
    like($md, qr/^\| HTTP 100 KiB: MB\/s >= 1\.2 x nginx \| 1\.25 x \| .* \| pass \|$/m,
        'the 100 KiB target passes');
    unlike($md, qr/failed targets/, 'no explanation when no such target fails');
}

done_testing();
