# TLS termination: certificates picked by server name (exact, wildcard,
# the default for any other), an RSA and an ECDSA certificate for the
# same names served by what the client supports, HTTP on TLS (scheme
# fields, client certificates passed upstream, routes on a verified
# certificate, a redirect of plain HTTP to https), tickets that resume
# on either worker, a reload that swaps a certificate while a TLS
# connection stays up, a bad certificate at reload that keeps the old
# one, and handshakes that fail (garbage, a stall, no or a wrong client
# certificate) closing only their own connection with a log line.
# Clients are the real ones: curl and openssl s_client.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use IO::Socket::SSL;
use POSIX qw(_exit);
use CuttleTest;

my $dir = tmpdir();
my $NOPENSSL = 0;

# Runs openssl with its output in a file; returns [status, output].
sub openssl {
    my (%o) = @_;
    my $out = "$dir/openssl-" . (++$NOPENSSL) . ".out";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', $o{stdin} // '/dev/null') or _exit(126);
        open(STDOUT, '>', $out) or _exit(126);
        open(STDERR, '>&', \*STDOUT) or _exit(126);
        { no warnings 'exec'; exec 'timeout', '10', 'openssl', @{$o{args}}; }
        _exit(127);
    }
    waitpid($pid, 0);
    return [$? >> 8, slurp($out)];
}

# A CA and certificates it signs (ECDSA P-256 unless rsa), in $dir,
# made by cuttlectl cert gen.
sub gen {
    my $r = cuttlectl_run('cert', 'gen', @_, '--out', $dir);
    $r->{status} == 0 or BAIL_OUT("cuttlectl cert gen @_: $r->{stderr}");
}

sub ca {
    my ($name) = @_;
    gen('ca', '--name', $name, '--cn', $name, '--days', 30);
}

