#!/usr/bin/perl
# idle.pl HOST PORT N: opens N TCP connections to HOST:PORT that never
# send a byte, prints "ready" once all are established, then holds them
# until it is killed.  Connections are made
# in batches so that the listen backlog never overflows.
use strict;
use warnings;
use IO::Socket::INET;

my ($host, $port, $n) = @ARGV;
$| = 1;
my @socks;
while (@socks < $n) {
	for (1 .. 200) {
		last if @socks >= $n;
		my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
		    Proto => 'tcp', Timeout => 5) or die "idle.pl: connect: $!\n";
		push @socks, $s;
	}
	select(undef, undef, undef, 0.02);
}
print "ready\n";
sleep 3600;
