#!/usr/bin/perl
# propagate.pl N LISTENER SOCKET... (13c): how long a decision made on one
# node of a cluster takes to be listed by all the others.  Decision i
# (0 to N - 1) allows 10.13.x.y for LISTENER, is posted to the admin API
# of node i % nodes, and the others' GET /api/v1/approvals/decisions are
# polled every POLL_MS until all list it; it is then revoked on its node
# and polled for until none lists it, so that every listing stays short
# and the next decision starts from a quiet cluster.  One line per
# decision on standard output:
#
#   i node post_us seen_us revoke_post_us gone_us
#
# times from just before its POST (and its DELETE), in us; seen_us or
# gone_us is -1 when a node still had not caught up after WAIT_S.  The
# client speaks HTTP/1.1 over the unix sockets itself: a curl forked per
# poll would cost more than the polling interval.
use strict;
use warnings;
use IO::Socket::UNIX;
use JSON::PP;
use Time::HiRes qw(time sleep);

my $POLL_MS = 2;
my $WAIT_S = 10;

my ($n, $listener, @socks) = @ARGV;
die "usage: propagate.pl N LISTENER SOCKET SOCKET...\n" unless $n && $listener && @socks >= 2;

# One request on a new connection (the admin API closes each): the
# status and the body.
sub api {
	my ($sock, $method, $path, $body) = @_;
	my $s = IO::Socket::UNIX->new(Peer => $sock) or die "propagate.pl: $sock: $!\n";
	$body //= '';
	my $req = "$method $path HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
	    . ($body ne '' ? "Content-Type: application/json\r\n" : '')
	    . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
	syswrite($s, $req) == length($req) or die "propagate.pl: write to $sock: $!\n";
	my $buf = '';
	1 while sysread($s, $buf, 65536, length($buf));
	my ($status) = $buf =~ m{^HTTP/1\.\d (\d{3})} or die "propagate.pl: no answer from $sock\n";
	return ($status, substr($buf, index($buf, "\r\n\r\n") + 4));
}

# Does the node at $sock list a decision for $addr?
sub listed {
	my ($sock, $addr) = @_;
	my ($status, $body) = api($sock, 'GET', '/api/v1/approvals/decisions');
	die "propagate.pl: GET decisions from $sock: $status $body\n" unless $status == 200;
	return scalar grep { $_->{address} eq $addr } @{ decode_json($body)->{decisions} };
}

# Polls the nodes @$others until each answers $want for $addr: the time
# from $t0 until the last one did, in us, or -1 after WAIT_S.
sub poll_until {
	my ($others, $addr, $want, $t0) = @_;
	my %left = map { $_ => 1 } @$others;
	for (my $next = time; %left; $next += $POLL_MS / 1000) {
		for my $s (keys %left) {
			delete $left{$s} if !listed($s, $addr) == !$want;
		}
		return int((time - $t0) * 1e6) unless %left;
		return -1 if time - $t0 > $WAIT_S;
		my $d = $next + $POLL_MS / 1000 - time;
		sleep $d if $d > 0;
	}
}

for my $i (0 .. $n - 1) {
	my $from = $i % @socks;
	my @others = @socks[grep { $_ != $from } 0 .. $#socks];
	my $addr = sprintf '10.13.%d.%d', int($i / 250), $i % 250 + 1;
	my $t0 = time;
	my ($status, $body) = api($socks[$from], 'POST', '/api/v1/approvals/decisions',
	    encode_json({ address => $addr, verdict => 'allow', listener => $listener,
		operator => 'bench' }));
	die "propagate.pl: POST $addr: $status $body\n" unless $status == 200 || $status == 201;
	my $post = int((time - $t0) * 1e6);
	my $seen = poll_until(\@others, $addr, 1, $t0);
	my $t1 = time;
	($status, $body) = api($socks[$from], 'DELETE',
	    "/api/v1/approvals/decisions/$addr?listener=$listener");
	die "propagate.pl: DELETE $addr: $status $body\n" unless $status == 200;
	my $rpost = int((time - $t1) * 1e6);
	my $gone = poll_until(\@others, $addr, 0, $t1);
	print join("\t", $i, $from + 1, $post, $seen, $rpost, $gone), "\n";
}
