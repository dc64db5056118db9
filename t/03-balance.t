# Load balancing across workers: smooth weighted round robin with its
# state in shared memory, and least_conn counting the active connections
# of every worker.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use CuttleTest;

my $A = backend(mode => 'name', name => 'A');
my $B = backend(mode => 'name', name => 'B');
my $C = backend(mode => 'hold', name => 'C');
my $D = backend(mode => 'hold', name => 'D');
my $E = backend(mode => 'hold', name => 'E');
my $F = backend(mode => 'hold', name => 'F');
my %port = map { $_ => free_port() } qw(rr lc lcw);

my $c = cuttle_start(<<"EOF", workers => 2);
upstreams:
  rr:
    balance: round_robin
    servers:
      - {address: $A->{addr}, weight: 2}
      - {address: $B->{addr}, weight: 1}
  lc:
    balance: least_conn
    servers:
      - {address: $C->{addr}}
      - {address: $D->{addr}}
  lcw:
    balance: least_conn
    servers:
      - {address: $E->{addr}, weight: 2}
      - {address: $F->{addr}, weight: 1}
listeners:
  - {name: rr, listen: 127.0.0.1:$port{rr}, mode: tcp, upstream: rr}
  - {name: lc, listen: 127.0.0.1:$port{lc}, mode: tcp, upstream: lc}
  - {name: lcw, listen: 127.0.0.1:$port{lcw}, mode: tcp, upstream: lcw}
EOF

# --- round robin, weights 2:1, 300 sequential connections.  The two
# workers accept them in an order set by the kernel; only state shared
# between them gives 200:100 and a smooth sequence.
{
    my ($seq, @fail) = ('');
    for my $i (1 .. 300) {
        my ($name, $r) = fetch_name($port{rr});
        if (defined $name && $name =~ /^[AB]$/) {
            $seq .= $name;
        } else {
            push @fail, $i;
            $seq .= 'x';
        }
    }
    is_deeply(\@fail, [], 'round_robin: all 300 connections served');
    my $na = () = $seq =~ /A/g;
    my $nb = () = $seq =~ /B/g;
    ok(abs($na - 200) <= 1 && abs($nb - 100) <= 1,
        "round_robin 2:1 over 2 workers: A=$na B=$nb (want 200:100 +-1)");
    unlike($seq, qr/AAA|BB/,
        'round_robin is smooth: never AAA nor BB in sequence')
        or diag($seq);
    my @lines = wait_conn($c, 300, listener => 'rr');
    is(scalar @lines, 300, 'round_robin: 300 conn lines');
    my %slots = map { $_->{slot} => 1 } @lines;
    is(scalar keys %slots, 2,
        'both workers took part (the shared state was exercised)');
}

# Opens a connection to $port and waits for the server's name line;
# returns [name, socket].
sub hold_one {
    my ($port) = @_;
    my $s = tcp_connect($port) or return ['connect failed', undef];
    my $line = recv_line($s, 3);
    return [defined $line ? ($line =~ s/\n//r) : 'no line', $s];
}

sub count_names {
    my %n;
    $n{$_->[0]}++ for @_;
    return \%n;
}

# --- least_conn, weights 1:1: with equal counts either server may be
# picked, so only the difference is asserted while connections pile up.
# Then the connections on D (the second server, which a tie-break on the
# first would not pick) are closed: with C still holding four, every new
# connection must go to D, whichever worker accepts it.
{
    my (@held, @unbalanced);
    for my $i (1 .. 8) {
        push @held, hold_one($port{lc});
        my $n = count_names(@held);
        my ($nc, $nd) = ($n->{C} // 0, $n->{D} // 0);
        push @unbalanced, "after $i: C=$nc D=$nd" if abs($nc - $nd) > 1
            || $nc + $nd != $i;
    }
    is_deeply(\@unbalanced, [],
        'least_conn: held connections never differ by more than one');
    is_deeply(count_names(@held), { C => 4, D => 4 },
        'least_conn: 8 held connections land 4:4');

    # Close those on D and wait until cuttle has logged them closed.
    my @ond = grep { $_->[0] eq 'D' } @held;
    @held = grep { $_->[0] ne 'D' } @held;
    close $_->[1] for @ond;
    my @closed = wait_conn($c, scalar @ond, listener => 'lc',
        server => $D->{addr});
    # A conn line is written once its connection is no longer counted.
    is(scalar @closed, scalar @ond, 'least_conn: closures on D logged');

    # D has 0 active, C has 4: the next four must all go to D.
    my @new = map { hold_one($port{lc}) } 1 .. 4;
    is_deeply([map { $_->[0] } @new], [qw(D D D D)],
        'least_conn: new connections go to the server that has none');
    push @held, @new;
    close $_->[1] for grep { $_->[1] } @held;
}

# --- least_conn, weights 2:1: six held connections land 4:2 whatever
# the order of ties.
{
    my @held = map { hold_one($port{lcw}) } 1 .. 6;
    is_deeply(count_names(@held), { E => 4, F => 2 },
        'least_conn 2:1: six held connections land 4:2');
    close $_->[1] for grep { $_->[1] } @held;
}

cuttle_stop($c);
log_clean_ok();
done_testing();