sub cert {
    my ($ca, $name, %o) = @_;
    gen($o{san} ? 'server' : 'client', '--name', $name, '--cn', $o{cn}, '--ca', $ca,
        '--days', $o{days} // 20, ($o{rsa} ? ('--key-type', 'rsa2048') : ()),
        map { ('--san', $_) } split /,/, $o{san} // '');
}

ca('ca');
ca('other-ca');
cert('ca', 'a', cn => 'a.test', san => 'DNS:a.test,DNS:*.a.test');
cert('ca', 'a-rsa', cn => 'a.test', san => 'DNS:a.test,DNS:*.a.test', rsa => 1);
cert('ca', 'b', cn => 'b.test', san => 'DNS:b.test');
cert('ca', 'dflt', cn => 'default.test', san => 'DNS:default.test');
cert('ca', 'new', cn => 'new.test', san => 'DNS:a.test,DNS:*.a.test');
cert('ca', 'alice', cn => 'alice');
cert('other-ca', 'mallory', cn => 'mallory');
cert('ca', 'carol', cn => 'carol');

# A CRL of the CA that revokes carol.
{
    my $serial = openssl(args => ['x509', '-in', "$dir/carol.crt", '-noout', '-serial'])->[1];
    $serial =~ s/.*=//s; $serial =~ s/\s//g;
    my @e = gmtime(time + 20 * 86400);
    my @n = gmtime(time - 60);
    my $f = sub { sprintf('%02d%02d%02d%02d%02d%02dZ', $_[5] % 100, $_[4] + 1, @_[3, 2, 1, 0]) };
    write_file("$dir/crl-index.txt", "R\t" . $f->(@e) . "\t" . $f->(@n) . "\t$serial\tunknown\t/CN=carol\n");
    write_file("$dir/crlnumber", "01\n");
    write_file("$dir/ca.cnf", "[ca]\ndefault_ca = c\n[c]\ndatabase = $dir/crl-index.txt\n"
        . "crlnumber = $dir/crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n");
    my $r = openssl(args => ['ca', '-gencrl', '-config', "$dir/ca.cnf", '-keyfile', "$dir/ca.key",
        '-cert', "$dir/ca.crt", '-out', "$dir/ca.crl"]);
    -s "$dir/ca.crl" or BAIL_OUT("openssl ca -gencrl: $r->[1]");
}

# An OCSP response for b.crt, signed by the CA itself, to staple.
{
    my $serial = openssl(args => ['x509', '-in', "$dir/b.crt", '-noout', '-serial'])->[1];
    $serial =~ s/.*=//s; $serial =~ s/\s//g;
    my @t = gmtime(time + 20 * 86400);
    my $exp = sprintf('%02d%02d%02d%02d%02d%02dZ', $t[5] % 100, $t[4] + 1, @t[3, 2, 1, 0]);
    write_file("$dir/index.txt", "V\t$exp\t\t$serial\tunknown\t/CN=b.test\n");
    my $r = openssl(args => ['ocsp', '-index', "$dir/index.txt", '-rsigner', "$dir/ca.crt",
        '-rkey', "$dir/ca.key", '-CA', "$dir/ca.crt", '-issuer', "$dir/ca.crt",
        '-cert', "$dir/b.crt", '-respout', "$dir/b.ocsp", '-ndays', '1']);
    -s "$dir/b.ocsp" or BAIL_OUT("openssl ocsp: $r->[1]");
}

# The subject CN of the certificate a handshake got, the protocol,
# and whether the session was resumed; with sess_out/sess_in.
sub hello {
    my ($port, %o) = @_;
    my @a = ('s_client', '-connect', "127.0.0.1:$port", '-CAfile', "$dir/ca.crt");
    push @a, '-servername', $o{sni} if defined $o{sni};
    push @a, '-noservername' unless defined $o{sni};
    push @a, @{$o{extra} // []};
    push @a, '-sess_out', $o{sess_out} if $o{sess_out};
    push @a, '-sess_in', $o{sess_in} if $o{sess_in};
    push @a, '-cert', $o{cert}, '-key', $o{key} if $o{cert};
    # A request that ends the connection: s_client reads until then, the
    # session ticket (sent after a TLS 1.3 handshake) included.
    push @a, '-ign_eof';
    my $in = "$dir/hello-in";
    write_file($in, $o{send} // "GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    my $r = openssl(args => \@a, stdin => $in);
    my %h = (status => $r->[0], out => $r->[1]);
    ($h{cn}) = $r->[1] =~ /^subject=.*CN\s*=\s*([^,\n]+)/m;
    ($h{proto}, $h{cipher}) = $r->[1] =~ /^(?:New|Reused), (TLSv[\d.]+), Cipher is (\S+)/m;
    $h{reused} = $r->[1] =~ /^Reused, /m ? 1 : 0;
    ($h{sigtype}) = $r->[1] =~ /^Peer signature type: (\S+)/m;
    return \%h;
}

my $origin = http_origin(name => 'O');
my ($web, $mtls, $opt, $plain, $raw, $crl) = map { free_port() } 1 .. 6;
my $echo = backend(mode => 'echo', name => 'echo');
my $admin_sock = "$dir/admin.sock";
my $token = "$dir/token";
write_file($token, "0123456789abcdef0123\n");
chmod 0600, $token;
my $admin_port = free_port();

sub conf {
    my ($a_cert, $a_key) = @_;
    $a_key //= "$dir/a.key";
    return <<"EOF";
error_log: {path: %LOG%, level: info}
admin: {listen: 127.0.0.1:$admin_port, token_file: $token}
upstreams:
  o: {servers: [{address: $origin->{addr}}]}
  e: {servers: [{address: $echo->{addr}}]}
listeners:
  - name: web
    listen: 127.0.0.1:$web
    mode: http
    access_log: {path: %TMP%/web.access}
    tls:
      certificates:
        - {cert: $a_cert, key: $a_key}
        - {cert: $dir/a-rsa.crt, key: $dir/a-rsa.key}
        - {cert: $dir/b.crt, key: $dir/b.key, ocsp: $dir/b.ocsp}
        - {cert: $dir/dflt.crt, key: $dir/dflt.key, default: true}
      handshake_timeout: 1s
    routes:
      - upstream: o
  - name: mtls
    listen: 127.0.0.1:$mtls
    mode: http
    underscores_in_headers: pass
    tls:
      certificates: [{cert: $dir/b.crt, key: $dir/b.key}]
      verify: required
      client_ca: $dir/ca.crt
      client_cert_headers: {verify: X-Client-Verify, subject: X-Client-Subject,
                            fingerprint: X-Client-Fingerprint, serial: X-Client-Serial}
    routes:
      - upstream: o
  - name: crl
    listen: 127.0.0.1:$crl
    mode: http
    tls:
      certificates: [{cert: $dir/b.crt, key: $dir/b.key}]
      verify: required
      client_ca: $dir/ca.crt
      client_crl: $dir/ca.crl
    routes:
      - upstream: o
  - name: opt
    listen: 127.0.0.1:$opt
    mode: http
    tls:
      certificates: [{cert: $dir/b.crt, key: $dir/b.key}]
      verify: optional
      client_ca: $dir/ca.crt
      client_cert_headers: {verify: X-Client-Verify}
    routes:
      - match: {path_prefix: /private, client_cert: verified}
        upstream: o
      - match: {path_prefix: /private}
        return: {status: 403, body: "certificate required\\n"}
      - upstream: o
  - name: plain
    listen: 127.0.0.1:$plain
    mode: http
    routes:
      - redirect: {scheme: https, status: 301}
  - name: raw
    listen: 127.0.0.1:$raw
    mode: tcp
    upstream: e
    tls:
      certificates: [{cert: $a_cert, key: $a_key}]
EOF
}

my $c = cuttle_start(conf("$dir/a.crt"), workers => 2);

# ---- certificates by name
my $h = hello($web, sni => 'a.test');
is($h->{cn}, 'a.test', 'exact name: its certificate');
is($h->{proto}, 'TLSv1.3', 'TLS 1.3 by default');
is($h->{sigtype}, 'ECDSA', 'a client that takes ECDSA gets the ECDSA certificate');
is(hello($web, sni => 'x.a.test')->{cn}, 'a.test', 'wildcard name: its certificate');
is(hello($web, sni => 'b.test')->{cn}, 'b.test', 'another name: its certificate');
is(hello($web, sni => 'B.Test')->{cn}, 'b.test', 'names are compared without case');
$h = hello($web, sni => 'b.test', extra => ['-status']);
like($h->{out}, qr/OCSP Response Status: successful.*Cert Status: good/s,
    'the OCSP response of b.test is stapled');
like(hello($web, sni => 'a.test', extra => ['-status'])->{out}, qr/OCSP response: no response sent/,
    'a certificate without one staples nothing');
is(hello($web, sni => 'unknown.test')->{cn}, 'default.test', 'an unknown name: the default');
is(hello($web)->{cn}, 'default.test', 'no server name: the default');
$h = hello($web, sni => 'a.test', extra => ['-tls1_2', '-sigalgs', 'RSA-PSS+SHA256:RSA+SHA256',
    '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
is($h->{cn}, 'a.test', 'RSA-only client: a.test');
like($h->{sigtype} // '', qr/^RSA/, 'an RSA-only client gets the RSA certificate');
is($h->{cipher}, 'ECDHE-RSA-AES128-GCM-SHA256', 'with its RSA cipher');
$h = hello($web, sni => 'a.test', extra => ['-tls1_1']);
isnt($h->{status}, 0, 'TLS 1.1 is refused by default');

# ---- HTTP on TLS
my $r = curl_run('--cacert', "$dir/ca.crt", '--resolve', "a.test:$web:127.0.0.1",
    '-H', 'X-Client-Verify: SUCCESS', "https://a.test:$web/echo?x=1");
is($r->{status}, 0, 'curl over https') or diag($r->{stderr});
my $j = eval { JSON::PP->new->decode($r->{stdout}) } // {};
my %hd = map { lc($_->[0]) => $_->[1] } @{$j->{headers} // []};
is($hd{'x-forwarded-proto'}, 'https', 'X-Forwarded-Proto: https');
like($hd{forwarded} // '', qr/proto=https/, 'Forwarded: proto=https');
$r = curl_run('-v', '--cacert', "$dir/ca.crt", '--resolve', "a.test:$web:127.0.0.1",
    "https://a.test:$web/echo");
like($r->{stderr}, qr{ALPN: server accepted http/1\.1}, 'ALPN picks http/1.1');

# Pipelined requests in one TLS record, and in several that the library
# reads ahead at once: no socket event announces the later ones.
{
    my $p = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $web,
        SSL_hostname => 'a.test', SSL_ca_file => "$dir/ca.crt", SSL_verifycn_name => 'a.test',
        SSL_verifycn_scheme => 'http', Timeout => 5) or die "TLS client: $SSL_ERROR";
    my $req = "GET /echo HTTP/1.1\r\nHost: a.test\r\n\r\n";
    print $p $req x 3;
    print $p $req;
    print $p "GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
    my $all = '';
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 10;
    eval { while (my $n = sysread($p, my $buf, 65536)) { $all .= $buf } };
    alarm 0;
    my $n = () = $all =~ m{HTTP/1\.1 200 OK\r\n}g;
    is($n, 5, "five pipelined requests over TLS, five answers") or diag(length($all) . " bytes: " . join(" | ", $all =~ m{^(HTTP/\S+ \d+|X-N: \d+)}mg));
}
# An upgrade over TLS: the bytes the client sends right behind its
# request, in the same record, reach the origin once the tunnel takes over.
{
    my $w = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $web,
        SSL_hostname => 'a.test', SSL_ca_file => "$dir/ca.crt", SSL_verifycn_name => 'a.test',
        SSL_verifycn_scheme => 'http', Timeout => 5) or die "TLS client: $SSL_ERROR";
    print $w "GET /ws?greet=0 HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\n"
        . "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        . "Sec-WebSocket-Version: 13\r\n\r\nearly bytes\n";
    my $got = '';
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 5;
    eval { while ($got !~ /early bytes\n/ && sysread($w, my $buf, 65536)) { $got .= $buf } };
    alarm 0;
    like($got, qr{^HTTP/1\.1 101 .*\r\n\r\nearly bytes\n\z}s,
        'an upgrade over TLS: 101, then the bytes sent behind the request come back');
    print $w "later\n";
    alarm 5;
    my $more = '';
    eval { while ($more !~ /later\n/ && sysread($w, my $buf, 65536)) { $more .= $buf } };
    alarm 0;
    is($more, "later\n", 'and the tunnel goes on both ways');
    close $w;
}
my $big = 'x' x (3 << 20);
write_file("$dir/big", $big);
$r = curl_run('--cacert', "$dir/ca.crt", '--resolve', "a.test:$web:127.0.0.1",
    '--data-binary', "\@$dir/big", "https://a.test:$web/echo");
$j = eval { JSON::PP->new->decode($r->{stdout}) } // {};
is($j->{body_len}, 3 << 20, 'a 3 MiB request body over TLS arrives whole');
$r = curl_run('--cacert', "$dir/ca.crt", '--resolve', "a.test:$web:127.0.0.1",
    '-o', "$dir/big.out", "https://a.test:$web/size/5000000");
is(-s "$dir/big.out", 5000000, 'a 5 MB answer over TLS arrives whole');

# ---- client certificates
$r = curl_run('--cacert', "$dir/ca.crt", '--resolve', "b.test:$mtls:127.0.0.1",
    '--cert', "$dir/alice.crt", '--key', "$dir/alice.key",
    '-H', 'X-Client-Subject: CN=forged', '-H', 'x-client-subject: CN=forged2',
    '-H', 'X_Client_Subject: CN=forged3', "https://b.test:$mtls/echo");
is($r->{status}, 0, 'mTLS with a good client certificate') or diag($r->{stderr});
$j = eval { JSON::PP->new->decode($r->{stdout}) } // {};
my @subj = map { $_->[1] } grep { $_->[0] =~ /^x[-_]client[-_]subject$/i } @{$j->{headers} // []};
is_deeply(\@subj, ['CN=alice'], 'the subject goes upstream, and forged ones in any spelling do not');
%hd = map { lc($_->[0]) => $_->[1] } @{$j->{headers} // []};
is($hd{'x-client-verify'}, 'SUCCESS', 'X-Client-Verify: SUCCESS');
my $fp = openssl(args => ['x509', '-in', "$dir/alice.crt", '-noout', '-fingerprint', '-sha256'])->[1];
$fp =~ s/.*=//s; $fp =~ s/[:\s]//g;
is($hd{'x-client-fingerprint'}, lc $fp, 'the SHA-256 fingerprint');
my $serial = openssl(args => ['x509', '-in', "$dir/alice.crt", '-noout', '-serial'])->[1];
$serial =~ s/.*=//s; $serial =~ s/\s//g; $serial =~ s/^0+(?=.)//;
# Both in hexadecimal; leading zeros are a matter of padding, not of value.
(my $got_serial = $hd{'x-client-serial'} // '') =~ s/^0+(?=.)//;
is($got_serial, $serial, 'the serial');

my $mark = log_mark($c);
$r = curl_run('--cacert', "$dir/ca.crt", '--resolve', "b.test:$mtls:127.0.0.1",
    "https://b.test:$mtls/echo");
isnt($r->{status}, 0, 'mTLS without a client certificate fails');
ok(wait_log($c, qr/\[info\].*TLS handshake failed \(.*certificate.*\), client: 127\.0\.0\.1:\d+, listener: mtls/, since => $mark),
    'logged at info with the reason');
$mark = log_mark($c);
$r = curl_run('--cacert', "$dir/ca.crt", '--resolve', "b.test:$mtls:127.0.0.1",
    '--cert', "$dir/mallory.crt", '--key', "$dir/mallory.key", "https://b.test:$mtls/echo");
isnt($r->{status}, 0, 'mTLS with a certificate of another CA fails');
ok(wait_log($c, qr/TLS handshake failed \(client certificate: unable to get local issuer certificate\).*listener: mtls/, since => $mark),
    'logged with the verification error');

$r = curl_run('--cacert', "$dir/ca.crt", '--resolve', "b.test:$crl:127.0.0.1",
    '--cert', "$dir/alice.crt", '--key', "$dir/alice.key", '-w', '%{http_code}', '-o', '/dev/null',
    "https://b.test:$crl/echo");
is($r->{stdout}, '200', 'client_crl: a certificate it does not revoke passes') or diag($r->{stderr});
$mark = log_mark($c);
$r = curl_run('--cacert', "$dir/ca.crt", '--resolve', "b.test:$crl:127.0.0.1",
    '--cert', "$dir/carol.crt", '--key', "$dir/carol.key", "https://b.test:$crl/echo");
isnt($r->{status}, 0, 'client_crl: a revoked certificate is refused');
ok(wait_log($c, qr/TLS handshake failed \(client certificate: certificate revoked\).*listener: crl/, since => $mark),
    'logged as revoked');

$r = curl_run('--cacert', "$dir/ca.crt", '--resolve', "b.test:$opt:127.0.0.1",
    '-w', '%{http_code}', '-o', '/dev/null', "https://b.test:$opt/private/x");
is($r->{stdout}, '403', 'verify optional: no certificate, the route for the others')
    or diag($r->{stderr});
$r = curl_run('--cacert', "$dir/ca.crt", '--resolve', "b.test:$opt:127.0.0.1",
    '--cert', "$dir/alice.crt", '--key', "$dir/alice.key", "https://b.test:$opt/private/x");
$j = eval { JSON::PP->new->decode($r->{stdout}) } // {};
%hd = map { lc($_->[0]) => $_->[1] } @{$j->{headers} // []};
is($hd{'x-client-verify'}, 'SUCCESS', 'verify optional: a verified certificate takes its route');
$r = curl_run('--cacert', "$dir/ca.crt", '--resolve', "b.test:$opt:127.0.0.1",
    '--cert', "$dir/mallory.crt", '--key', "$dir/mallory.key", '-w', '%{http_code}',
    '-o', "$dir/mallory.out", "https://b.test:$opt/echo");
is($r->{stdout}, '200', 'verify optional: a certificate that does not verify still connects');
$j = eval { JSON::PP->new->decode(slurp("$dir/mallory.out")) } // {};
%hd = map { lc($_->[0]) => $_->[1] } @{$j->{headers} // []};
like($hd{'x-client-verify'} // '', qr/^FAILED:unable to (?:get local issuer|verify the first) certificate/,
    'and goes upstream as FAILED with the reason');

# ---- plain HTTP to https
$r = http_get($plain, '/p?q=1', host => "a.test:$plain");
is($r->{status}, 301, 'redirect scheme: 301');
is(hdr($r, 'Location'), 'https://a.test/p?q=1', 'to the same host and target on https');

# ---- the access log
ok(wait_until(sub { slurp("$dir/web.access") =~ /tls=TLSv1\.3 cipher=\S+ sni="a\.test" client_cert="-"/ }, 5),
    'the access log has the TLS version, cipher and server name');

# ---- a tcp listener that terminates TLS
# A TLS client of the tcp listener $raw, verifying a.test against the CA.
sub raw_client {
    return IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $raw,
        SSL_hostname => 'a.test', SSL_verifycn_name => 'a.test', SSL_verifycn_scheme => 'http',
        SSL_ca_file => "$dir/ca.crt", Timeout => 5);
}

sub raw_echo {
    my ($s, $line) = @_;
    print $s $line or return '';
    my $got = '';
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 5;
    eval { $got = <$s> // '' };
    alarm 0;
    return $got;
}

my $tc = raw_client() or BAIL_OUT("TLS client of the tcp listener: $SSL_ERROR");
is(raw_echo($tc, "ping over tls\n"), "ping over tls\n",
    'tcp listener: the bytes go through decrypted and back');
is($tc->peer_certificate('commonName'), 'a.test', 'with the listener\'s certificate');
my $list = curl_run('-H', 'Authorization: Bearer 0123456789abcdef0123',
    "http://127.0.0.1:$admin_port/api/v1/connections")->{stdout};
my ($entry) = grep { ($_->{listener} // '') eq 'raw' }
    @{(eval { JSON::PP->new->decode($list) } // {})->{connections} // []};
is($entry->{tls}{version}, 'TLSv1.3', 'the connection list shows the TLS version');
is($entry->{tls}{cipher}, $tc->get_cipher, 'and the cipher');
is($entry->{tls}{sni}, 'a.test', 'and the server name');
# A client with a certificate, held open on the mtls listener.
my $held = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $mtls,
    SSL_hostname => 'b.test', SSL_ca_file => "$dir/ca.crt", SSL_verifycn_name => 'b.test',
    SSL_verifycn_scheme => 'http', SSL_cert_file => "$dir/alice.crt",
    SSL_key_file => "$dir/alice.key", Timeout => 5) or die "TLS client: $SSL_ERROR";
print $held "GET /echo HTTP/1.1\r\nHost: b.test\r\n\r\n";
sysread($held, my $ignored, 65536);
$list = curl_run('-H', 'Authorization: Bearer 0123456789abcdef0123',
    "http://127.0.0.1:$admin_port/api/v1/connections")->{stdout};
($entry) = grep { ($_->{listener} // '') eq 'mtls' }
    @{(eval { JSON::PP->new->decode($list) } // {})->{connections} // []};
is($entry->{tls}{client_cert}, 'CN=alice', 'and the client certificate\'s subject');
close $held;

# ---- tickets resume on either worker
$h = hello($web, sni => 'a.test', sess_out => "$dir/sess");
ok(-s "$dir/sess", 'a session ticket was issued');
my ($tries, $reused) = (16, 0);
$mark = log_mark($c);
for (1 .. $tries) {
    $reused += hello($web, sni => 'a.test', sess_in => "$dir/sess")->{reused};
}
is($reused, $tries, 'every try resumed the session');
my %served;
for (log_since($c, $mark)) {
    $served{$1} = 1 if /\d+#(\d+): conn client=.* listener=web /;
}
is(scalar keys %served, 2, 'both workers served resumed sessions');
# A TLS 1.3 client uses a ticket once: each resumption must bring the next.
my ($chain, $prev) = (0, "$dir/sess");
for my $i (1 .. 6) {
    $chain += hello($web, sni => 'a.test', sess_in => $prev, sess_out => "$dir/sess-$i")->{reused};
    $prev = "$dir/sess-$i";
}
is($chain, 6, 'each resumption hands out a new ticket, and a chain of them all resume');

# ---- handshakes that fail close only their own connection
$mark = log_mark($c);
my $s = tcp_connect($web);
send_all($s, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
my $e = recv_until_eof($s, 5);
ok($e->{closed}, 'plain HTTP to a TLS port: closed');
ok(wait_log($c, qr/TLS handshake failed \(http request\).*listener: web/, since => $mark),
    'logged as a plain HTTP request');
my $stall = tcp_connect($web);
send_all($stall, "\x16\x03\x01");
$e = recv_until_eof($stall, 5);
ok($e->{closed}, 'a stalled handshake is closed');
ok(wait_log($c, qr/TLS handshake failed \(no handshake within tls\.handshake_timeout\)/, since => $mark),
    'after the handshake timeout');
is(hello($web, sni => 'a.test')->{cn}, 'a.test', 'the others are served meanwhile');

# ---- /metrics
my $m = curl_run('-H', 'Authorization: Bearer 0123456789abcdef0123',
    "http://127.0.0.1:$admin_port/metrics")->{stdout};
my ($hs) = $m =~ /^cuttle_tls_handshakes_total\{listener="web"\} (\d+)/m;
cmp_ok($hs // 0, '>=', 20, 'handshakes are counted');
my ($res) = $m =~ /^cuttle_tls_resumed_total\{listener="web"\} (\d+)/m;
cmp_ok($res // 0, '>=', $tries, 'resumptions are counted');
like($m, qr/^cuttle_tls_handshake_failures_total\{listener="web",reason="not_tls"\} [1-9]/m,
    'failures by reason: not_tls');
like($m, qr/^cuttle_tls_handshake_failures_total\{listener="web",reason="timeout"\} [1-9]/m,
    'failures by reason: timeout');
like($m, qr/^cuttle_tls_handshake_failures_total\{listener="mtls",reason="client_cert"\} [1-9]/m,
    'failures by reason: client_cert');
like($m, qr/^cuttle_tls_version_total\{listener="web",version="TLSv1\.2"\} [1-9]/m,
    'versions are counted');
like($m, qr/^cuttle_tls_cipher_total\{listener="web",cipher="ECDHE-RSA-AES128-GCM-SHA256"\} [1-9]/m,
    'ciphers are counted');
my $end = openssl(args => ['x509', '-in', "$dir/b.crt", '-noout', '-enddate'])->[1];
my ($exp) = $m =~ m{^cuttle_tls_certificate_expiry_seconds\{listener="mtls",cert="\Q$dir\E/b\.crt"\} (\d+)}m;
ok(defined $exp && abs($exp - (time + 20 * 86400)) < 3600, 'the expiry time of a certificate')
    or diag("$end / " . ($exp // 'none'));

# ---- reload: a new certificate; a TLS connection stays up on the old one
my $rl = cuttle_reload($c, conf("$dir/new.crt", "$dir/new.key"));
ok($rl->{ok}, 'reload with a new certificate');
is(hello($web, sni => 'a.test')->{cn}, 'new.test', 'new connections get the new certificate');
is(raw_echo($tc, "still here\n"), "still here\n",
    'the TLS connection of the old generation is still up');
my $tn = raw_client() or BAIL_OUT("TLS client after the reload: $SSL_ERROR");
is($tn->peer_certificate('commonName'), 'new.test', 'the tcp listener has the new one too');
close $tn;
close $tc;

$rl = cuttle_reload($c, conf("$dir/b.crt"));
ok($rl->{failed}, 'a reload with a certificate that does not match its key fails');
ok(log_grep($c, qr/\[error\].*cuttle-\d+\.yaml:\d+:\d+: cannot use key ".*a\.key" with certificate ".*b\.crt": key values mismatch/),
    'naming file:line:col and OpenSSL\'s reason');
is(hello($web, sni => 'a.test')->{cn}, 'new.test', 'the running certificate stays');

my $t = cuttle_run('-t', '-c', $c->{conf});
isnt($t->{status}, 0, 'cuttle -t finds it too');
like($t->{stderr}, qr/key values mismatch/, 'with the reason');

cuttle_stop($c);
log_clean_ok($c);

# ---- ticket_key_file: two instances with the same keys resume each other's tickets
my $keyfile = "$dir/ticket.key";
{
    open(my $kf, '<', '/dev/urandom') or die "urandom: $!";
    read($kf, my $keys, 160) == 160 or die "urandom: short read";
    write_file($keyfile, $keys);
}
my @inst;
for my $i (1, 2) {
    my $p = free_port();
    push @inst, { port => $p, c => cuttle_start(<<"EOF", workers => 1) };
error_log: {path: %LOG%, level: info}
upstreams:
  o: {servers: [{address: $origin->{addr}}]}
listeners:
  - name: shared
    listen: 127.0.0.1:$p
    mode: http
    tls:
      certificates: [{cert: $dir/b.crt, key: $dir/b.key}]
      ticket_key_file: $keyfile
    routes: [{upstream: o}]
EOF
}
hello($inst[0]{port}, sni => 'b.test', sess_out => "$dir/sess-shared");
ok(-s "$dir/sess-shared", 'a ticket from the first instance');
is(hello($inst[1]{port}, sni => 'b.test', sess_in => "$dir/sess-shared")->{reused}, 1,
    'resumes on the second, which has the same ticket_key_file');
{
    open(my $kf, '<', '/dev/urandom') or die "urandom: $!";
    read($kf, my $keys, 80) == 80 or die "urandom: short read";
    write_file("$keyfile.other", $keys);
}
(my $other = slurp($inst[1]{c}{conf})) =~ s/ticket\.key/ticket.key.other/;
ok(cuttle_reload($inst[1]{c}, $other)->{ok}, 'the second reloads with other keys');
is(hello($inst[1]{port}, sni => 'b.test', sess_in => "$dir/sess-shared")->{reused}, 0,
    'and the ticket no longer resumes there');
for (@inst) { cuttle_stop($_->{c}); log_clean_ok($_->{c}); }

# ---- configuration errors, each at its file:line:col
sub check_tls {
    my ($tls, %o) = @_;
    my $f = "$dir/check-" . (++$NOPENSSL) . ".yaml";
    my $mode = $o{mode} // 'http';
    my $extra = $o{extra} // '';
    write_file($f, "upstreams:\n  o: {servers: [{address: 127.0.0.1:1}]}\nlisteners:\n"
        . "  - name: l\n    listen: 127.0.0.1:1\n    mode: $mode\n$extra    tls:\n$tls\n");
    return cuttle_run('-t', '-c', $f);
}
my $certs = "      certificates: [{cert: $dir/b.crt, key: $dir/b.key}]\n";
my @bad = (
    ["      certificates: [{cert: $dir/none.crt, key: $dir/b.key}]",
        qr/:8:\d+: cannot read certificate ".*none\.crt": No such file or directory/],
    ["      certificates: [{cert: $dir/b.key, key: $dir/b.key}]",
        qr/:8:\d+: cannot load certificate ".*b\.key": no start line/],
    ["${certs}      ciphers: NOPE-CIPHER", qr/:9:16: invalid ciphers "NOPE-CIPHER": no cipher match/],
    ["${certs}      ciphersuites: TLS_NOPE", qr/:9:21: invalid ciphersuites "TLS_NOPE"/],
    ["${certs}      protocols: [TLSv1.3, SSLv3]", qr/:9:\d+: invalid protocol "SSLv3" in "protocols"/],
    ["${certs}      protocols: [TLSv1.1, TLSv1.3]", qr/:9:\d+: "protocols" must be a range without gaps/],
    ["${certs}      verify: required", qr/:9:15: "verify: required" needs "client_ca"/],
    ["${certs}      verify: optional\n      client_ca: $dir/b.key", qr/:10:18: cannot load client_ca ".*b\.key"/],
    ["${certs}      ticket_key_file: $dir/b.crt",
        qr/:9:24: cannot use ticket_key_file ".*b\.crt": it must hold 1 to 3 keys of 80 bytes/],
    ["      certificates: [{cert: $dir/a.crt, key: $dir/a.key}, {cert: $dir/new.crt, key: $dir/new.key}]",
        qr/certificate ".*new\.crt" has the names and the key type of certificate 1/],
);
for my $b (@bad) {
    my $r = check_tls($b->[0]);
    isnt($r->{status}, 0, "cuttle -t refuses $b->[1]");
    like($r->{stderr}, $b->[1], 'with the reason at its position');
}
my $r2 = check_tls($certs, mode => 'tcp',
    extra => "    upstream: o\n    sni: {routes: [{names: [a.test], upstream: o}]}\n");
like($r2->{stderr}, qr/"tls" terminates TLS and "sni" passes it through/, 'tls and sni on one listener');
$r2 = check_tls($certs, extra => "    routes:\n      - {match: {client_cert: verified}, upstream: o}\n");
like($r2->{stderr}, qr/a route that matches "client_cert" needs "tls" with "verify: optional"/,
    'a client_cert route without verify');
{
    my $f = "$dir/check-host.yaml";
    write_file($f, "upstreams:\n  o:\n    tls: {name: \$host}\n"
        . "    health: {active: {type: http}}\n    servers: [{address: 127.0.0.1:1}]\n"
        . "listeners:\n  - {name: l, listen: 127.0.0.1:1, mode: http, routes: [{upstream: o}]}\n");
    my $h = cuttle_run('-t', '-c', $f);
    like($h->{stderr}, qr/:3:\d+: http health checks cannot verify the name "\$host"/,
        'an upstream that verifies $host cannot have http health checks');
}
$r2 = check_tls($certs, extra => "    routes: [{upstream: o}]\n");
is($r2->{status}, 0, 'and the same listener without it passes') or diag($r2->{stderr});

done_testing();
