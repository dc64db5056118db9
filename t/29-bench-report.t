# scripts/bench/report.pl: the figures it derives from the raw results of
# a run (CPU per request and its user-space part, CPU 1 per answer, IPIs,
# system time per call), the target verdicts, and the explanation of a
# failed target, which must follow the verdict's own figures and be absent
# when the target is met.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $report = "$FindBin::Bin/../scripts/bench/report.pl";
my $dir = tmpdir();

# Writes a run's work directory (cuttle and nginx, HAProxy absent; the
# origin alone for 100 KiB; 3 rounds that differ) and returns report.pl's
# output.  %o: ka_ticks and big_req, cuttle's CPU ticks per keep-alive run
# and answers per 100 KiB run, one per round; big_load, CPU 1's busy ticks
# per 100 KiB run of nginx and the origin alone (cuttle's are 5 more); old,
# results without the user-time and IPI columns; relays, the keep-alive CPU
# ticks of the epoll and the io_uring byte relay, three rounds each (the
# second may be missing); haproxy, HAProxy in the run; tcp_ka, the CPU
# ticks of each proxy or relay per keep-alive TCP run, one per round, and
# tcp_ka_calls, the system calls counted there per proxy; tls, the TLS
# scenarios of section 8 for all three proxies, with tls_reused, cuttle's
# resumed handshakes in 8b per round (of 19,950 that could resume), and
# tls_ka, cuttle's CPU ticks per 8c run; tls_only, nothing but section 8,
# as BENCH_ONLY=tls leaves it; tun, the tunnels of section 10 (a hash of
# the changes tun_rows and tun_files make), and tun_only, nothing but
# them, as BENCH_ONLY=proxy leaves it; appr, the files of section 11 (a
# hash of the changes appr_files makes), and appr_only, nothing but them
# and cuttle's runs of section 6, as BENCH_ONLY=approval leaves them;
# clu, the files of section 13 (a hash of the changes clu_files makes),
# redis_ir, the instructions per request of 13a, and clu_only, nothing
# but them and cuttle's runs of section 6, as BENCH_ONLY=cluster leaves
# them.
sub report {
    my ($name, %o) = @_;
    my $d = "$dir/$name";
    mkdir $d or die "$d: $!";
    write_file("$d/meta", join('', map { "$_\n" } 'clk_tck=100', 'date=2026-01-01 00:00 UTC',
        'nproc=2', 'cpu=test', 'kernel=Linux test', 'cuttle=cuttle version 0.1.0',
        'nginx=nginx version: nginx/1.22.1', 'wrk=wrk 4.1.0', 'valgrind=valgrind-3.19.0',
        'rounds=3', 'duration=5', 'conns=50', 'bulk_mb=64', 'elapsed=600',
        $o{haproxy} ? 'haproxy=HAProxy version 2.6.12' : (),
        $o{tls_only} ? 'only=tls' : (), $o{ktls} ? "ktls=$o{ktls}" : (),
        $o{tun_only} ? 'only=proxy' : (), $o{appr_only} ? 'only=approval' : (),
        $o{clu_only} ? 'only=cluster' : (),
        $o{clu} ? ('redis=Redis server v=7.0.15', 'cluster_nodes=3', 'cluster_idle_s=20',
            'cluster_decisions=200') : (),
        $o{appr} ? ('park_n=5000', 'held_n=1000', 'held_workers=2') : (),
        $o{tun} ? ('danted=Dante v1.4.2', 'tinyproxy=tinyproxy 1.11.1', 'tun_nofile=20000',
            'tun_fit=9343', 'tun_want=10000', 'tun_n=' . ($o{tun}{n} // 10000),
            'tun_one=' . ($o{tun}{one} // 9300), 'tun_workers=2',
            'tun_worker_conns=' . (($o{tun}{n} // 10000) / 2 + 512)) : ()));
    my $load = $o{big_load} // 490;
    my $tsv = '';
    # scenario proxy round req bytes dur_us p50_us p99_us errs non2xx
    # ticks load_ticks wall_us [user_ticks ipis]
    my $row = sub {
        my ($user, $ipis, @f) = @_;
        $tsv .= join("\t", @f, $o{old} ? () : ($user, $ipis)) . "\n";
    };
    for my $i (0 .. 2) {
        my $round = $i + 1;
        tls_rows(\$tsv, $round, %o) if $o{tls};
        tun_rows(\$tsv, $round, %{ $o{tun} }) if $o{tun};
        next if $o{tls_only} || $o{tun_only} || $o{appr_only} || $o{clu_only};
        my ($bc, $bn) = ($o{big_req}[$i], (48000, 47000, 49000)[$i]);
        $row->(40, 300, 'http_keepalive', 'cuttle', $round, 100000, 1200000, 5000000, 900, 1700,
            0, 0, $o{ka_ticks}[$i], 500, 5000000);
        $row->(60, 100, 'http_keepalive', 'nginx', $round, 100000, 1200000, 5000000, 1000, 2000,
            0, 0, (120, 250, 310)[$i], 500, 5000000);
        $row->(40, 300, 'http_auth', 'cuttle', $round, 100000, 1200000, 5000000, 900, 1700,
            0, 0, $o{auth_ticks}[$i], 500, 5000000) if $o{auth_ticks};
        if ($o{relays}) {
            $row->(20, 50, 'http_keepalive', 'relay_epoll', $round, 100000, 1200000, 5000000, 800,
                1500, 0, 0, $o{relays}[0][$i], 500, 5000000);
            $row->(20, 50, 'http_keepalive', 'relay_uring', $round, 100000, 1200000, 5000000, 800,
                1500, 0, 0, $o{relays}[1][$i], 500, 5000000) if $o{relays}[1];
        }
        $row->(50, 11000, 'http_100k', 'cuttle', $round, $bc, $bc * 102400, 5000000, 3000, 6000,
            0, 0, 215, $load + 5, 5000000);
        $row->(90, 2400, 'http_100k', 'nginx', $round, $bn, $bn * 102400, 5000000, 3500, 6500,
            0, 0, 400, $load, 5000000);
        $row->(0, 0, 'http_100k', 'direct', $round, 60000, 60000 * 102400, 5000000, 2400, 4000,
            0, 0, 0, $load, 5000000);
        # 80,000 requests in 5 s; user ticks a fifth of the total.
        for my $p (sort keys %{ $o{tcp_ka} || {} }) {
            my $t = $o{tcp_ka}{$p}[$i];
            $row->($t / 5, 200, 'tcp_keepalive', $p, $round, 80000, 960000, 5000000, 1100, 2100,
                0, 0, $t, 500, 5000000);
        }
    }
    write_file("$d/results.tsv", $tsv);
    tun_files($d, %{ $o{tun} }) if $o{tun};
    appr_files($d, %{ $o{appr} }) if $o{appr};
    clu_files($d, %{ $o{clu} }) if $o{clu};
    write_file("$d/syscalls.tsv", $o{tls_only} || $o{tun_only} || $o{appr_only} || $o{clu_only} ? ''
        : "http_keepalive\tcuttle\t100000\t425000\n"
        . "http_keepalive\tnginx\t100000\t500000\n"
        . join('', map { "tcp_keepalive\t$_\t80000\t$o{tcp_ka_calls}{$_}\n" }
            sort keys %{ $o{tcp_ka_calls} || {} }));
    # Instructions: 2,000 requests; the guarded cuttle at guarded_ir per request.
    write_file("$d/callgrind.tsv", "cuttle\t2000\t1000000\t25000000\n"
        . "cuttle_guarded\t2000\t1000000\t" . (1000000 + 2000 * $o{guarded_ir}) . "\n"
        . "nginx\t2000\t500000\t40500000\n") if $o{guarded_ir};
    write_file("$d/callgrind.tsv", "cuttle\t2000\t1000000\t25000000\n"
        . "cuttle_approved\t2000\t1000000\t" . (1000000 + 2000 * $o{approved_ir}) . "\n"
        . ($o{appr_only} ? '' : "nginx\t2000\t500000\t40500000\n")) if $o{approved_ir};
    write_file("$d/callgrind.tsv", "cuttle\t2000\t1000000\t25000000\n"
        . "cuttle_redis\t2000\t1000000\t" . (1000000 + 2000 * $o{redis_ir}) . "\n") if $o{redis_ir};
    is(system("'$^X' '$report' '$d' >'$d/out' 2>'$d/err'"), 0, "$name: report.pl exits 0");
    is(slurp("$d/err"), '', "$name: report.pl warns of nothing");
    return slurp("$d/out");
}

# The rows of section 8 of one round, appended to $$tsv.  8a: 10,000
# requests in 5 s; cuttle 90, 100 and 80 CPU ticks, nginx 100, HAProxy 120
# (cuttle's ratios 0.90, 1.00, 0.80 to nginx; 0.75, 0.83, 0.67 to HAProxy).
# 8b: 20,000 requests, 19,950 of them could resume; cuttle 80 ticks, the
# others 100.  8c: 100,000 requests, cuttle tls_ka ticks (190 unless
# given), the others 200.  8d: 64 MiB in 0.1 s through cuttle, 0.15 s
# through nginx, 0.125 s through HAProxy, 20 ticks each, CPU 1 busy 90 %.
sub tls_rows {
    my ($tsv, $round, %o) = @_;
    my $i = $round - 1;
    my $line = sub { $$tsv .= join("\t", @_) . "\n" };
    for my $p (['cuttle', (90, 100, 80)[$i]], ['nginx', 100], ['haproxy', 120]) {
        $line->('tls_full', $p->[0], $round, 10000, 1480000, 5000000, 5000, 9000, 0, 0,
            $p->[1], 500, 5000000, $p->[1] / 5, 100, 0, 0);
    }
    for my $p (['cuttle', $o{tls_res_ticks} // 80, $o{tls_reused}[$i]], ['nginx', 100, 19950],
        ['haproxy', 100, 19950]) {
        $line->('tls_resumed', $p->[0], $round, 20000, 2960000, 5000000, 2000, 4000, 0, 0,
            $p->[1], 500, 5000000, $p->[1] / 5, 100, 19950, $p->[2]);
    }
    for my $p (['cuttle', $o{tls_ka} ? $o{tls_ka}[$i] : 190], ['nginx', 200], ['haproxy', 200]) {
        $line->('tls_keepalive', $p->[0], $round, 100000, 14800000, 5000000, 900, 1800, 0, 0,
            $p->[1], 500, 5000000, $p->[1] / 5, 100);
    }
    for my $p (['cuttle', $o{tls_bulk_us} // 100000], ['nginx', 150000], ['haproxy', 125000]) {
        $line->('tls_bulk', $p->[0], $round, 1, 67108864, $p->[1], 0, 0, 0, 0, 20, 9, 100000,
            10, 50);
    }
}

# The rows of section 10 of one round, appended to $$tsv.  10a: 1,000 MB
# in 0.5, 0.8 and 0.4 s through cuttle's SOCKS 5 tunnel (2,000, 1,250 and
# 2,500 MB/s, 30 ticks: 0.300 ms per MB) and 1 s through dante's (100
# ticks: 1.000 ms per MB), 0.5 s through cuttle's CONNECT tunnel and 1.5 s
# through tinyproxy's (30 ticks each) unless %o has tiny_bulk_s and
# tiny_bulk_ticks, 0.45 s with no proxy; CPU 1 busy 90 % of each.  10b:
# 50,000 SOCKS 5 connections in 5 s through cuttle, 400 ticks (80 us per
# connection) unless %o has cuttle_conn_ticks, a twentieth of them user
# time; 20,000 through dante, 500 ticks, 200 of them user time; 50,000
# CONNECT connections through cuttle and 30,000 through tinyproxy, 400
# ticks each, a tenth user time.
sub tun_rows {
    my ($tsv, $round, %o) = @_;
    my $i = $round - 1;
    my $bulk = sub {
        my ($scen, $p, $secs, $ticks) = @_;
        $$tsv .= join("\t", $scen, $p, $round, 1, 1000000000, $secs * 1e6, 0, 0, 0, 0, $ticks,
            $secs * 90, $secs * 1e6, $ticks / 2, 0) . "\n";
    };
    $bulk->('socks_bulk', 'cuttle', (0.5, 0.8, 0.4)[$i], 30);
    $bulk->('socks_bulk', 'dante', 1, 100);
    $bulk->('connect_bulk', 'cuttle', 0.5, 30);
    $bulk->('connect_bulk', 'tinyproxy', $o{tiny_bulk_s} // 1.5, $o{tiny_bulk_ticks} // 30);
    $bulk->('tunnel_bulk', 'direct', 0.45, 0);
    my $conn = sub {
        my ($scen, $p, $n, $ticks, $user) = @_;
        $$tsv .= join("\t", $scen, $p, $round, $n, $n * 170, 5000000, 5000, 18000, 0, 0, $ticks,
            450, 5000000, $user, 0) . "\n";
    };
    my $ct = $o{cuttle_conn_ticks} // 400;
    $conn->('socks_conn', 'cuttle', 50000, $ct, 20);
    $conn->('socks_conn', 'dante', 20000, 500, 200);
    $conn->('connect_conn', 'cuttle', 50000, 400, 40);
    $conn->('connect_conn', 'tinyproxy', 30000, 400, 40);
}

# tunnels.tsv and splice.tsv of section 10.  10c: N tunnels (10,000
# unless %o has n) through cuttle and dante, and 9,300 through tinyproxy
# unless %o has one; all up unless %o has cuttle_up; cuttle's 2 workers
# with 5,012 and 4,988 of the SOCKS 5 tunnels up (their first shares), 4,990
# and 5,010 of the CONNECT ones, 11,648 kB of RSS at its baseline and
# 24,832 with the tunnels (PSS 11,000 and 24,000), dante 46,392 and
# 3,629,080 (PSS 40,000 and 2,935,000).
# Splice: 13,220 calls for the GiB of the SOCKS 5 download, 12,000 for
# CONNECT unless %o has connect_splice.
sub tun_files {
    my ($d, %o) = @_;
    my $n = $o{n} // 10000;
    my $one = $o{one} // 9300;
    my $up = $o{cuttle_up} // $n;
    my $row = sub { join("\t", @_) . "\n" };
    write_file("$d/tunnels.tsv",
        $row->('cuttle', 'socks5', $n, $up, $n - $up, $up, 11648, 15000, 24832, 11000, 14000, 24000,
            3, 3, 500, join('/', 5012, $up - 5012))
        . $row->('dante', 'socks5', $n, $n, 0, $n, 46392, 46392, 3629080, 40000, 40000, 2935000,
            341, 341, 8900)
        . $row->('cuttle', 'connect', $n, $n, 0, $n, 11448, 15000, 23848, 11000, 14000, 23000,
            3, 3, 1000, join('/', 4990, $n - 4990))
        . $row->('tinyproxy', 'connect', $one, $one, 0, $one, 2792, 2792, 177772, 2700, 2700, 177000,
            $one + 1, 1, 5500));
    write_file("$d/splice.tsv", "socks5\t1073741824\t13220\t13\n"
        . "connect\t1073741824\t" . ($o{connect_splice} // 12000) . "\t12\n");
}

# The files of section 11.  11b: 5,000 clients, the worker at 5,000 kB
# before them both times, 5,500 with the idle ones (102.4 B each) and
# held_with (6,000: 204.8 B each) with the held ones, of which held (all
# unless given) are listed as pending.  11c: rounds, each [decided, first,
# last] in ms, 1,000 connections held by 490 and 510 of 2 workers, all
# echoed but lost of the round whose index is lost_round.
sub appr_files {
    my ($d, %o) = @_;
    write_file("$d/park_mem.tsv", "idle\t5000\t5000\t5500\t5000\t0\n"
        . "held\t5000\t5000\t" . ($o{held_with} // 6000) . "\t5000\t" . ($o{held} // 5000) . "\n");
    my $tsv = '';
    my $i = 0;
    for my $r (@{ $o{rounds} // [[12, 35, 48], [14, 40, 52], [13, 38, 60]] }) {
        my $lost = defined $o{lost_round} && $o{lost_round} == $i ? $o{lost} : 0;
        $i++;
        $tsv .= join("\t", $i, 1000, 1000, 1000 - $lost, $lost, map({ $_ * 1000 } @$r), '490/510') . "\n";
    }
    write_file("$d/held.tsv", $tsv);
}

# The files of section 13.  13b: over 20 s, the masters of node1, node2
# and node3 used 1, node2 (2 unless given) and 0 ticks and ran 8, 12 and
# 9 ms, all with 3 nodes live; redis-server 4 ticks, 40 ms.  13c: 200
# decisions, decision i listed by the others after 1 + i / 10 ms (1.0 to
# 20.9), its POST answered after 0.3 ms, its DELETE after 0.2 and gone
# from the others after 0.9; the last unseen of them never listed.
sub clu_files {
    my ($d, %o) = @_;
    write_file("$d/cluster_cpu.tsv", "node1\t1\t8000000\t20000000\t3\n"
        . "node2\t" . ($o{node2} // 2) . "\t12000000\t20000000\t3\n"
        . "node3\t0\t9000000\t20000000\t3\nredis\t4\t40000000\t20000000\t\n");
    my $unseen = $o{unseen} // 0;
    write_file("$d/cluster_prop.tsv", join '', map {
        join("\t", $_, $_ % 3 + 1, 300, $_ >= 200 - $unseen ? -1 : 1000 + $_ * 100, 200, 900) . "\n"
    } 0 .. 199);
}

# Keep-alive: cuttle 100, 190 and 300 ticks against nginx's 120, 250 and
# 310 (ratios 0.83, 0.76, 0.97; medians 19.0 and 25.0 us).  100 KiB: 50,000,
# 52,000 and 49,000 answers against 48,000, 47,000 and 49,000 (1.04, 1.11,
# 1.00).  Both targets fail.
{
    my $md = report('both-fail', ka_ticks => [100, 190, 300], big_req => [50000, 52000, 49000],
        relays => [[80, 160, 200], [70, 130, 170]]);

    like($md, qr/^\| cuttle \| 20,000 \| 1\.00 \| 0\.90 \| 1\.70 \| 0\.85 \| 19\.0 \| 4\.0 \| 0\.83 \| 0 \|$/m,
        'keep-alive row: medians of 19.0 us per request, 4.0 of it in user space; 0.83 x nginx');
    like($md, qr/^\| cuttle \| 1,024 \| 1\.04 \| 10,000 \| 3\.00 \| 6\.00 \| 43\.0 \| 0\.52 \| 99 % \| 99\.0 \| 0\.22 \| 0 \|$/m,
        '100 KiB row: CPU 1 99 % busy, 99.0 us of it per answer, 0.22 IPIs per answer');
    like($md, qr/^\| no proxy \| 1,229 \| 1\.25 \| 12,000 \| .* \| 81\.7 \| 0\.00 \| 0 \|$/m,
        '100 KiB without a proxy: 81.7 us of CPU 1 per answer');
    like($md, qr/^\| HTTP small, keep-alive \| 4\.25 \| 5\.00 \|$/m, 'system calls per request');
    like($md, qr/^\| HTTP small, keep-alive \| 3\.53 \| 3\.80 \|$/m,
        'system time per call: (19.0 - 4.0) / 4.25 and (25.0 - 6.0) / 5.00');
    like($md, qr/^\| HTTP small keep-alive: CPU\/req <= 0\.80 x nginx \| 0\.83 x \| 0\.76-0\.97, 1 of 3 \| \*\*fail\*\* \|$/m,
        'the keep-alive CPU target fails, in 2 rounds of 3');
    like($md, qr/^\| HTTP 100 KiB: MB\/s >= 1\.2 x nginx \| 1\.04 x \| 1\.00-1\.11, 0 of 3 \| \*\*fail\*\* \|$/m,
        'the 100 KiB target fails');
    like($md, qr/is 0\.83 x nginx's; 0\.80 x asks for 18\.2 us where cuttle used 19\.0\./,
        'keep-alive: the CPU the target asks for follows the verdict, 19.0 x 0.80 / 0.83');
    like($md, qr/Of these, 4\.0 us are user space and 15\.0 us system time over 4\.25 system calls \(section 7\), 3\.53 us per call\./,
        'keep-alive: user and system time, and the cost of a call');
    like($md, qr/at that cost they leave 4\.1 us per request to user space, where cuttle spent 4\.0\./,
        'keep-alive: 18.2 - 4 x 3.53 us left to user space');
    like($md, qr/^\| byte relay, epoll \| 20,000 \| 1\.00 \| .* \| 16\.0 \| 2\.0 \| 0\.65 \| 0 \|$/m,
        'the epoll byte relay has its row: 16.0 us per request, 0.65 x nginx');
    like($md, qr/^\| byte relay, io_uring \| 20,000 \| .* \| 13\.0 \| 2\.0 \| 0\.55 \| 0 \|$/m,
        'and the io_uring one: 13.0 us, 0.55 x nginx');
    like($md, qr/The byte relays \(`scripts\/bench\/relay\.c`\) are not proxies but references: .* one runs with epoll, `recv` and `send`, the other with the same operations submitted and reaped in batches through io_uring\./,
        'section 1 says what the relays are');
    like($md, qr/The byte relay with epoll used 16\.0 us per request, and nginx 1\.55 x as much, so the target asks cuttle for 1\.24 x what passing the bytes costs here with no HTTP work at all; cuttle used 1\.25 x\./,
        'keep-alive: nginx and cuttle against the epoll relay, medians of 1.50, 1.56, 1.55 and 1.25, 1.19, 1.50; the target 0.80 x 1.55');
    like($md, qr/The byte relay with io_uring used 13\.0 us, 0\.85 x the epoll relay in the same rounds\./,
        'keep-alive: io_uring against epoll, the median of 0.88, 0.81 and 0.85');
    like($md, qr/^\| TCP keep-alive: CPU\/req <= 0\.90 x HAProxy \| n\/a \| - \| not measured \|$/m,
        'the TCP keep-alive target is not measured without HAProxy');
    unlike($md, qr/^### 4c\./m, 'nor is there a section 4c without its figures');
    like($md, qr/99 % busy through cuttle and 98 % through nginx, so its time per answer sets the rate: 99\.0 us through cuttle, 102\.1 us through nginx, 81\.7 us with no proxy\./,
        '100 KiB: CPU 1 saturated, its time per answer through each');
    like($md, qr/1\.2 x nginx asks for 85\.9 us, 4\.3 us more than with no proxy; cuttle adds 17\.3 us, nginx 20\.4 us\./,
        '100 KiB: the CPU 1 time the target asks for follows the verdict, 99.0 x 1.04 / 1.2');
    like($md, qr/received 0\.22 function-call interrupts per answer through cuttle, which used 43\.0 us of CPU per answer, and 0\.05 through nginx, which used 83\.3\./,
        '100 KiB: the IPIs and the CPU of both');
}

# Only the keep-alive target fails: only it is explained.  Only the epoll
# relay ran: the text speaks of one relay, and io_uring is not mentioned.
{
    my $md = report('one-fails', ka_ticks => [100, 190, 300], big_req => [60000, 60000, 60000],
        relays => [[80, 160, 200]]);

    like($md, qr/^\| HTTP 100 KiB: MB\/s >= 1\.2 x nginx \| 1\.25 x \| .* \| pass \|$/m,
        'the 100 KiB target passes');
    like($md, qr/^- HTTP small keep-alive CPU:/m, 'the keep-alive target is explained');
    unlike($md, qr/^- HTTP 100 KiB:/m, 'the 100 KiB target is not');
    like($md, qr/The byte relay \(`scripts\/bench\/relay\.c`\) is not a proxy but a reference: .* it runs with epoll, `recv` and `send`\.  It takes its turn/,
        'one relay: said in the singular');
    like($md, qr/cuttle used 1\.25 x\.$/m, 'and the keep-alive explanation ends with the epoll relay');
    unlike($md, qr/io_uring/, 'io_uring appears nowhere');
}

# Both pass: nothing to explain.
{
    my $md = report('both-pass', ka_ticks => [90, 180, 240], big_req => [60000, 60000, 60000]);

    like($md, qr/^\| HTTP small keep-alive: CPU\/req <= 0\.80 x nginx \| 0\.75 x \| .* \| pass \|$/m,
        'the keep-alive CPU target passes');
    unlike($md, qr/failed targets/, 'no explanation when no such target fails');
}

# Results of an older run, without user time and IPIs, and CPU 1 busy
# only 60 % of the time: n/a where a figure is missing, no sentence built
# on it, and no claim that CPU 1 sets the rate.
{
    my $md = report('old', old => 1, big_load => 300, ka_ticks => [100, 190, 300],
        big_req => [50000, 52000, 49000]);

    like($md, qr/^\| cuttle \| 20,000 \| .* \| 19\.0 \| n\/a \| 0\.83 \| 0 \|$/m,
        'user time n/a where the run did not record it');
    like($md, qr/^\| cuttle \| 1,024 \| .* \| 61 % \| 61\.0 \| n\/a \| 0 \|$/m, 'IPIs n/a likewise');
    like($md, qr/^- HTTP small keep-alive CPU: .* where cuttle used 19\.0\.$/m,
        'the keep-alive explanation stops before user and system time');
    like($md, qr/CPU 1 was 61 % busy through cuttle and 60 % through nginx: not saturated/,
        'CPU 1 not saturated is said as such');
    unlike($md, qr/sets the rate/, 'and no claim that it sets the rate');
    unlike($md, qr/byte relay/, 'no relay row nor sentence where the run had no relays');
}

# HAProxy ran, and so did the TCP keep-alive scenario (4c).  cuttle 20.0,
# 25.0 and 23.0 us per request against HAProxy's 20.0, 30.0 and 25.0
# (ratios 1.00, 0.83, 0.92), nginx's 19.0, 24.0 and 30.0, the epoll relay's
# 15.0, 20.0 and 19.0; a fifth of each is user time.  The TCP keep-alive
# target fails and is explained from these figures.
{
    my $md = report('tcp-ka-fails', haproxy => 1, ka_ticks => [90, 180, 240],
        big_req => [60000, 60000, 60000],
        tcp_ka => {cuttle => [160, 200, 184], haproxy => [160, 240, 200],
            nginx => [152, 192, 240], relay_epoll => [120, 160, 152]},
        tcp_ka_calls => {cuttle => 480000, nginx => 520000, haproxy => 400000});

    like($md, qr/^### 4c\. TCP, small requests on kept-alive connections$/m, 'section 4c is there');
    like($md, qr/The byte relays of section 1 do exactly that, .* the floor of this scenario\./,
        'and says the relays are its floor');
    like($md, qr/^\| cuttle \| 16,000 \| 1\.00 \| 1\.10 \| 2\.10 \| 1\.00 \| 23\.0 \| 4\.6 \| 1\.04 \| 0\.92 \| 0 \|$/m,
        '4c cuttle row: 23.0 us per request, 4.6 in user space, 1.04 x nginx, 0.92 x HAProxy');
    like($md, qr/^\| HAProxy \| 16,000 \| .* \| 25\.0 \| 5\.0 \| .* \| 1\.00 \| 0 \|$/m,
        '4c HAProxy row');
    like($md, qr/^\| byte relay, epoll \| 16,000 \| .* \| 19\.0 \| 3\.8 \| .* \| 0\.75 \| 0 \|$/m,
        '4c relay row: 19.0 us, 0.75 x HAProxy');
    like($md, qr/^\| TCP small, keep-alive \| 6\.00 \| 6\.50 \| 5\.00 \|$/m,
        'section 7: system calls per request in 4c');
    like($md, qr/^\| TCP small, keep-alive \| 3\.07 \| 2\.95 \| 4\.00 \|$/m,
        'section 7: system time per call in 4c, (23.0 - 4.6) / 6.00 for cuttle');
    like($md, qr/^\| HTTP small, keep-alive \| 4\.25 \| 5\.00 \| n\/a \|$/m,
        'section 7 has an HAProxy column, n/a where it was not counted');
    like($md, qr/^\| TCP keep-alive: CPU\/req <= 0\.90 x HAProxy \| 0\.92 x \| 0\.83-1\.00, 1 of 3 \| \*\*fail\*\* \|$/m,
        'the TCP keep-alive target fails, met in 1 round of 3');
    like($md, qr/^- TCP keep-alive CPU: cuttle's CPU per request is 0\.92 x HAProxy's; 0\.90 x asks for 22\.5 us where cuttle used 23\.0\.  User space took 4\.6 us of it, 5\.0 us in HAProxy\.  cuttle made 6\.00 system calls per request, HAProxy 5\.00 \(section 7\)\.  The byte relay with epoll used 19\.0 us per request and HAProxy 1\.33 x as much, so the target asks cuttle for 1\.20 x what passing the bytes costs here; cuttle used 1\.25 x\.$/m,
        'the TCP keep-alive failure explained: 23.0 x 0.90 / 0.92, calls, and the relay floor');
    unlike($md, qr/^- HTTP small keep-alive CPU:/m, 'the HTTP keep-alive target passed: not explained');
}

# The TCP keep-alive target met (ratios 0.88, 0.75, 0.90): no explanation.
{
    my $md = report('tcp-ka-passes', haproxy => 1, ka_ticks => [90, 180, 240],
        big_req => [60000, 60000, 60000],
        tcp_ka => {cuttle => [140, 180, 180], haproxy => [160, 240, 200]});

    like($md, qr/^\| TCP keep-alive: CPU\/req <= 0\.90 x HAProxy \| 0\.88 x \| 0\.75-0\.90, 3 of 3 \| pass \|$/m,
        'the TCP keep-alive target passes in every round');
    unlike($md, qr/^- TCP keep-alive CPU:/m, 'and is not explained');
    unlike($md, qr/failed targets/, 'nothing failed, nothing to explain');
}

# Section 8 with every proxy: the rows, the resumed handshakes and their
# flag (cuttle resumed 50 % in round 2), and the TLS targets.
{
    my $md = report('tls', haproxy => 1, tls => 1, ka_ticks => [90, 180, 240],
        big_req => [60000, 60000, 60000], tls_reused => [19950, 9975, 19900]);

    like($md, qr/^## 8\. TLS termination$/m, 'section 8 is there');
    like($md, qr/^\| cuttle \| 2,000 \| 1\.00 \| 5\.00 \| 9\.00 \| 1\.00 \| 90\.0 \| 18\.0 \| 0\.90 \| 0\.75 \| 0 \|$/m,
        '8a cuttle row: 90.0 us per full handshake and request, 0.90 x nginx, 0.75 x HAProxy');
    like($md, qr/^\| cuttle \| 4,000 \| .* \| 40\.0 \| 8\.0 \| 0\.80 \| 0\.80 \| 0 \|$/m,
        '8b cuttle row: 40.0 us per resumed handshake');
    like($md, qr/^\| cuttle \| 59,850 \| 49,825 \| 83\.2 % \| 50\.0 % \| \*\*1 of 3\*\* \|$/m,
        '8b: cuttle resumed 83.2 % over the rounds, 50.0 % in the worst, one round below 90 %');
    like($md, qr/^\| nginx \| 59,850 \| 59,850 \| 100\.0 % \| 100\.0 % \| 0 \|$/m,
        '8b: nginx resumed them all');
    like($md, qr/^\*\*Flagged:\*\* through cuttle, fewer than 90 % of the handshakes resumed in round 2\.$/m,
        'the round below 90 % is flagged');
    like($md, qr/resumed in round 2\.\n\n### 8c\./, 'and the flag is a paragraph of its own');
    unlike($md, qr/Flagged:\*\* through (nginx|HAProxy)/, 'and no other proxy is');
    like($md, qr/^\| cuttle \| 20,000 \| .* \| 19\.0 \| 3\.8 \| 0\.95 \| 0\.95 \| 0 \|$/m,
        '8c cuttle row: 19.0 us per request over TLS');
    like($md, qr/^\| cuttle \| 671 \| 1\.50 \| 1\.25 \| 2\.980 \| 90 % \|$/m,
        '8d cuttle row: 671 MB/s, 1.50 x nginx, 1.25 x HAProxy, 2.980 ms of CPU per MB');
    like($md, qr/^\| HAProxy \| 537 \| 1\.20 \| 1\.00 \| 2\.980 \| 90 % \|$/m, '8d HAProxy row');
    like($md, qr/^\| TLS full handshake: CPU\/req <= 0\.95 x nginx \| 0\.90 x \| 0\.80-1\.00, 2 of 3 \| pass \|$/m,
        'the full handshake target passes, met in 2 rounds of 3');
    like($md, qr/^\| TLS resumed handshake: CPU\/req <= 0\.90 x nginx \| 0\.80 x \| 0\.80-0\.80, 3 of 3 \| pass, \*\*flagged\*\*: fewer than 90 % resumed in 1 of 3 rounds \|$/m,
        'the resumed target passes but is flagged');
    like($md, qr/^\| TLS keep-alive: CPU\/req <= 0\.90 x nginx \| 0\.95 x \| 0\.95-0\.95, 0 of 3 \| \*\*fail\*\* \|$/m,
        'the TLS keep-alive target fails');
    like($md, qr/^\| TLS bulk over a TCP listener: MB\/s >= 1\.2 x HAProxy \| 1\.25 x \| 1\.25-1\.25, 3 of 3 \| pass \|$/m,
        'the TLS bulk target passes');
    like($md, qr/^## Targets$/m, 'with the other scenarios, their targets are there too');
}

# BENCH_ONLY=tls: section 8 alone, every round resumed (99.7 % at worst),
# the keep-alive target met; no other section or target table.
{
    my $md = report('tls-only', haproxy => 1, tls => 1, tls_only => 1,
        tls_reused => [19950, 19900, 19950], tls_ka => [170, 180, 160]);

    like($md, qr/^- Only the TLS scenarios of section 8 ran \(`BENCH_ONLY=tls`\)\.$/m,
        'the run says only TLS ran');
    unlike($md, qr/^## (Results|Targets)$/m, 'no results nor targets of sections 1 to 7');
    unlike($md, qr/^### [1-7]/m, 'nor any of their tables');
    like($md, qr/^\| cuttle \| 59,850 \| 59,800 \| 99\.9 % \| 99\.7 % \| 0 \|$/m,
        '8b: cuttle resumed 99.9 %, no round below 90 %');
    unlike($md, qr/Flagged|flagged\*\*:/, 'nothing is flagged');
    like($md, qr/^\| TLS resumed handshake: CPU\/req <= 0\.90 x nginx \| 0\.80 x \| .* \| pass \|$/m,
        'the resumed target passes, unflagged');
    like($md, qr/^\| TLS keep-alive: CPU\/req <= 0\.90 x nginx \| 0\.85 x \| 0\.80-0\.90, 3 of 3 \| pass \|$/m,
        'the TLS keep-alive target passes');
}

# The resumed and bulk targets fail: each gets its why, and a kernel
# without kernel TLS is named.
{
    my $md = report('tls-fail', haproxy => 1, tls => 1, tls_only => 1, ktls => 'no',
        tls_reused => [19950, 19950, 19950], tls_res_ticks => 95, tls_bulk_us => 120000);

    like($md, qr/^\| TLS resumed handshake: CPU\/req <= 0\.90 x nginx \| 0\.95 x \| .* \| \*\*fail\*\* \|$/m,
        'the resumed target fails');
    like($md, qr/^- TLS resumed handshake CPU: cuttle used 47\.5 us per request, nginx 50\.0 \(0\.95 x\); 0\.90 x asks for 45\.0 us\./m,
        'and says by how much');
    like($md, qr/^- TLS bulk: cuttle used [\d.]+ ms of CPU per MB, HAProxy [\d.]+\.  .*this kernel has no kernel TLS/m,
        'the bulk target fails, naming the kernel without kernel TLS');
}
{
    my $md = report('tls-ktls', haproxy => 1, tls => 1, tls_only => 1, ktls => 'yes',
        tls_reused => [19950, 19950, 19950], tls_bulk_us => 120000);

    like($md, qr/^- TLS bulk: /m, 'a failed bulk target gets its why');
    unlike($md, qr/no kernel TLS/, 'and names no missing kernel TLS where there is one');
    unlike($md, qr/^- TLS resumed handshake CPU/m, 'a resumed target that passes gets none');
}

# Section 6 with the guarded run: cuttle 12,000 instructions a request,
# 12,480 with a limit (1.04 x: within 5 %), then 12,720 (1.06 x: over).
{
    my $md = report('guarded', ka_ticks => [100, 190, 300], big_req => [50000, 52000, 49000],
        guarded_ir => 12480);
    like($md, qr/^\| cuttle, a limit and a rule on the route \| 2,000 \| 1,000,000 \| 25,960,000 \| 12,480 \| 0\.62 \|$/m,
        'section 6 has the guarded run');
    like($md, qr/^\| A limit and a rule that never trigger: Ir\/request <= 1\.05 x without \| 1\.04 x \| - \| pass \|$/m,
        'and its target passes at 1.04 x');
    $md = report('guarded-over', ka_ticks => [100, 190, 300], big_req => [50000, 52000, 49000],
        guarded_ir => 12720);
    like($md, qr/^\| A limit and a rule that never trigger: Ir\/request <= 1\.05 x without \| 1\.06 x \| - \| \*\*fail\*\* \|$/m,
        'and fails at 1.06 x');
}

# Section 9: cuttle with basic auth at 105, 200 and 345 ticks against its
# 100, 190 and 300 without (1.05, 1.05, 1.15: median 1.05, met in 2 of 3).
{
    my $md = report('auth', ka_ticks => [100, 190, 300], big_req => [50000, 52000, 49000],
        auth_ticks => [105, 200, 345]);
    like($md, qr/^### 9\. HTTP basic authentication, keep-alive$/m, 'section 9 is there');
    like($md, qr/^\| with basic auth \| 20,000 \| 1\.70 \| 20\.0 \| 4\.0 \| 1\.05 \| 0 \|$/m,
        'its row: 20.0 us per request, 1.05 x without auth');
    like($md, qr/^\| Basic auth keep-alive: CPU\/req <= 1\.1 x without \| 1\.05 x \| 1\.05-1\.15, 2 of 3 \| pass \|$/m,
        'and its target passes, met in 2 rounds of 3');
    $md = report('no-auth', ka_ticks => [100, 190, 300], big_req => [50000, 52000, 49000]);
    unlike($md, qr/### 9\.|Basic auth/, 'a run without the scenario has neither');
    unlike($md, qr/^## 10\.|Forward and SOCKS targets|^- dante:|^- tinyproxy:/m,
        'nor section 10 and its proxies without its figures');
}

# BENCH_ONLY=proxy: section 10 alone, every target met; cuttle's 2
# workers and dante hold 10,000 tunnels, tinyproxy, in one process, the
# 9,300 that the open-files limit lets it.
{
    my $md = report('tun-only', tun => {}, tun_only => 1);

    like($md, qr/^- Only the forward and SOCKS tunnels of section 10 ran \(`BENCH_ONLY=proxy`\)\.$/m,
        'the run says only section 10 ran');
    like($md, qr/^- dante: `Dante v1\.4\.2`\n- tinyproxy: `tinyproxy 1\.11\.1`$/m,
        'and names the versions of dante and tinyproxy');
    unlike($md, qr/^## (Results|Targets)$|^## 8\./m, 'no other section nor its targets');
    like($md, qr/^## 10\. Forward and SOCKS tunnels$/m, 'section 10 is there');
    like($md, qr/`MaxClients` 9,556 \(its N \+ 256\)/, 'tinyproxy\'s MaxClients is said');
    like($md, qr/^\| SOCKS 5 \| cuttle \| 2,000 \| 2\.00 \| 0\.90 \| 0\.300 \| 60 % \| 90 % \|$/m,
        '10a SOCKS 5 cuttle: median 2,000 MB/s, 2.00 x dante, 0.90 x no proxy, CPU 0 60 % busy');
    like($md, qr/^\| SOCKS 5 \| dante \| 1,000 \| 1\.00 \| 0\.45 \| 1\.000 \| 100 % \| 90 % \|$/m,
        '10a dante: 1.000 ms per MB keeps CPU 0 busy');
    like($md, qr/^\| CONNECT \| cuttle \| 2,000 \| 3\.00 \| .*\|$/m, '10a CONNECT cuttle: 3.00 x tinyproxy');
    like($md, qr/^\| CONNECT \| tinyproxy \| 667 \| 1\.00 \| 0\.30 \| 0\.300 \| 20 % \| 90 % \|$/m,
        '10a tinyproxy row');
    like($md, qr/^\| - \| no proxy \| 2,222 \| - \| 1\.00 \| - \| - \| 90 % \|$/m, '10a no-proxy row');
    like($md, qr/^\| SOCKS 5 \| 1,073,741,824 \| 13,220 \| 79 \| 13 \|$/m,
        'splice: 13,220 calls, 79 KiB each');
    unlike($md, qr/no splice call/, 'no missing splice to flag');
    like($md, qr/^\| SOCKS 5 \| cuttle \| 10,000 \| 5\.00 \| 18\.00 \| 80\.0 \| 4\.0 \| 0\.32 \| 0 \|$/m,
        '10b SOCKS 5 cuttle: 80.0 us per connection, 4.0 of it user time, 0.32 x dante');
    like($md, qr/^\| CONNECT \| tinyproxy \| 6,000 \| .* \| 133\.3 \| 13\.3 \| 1\.00 \| 0 \|$/m,
        '10b tinyproxy row');
    like($md, qr/^- cuttle: `workers: 1` \(`workers: 2` in 10c\);/m, 'cuttle\'s workers in 10c are said');
    like($md, qr/cuttle is started twice, as in section 5, both times with\n`workers: 2`: with 256 connections per worker and no client for the baseline, then with\n5,512 per worker,/,
        '10c: cuttle\'s baseline has as many workers as the instance with the tunnels');
    like($md, qr/one process holds at most\n9,343 tunnels\.  cuttle runs 2 workers in 10c, each with a limit of its own,/,
        '10c says what one process holds and why cuttle runs 2 workers');
    unlike($md, qr/\*\*N is/, 'N was not lowered through cuttle and dante');
    like($md, qr/^\*\*tinyproxy holds 9,300 tunnels, not 10,000:\*\* it serves every client in one\nprocess, on a thread each, and 10,000 tunnels \(20,000 descriptors\) do not fit in\none process here\./m,
        '10c says in bold why tinyproxy holds fewer');
    like($md, qr/^\| cuttle \| SOCKS 5 \| 10,000 \| 10,000 \| 10,000 \| 3 \| 3 \| 0\.5 \| 11,648 \| 24,832 \| 1,350 \| 1,331 \|$/m,
        '10c cuttle: (24,832 - 11,648) KiB over 10,000 tunnels, 1,350 B of RSS, 1,331 of PSS, over its 3 processes');
    like($md, qr/^\| dante \| SOCKS 5 \| 10,000 \| 10,000 \| 10,000 \| 341 \| 341 \| 8\.9 \| 46,392 \| 3,629,080 \| 366,867 \| 296,448 \|$/m,
        '10c dante: its processes summed');
    like($md, qr/^\| tinyproxy \| CONNECT \| 9,300 \| 9,300 \| 9,300 \| 1 \| 9,301 \|/m,
        '10c tinyproxy: its own N, all up');
    like($md, qr/^cuttle's workers held 5,012 and 4,988 of the SOCKS 5 tunnels, 4,990 and 5,010 of the CONNECT tunnels \(counted from each worker's descriptors, two per tunnel\)\.$/m,
        '10c: how the tunnels spread over cuttle\'s workers');
    unlike($md, qr/could not hold them all/, 'every proxy held its tunnels');
    like($md, qr/^\| CONNECT bulk: MB\/s >= 1\.5 x tinyproxy \| 3\.00 x \| 3\.00-3\.00, 3 of 3 \| pass \|$/m,
        'the CONNECT bulk target passes');
    like($md, qr/^\| SOCKS 5 bulk: MB\/s >= 1\.5 x dante \| 2\.00 x \| 1\.25-2\.50, 2 of 3 \| pass \|$/m,
        'the SOCKS 5 bulk target passes, met in 2 rounds of 3');
    like($md, qr/^\| SOCKS 5 new connection: CPU\/conn <= dante \| 0\.32 x \| 0\.32-0\.32, 3 of 3 \| pass \|$/m,
        'the SOCKS 5 connection target passes');
    like($md, qr/^\| 10,000 idle SOCKS 5 tunnels through cuttle \(2 workers\), memory per tunnel reported \| 10,000 of 10,000 up, 1,350 B of RSS and 1,331 of PSS each \| - \| pass \|$/m,
        'the idle target passes, tinyproxy\'s fewer tunnels notwithstanding');
    unlike($md, qr/failed targets of section 10/, 'nothing to explain');
}

# An open-files limit that 2 workers cannot hold 10,000 tunnels in: N is
# 9,300 for every proxy, and the idle target is not measured.
{
    my $md = report('tun-lowered', tun => {n => 9300}, tun_only => 1);

    like($md, qr/^\*\*N is 9,300, not 10,000, through cuttle and dante:\*\* that is what 2 of cuttle's workers hold here with room for an uneven spread\.$/m,
        '10c says why N was lowered');
    unlike($md, qr/\*\*tinyproxy holds/, 'tinyproxy holds as many as the others');
    like($md, qr/^\| cuttle \| SOCKS 5 \| 9,300 \| 9,300 \| 9,300 \| 3 \| 3 \| 0\.5 \| 11,648 \| 24,832 \| 1,452 \| 1,431 \|$/m,
        '10c cuttle: (24,832 - 11,648) KiB over 9,300 tunnels, 1,452 B of RSS, 1,431 of PSS');
    like($md, qr/^\| 10,000 idle SOCKS 5 tunnels through cuttle \(2 workers\), memory per tunnel reported \| 9,300 of 9,300 up, 1,452 B of RSS and 1,431 of PSS each \| - \| not measured at 10,000: 2 workers hold 9,300 here \(10c\) \|$/m,
        'the idle target is not measured at 10,000, and says why');
}

# Section 10 beside the others, every target failed: tinyproxy at 2,500
# MB/s (0.80 x), cuttle at 1,500 ticks per SOCKS 5 run (300 us per
# connection, 1.20 x dante), 9,000 of 10,000 tunnels up, no splice call
# on the CONNECT tunnel.
{
    my $md = report('tun-fail', ka_ticks => [100, 190, 300], big_req => [50000, 52000, 49000],
        tun => {tiny_bulk_s => 0.4, tiny_bulk_ticks => 40, cuttle_conn_ticks => 1500, n => 10000,
            cuttle_up => 9000, connect_splice => 0});

    like($md, qr/^## Targets$/m, 'the other targets are there');
    like($md, qr/^## 10\. Forward and SOCKS tunnels$/m, 'and so is section 10');
    unlike($md, qr/\*\*N is/, 'N was not lowered');
    like($md, qr/^\*\*cuttle made no splice call\*\* through its connect listener: those bytes went through user space\.$/m,
        'a tunnel without splice is flagged');
    like($md, qr/^\| cuttle \| SOCKS 5 \| 10,000 \| \*\*9,000\*\* \| 9,000 \|/m, 'tunnels missing are in bold');
    like($md, qr/^\*\*cuttle could not hold them all:\*\* 9,000 of 10,000 SOCKS 5 tunnels came up, 1,000 failed or were not answered within 120 s\.$/m,
        'and said');
    like($md, qr/^\| CONNECT bulk: MB\/s >= 1\.5 x tinyproxy \| 0\.80 x \| 0\.80-0\.80, 0 of 3 \| \*\*fail\*\* \|$/m,
        'the CONNECT bulk target fails');
    like($md, qr/^\| SOCKS 5 new connection: CPU\/conn <= dante \| 1\.20 x \| 1\.20-1\.20, 0 of 3 \| \*\*fail\*\* \|$/m,
        'the SOCKS 5 connection target fails');
    like($md, qr/^\| 10,000 idle SOCKS 5 tunnels through cuttle \(2 workers\), memory per tunnel reported \| 9,000 of 10,000 up, [\d,]+ B of RSS and [\d,]+ of PSS each \| - \| \*\*fail\*\* \|$/m,
        'the idle target fails');
    like($md, qr/^- CONNECT bulk: cuttle moved 2000 MB\/s, tinyproxy 2500 \(0\.80 x\); 1\.5 x asks for 3750 MB\/s\.  cuttle used 0\.300 ms of CPU per MB and kept CPU 0 60 % busy, tinyproxy 0\.400 ms and 100 %; CPU 1, where the client and the origin run, was 90 % busy through cuttle\.  cuttle made no splice call on this kind of tunnel \(10a\)\.$/m,
        'the CONNECT bulk failure explained from its figures');
    unlike($md, qr/^- SOCKS 5 bulk:/m, 'the SOCKS 5 bulk target passed: not explained');
    like($md, qr/^- SOCKS 5 new connection CPU: cuttle used 300\.0 us per connection, dante 250\.0 \(1\.20 x\); the target asks for 250\.0 us\.  User space took 4\.0 us in cuttle and 100\.0 in dante; the rest, 296\.0 and 150\.0 us, is the kernel's\.$/m,
        'the connection CPU failure explained');
    like($md, qr/^- Idle tunnels: 9,000 of 10,000 SOCKS 5 tunnels came up through cuttle, 9,000 reached the destination, 1,000 failed or had no answer within 120 s\.$/m,
        'the idle failure explained');
}

# BENCH_ONLY=approval: section 11 alone, every target met.  11a: 12,000
# instructions a request without approval, 12,060 with (1.005 x).  11b:
# 204.8 - 102.4 = 102 B more per held client.  11c: the last echo at 48,
# 52 and 60 ms.
{
    my $md = report('appr-only', appr => {}, appr_only => 1, approved_ir => 12060);

    like($md, qr/^- Only the approval scenarios of section 11 ran, with cuttle's runs of section 6 that 11a compares \(`BENCH_ONLY=approval`\)\.$/m,
        'the run says only section 11 ran');
    unlike($md, qr/^## (Results|Targets)$|^### [1-9]\. |^## (8|10)\./m,
        'no other section, not even 6, nor their targets');
    like($md, qr/^## 11\. Operator approval$/m, 'section 11 is there');
    like($md, qr/^\| without approval \| 12,000 \| 1\.000 \|\n\| approval, the client approved by a decision \| 12,060 \| 1\.005 \|$/m,
        '11a: 12,000 and 12,060 instructions a request, 1.005 x');
    like($md, qr/^\| idle, no approval \| 5,000 \| - \| 5,000 \| 5,000 \| 5,500 \| 102 \|$/m,
        '11b: an idle client, 102 B');
    like($md, qr/^\| held for a decision \| 5,000 \| 5,000 \| 5,000 \| 5,000 \| 6,000 \| 205 \|$/m,
        '11b: a held client, 205 B');
    like($md, qr/^### 11c\. A decision and 1,000 held connections$/m, '11c is there');
    like($md, qr/^\| 2 \| 1,000 \| 490 \/ 510 \| 1,000 \| 14\.0 \| 40\.0 \| 52\.0 \|$/m,
        '11c: a round, with what each worker held');
    like($md, qr/^\| median \| \| \| \| 13\.0 \| 38\.0 \| 52\.0 \|$/m, '11c: the medians');
    unlike($md, qr/lost connections/, 'no round lost connections');
    like($md, qr/^\| Clients approved by a decision: Ir\/request <= 1\.02 x without approval \| 1\.00 x \| - \| pass \|$/m,
        'the instructions target passes');
    like($md, qr/^\| 5,000 held clients: worker memory <= 600 B per client beyond an idle one \| 102 B \| - \| pass \|$/m,
        'the memory target passes at 102 B');
    like($md, qr/^\| A decision reaches 1,000 held connections on 2 workers: last echo <= 100 ms \| 52\.0 ms \| 48\.0-60\.0, 3 of 3 \| pass \|$/m,
        'the decision target passes at 52.0 ms, met in 3 rounds of 3');
    unlike($md, qr/failed approval targets/, 'nothing to explain');
}

# Every approval target fails: 12,360 instructions (1.03 x); 819 B per
# held client (717 B more than an idle one); the last echo at 150 and 90
# ms, and 3 connections lost in round 3, which counts as 10 s.
{
    my $md = report('appr-fail', appr => {held_with => 9000, rounds => [[12, 35, 150], [14, 40, 90], [13, 38, 60]],
        lost_round => 2, lost => 3}, appr_only => 1, approved_ir => 12360);

    like($md, qr/^\| Clients approved by a decision: Ir\/request <= 1\.02 x without approval \| 1\.03 x \| - \| \*\*fail\*\* \|$/m,
        'the instructions target fails');
    like($md, qr/^- Instructions: cuttle used 12,360 per request with approval and 12,000 without \(1\.030 x\); 1\.02 x asks for 12,240\.  .* the 360 instructions more per request come to 720,000 over the run\.$/m,
        'and says by how much');
    like($md, qr/^\| 5,000 held clients: worker memory <= 600 B per client beyond an idle one \| 717 B \| - \| \*\*fail\*\* \|$/m,
        'the memory target fails at 717 B');
    like($md, qr/^- Held clients: the worker grew by 4,000 KiB for 5,000 held clients \(819 B each\) and by 500 KiB for 5,000 idle ones \(102 B each\): 717 B more per held client, where 600 B are allowed\./m,
        'and is explained from its figures');
    like($md, qr/^\| 3 \| 1,000 \| 490 \/ 510 \| \*\*997\*\* \|/m, 'the round that lost connections is in bold');
    like($md, qr/^\*\*Round 3 lost connections:\*\* 3 of 1,000 held connections did not get their byte back within 10 s of the mark; the round counts as 10000 ms\.$/m,
        'and said');
    like($md, qr/^\| A decision reaches 1,000 held connections on 2 workers: last echo <= 100 ms \| 150\.0 ms \| 90\.0-10000\.0, 1 of 3 \| \*\*fail\*\* \|$/m,
        'the decision target fails');
    like($md, qr/^- Decision: the last of 1,000 held connections got its byte back 150\.0 ms after the mark \(median of 3 rounds\), where 100 ms are allowed\.  cuttlectl approve returned after 13\.0 ms and the first byte came back after 37\.5 ms; the last came 82\.5 ms after the first\.$/m,
        'and is explained from the rounds that lost nothing');
}

# A full run: section 6 has the approved run, and section 11 the targets
# that its own scenarios did not measure.
{
    my $md = report('appr-in-6', ka_ticks => [100, 190, 300], big_req => [50000, 52000, 49000],
        approved_ir => 12060);
    like($md, qr/^\| cuttle, approval, the client approved by a decision \| 2,000 \| 1,000,000 \| 25,120,000 \| 12,060 \| 0\.60 \|$/m,
        'section 6 has the approved run');
    like($md, qr/^## 11\. Operator approval$/m, 'section 11 is there');
    unlike($md, qr/^### 11[bc]\./m, 'without 11b and 11c');
    like($md, qr/^\| 5,000 held clients: worker memory <= 600 B per client beyond an idle one \| n\/a \| - \| not measured \|$/m,
        'whose targets are not measured');
}

# BENCH_ONLY=cluster: section 13 alone, every target met.  13a: 12,000
# instructions a request without a redis section, 12,012 with (1.001 x).
# 13b: node2's master busiest, 2 ticks in 20 s (0.10 %).  13c: the
# nearest-rank p50, p90 and p99 of 1.0 to 20.9 ms are 10.9, 18.9, 20.7.
{
    my $md = report('clu-only', clu => {}, clu_only => 1, redis_ir => 12012);

    like($md, qr/^- Only the cluster scenarios of section 13 ran, with cuttle's runs of section 6 that 13a compares \(`BENCH_ONLY=cluster`\)\.$/m,
        'the run says only section 13 ran');
    like($md, qr/^- Redis: `Redis server v=7\.0\.15`$/m, 'and which Redis');
    unlike($md, qr/^## (Results|Targets)$|^### [1-9]\. |^## (8|10|11|12)\./m,
        'no other section, not even 6, nor their targets');
    like($md, qr/^## 13\. Cluster through Redis$/m, 'section 13 is there');
    like($md, qr/^\| without redis \| 12,000 \| 1\.000 \|\n\| a redis section \(a node of a cluster\) \| 12,012 \| 1\.001 \|$/m,
        '13a: 12,000 and 12,012 instructions a request, 1.001 x');
    like($md, qr/^\| master of node2 \| 2 \| 0\.10 \| 12\.0 \| 0\.060 \| 20\.0 \| 3 \|$/m,
        '13b: a master, from its ticks and from the time it ran');
    like($md, qr/^\| redis-server \| 4 \| 0\.20 \| 40\.0 \| 0\.200 \| 20\.0 \| - \|$/m, '13b: redis-server');
    like($md, qr/^\| max of the masters \| \| 0\.10 \| \| 0\.060 \| \| \|$/m, '13b: the busiest master');
    like($md, qr/^\| decision listed by the other nodes \| 10\.9 \| 18\.9 \| 20\.7 \| 20\.9 \|$/m,
        '13c: the percentiles of the propagation');
    like($md, qr/^\| POST answered \| 0\.3 \| 0\.3 \| 0\.3 \| 0\.3 \|$/m, '13c: and of the POST');
    unlike($md, qr/Not propagated|Not revoked/, 'every decision propagated');
    like($md, qr/^\| A redis section: Ir\/request <= 1\.02 x without \| 1\.00 x \| - \| pass \|$/m,
        'the instructions target passes');
    like($md, qr/^\| 3 idle nodes: master CPU <= 1 % of a core \(the busiest\) \| 0\.10 % \| - \| pass \|$/m,
        'the CPU target passes');
    like($md, qr/^\| A decision on one of 3 nodes listed by the others: p99 <= 1000 ms \| 20\.7 ms \| - \| pass \|$/m,
        'the propagation target passes');
    unlike($md, qr/failed cluster targets/, 'nothing to explain');
}

# Every cluster target fails: 12,360 instructions (1.03 x); node2's
# master at 500 ticks in 20 s (25 %); 3 decisions never listed, which
# count as 10 s each and make the p99.
{
    my $md = report('clu-fail', clu => {node2 => 500, unseen => 3}, clu_only => 1, redis_ir => 12360);

    like($md, qr/^\| A redis section: Ir\/request <= 1\.02 x without \| 1\.03 x \| - \| \*\*fail\*\* \|$/m,
        'the instructions target fails');
    like($md, qr/^- Instructions: cuttle's worker used 12,360 per request with a redis section and 12,000 without \(1\.030 x\); 1\.02 x asks for 12,240\./m,
        'and says by how much');
    like($md, qr/^\| 3 idle nodes: master CPU <= 1 % of a core \(the busiest\) \| 25\.00 % \| - \| \*\*fail\*\* \|$/m,
        'the CPU target fails');
    like($md, qr/^- Idle masters: the master of node2 used 500 ticks in 20\.0 s, 25\.00 % of a core, where 1 % is allowed; the scheduler counted it running 12\.0 ms\.$/m,
        'and is explained from its figures');
    like($md, qr/^\*\*Not propagated:\*\* 3 of 200 decisions were not listed by every other node within 10 s, and count as 10000 ms\.$/m,
        'the decisions never listed are said');
    like($md, qr/^\| A decision on one of 3 nodes listed by the others: p99 <= 1000 ms \| 10000\.0 ms \| - \| \*\*fail\*\*, \*\*flagged\*\*: 3 of 200 not propagated \|$/m,
        'the propagation target fails, flagged');
    like($md, qr/^- Propagation: the p99 of 200 decisions was 10000\.0 ms, where 1000 ms are allowed; the p50 was 10\.9 ms and the POST was answered after 0\.3 ms \(p50\)\.  3 of them were not listed by every other node within 10 s\.$/m,
        'and is explained');
}

# A full run: section 6 has the run with a redis section, and section 13
# its 13a with the targets that its own scenarios did not measure.
{
    my $md = report('clu-in-6', ka_ticks => [100, 190, 300], big_req => [50000, 52000, 49000],
        redis_ir => 12012);
    like($md, qr/^\| cuttle, a redis section \(a node of a cluster\) \| 2,000 \| 1,000,000 \| 25,024,000 \| 12,012 \| n\/a \|$/m,
        'section 6 has the run with a redis section');
    like($md, qr/^## 13\. Cluster through Redis$/m, 'section 13 is there');
    unlike($md, qr/^### 13[bc]\./m, 'without 13b and 13c');
    like($md, qr/^\| 3 idle nodes: master CPU <= 1 % of a core \(the busiest\) \| n\/a \| - \| not measured \|$/m,
        'whose targets are not measured');
}

done_testing();
