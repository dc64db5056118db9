#!/usr/bin/perl
# sink.pl HOST PORT PATH: one GET with Connection: close; reads the answer
# in 1 MiB pieces and discards it.  Prints "status body-bytes seconds".
#
# The bulk scenario's client shares CPU 1 with the origin, so it must cost
# little per byte: curl -o /dev/null writes what it reads in 8 KiB pieces,
# about 130 system calls per MB on that CPU, and set the rate instead of
# the proxy.
use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw(time);

my ($host, $port, $path) = @ARGV;
my $t0 = time;
my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
    Proto => 'tcp', Timeout => 30) or die "sink.pl: connect: $!\n";
my $req = "GET $path HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
syswrite($s, $req) == length($req) or die "sink.pl: write: $!\n";
my ($buf, $status, $body, $head) = ('', 0, 0, '');
for (;;) {
	my $r = sysread($s, $buf, 1 << 20);
	die "sink.pl: read: $!\n" unless defined $r;
	last if $r == 0;
	if (!$status) {
		$head .= $buf;
		my $end = index($head, "\r\n\r\n");
		next if $end < 0 && length($head) < 65536;
		die "sink.pl: no answer head\n" if $end < 0;
		($status) = $head =~ m{^HTTP/1\.\d (\d{3}) } or die "sink.pl: bad status line\n";
		$body += length($head) - $end - 4;
		$head = '';
		next;
	}
	$body += $r;
}
printf "%s %d %.6f\n", $status, $body, time - $t0;
