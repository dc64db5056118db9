#!/usr/bin/perl
# reqloop.pl HOST PORT PATH N: sends N GET requests one after the other
# on one keep-alive connection and reads each response in full.  Exits
# non-zero unless every answer is a 200.
use strict;
use warnings;
use IO::Socket::INET;

my ($host, $port, $path, $n) = @ARGV;
my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
    Proto => 'tcp', Timeout => 30) or die "reqloop.pl: connect: $!\n";
my $req = "GET $path HTTP/1.1\r\nHost: bench\r\n\r\n";
my $buf = '';
for my $i (1 .. $n) {
	syswrite($s, $req) == length($req) or die "reqloop.pl: write: $!\n";
	my ($status, $need);
	for (;;) {
		if (!defined $need && $buf =~ /\r\n\r\n/) {
			my $end = index($buf, "\r\n\r\n") + 4;
			my $head = substr($buf, 0, $end);
			($status) = $head =~ m{^HTTP/1\.\d (\d{3})};
			my ($cl) = $head =~ /^Content-Length:\s*(\d+)/mi;
			defined $cl or die "reqloop.pl: no Content-Length\n";
			$need = $end + $cl;
		}
		last if defined $need && length($buf) >= $need;
		my $r = sysread($s, $buf, 65536, length($buf));
		die "reqloop.pl: read: request $i: " . ($r // $!) . "\n" unless $r;
	}
	$status == 200 or die "reqloop.pl: status $status at request $i\n";
	substr($buf, 0, $need) = '';
}
