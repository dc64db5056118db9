# SIGHUP: an invalid file is reported at its positions and the running
# configuration keeps serving; a valid one adds and removes listeners,
# upstreams and servers, changes the number of workers, logs one line
# per change, and lets the old workers drain the connections they hold
# (or stops them after shutdown_timeout).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Socket qw(SHUT_WR);
use CuttleTest;

my $A = backend(mode => 'name', name => 'A');
my $A2 = backend(mode => 'name', name => 'A2');
my $B = backend(mode => 'name', name => 'B');
my $C = backend(mode => 'name', name => 'C');
my $E = backend(mode => 'echo', name => 'E');
my %port = map { $_ => free_port() } qw(a b c e);

# The configuration: workers, the servers of "ua", and whether the
# listener/upstream pairs b and c exist.
sub config {
    my (%o) = @_;
    my $servers = join '', map { "      - {address: $_->{addr}}\n" } @{$o{ua}};
    my $y = "error_log: {path: %LOG%, level: info}\nworkers: $o{workers}\n"
        . "upstreams:\n  ua:\n    servers:\n$servers"
        . "  ue:\n    servers:\n      - {address: $E->{addr}}\n";
    $y .= "  ub:\n    servers:\n      - {address: $B->{addr}}\n" if $o{b};
    $y .= "  uc:\n    servers:\n      - {address: $C->{addr}}\n" if $o{c};
    $y .= "listeners:\n"
        . "  - {name: a, listen: 127.0.0.1:$port{a}, mode: tcp, upstream: ua}\n"
        . "  - {name: e, listen: 127.0.0.1:$port{e}, mode: tcp, upstream: ue}\n";
    $y .= "  - {name: b, listen: 127.0.0.1:$port{b}, mode: tcp, upstream: ub}\n" if $o{b};
    $y .= "  - {name: c, listen: 127.0.0.1:$port{c}, mode: tcp, upstream: uc}\n" if $o{c};
    return $y;
}

