# TLS to upstreams: an http listener reaches origins over TLS and
# verifies them against a CA made here (a wrong CA, a certificate
# without the server's IP address, and a Host the certificate does not
# name are each a 502 with the reason in the log; a fixed name makes the
# second pass); mutual TLS with a client certificate; a pooled TLS
# connection serves the next requests; sessions are resumed across
# connections; a tcp listener tunnels bytes both ways to a TLS echo
# server; an http health check over TLS takes down a server whose
# certificate does not verify; and config errors name file:line:col.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(_exit);
use CuttleTest;

my $dir = tmpdir();
my @pids;
# The origins are stopped however the test ends, a die included.
END { kill 'TERM', @pids if @pids }

sub openssl {
    my @args = @_;
    open(my $err, '>&', \*STDERR) or die "dup: $!";
    open(STDERR, '>', '/dev/null') or die "open: $!";
    my $st = system('openssl', @args);
    open(STDERR, '>&', $err) or die "dup: $!";
    $st == 0 or die "openssl @args[0, 1] failed";
}

# A CA, and certificates it signs: $name.{crt,key} with SANs $san.
my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes');
sub ca {
    my ($name) = @_;
    openssl('req', '-x509', @ec, '-days', '2', '-subj', "/CN=$name", '-keyout',
        "$dir/$name.key", '-out', "$dir/$name.crt");
    return "$dir/$name.crt";
}
sub signed {
    my ($ca, $name, $san) = @_;
    write_file("$dir/$name.ext", "subjectAltName=$san\n");
    openssl('req', @ec, '-subj', "/CN=$name", '-keyout', "$dir/$name.key",
        '-out', "$dir/$name.csr");
    openssl('x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/$ca.crt", '-CAkey',
        "$dir/$ca.key", '-CAcreateserial', '-days', '2', '-extfile', "$dir/$name.ext",
        '-out', "$dir/$name.crt");
    return ("$dir/$name.crt", "$dir/$name.key");
}

my $ca = ca('ca');
my $rogue_ca = ca('rogue');
my @srv = signed('ca', 'srv', 'DNS:origin.test,IP:127.0.0.1');
my @dns = signed('ca', 'dns', 'DNS:origin.test');
my @client = signed('ca', 'client', 'DNS:proxy.test');
my @bad = signed('rogue', 'bad', 'DNS:origin.test,IP:127.0.0.1');

sub spawn {
    my ($log, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        chdir $dir or _exit(1);
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', $log);
        open(STDERR, '>&', \*STDOUT);
        { no warnings 'exec'; exec @cmd; }
        _exit(127);
    }
    push @pids, $pid;
    return $pid;
}

# openssl s_server -www: its page says whether the session was "New" or "Reused".
sub s_server {
    my ($name, $crt, $key, @more) = @_;
    my $port = free_port();
    spawn("$dir/s_server-$name.log", 'openssl', 's_server', '-www', '-accept',
        "127.0.0.1:$port", '-cert', $crt, '-key', $key, @more);
    ok(wait_until(sub { my $s = tcp_connect($port); close $s if $s; $s }, 10),
        "origin $name listens") or BAIL_OUT('openssl s_server did not start');
    return $port;
}

# A Perl TLS origin, one process per connection: "http" answers each
# request of a keep-alive connection with the connection's number (in
# accept order), the request's number on it and whether its session was
# resumed; "echo" sends back what it reads until the end.
write_file("$dir/origin.pl", <<'EOS');
use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::SSL;
my ($mode, $port, $crt, $key, $ready) = @ARGV;
$SIG{CHLD} = 'IGNORE';
my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$port", Listen => 64,
    ReuseAddr => 1) or die "listen: $!";
open(my $f, '>', $ready) or die; close $f;
my $n = 0;
while (1) {
    my $c = $l->accept or next;
    $n++;
    my $pid = fork;
    if (!defined $pid || $pid) { close $c; next; }
    close $l;
    my $s = IO::Socket::SSL->start_SSL($c, SSL_server => 1, SSL_cert_file => $crt,
        SSL_key_file => $key) or exit 0;
    if ($mode eq 'echo') {
        while (sysread($s, my $buf, 65536)) {
            syswrite($s, $buf) or last;
        }
        $s->close;
        exit 0;
    }
    my ($in, $r) = ('', 0);
    while (1) {
        while ($in !~ /\r\n\r\n/) {
            sysread($s, $in, 4096, length $in) or exit 0;
        }
        $in =~ s/^.*?\r\n\r\n//s;
        $r++;
        my $body = "conn=$n req=$r reused=" . ($s->get_session_reused ? 1 : 0) . "\n";
        syswrite($s, "HTTP/1.1 200 OK\r\nContent-Length: " . length($body) . "\r\n\r\n$body")
            or exit 0;
    }
}
EOS

