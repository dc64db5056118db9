# The dashboard in a real browser: Debian's chromium, headless, driven by
# t/browser/dashboard.mjs (playwright-core, pinned in
# t/browser/package-lock.json).  With 2 workers and the admin API on
# TCP with a token, the script logs in; a client this test opens on a
# listener with approval: {policy: ask} appears on the page without a
# reload; the script approves it and this test sees its echo come back;
# a SOCKS client held at its destination appears with it, the script
# approves it for that destination and this test sees it let through;
# the script disables a server (checked here through the API) and kills
# the client's connection (checked here: it closes); a reload ends its
# session and the page shows its login again, saying so.  CUTTLE_SCREENSHOT
# names where the page is pictured (docs/dashboard.png for the README).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use IO::Socket::IP;
use IO::Select;
use IPC::Open2;
use Time::HiRes qw(time);
use CuttleTest;

my $chromium = $ENV{CHROMIUM} // '/usr/bin/chromium';
my $bdir = "$FindBin::Bin/browser";
plan skip_all => "no $chromium (make test installs the chromium package)" unless -x $chromium;
plan skip_all => "no $bdir/node_modules (make test runs npm ci there)"
    unless -d "$bdir/node_modules/playwright-core";

my $dir = tmpdir();
my ($aport, $port, $sport) = (free_port(), free_port(), free_port());
my $token = 'browser-test-token-0123456789';
write_file("$dir/token", "$token\n");
chmod 0600, "$dir/token" or die "chmod: $!";
my $E = backend(mode => 'echo', name => 'E');
my $S = backend(mode => 'echo', name => 'S');

my $c = cuttle_start(<<"EOF", workers => 2);
error_log: {path: %LOG%, level: info}
admin: {socket: %TMP%/admin.sock, listen: 127.0.0.1:$aport, token_file: %TMP%/token}
upstreams:
  echo: {servers: [{address: "$E->{addr}"}]}
  spare: {servers: [{address: "$S->{addr}"}, {address: "$E->{addr}"}]}
listeners:
  - name: ask
    listen: 127.0.0.1:$port
    mode: tcp
    upstream: echo
    approval: {policy: ask, wait: 30s}
  - name: sx
    listen: 127.0.0.1:$sport
    mode: socks
    approval: {policy: ask, wait: 30s}
EOF

sub api {
    my ($path) = @_;
    my $s = tcp_connect($aport) or return {};
    send_all($s, "GET $path HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n\r\n");
    my ($body) = (recv_until_eof($s, 5)->{data} =~ /\r\n\r\n(.*)\z/s);
    return eval { decode_json($body // '') } // {};
}

sub spare_state {
    for my $u (@{ api('/api/v1/upstreams')->{upstreams} // [] }) {
        next unless $u->{name} eq 'spare';
        return $u->{servers}[0]{admin};
    }
    return 'none';
}

sub read_for {
    my ($s, $n, $t) = @_;
    my ($buf, $eof, $sel, $end) = ('', 0, IO::Select->new($s), time + $t);
    while (length $buf < $n && time < $end) {
        last unless $sel->can_read($end - time);
        my $r = sysread($s, my $b, $n - length $buf);
        if (!$r) { $eof = 1; last }
        $buf .= $b;
    }
    return ($buf, $eof);
}

my $shot = $ENV{CUTTLE_SCREENSHOT} // "$dir/dashboard.png";
my $pid = open2(my $out, my $in, 'timeout', '120', 'node', "$bdir/dashboard.mjs",
    "http://127.0.0.1:$aport/", $token, $S->{addr}, $shot);
$in->autoflush(1);

my ($client, $socks, %step, $fail, $end);
my $sel = IO::Select->new($out);
my $deadline = time + 150;
my ($buf, @lines) = ('');
# The script's lines, read with sysread: a buffered readline would keep
# lines where select() does not see them.
sub next_line {
    while (!@lines) {
        return undef unless $sel->can_read($deadline - time);
        my $n = sysread($out, my $b, 4096);
        return undef unless $n;
        $buf .= $b;
        push @lines, $1 while $buf =~ s/\A([^\n]*)\n//;
    }
    return shift @lines;
}
while (time < $deadline) {
    my $line = next_line();
    last unless defined $line;
    note($line);
    if ($line =~ /^STEP (.*)/) {
        $step{$1} = 1;
        if ($1 eq 'server disabled') {
            is(spare_state(), 'disabled', 'the server the page disabled is disabled in the API');
        } elsif ($1 =~ /^connection \d+ killed$/) {
            my (undef, $eof) = read_for($client, 1, 5);
            ok($eof, 'the connection the page killed is closed');
        }
    } elsif ($line eq 'WAIT client') {
        $client = IO::Socket::IP->new(LocalHost => '127.0.0.5', PeerHost => '127.0.0.1',
            PeerPort => $port, Timeout => 3) or die "connect: $@";
        syswrite($client, "held by the dashboard\n");
        my ($got) = read_for($client, 1, 0.5);
        is($got, '', 'the client waits for a decision');
        print $in "GO\n";
    } elsif ($line eq 'WAIT socks') {
        $socks = IO::Socket::IP->new(LocalHost => '127.0.0.6', PeerHost => '127.0.0.1',
            PeerPort => $sport, Timeout => 3) or die "connect: $@";
        syswrite($socks, "\x05\x01\x00");
        my ($m) = read_for($socks, 2, 3);
        syswrite($socks, pack('C4 a4 n', 5, 1, 0, 1, pack('C4', 127, 0, 0, 1), $E->{port}));
        print $in "GO\n";
    } elsif ($line eq 'WAIT socks reply') {
        my ($rep) = read_for($socks, 10, 5);
        is(length $rep >= 2 ? ord(substr($rep, 1, 1)) : -1, 0,
            'approved on the page for its destination: the SOCKS client is let through');
        print $in "GO\n";
    } elsif ($line eq 'WAIT echo') {
        my ($got) = read_for($client, 22, 5);
        is($got, "held by the dashboard\n", 'approved on the page, its bytes come back from the server');
        print $in "GO\n";
    } elsif ($line eq 'WAIT reload') {
        ok(cuttle_reload($c)->{ok}, 'cuttle reloads under the logged-in page');
        print $in "GO\n";
    } elsif ($line =~ /^FAIL (.*)/) {
        $fail = $1;
    } elsif ($line =~ /^END (\w+)/) {
        $end = $1;
    }
}
close $in;
waitpid($pid, 0);
my $st = $? >> 8;
is($st, 0, 'the browser script exits 0') or diag("FAIL: " . ($fail // '(none)'));
is($end, 'ok', '... and says it ended well');
ok($step{$_}, "the page: $_") for ('login form', 'wrong token refused', 'logged in, events live',
    'cookie HttpOnly SameSite=Strict', 'approved', 'approved for the destination',
    'server disabled', 'phone width', 'session ended, login shown', 'logged in again',
    'logged out');
ok($step{"pending socks 127.0.0.1:$E->{port}"}, 'the page: the SOCKS client waits, shown with its destination');
ok((grep { /^pending 127\.0\.0\.5:\d+$/ } keys %step), 'the page: the waiting client appeared without a reload');
ok((grep { /^connection \d+ killed$/ } keys %step), 'the page: the connection was killed');
ok(-s $shot, 'a screenshot was taken');
ok(log_grep($c, qr/allow 127\.0\.0\.5.*by dashboard/), 'the decision is logged as the dashboard\'s');

cuttle_stop($c);
log_clean_ok($c);
done_testing();