# Names answered by $n connections to $port ("-" for a failure).
sub names {
    my ($port, $n) = @_;
    my %seen;
    for (1 .. $n) {
        my ($name) = fetch_name($port);
        $seen{$name // '-'}++;
    }
    return \%seen;
}

# Waits (3 s) until the children of $m are exactly @pids (an exited
# worker stays a child until the master reaps it).
sub children_are {
    my ($m, @pids) = @_;
    my $want = join ' ', sort { $a <=> $b } @pids;
    return wait_until(sub {
        join(' ', sort { $a <=> $b } proc_children($m)) eq $want;
    }, 3);
}

# The LINE:COL of the first occurrence of $what in $text.
sub pos_of {
    my ($text, $what) = @_;
    my @lines = split /\n/, $text;
    for my $i (0 .. $#lines) {
        my $col = index($lines[$i], $what);
        return ($i + 1) . ':' . ($col + 1) if $col >= 0;
    }
    die "pos_of: '$what' not in the text";
}

my $c = cuttle_start(config(workers => 2, ua => [$A], b => 1));
my $m = $c->{pid};
my %gen1 = %{generation_workers($c, 1)};
is(scalar keys %gen1, 2, 'generation 1: two workers ready');
is_deeply(names($port{a}, 4), { A => 4 }, 'listener a reaches A');
is_deeply(names($port{b}, 2), { B => 2 }, 'listener b reaches B');

# --- an invalid file: every error at its position, nothing changes.
{
    my $bad = config(workers => 2, ua => [$A], b => 1);
    $bad =~ s/^workers: 2$/workers: plenty/m;
    $bad =~ s/(upstream: ua)\}/$1, retris: 2}/;
    my $conf = $c->{conf};
    my $r = cuttle_reload($c, $bad);
    ok($r->{failed}, 'an invalid file: the reload fails') or diag(explain($r));
    my @l = @{$r->{lines}};
    ok((grep { /\[notice\] $m#m: reloading configuration from \Q$conf\E$/ } @l),
        '"reloading configuration from FILE"');
    my $p1 = pos_of($bad, 'plenty');
    my $p2 = pos_of($bad, 'retris');
    ok((grep { /\[error\] $m#m: \Q$conf\E:$p1: / } @l), "error at $p1 (workers)")
        or diag(join "\n", @l);
    ok((grep { /\[error\] $m#m: \Q$conf\E:$p2: .*retris.*did you mean "retries"/ } @l),
        "error at $p2 (misspelt key, with did you mean)") or diag(join "\n", @l);
    ok((grep { /\[error\] $m#m: reload failed; still running generation 1$/ } @l),
        '"reload failed; still running generation 1"');
    ok(!(grep { /generation \d+ started|ready, generation 2/ } @l),
        'no new generation');
    is_deeply([sort { $a <=> $b } proc_children($m)],
        [sort { $a <=> $b } values %gen1], 'the same two workers run');
    is_deeply(names($port{a}, 4), { A => 4 }, 'listener a still reaches A');
    is_deeply(names($port{b}, 2), { B => 2 }, 'listener b still reaches B');
}

# --- a valid file: c and uc added, b and ub removed, A replaced by A2
# in ua, workers 2 -> 3.
my %gen2;
{
    my $r = cuttle_reload($c, config(workers => 3, ua => [$A2], c => 1));
    ok($r->{ok}, 'a valid file after the invalid one: the reload works')
        or diag(explain($r));
    is($r->{generation}, 2, 'generation 2');
    is($r->{nworkers}, 3, 'started with 3 workers');
    my @changes = sort map { /\[notice\] $m#m: (reload: .*)$/ ? $1 : () }
        @{$r->{lines}};
    is_deeply(\@changes, [sort
        "reload: added listener \"c\" on 127.0.0.1:$port{c}",
        'reload: removed listener "b"',
        'reload: added upstream "uc"',
        'reload: removed upstream "ub"',
        "reload: added server $A2->{addr} to upstream \"ua\"",
        "reload: removed server $A->{addr} from upstream \"ua\"",
        'reload: workers 2 -> 3',
    ], 'one "reload: ..." line per change') or diag(join "\n", @{$r->{lines}});
    %gen2 = %{$r->{slots} || {}};
    is_deeply([sort keys %gen2], [0, 1, 2],
        'three "worker N ready, generation 2" lines, slots 0..2');
    my $gone = wait_until(sub { !grep { proc_alive($_) } values %gen1 }, 5);
    ok($gone, 'the idle workers of generation 1 exit');
    for my $p (values %gen1) {
        ok((log_grep($c, qr/\[notice\] $p#\d+: worker \d+ exiting: drained$/)),
            "old worker $p logs \"exiting: drained\"");
    }
    ok(children_are($m, values %gen2),
        'the master\'s children are the three workers of generation 2')
        or diag('children: ' . join ' ', proc_children($m));
    is_deeply(names($port{c}, 3), { C => 3 }, 'the added listener c serves');
    is_deeply(names($port{a}, 6), { A2 => 6 },
        'listener a: traffic goes to the added server only');
    ok(!tcp_connect($port{b}, timeout => 1),
        'the port of the removed listener b refuses');
    is(backend_accepts($B), 2 + 2, 'B got nothing after its removal');
}

# --- a connection held across a reload (workers 3 -> 1): its old
# worker drains it, and exits after it closes.
{
    my $s = tcp_connect($port{e}) or die "connect: $@";
    is(exchange($s, "before\n", 3), "before\n", 'held connection echoes');
    my $r = cuttle_reload($c, config(workers => 1, ua => [$A2], c => 1));
    ok($r->{ok}, 'reload to one worker') or diag(explain($r));
    is($r->{generation}, 3, 'generation 3');
    is($r->{nworkers}, 1, 'started with 1 worker');
    my @changes = map { /\[notice\] $m#m: (reload: .*)$/ ? $1 : () } @{$r->{lines}};
    is_deeply(\@changes, ['reload: workers 3 -> 1'],
        'the only change line is "reload: workers 3 -> 1"');
    my %gen3 = %{$r->{slots} || {}};
    is(scalar keys %gen3, 1, 'one "worker N ready, generation 3" line');
    my @left = @{wait_until(sub {
        my @a = grep { proc_alive($_) } values %gen2;
        @a == 1 ? \@a : 0;
    }, 5) || []};
    is(scalar @left, 1, 'one worker of generation 2 stays: the one holding the connection');
    my $old = $left[0] // 0;
    ok((log_grep($c, qr/\[notice\] $old#\d+: worker \d+ draining 1 connections$/)),
        'it logs "draining 1 connections"');
    is(exchange($s, "during\n", 3), "during\n", 'the held connection still echoes');
    my $mark = log_mark($c);
    my $s2 = tcp_connect($port{e}) or die "connect: $@";
    my $cport = $s2->sockport;
    is(exchange($s2, "new\n", 3), "new\n", 'a new connection echoes');
    close $s2;
    my ($l) = wait_conn($c, 1, since => $mark, client => "127.0.0.1:$cport");
    ok($l && grep({ $_ == $l->{pid} } values %gen3),
        'the new connection is served by generation 3')
        or diag($l ? $l->{line} : 'no conn line');
    shutdown($s, SHUT_WR);
    ok(recv_until_eof($s, 3)->{eof}, 'the held connection ends normally');
    close $s;
    ok(wait_gone($old, 5), 'the old worker exits after it closed');
    ok((log_grep($c, qr/\[notice\] $old#\d+: worker \d+ exiting: drained$/)),
        'and logs "exiting: drained"');
    ok(children_are($m, values %gen3),
        'the master has one child: the worker of generation 3')
        or diag('children: ' . join ' ', proc_children($m));
}

cuttle_stop($c);

# --- shutdown_timeout: an old worker whose connection stays open is
# stopped after it.
{
    my $port = free_port();
    my $yaml = <<"EOF";
shutdown_timeout: 1s
upstreams:
  ue:
    servers:
      - {address: $E->{addr}}
listeners:
  - {name: e, listen: 127.0.0.1:$port, mode: tcp, upstream: ue}
EOF
    my $c2 = cuttle_start($yaml, workers => 1);
    my $m2 = $c2->{pid};
    my ($w1) = values %{$c2->{slots}};
    my $s = tcp_connect($port) or die "connect: $@";
    is(exchange($s, "x\n", 3), "x\n", 'held connection echoes');
    my $r = cuttle_reload($c2, $yaml, workers => 1);
    ok($r->{ok}, 'reload with shutdown_timeout: 1s');
    my ($stop) = wait_log($c2, qr/\[\w+\] $m2#m: generation 1: stopping 1 workers? after shutdown_timeout$/);
    ok($stop, '"generation 1: stopping 1 workers after shutdown_timeout"');
    my $e = recv_until_eof($s, 5);
    ok($e->{closed}, 'the held connection is cut');
    close $s;
    ok(wait_gone($w1, 5), 'the old worker is gone');
    is(exchange(tcp_connect($port) // die("connect: $@"), "y\n", 3), "y\n",
        'generation 2 serves');
}

log_clean_ok();
done_testing();
