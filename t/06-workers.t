# Processes: titles, a killed worker replaced without losing a client,
# SIGTERM stopping everything (open connections end="shutdown"), and
# workers leaving by themselves when the master is killed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use CuttleTest;

my $A = backend(mode => 'name', name => 'A');
my $H = backend(mode => 'hold', name => 'H');
my %port = map { $_ => free_port() } qw(front held);

my $config = <<"EOF";
upstreams:
  u:
    servers:
      - {address: $A->{addr}}
  h:
    servers:
      - {address: $H->{addr}}
listeners:
  - {name: front, listen: 127.0.0.1:$port{front}, mode: tcp, upstream: u}
  - {name: held, listen: 127.0.0.1:$port{held}, mode: tcp, upstream: h}
EOF
my $c = cuttle_start($config, workers => 2);
my $master = $c->{pid};

# --- titles and the start line.
ok((log_grep($c, qr/\[notice\] $master#m: cuttle \d+\.\d+\.\d+ started, 2 workers$/)),
    'master logs "cuttle X.Y.Z started, 2 workers"');
is(proc_title($master), 'cuttle: master', 'master title');
my @kids = proc_children($master);
my %title = map { $_ => proc_title($_) } @kids;
is_deeply([sort values %title], ['cuttle: worker 0', 'cuttle: worker 1'],
    'worker titles') or diag(explain(\%title));
is_deeply({ map { $c->{slots}{$_} => "cuttle: worker $_" } keys %{$c->{slots}} },
    \%title, 'the workers are the master\'s children, pids as logged');

# --- kill -9 of worker 0 while sequential connections keep coming.
{
    my $victim = $c->{slots}{0};
    my ($n, $after, $new, @fail) = (0, 0);
    my $deadline = time + 20;
    while (time < $deadline) {
        my ($name, $r) = fetch_name($port{front});
        $n++;
        push @fail, "#$n: " . ($r->{timeout} ? 'timeout' : $r->{error} // 'closed')
            . ' data=' . length($r->{data} // '')
            unless defined $name && $name eq 'A';
        if ($n == 20) {
            expect_killed($victim);
            kill 'KILL', $victim;
        }
        next if $n <= 20;
        if (!$new) {
            my ($l) = grep { !/^\Q$victim\E#/ }
                map { /\] (\d+#0: worker 0 ready)/ ? $1 : () }
                split /\n/, log_text($c);
            ($new) = $l =~ /^(\d+)/ if $l;
        }
        last if $new && ++$after >= 60;
    }
    ok($new, 'worker 0 respawned and ready again') or diag("after $n connections");
    $new //= 0;
    isnt($new, $victim, "new worker 0 has a new pid ($victim -> $new)");
    ok(!proc_alive($victim), 'the killed worker is gone (reaped)');
    is(proc_title($new), 'cuttle: worker 0', 'the new worker has its title');
    ok((grep { $_ == $new } proc_children($master)),
        'the new worker is a child of the master');
    ok((log_grep($c, qr/\[error\] $master#m: worker 0 \(pid $victim\) killed by signal 9, respawning$/)),
        'master logs the kill and the respawn');
    is_deeply(\@fail, [], "no failed connection in $n, during and after the kill");
    my @by_new = wait_conn($c, 1, pid => $new);
    ok(@by_new >= 1, 'the new worker serves connections ('
        . scalar(@by_new) . ')');
}

# --- SIGTERM: every process exits; an open connection ends "shutdown".
{
    my @workers = proc_children($master);
    my $mark = log_mark($c);
    my $s = tcp_connect($port{held}) or die "connect: $@";
    my $cport = $s->sockport;
    is(recv_line($s, 3), "H\n", 'a held connection is open');
    cuttle_stop($c);
    ok(!(grep { proc_alive($_) } $master, @workers),
        'master and workers are gone after SIGTERM');
    my $r = recv_until_eof($s, 3);
    ok($r->{closed}, 'the held client is closed by the shutdown');
    close $s;
    my ($l) = conn_lines($c, since => $mark, listener => 'held',
        client => "127.0.0.1:$cport");
    ok($l && $l->{end} eq 'shutdown', 'its conn line says end="shutdown"')
        or diag($l ? $l->{line} : 'no conn line');
    my $again = tcp_connect($port{front});
    ok(!$again, 'nothing listens on the port any more');
}

# --- kill -9 of the master: the workers exit by themselves.
{
    my $c2 = cuttle_start($config, workers => 2);
    my @workers = proc_children($c2->{pid});
    is(scalar @workers, 2, 'second instance: two workers');
    $c2->{known_workers}{$_} = 1 for @workers;
    kill 'KILL', $c2->{pid};
    ok(defined cuttle_wait($c2, 5), 'master killed');
    my $t0 = time;
    my $gone = wait_until(sub { !grep { proc_alive($_) } @workers }, 5);
    ok($gone, sprintf('workers exit by themselves after the master is'
        . ' killed (%.1f s)', time - $t0))
        or diag('still alive: ' . join ' ', grep { proc_alive($_) } @workers);
}

log_clean_ok();
done_testing();