sub perl_origin {
    my ($mode, $crt, $key) = @_;
    my $port = free_port();
    my $ready = "$dir/ready-$mode";
    spawn("$dir/origin-$mode.log", $^X, "$dir/origin.pl", $mode, $port, $crt, $key, $ready);
    ok(wait_until(sub { -e $ready }, 10), "perl origin $mode listens")
        or BAIL_OUT('the perl origin did not start');
    return $port;
}

my $W = s_server('W', @srv);
my $N = s_server('N', @dns);
my $M = s_server('M', @srv, '-Verify', '1', '-CAfile', $ca);
my $R = s_server('R', @bad);
my $P = perl_origin('http', @srv);
my $E = perl_origin('echo', @srv);
my $port = free_port();
my $tport = free_port();
my $admin = "$dir/admin.sock";

my $c = cuttle_start(<<"EOF", workers => 1);
admin: {socket: $admin}
upstreams:
  ok:
    tls: {ca: $ca}
    servers: [{address: 127.0.0.1:$W}]
  ipname:
    tls: {ca: $ca, name: 127.0.0.1}
    servers: [{address: 127.0.0.1:$W}]
  wrongca:
    tls: {ca: $rogue_ca}
    servers: [{address: 127.0.0.1:$W}]
  noip:
    tls: {ca: $ca}
    servers: [{address: 127.0.0.1:$N}]
  named:
    tls: {ca: $ca, name: origin.test}
    servers: [{address: 127.0.0.1:$N}]
  byhost:
    tls: {ca: $ca, name: \$host}
    servers: [{address: 127.0.0.1:$N}]
  mtls:
    tls: {ca: $ca, cert: $client[0], key: $client[1]}
    servers: [{address: 127.0.0.1:$M}]
  nocert:
    tls: {ca: $ca}
    servers: [{address: 127.0.0.1:$M}]
  pool:
    tls: {ca: $ca, name: origin.test}
    servers: [{address: 127.0.0.1:$P}]
  echo:
    tls: {ca: $ca, name: origin.test}
    servers: [{address: 127.0.0.1:$E}]
  checked:
    tls: {ca: $ca}
    health: {active: {type: http, interval: 300ms, timeout: 300ms, rise: 1, fall: 1}}
    servers: [{address: 127.0.0.1:$W}, {address: 127.0.0.1:$R}]
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    retries: 0
    routes:
      - {match: {path_prefix: /ok/}, upstream: ok}
      - {match: {path_prefix: /ipname/}, upstream: ipname}
      - {match: {path_prefix: /wrongca/}, upstream: wrongca}
      - {match: {path_prefix: /noip/}, upstream: noip}
      - {match: {path_prefix: /named/}, upstream: named}
      - {match: {path_prefix: /byhost/}, upstream: byhost}
      - {match: {path_prefix: /mtls/}, upstream: mtls}
      - {match: {path_prefix: /nocert/}, upstream: nocert}
      - {match: {path_prefix: /pool/}, upstream: pool}
  - name: tunnel
    listen: 127.0.0.1:$tport
    mode: tcp
    upstream: echo
EOF

sub get {
    my ($path, %o) = @_;
    return http_get($port, $path, %o);
}

# A 502 whose log line (after $mark) says why, in the words of $why.
sub refused_ok {
    my ($path, $why, $what, %o) = @_;
    my $mark = log_mark($c);
    my $r = get($path, %o);
    is($r->{status}, 502, "$what: 502") or diag(explain($r));
    ok(wait_log($c, qr/TLS handshake with 127\.0\.0\.1:\d+ failed \(\Q$why\E\)/, 5, $mark),
        "$what: the log says \"$why\"") or diag(log_since($c, $mark));
}

