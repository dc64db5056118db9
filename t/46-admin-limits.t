# The admin API's bounds against clients that have no token: idle TCP
# connections take slots of their own pool, so that the operator's
# cuttlectl on the unix socket still gets in, and a full TCP pool gives
# way to a client that sends its request; a request with a body gets
# 401 before anything is said about the body; a token file that others
# may read is refused at load.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use CuttleTest;

my $dir = tmpdir();
my ($port, $aport) = (free_port(), free_port());
my $sock = "$dir/admin.sock";
my $token = 'limits-test-token-0123456789';
write_file("$dir/token", "$token\n");
chmod 0600, "$dir/token" or die "chmod: $!";
my $H = backend(mode => 'hold', name => 'H');

my $yaml = <<"EOF";
admin: {socket: %TMP%/admin.sock, listen: 127.0.0.1:$aport, token_file: %TMP%/token}
upstreams:
  hold:
    servers:
      - {address: $H->{addr}}
listeners:
  - {name: tcpl, listen: 127.0.0.1:$port, mode: tcp, upstream: hold}
EOF
my $c = cuttle_start($yaml, workers => 1);
ok(wait_until(sub { -S $sock }, 5), 'the admin socket exists') or BAIL_OUT('no admin socket');

sub sockets_of {
    my ($pid) = @_;
    opendir(my $dh, "/proc/$pid/fd") or return 0;
    return scalar grep { (readlink("/proc/$pid/fd/$_") // '') =~ /^socket:/ } readdir $dh;
}

# One raw request over TCP; the status code of the answer, or 'none'.
sub raw_status {
    my ($req) = @_;
    my $s = tcp_connect($aport) or return "none ($@)";
    send_all($s, $req);
    my $r = recv_until_eof($s, 5);
    return $r->{data} =~ m{\AHTTP/1\.1 (\d{3}) } ? $1 : "none ($r->{data})";
}

# --- 70 idle TCP connections, and the operator on the unix socket
{
    # The master opens the admin sockets before it forks the admin process.
    my $a;
    ok(wait_until(sub { $a = admin_pid($c) }, 5), 'the admin process runs');
    my @idle = grep { defined } map { tcp_connect($aport) } 1 .. 70;
    is(scalar @idle, 70, '70 idle connections to the admin TCP port');
    # The two admin sockets and 64 of the idle connections, taken.
    ok(wait_until(sub { sockets_of($a) >= 66 }, 5),
        'the admin process has accepted 64 of them') or diag(sockets_of($a));
    my $r = cuttlectl_run('-s', $sock, 'status');
    is($r->{status}, 0, 'cuttlectl status on the unix socket still answers')
        or diag($r->{stderr});
    like($r->{stdout}, qr/^generation\s+1$/m, '... with the status');
    my $h = curl_run('-w', '\n%{http_code}', '-H', "Authorization: Bearer $token",
        "http://127.0.0.1:$aport/api/v1/status");
    like($h->{stdout}, qr/\n200\z/,
        'a TCP client with the token that sends its request at once gets in too')
        or diag("$h->{stdout} $h->{stderr}");
    ok(wait_log($c, qr/\[warn\] \d+#a: admin: all 64 slots for TCP clients are taken/),
        'the full TCP pool is logged');
    close $_ for @idle;
}

# --- a body without the token: 401, not 413
{
    is(raw_status("POST /api/v1/reload HTTP/1.1\r\nHost: x\r\n"
        . "Content-Length: 1000000000000\r\n\r\n"), 401,
        'POST with a huge Content-Length and no token: 401');
    is(raw_status("POST /api/v1/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-token-000000000\r\n"
        . "Content-Length: 10\r\n\r\n"), 401, '... with a wrong token: 401');
    is(raw_status("POST /api/v1/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n"
        . "Content-Length: 10\r\n\r\n"), 413, 'with the token, the body is refused: 413');
    is(raw_status("GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\n\r\n"),
        200, 'with the token and no body: 200');
}

# --- a token file that group or others may read is refused
{
    my %want = (0644 => 'others', 0640 => 'its group', 0604 => 'others');
    for my $mode (sort keys %want) {
        my $f = sprintf('%s/token-%04o', $dir, $mode);
        write_file($f, "$token\n");
        chmod $mode, $f or die "chmod: $!";
        my $conf = write_file(sprintf('%s/check-%04o.yaml', $dir, $mode),
            "admin: {socket: $dir/x.sock, listen: 127.0.0.1:$aport, token_file: $f}\n"
            . "listeners:\n  - {name: l, listen: 127.0.0.1:$port, mode: tcp, upstream: u}\n"
            . "upstreams:\n  u: {servers: [{address: $H->{addr}}]}\n");
        my $r = cuttle_run('-t', '-c', $conf);
        is($r->{status}, 1, sprintf('cuttle -t refuses a token file of mode %04o', $mode));
        like($r->{stderr}, qr/\Q$conf\E:1:\d+: token_file "\Q$f\E" is readable by $want{$mode} \(mode 0${\ sprintf('%o', $mode)}\)/,
            '... naming the file, who may read it and its mode') or diag($r->{stderr});
    }
    chmod 0400, "$dir/token-0644";
    my $conf = write_file("$dir/check-ok.yaml",
        "admin: {socket: $dir/x.sock, listen: 127.0.0.1:$aport, token_file: $dir/token-0644}\n"
        . "listeners:\n  - {name: l, listen: 127.0.0.1:$port, mode: tcp, upstream: u}\n"
        . "upstreams:\n  u: {servers: [{address: $H->{addr}}]}\n");
    my $r = cuttle_run('-t', '-c', $conf);
    is($r->{status}, 0, 'mode 0400 is accepted') or diag($r->{stderr});
}

log_clean_ok();
done_testing();
