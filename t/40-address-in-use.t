# A second instance with another configuration must not join the
# SO_REUSEPORT group of a running one and take a share of its
# connections: binding an address this master does not already hold
# fails with "address already in use", at start (exit non-zero, the
# listener and its address named) and at reload (the old configuration
# keeps running).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $A = backend(mode => 'name', name => 'A');
my $B = backend(mode => 'name', name => 'B');
my ($p1, $p2) = (free_port(), free_port());

sub config {
    my ($name, $backend, @ports) = @_;
    my $y = "workers: 2\nupstreams:\n  u:\n    servers:\n      - {address: $backend->{addr}}\n"
        . "listeners:\n";
    $y .= "  - {name: $name$_, listen: 127.0.0.1:$ports[$_], mode: tcp, upstream: u}\n"
        for 0 .. $#ports;
    return $y;
}

my $one = cuttle_start(config('one', $A, $p1));
is((fetch_name($p1))[0], 'A', 'the first instance serves its address');

# --- at start: a second instance on the same address refuses to start.
{
    my $dir = tmpdir();
    my $log = "$dir/second.log";
    write_file("$dir/second.yaml", "error_log: {path: $log}\n" . config('two', $B, $p1));
    my $r = cuttle_run('-c', "$dir/second.yaml");
    isnt($r->{status}, 0, 'a second instance on the same address exits non-zero');
    ok(!$r->{timeout}, 'it exits at once rather than serving');
    like(slurp($log), qr/\[emerg\] \d+#m: cannot start: listener "two0": cannot bind 127\.0\.0\.1:$p1: address already in use/,
        'it names the listener and the address, at [emerg]');
    my %seen;
    $seen{(fetch_name($p1))[0] // '-'}++ for 1 .. 20;
    is_deeply(\%seen, { A => 20 }, 'every connection still reaches the first instance');
}

# --- at reload: an address another instance listens on is refused.
my $other = cuttle_start(config('other', $B, $p2));
{
    my $r = cuttle_reload($one, config('one', $A, $p1, $p2));
    ok($r->{failed}, 'a reload onto an address in use fails');
    ok((grep { /listener "one1": cannot bind 127\.0\.0\.1:$p2: address already in use/ } @{$r->{lines}}),
        'the reload names the listener and the address');
    my %seen;
    $seen{(fetch_name($p2))[0] // '-'}++ for 1 .. 20;
    is_deeply(\%seen, { B => 20 }, 'the other instance keeps all of its connections');
    is((fetch_name($p1))[0], 'A', 'the old configuration keeps running');
}

# --- an address the master holds already is no conflict with itself.
{
    my $r = cuttle_reload($one, config('one', $A, $p1) . "  - {name: extra, listen: 127.0.0.1:"
        . free_port() . ", mode: tcp, upstream: u}\n");
    ok($r->{ok}, 'a reload keeping its own address and adding a free one succeeds')
        or diag(join "\n", @{$r->{lines}});
}

cuttle_stop($other);
cuttle_stop($one);
log_clean_ok();
done_testing();
