# The shared segment over a master's life: 600 reloads, each renaming an
# upstream and a listener, leave the segment's use as /metrics reports
# it where it was after the first few, with one slot per live name; a
# listener and an upstream kept by every reload keep their counters.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $RELOADS = 600;
my $dir = tmpdir();
my $A = backend(mode => 'name', name => 'A');
my %port = map { $_ => free_port() } qw(keep moving);

# The configuration of reload $n: "keep" throughout, and an upstream and
# a listener whose names change every time.
sub config {
    my ($n) = @_;
    return <<"EOF";
admin: {socket: %TMP%/admin.sock}
upstreams:
  keep:
    servers:
      - {address: $A->{addr}}
  up-$n:
    servers:
      - {address: $A->{addr}}
listeners:
  - {name: keep, listen: 127.0.0.1:$port{keep}, mode: tcp, upstream: keep}
  - {name: lis-$n, listen: 127.0.0.1:$port{moving}, mode: tcp, upstream: up-$n}
EOF
}

# The /metrics text, or '' while the admin process is being replaced.
sub metrics {
    my $r = curl_run('--unix-socket', "$dir/admin.sock", 'http://x/metrics');
    return $r->{status} == 0 ? $r->{stdout} : '';
}

# One sample's value from the metrics text, or undef.
sub sample {
    my ($text, $name, $labels) = @_;
    my $series = $labels eq '' ? $name : "$name\{$labels\}";
    return $text =~ /^\Q$series\E (\S+)$/m ? $1 : undef;
}

# The segment's figures once every generation before $gen has finished
# (its workers exited and its slots and tables given back), read from an
# admin process of generation $gen.
sub settled {
    my ($c, $gen) = @_;
    my $done = wait_until(sub {
        my %f = map { /generation (\d+) finished$/ ? ($1 => 1) : () } log_text($c) =~ /^.*$/mg;
        !grep { !$f{$_} } 1 .. $gen - 1;
    }, 10);
    ok($done, "generations 1 to " . ($gen - 1) . " have finished");
    my $t;
    wait_until(sub {
        $t = metrics();
        my $l = () = $t =~ /^cuttle_listener_connections_total\{/mg;
        $t =~ /^cuttle_shm_bytes/m && $l == 2;
    }, 10);
    my $listeners = () = $t =~ /^cuttle_listener_connections_total\{/mg;
    return {
        used => sample($t, 'cuttle_shm_bytes', 'state="used"'),
        free => sample($t, 'cuttle_shm_bytes', 'state="free"'),
        upstreams => sample($t, 'cuttle_shm_slots', 'table="upstreams",state="used"'),
        listeners_slots => sample($t, 'cuttle_shm_slots', 'table="listeners",state="used"'),
        backends => sample($t, 'cuttle_shm_slots', 'table="backends",state="used"'),
        listeners => $listeners,
        failures => sample($t, 'cuttle_shm_alloc_failures_total', ''),
        kept => sample($t, 'cuttle_listener_connections_total', 'listener="keep"'),
        text => $t,
    };
}

my $c = cuttle_start(config(0), workers => 1);
ok(wait_until(sub { -S "$dir/admin.sock" }, 5), 'the admin socket exists')
    or BAIL_OUT('no admin socket');
my ($name) = fetch_name($port{keep});
is($name, 'A', 'listener keep reaches A');

my (@failed, $early, $gen);
for my $n (1 .. $RELOADS) {
    my $r = cuttle_reload($c, config($n), workers => 1);
    push @failed, $n unless $r->{ok} && !$r->{not_ready};
    $gen = $r->{generation} if $r->{ok};
    last if @failed > 3;
    $early = settled($c, $gen) if $n == 5;
}
ok(!@failed, "$RELOADS reloads renaming an upstream and a listener all work")
    or diag("failed reloads: @failed; last lines:\n" . join "\n", (log_grep($c, qr/\[error\]|\[warn\]/))[-5 .. -1]);
my $late = settled($c, $gen);
diag(sprintf "after 5 reloads: shm used %s free %s, %d listeners in /metrics; "
    . "after %d: used %s free %s, %d listeners",
    map { $_ // 'none' } $early->{used}, $early->{free}, $early->{listeners}, $RELOADS,
    $late->{used}, $late->{free}, $late->{listeners});
ok(defined $early->{used} && defined $late->{used}, '/metrics reports the shm use')
    or diag($late->{text});
is($late->{used}, $early->{used}, "the shm use after $RELOADS reloads is what it was after 5");
is($late->{free}, $early->{free}, 'and so is the free space');
is($late->{failures}, 0, 'no allocation failed');
is($late->{upstreams}, 2, 'two upstream slots in use: keep and the last name');
is($late->{listeners_slots}, 2, 'two listener slots in use');
is($late->{backends}, 2, 'two backend slots in use');
is($late->{listeners}, 2, '/metrics lists two listeners, not every name ever used');
is($late->{kept}, 1, 'the listener kept by every reload keeps its counters');
($name) = fetch_name($port{moving});
is($name, 'A', "the listener of reload $RELOADS serves");

log_clean_ok();
done_testing();
