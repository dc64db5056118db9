# Connect failures: the next server is tried (retries), the failed
# attempt is logged, and a client whose every attempt failed is closed
# at once with end="no server available".
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $A = backend(mode => 'name', name => 'A');
my $A2 = backend(mode => 'name', name => 'A2');
my $R = backend(mode => 'name', name => 'R');
# Dead servers: ports that nothing listens on (connect is refused).
my %dead = map { $_ => free_port() } qw(d1 d2 d3 d4);
# Bring R's server down: its port refuses from now on.
backend_stop($R);
my %port = map { $_ => free_port() } qw(half none strict back);

my $c = cuttle_start(<<"EOF", workers => 2);
upstreams:
  half:
    servers:
      - {address: 127.0.0.1:$dead{d1}}
      - {address: $A->{addr}}
  none:
    servers:
      - {address: 127.0.0.1:$dead{d2}}
      - {address: 127.0.0.1:$dead{d3}}
  strict:
    servers:
      - {address: 127.0.0.1:$dead{d4}}
      - {address: $A2->{addr}}
  back:
    # Passive health (on by default) would keep the server out for its
    # fail_timeout after the refused connect; this is about the next
    # connect reaching it as soon as it is back.
    health: {passive: {max_fails: 0}}
    servers:
      - {address: $R->{addr}}
listeners:
  - {name: half, listen: 127.0.0.1:$port{half}, mode: tcp, upstream: half, retries: 1}
  - {name: none, listen: 127.0.0.1:$port{none}, mode: tcp, upstream: none, retries: 2}
  - {name: strict, listen: 127.0.0.1:$port{strict}, mode: tcp, upstream: strict, retries: 0}
  - {name: back, listen: 127.0.0.1:$port{back}, mode: tcp, upstream: back, retries: 0}
EOF

sub warn_re {
    my ($server, $listener) = @_;
    return qr/\[warn\] \d+#\d+: connect\(\) to \Q$server\E failed \(.+\)/
        . qr/ while connecting to upstream, client: 127\.0\.0\.1:\d+,/
        . qr/ listener: \Q$listener\E$/;
}

# --- one of two servers down: every connection succeeds.
{
    my @fail;
    for my $i (1 .. 20) {
        my ($name, $r) = fetch_name($port{half});
        push @fail, $i unless defined $name && $name eq 'A';
    }
    is_deeply(\@fail, [], 'one server down, retries 1: 20 of 20 served by A');
    my @w = wait_log($c, warn_re("127.0.0.1:$dead{d1}", 'half'));
    ok(@w >= 1, 'the failed connect() to the dead server is logged as warn')
        or diag(join "\n", log_grep($c, qr/\[warn\]/));
    my @l = wait_conn($c, 20, listener => 'half');
    my @bad = grep { $_->{server} ne $A->{addr} || $_->{end} ne 'done' } @l;
    is(scalar @l, 20, 'one conn line per connection');
    is_deeply([map { $_->{line} } @bad], [],
        'every conn line names the live server and end="done"');
}

# --- every server down: the client is closed promptly, with no data.
{
    my $mark = log_mark($c);
    my $s = tcp_connect($port{none}) or die "connect: $@";
    my $cport = $s->sockport;
    my $r = recv_until_eof($s, 5);
    close $s;
    ok($r->{closed}, 'all servers down: the client is closed');
    ok($r->{elapsed} < 2, sprintf('... within 2 s (%.3f s)', $r->{elapsed}));
    is($r->{data}, '', '... with no data');
    my ($l) = wait_conn($c, 1, since => $mark, client => "127.0.0.1:$cport");
    ok($l && $l->{end} eq 'no server available' && $l->{server} eq '-'
        && $l->{listener} eq 'none',
        'logged end="no server available" with server=-')
        or diag($l ? $l->{line} : 'no conn line');
    my @w = log_grep($c, qr/connect\(\) to 127\.0\.0\.1:(?:$dead{d2}|$dead{d3}) failed/);
    ok(@w >= 2, 'both dead servers were tried (' . scalar(@w) . ' warn lines)');
}

# --- retries: 0 and a dead server among two: a connection that picks it
# fails, with exactly one attempt; one that picks the live one succeeds.
{
    my ($ok, $failed) = (0, 0);
    for my $i (1 .. 6) {
        my ($name, $r) = fetch_name($port{strict});
        if (defined $name && $name eq 'A2') {
            $ok++;
        } elsif ($r->{closed} && ($r->{data} // '') eq '') {
            $failed++;
        }
    }
    is($ok + $failed, 6, 'retries 0: every connection either served or closed empty');
    ok($failed >= 1, "retries 0: connections to the dead server fail ($failed of 6)");
    ok($ok >= 1, "retries 0: connections to the live server succeed ($ok of 6)");
    my @nsa = wait_conn($c, $failed, listener => 'strict',
        end => 'no server available');
    is(scalar @nsa, $failed, 'each failure logged "no server available"');
    my @w = log_grep($c, warn_re("127.0.0.1:$dead{d4}", 'strict'));
    is(scalar @w, $failed, 'one connect attempt per failed connection (no retry)');
}

# --- a server that was down comes back.
{
    my ($name, $r) = fetch_name($port{back});
    ok(!defined $name && $r->{closed}, 'server stopped: connection refused by cuttle');
    backend_start($R);
    ($name) = fetch_name($port{back});
    is($name, 'R', 'server started again on the same port: served');
}

cuttle_stop($c);
log_clean_ok();
done_testing();
