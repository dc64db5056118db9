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
# as BENCH_ONLY=tls leaves it.
sub report {
    my ($name, %o) = @_;
    my $d = "$dir/$name";
    mkdir $d or die "$d: $!";
    write_file("$d/meta", join('', map { "$_\n" } 'clk_tck=100', 'date=2026-01-01 00:00 UTC',
        'nproc=2', 'cpu=test', 'kernel=Linux test', 'cuttle=cuttle version 0.1.0',
        'nginx=nginx version: nginx/1.22.1', 'wrk=wrk 4.1.0', 'valgrind=valgrind-3.19.0',
        'rounds=3', 'duration=5', 'conns=50', 'bulk_mb=64', 'elapsed=600',
        $o{haproxy} ? 'haproxy=HAProxy version 2.6.12' : (),
        $o{tls_only} ? 'only=tls' : (), $o{ktls} ? "ktls=$o{ktls}" : ()));
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
        next if $o{tls_only};
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
    write_file("$d/syscalls.tsv", $o{tls_only} ? '' : "http_keepalive\tcuttle\t100000\t425000\n"
        . "http_keepalive\tnginx\t100000\t500000\n"
        . join('', map { "tcp_keepalive\t$_\t80000\t$o{tcp_ka_calls}{$_}\n" }
            sort keys %{ $o{tcp_ka_calls} || {} }));
    # Instructions: 2,000 requests; the guarded cuttle at guarded_ir per request.
    write_file("$d/callgrind.tsv", "cuttle\t2000\t1000000\t25000000\n"
        . "cuttle_guarded\t2000\t1000000\t" . (1000000 + 2000 * $o{guarded_ir}) . "\n"
        . "nginx\t2000\t500000\t40500000\n") if $o{guarded_ir};
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
}

done_testing();