# --- verification against the CA
{
    my $r = get('/ok/');
    is($r->{status}, 200, 'verified against the CA: 200');
    like($r->{body} // '', qr/^New, TLSv1\.[23]/m, 'the body is the origin\'s page');
    refused_ok('/wrongca/', 'SSL certificate verify failed: unable to get local issuer certificate',
        'another CA');
    refused_ok('/noip/', 'SSL certificate verify failed: IP address mismatch',
        'no name and a certificate without the server\'s IP address');
    $r = get('/named/');
    is($r->{status}, 200, 'the same server with name: origin.test: 200') or diag(explain($r));
    $r = get('/byhost/', host => 'Origin.Test:8443');
    is($r->{status}, 200, 'name: $host with Host: Origin.Test:8443 verifies origin.test')
        or diag(explain($r));
    refused_ok('/byhost/', 'SSL certificate verify failed: hostname mismatch',
        'name: $host with a Host the certificate does not name', host => 'other.test');
}

# --- mutual TLS: s_server -Verify wants a certificate signed by the CA
{
    my $r = get('/mtls/');
    is($r->{status}, 200, 'with the client certificate: 200') or diag(explain($r));
    like($r->{body} // '', qr/BEGIN CERTIFICATE|proxy\.test/,
        'the origin saw the client certificate');
    $r = get('/nocert/');
    is($r->{status}, 502, 'without one the origin refuses: 502') or diag(explain($r));
}

# --- the keep-alive pool holds TLS connections
{
    my $s = tcp_connect($port) or die "connect: $@";
    my @bodies;
    for (1 .. 2) {
        http_send($s, target => '/pool/') or die "send: $!";
        my $r = http_recv($s);
        push @bodies, $r->{body} // "error: " . ($r->{error} // '?');
    }
    close $s;
    my $r = get('/pool/');
    push @bodies, $r->{body} // '';
    is_deeply([map { /conn=(\d+) req=(\d+)/ ? "$1/$2" : $_ } @bodies], ['1/1', '1/2', '1/3'],
        'three requests, two client connections, one TLS connection at the origin');
}

# --- sessions are resumed across connections (s_server closes after each page)
{
    my $r = get('/ok/');
    like($r->{body} // '', qr/^Reused, TLSv1\.[23]/m,
        'a new connection to the same server resumes the session');
    my $m = curl_run('--unix-socket', $admin, 'http://x/metrics');
    my ($hs) = $m->{stdout} =~ /^cuttle_server_tls_handshakes_total\{upstream="ok",[^}]*\} (\d+)$/m;
    my ($res) = $m->{stdout} =~ /^cuttle_server_tls_resumed_total\{upstream="ok",[^}]*\} (\d+)$/m;
    is($hs, 2, '/metrics: two handshakes with the server of "ok"') or diag($m->{stdout});
    is($res, 1, '/metrics: the second resumed');
}

# --- a name that is an address: no SNI is sent, and the session still resumes
{
    my $r = get('/ipname/');
    like($r->{body} // '', qr/^New, TLSv1\.[23]/m, 'name: 127.0.0.1: a first handshake')
        or diag(explain($r));
    $r = get('/ipname/');
    like($r->{body} // '', qr/^Reused, TLSv1\.[23]/m, 'name: 127.0.0.1: the next one resumes');
}

# --- a tcp listener tunnels to a TLS server
{
    my $s = tcp_connect($tport) or die "connect: $@";
    send_all($s, "hello over TLS\n");
    is(recv_bytes($s, 15, 5), "hello over TLS\n", 'the echo comes back through the tunnel');
    my $big = join('', map { chr(32 + $_ % 90) } 1 .. 300_000);
    send_all($s, $big, 10);
    my $got = recv_bytes($s, length $big, 10);
    ok($got eq $big, '300000 bytes go both ways intact') or diag(length $got);
    shutdown($s, 1);
    ok(recv_until_eof($s, 5)->{closed}, 'the end of the stream goes both ways');
    close $s;
}

# --- active health checks over TLS
{
    my $state = sub {
        my $r = cuttlectl_run('-s', $admin, 'upstreams');
        return $r->{stdout};
    };
    my $out;
    ok(wait_until(sub { $out = $state->(); $out =~ /127\.0\.0\.1:$R\s.*\bdown\b/ }, 10),
        'the server with a certificate of another CA is down') or diag($out);
    like($out, qr/127\.0\.0\.1:$R\s.*SSL certificate verify failed: unable to get local issuer/,
        'with the reason of the failed check');
    like($out, qr/127\.0\.0\.1:$W\s+\d+\s+\w+\s+up\b/, 'the one with a good certificate is up');
}

# --- config errors at file:line:col with the reason
{
    my $f = "$dir/bad.yaml";
    write_file($f, <<"EOF");
upstreams:
  a:
    tls:
      ca: $dir/nosuch.pem
      cert: $client[0]
      ciphers: NO-SUCH-CIPHER
    servers: [{address: 127.0.0.1:1}]
listeners:
  - {name: l, listen: 127.0.0.1:$port, mode: tcp, upstream: a}
EOF
    my $r = cuttle_run('-t', '-c', $f);
    isnt($r->{status}, 0, 'cuttle -t fails');
    like($r->{stderr}, qr/^\Q$f\E:4:11: cannot read ca "[^"]*nosuch\.pem": No such file or directory$/m,
        'a missing ca file, at its value');
    like($r->{stderr}, qr/^\Q$f\E:5:13: "cert" needs "key"/m, 'a cert without a key');
    like($r->{stderr}, qr/^\Q$f\E:6:16: invalid ciphers "NO-SUCH-CIPHER": no cipher match$/m,
        'an unknown cipher, with OpenSSL\'s reason');
    write_file($f, <<"EOF");
upstreams:
  a:
    tls: {cert: $client[0], key: $srv[1]}
    servers: [{address: 127.0.0.1:1}]
listeners:
  - {name: l, listen: 127.0.0.1:$port, mode: tcp, upstream: a}
EOF
    $r = cuttle_run('-t', '-c', $f);
    like($r->{stderr}, qr/^\Q$f\E:3:\d+: cannot use key "[^"]*srv\.key" with cert "[^"]*": .*(?:mismatch|values)/m,
        'a key of another certificate') or diag($r->{stderr});
}

log_clean_ok();
done_testing();
