# cuttlectl cert, with no cuttle running and no admin socket: a CA, an
# ECDSA and an RSA server certificate and a client certificate made by
# "cert gen", checked by the openssl CLI (chain, SANs, usages, keys,
# file modes); "cert show" of a file and of a live openssl s_server,
# whose SNI picks the certificate, against openssl's own fingerprints;
# the usage errors (exit 2) and the failures (exit 1).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX qw(_exit);
use CuttleTest;

my $dir = tmpdir();
my @pids;
# The s_server is stopped however the test ends, a die included.
END { kill 'TERM', @pids if @pids }

# A socket that does not exist: "cert" must not need it.
sub ctl { return cuttlectl_run('-s', "$dir/no-admin.sock", @_) }

# openssl ARGS...: {status, out} with stderr in out.
sub openssl {
    my $out = `openssl @_ 2>&1`;
    return { status => $? >> 8, out => $out };
}

sub mode_of { return (stat $_[0])[2] & 07777 }

# --- gen: a CA, two servers and a client
{
    my $r = ctl('cert', 'gen', 'ca', '--out', $dir);
    is($r->{status}, 0, 'gen ca exits 0') or diag($r->{stderr});
    is($r->{stdout}, "$dir/ca.key\n$dir/ca.crt\n", 'gen ca names the two files it wrote');

    $r = ctl('cert', 'gen', 'server', '--out', $dir, '--cn', 'srv.test', '--san', 'DNS:srv.test',
        '--san', 'DNS:www.srv.test', '--san', 'IP:127.0.0.1', '--days', '90');
    is($r->{status}, 0, 'gen server (ECDSA, three SANs) exits 0') or diag($r->{stderr});
    is($r->{stdout}, "$dir/srv.test.key\n$dir/srv.test.crt\n", '... and writes BASE = CN');

    $r = ctl('cert', 'gen', 'server', '--out', $dir, '--cn', 'rsa.test', '--name', 'rsa',
        '--key-type', 'rsa2048');
    is($r->{status}, 0, 'gen server --key-type rsa2048 --name rsa exits 0') or diag($r->{stderr});

    # A key file that exists with a wider mode gets 0600 all the same.
    write_file("$dir/alice.key", "old\n");
    chmod 0644, "$dir/alice.key";
    $r = ctl('cert', 'gen', 'client', '--out', $dir, '--cn', 'alice', '--ca', 'ca');
    is($r->{status}, 0, 'gen client exits 0') or diag($r->{stderr});
}

for my $base (qw(ca srv.test rsa alice)) {
    is(sprintf('%04o', mode_of("$dir/$base.key")), '0600', "$base.key has mode 0600");
    is(sprintf('%04o', mode_of("$dir/$base.crt")), '0644', "$base.crt has mode 0644");
    like(slurp("$dir/$base.key"), qr/\A-----BEGIN PRIVATE KEY-----\n/, "$base.key is PKCS#8 PEM");
    my $crt = slurp("$dir/$base.crt");
    is(scalar(() = $crt =~ /-----BEGIN CERTIFICATE-----/g), 1, "$base.crt holds one certificate");
    unlike($crt, qr/PRIVATE KEY/, '... and no key');
}

# --- what openssl makes of them
{
    my $r = openssl('verify', '-CAfile', "$dir/ca.crt", "$dir/srv.test.crt", "$dir/rsa.crt",
        "$dir/alice.crt");
    is($r->{status}, 0, 'openssl verify -CAfile ca.crt accepts the three') or diag($r->{out});
    is(scalar(() = $r->{out} =~ /: OK$/mg), 3, '... each OK');
    is(openssl('verify', '-purpose', 'sslserver', '-CAfile', "$dir/ca.crt",
        "$dir/srv.test.crt")->{status}, 0, 'the server certificate is good for sslserver');
    is(openssl('verify', '-purpose', 'sslclient', '-CAfile', "$dir/ca.crt",
        "$dir/alice.crt")->{status}, 0, 'the client certificate is good for sslclient');
    isnt(openssl('verify', '-purpose', 'sslserver', '-CAfile', "$dir/ca.crt",
        "$dir/alice.crt")->{status}, 0, 'but not for sslserver');

    my $ca = openssl('x509', '-noout', '-text', '-in', "$dir/ca.crt")->{out};
    like($ca, qr/Basic Constraints: critical\s+CA:TRUE/, 'the CA has CA:TRUE, critical');
    like($ca, qr/Key Usage: critical\s+Certificate Sign, CRL Sign/, '... keyCertSign, cRLSign');
    like($ca, qr/Subject: CN = cuttle CA/, '... and the default CN');
    like($ca, qr/Version: 3 /, '... version 3');

    my $srv = openssl('x509', '-noout', '-text', '-in', "$dir/srv.test.crt")->{out};
    like($srv, qr/Subject Alternative Name:\s*\n\s*DNS:srv\.test, DNS:www\.srv\.test, IP Address:127\.0\.0\.1\n/,
        'the server has its three SANs') or diag($srv);
    like($srv, qr/Extended Key Usage:\s*\n\s*TLS Web Server Authentication\n/, '... serverAuth');
    like($srv, qr/Key Usage: critical\s+Digital Signature\n/, '... digitalSignature only (ECDSA)');
    like($srv, qr/Basic Constraints: critical\s+CA:FALSE/, '... CA:FALSE');
    like($srv, qr/Public-Key: \(256 bit\).*NIST CURVE: P-256/s, '... an ECDSA P-256 key');
    like($srv, qr/Signature Algorithm: ecdsa-with-SHA256/, '... signed with SHA-256');
    like($srv, qr/Issuer: CN = cuttle CA/, '... by the CA');
    like($srv, qr/Authority Key Identifier/, '... with the authority key id');

    my $rsa = openssl('x509', '-noout', '-text', '-in', "$dir/rsa.crt")->{out};
    like($rsa, qr/Public-Key: \(2048 bit\)/, 'the RSA server has a 2048-bit key');
    like($rsa, qr/Key Usage: critical\s+Digital Signature, Key Encipherment/,
        '... and keyEncipherment');
    like($rsa, qr/Subject Alternative Name:\s*\n\s*DNS:rsa\.test\n/, '... and its CN as SAN');

    my $alice = openssl('x509', '-noout', '-text', '-in', "$dir/alice.crt")->{out};
    like($alice, qr/Extended Key Usage:\s*\n\s*TLS Web Client Authentication\n/,
        'the client has clientAuth');
    unlike($alice, qr/Subject Alternative Name/, '... and no SAN, none was asked for');

    my %serial = map { $_ => openssl('x509', '-noout', '-serial', '-in', "$dir/$_.crt")->{out} }
        qw(ca srv.test rsa alice);
    is(scalar(keys %{{ reverse %serial }}), 4, 'the four serials differ');
}

# The fingerprint, serial and end date of FILE as openssl prints them.
sub openssl_facts {
    my ($file) = @_;
    my $out = openssl('x509', '-noout', '-fingerprint', '-sha256', '-serial', '-enddate',
        '-dateopt', 'iso_8601', '-in', $file)->{out};
    my %f;
    ($f{sha256}) = $out =~ /^sha256 Fingerprint=(\S+)$/m;
    ($f{serial}) = $out =~ /^serial=(\S+)$/m;
    ($f{not_after}) = $out =~ /^notAfter=(\S+ \S+)$/m;
    $f{not_after} =~ s/ /T/ if defined $f{not_after};
    return \%f;
}

my $SRV = openssl_facts("$dir/srv.test.crt");
my $RSA = openssl_facts("$dir/rsa.crt");
my $CA = openssl_facts("$dir/ca.crt");
ok($SRV->{sha256} && $RSA->{sha256} && $CA->{sha256}, 'openssl prints the fingerprints');

# --- show FILE
{
    my $r = ctl('cert', 'show', "$dir/srv.test.crt");
    is($r->{status}, 0, 'show FILE exits 0') or diag($r->{stderr});
    my $o = $r->{stdout};
    like($o, qr/^certificate 0$/m, 'it numbers the certificate');
    like($o, qr/^  subject:\s+CN=srv\.test$/m, 'it shows the subject');
    like($o, qr/^  issuer:\s+CN=cuttle CA$/m, '... the issuer');
    like($o, qr/^  serial:\s+\Q$SRV->{serial}\E$/m, '... the serial as openssl does');
    like($o, qr/^  san:\s+DNS:srv\.test, DNS:www\.srv\.test, IP:127\.0\.0\.1$/m, '... the SANs');
    like($o, qr/^  not after:\s+\Q$SRV->{not_after}\E$/m, '... notAfter in ISO 8601');
    like($o, qr/^  not before:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m, '... notBefore');
    like($o, qr/^  days left:\s+(89|90)$/m, '... 89 or 90 days left of 90');
    like($o, qr/^  key:\s+ECDSA P-256$/m, '... the key');
    like($o, qr/^  sha256:\s+\Q$SRV->{sha256}\E$/m, '... the fingerprint of openssl x509 -fingerprint')
        or diag($o);

    $r = ctl('cert', 'show', "$dir/rsa.crt");
    like($r->{stdout}, qr/^  key:\s+RSA 2048$/m, 'show of the RSA certificate: RSA 2048');
    like($r->{stdout}, qr/^  days left:\s+(824|825)$/m, '... 825 days by default');
}

# --- show FILE --json, of a chain
{
    write_file("$dir/chain.pem", slurp("$dir/srv.test.crt") . slurp("$dir/ca.crt"));
    for my $args (['cert', 'show', "$dir/chain.pem", '--json'], ['--json', 'cert', 'show', "$dir/chain.pem"]) {
        my $r = ctl(@$args);
        is($r->{status}, 0, "@$args[0..2] ... exits 0") or diag($r->{stderr});
        my $j = eval { decode_json($r->{stdout}) };
        is(ref $j, 'ARRAY', '... and prints a JSON array') or diag($r->{stdout});
        is(scalar @{$j // []}, 2, '... of the two certificates of the chain');
        my ($s, $c) = @{$j // []};
        is($s->{index}, 0, '... the server first');
        is($s->{subject}, 'CN=srv.test', '... subject');
        is($s->{issuer}, 'CN=cuttle CA', '... issuer');
        is($s->{serial}, $SRV->{serial}, '... serial');
        is_deeply($s->{san}, ['DNS:srv.test', 'DNS:www.srv.test', 'IP:127.0.0.1'], '... san');
        is($s->{not_after}, $SRV->{not_after}, '... not_after');
        like($s->{not_before} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, '... not_before');
        ok(abs(($s->{days_left} // 0) - 90) <= 1, '... days_left within 1 of --days 90')
            or diag($s->{days_left});
        is($s->{key_type}, 'ECDSA', '... key_type');
        is($s->{key_bits}, 256, '... key_bits');
        is($s->{sha256}, $SRV->{sha256}, '... sha256');
        is($c->{index}, 1, '... then the CA');
        is($c->{sha256}, $CA->{sha256}, '... with its own fingerprint');
        ok(abs(($c->{days_left} // 0) - 3650) <= 1, '... and 3650 days');
    }
}

# --- show HOST:PORT: an openssl s_server that answers SNI rsa.test with
# the RSA certificate, anything else with the ECDSA one, over TLS 1.2
# only so that the protocol shown is the one negotiated, not a default.
my $port = free_port();
{
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', "$dir/s_server.log");
        open(STDERR, '>&', \*STDOUT);
        { no warnings 'exec'; exec 'openssl', 's_server', '-quiet', '-www', '-tls1_2',
            '-accept', "127.0.0.1:$port", '-cert', "$dir/srv.test.crt", '-key', "$dir/srv.test.key",
            '-servername', 'rsa.test', '-cert2', "$dir/rsa.crt", '-key2', "$dir/rsa.key"; }
        _exit(127);
    }
    push @pids, $pid;
    ok(wait_until(sub { my $s = tcp_connect($port); close $s if $s; $s }, 10),
        'openssl s_server listens') or BAIL_OUT('openssl s_server did not start');
}

{
    my $r = ctl('cert', 'show', "127.0.0.1:$port");
    is($r->{status}, 0, 'show 127.0.0.1:PORT exits 0') or diag($r->{stderr});
    like($r->{stdout}, qr/^  sha256:\s+\Q$SRV->{sha256}\E$/m, 'without SNI: the ECDSA certificate')
        or diag($r->{stdout});
    like($r->{stdout}, qr/^protocol:\s+TLSv1\.2$/m, '... over TLS 1.2, the negotiated protocol');
    like($r->{stdout}, qr/^cipher:\s+ECDHE-ECDSA-\S+$/m, '... with an ECDSA cipher suite');
    like($r->{stdout}, qr/^sni:\s+-$/m, '... and no SNI for an IP address');
    like($r->{stdout}, qr/^verified:\s+no \(.+\)$/m,
        '... not verified against the system store, with the reason');

    $r = ctl('cert', 'show', "127.0.0.1:$port", '--sni', 'rsa.test');
    is($r->{status}, 0, 'show 127.0.0.1:PORT --sni rsa.test exits 0') or diag($r->{stderr});
    like($r->{stdout}, qr/^  sha256:\s+\Q$RSA->{sha256}\E$/m, '... the SNI picks the RSA certificate')
        or diag($r->{stdout});
    like($r->{stdout}, qr/^  key:\s+RSA 2048$/m, '... an RSA 2048 key');
    like($r->{stdout}, qr/^cipher:\s+ECDHE-RSA-\S+$/m, '... with an RSA cipher suite');

    $r = ctl('cert', 'show', "127.0.0.1:$port", '--sni', 'srv.test', '--json');
    is($r->{status}, 0, 'show HOST:PORT --json exits 0') or diag($r->{stderr});
    my $j = eval { decode_json($r->{stdout}) } // {};
    is($j->{protocol}, 'TLSv1.2', '... protocol');
    is($j->{sni}, 'srv.test', '... sni');
    ok(defined $j->{verified} && !$j->{verified}, '... verified: false');
    like($j->{verify_error} // '', qr/\S/, '... with the reason');
    is($j->{chain}[0]{sha256}, $SRV->{sha256}, '... and the chain with the fingerprint');
}

# --- errors
{
    my $r = ctl('cert', 'gen', 'server', '--out', $dir);
    is($r->{status}, 2, 'gen server without --cn exits 2');
    like($r->{stderr}, qr/^cuttlectl: .*--cn/, '... and says --cn is needed');
    like($r->{stderr}, qr/^usage: cuttlectl cert/m, '... with the usage');

    $r = ctl('cert', 'gen', 'server', '--out', $dir, '--cn', 'x.test', '--ca', 'nope');
    is($r->{status}, 1, 'gen server with a missing CA exits 1');
    like($r->{stderr}, qr/^cuttlectl: \Q$dir\E\/nope\.crt: No such file or directory$/,
        '... and names the file');
    ok(!-e "$dir/x.test.key", '... and writes no key');

    for my $san ('DNS:a b', 'IP:300.1.1.1', 'URI:x', 'DNS:') {
        $r = ctl('cert', 'gen', 'server', '--out', $dir, '--cn', 'x.test', '--san', $san);
        is($r->{status}, 2, "--san '$san' exits 2");
        like($r->{stderr}, qr/^cuttlectl: cert gen: bad --san/, '... and says so');
    }
    $r = ctl('cert', 'gen', 'ca', '--out', $dir, '--name', 'b', '--key-type', 'bogus');
    is($r->{status}, 2, '--key-type bogus exits 2');
    like($r->{stderr}, qr/--key-type "bogus"/, '... and names it');
    is(ctl('cert', 'gen', 'ca', '--out', $dir, '--name', 'b', '--days', '0')->{status}, 2,
        '--days 0 exits 2');
    is(ctl('cert', 'gen', 'ca', '--out', $dir, '--name', 'b', '--days', '36501')->{status}, 2,
        '--days 36501 exits 2');
    is(ctl('cert', 'gen', 'ca', '--out', $dir, '--name', 'a/b')->{status}, 2, '--name a/b exits 2');
    is(ctl('cert', 'gen', 'ca', '--out', $dir, '--name', '.b')->{status}, 2, '--name .b exits 2');
    is(ctl('cert', 'gen', 'ca', '--out', $dir, '--ca', 'ca')->{status}, 2, 'gen ca --ca exits 2');
    is(ctl('cert', 'gen', 'leaf', '--cn', 'x')->{status}, 2, 'gen leaf exits 2');
    ok(!-e "$dir/b.crt", 'no usage error wrote a file');

    write_file("$dir/junk.pem", "not a certificate\n");
    $r = ctl('cert', 'show', "$dir/junk.pem");
    is($r->{status}, 1, 'show of a file that is not PEM exits 1');
    like($r->{stderr}, qr/^cuttlectl: \Q$dir\E\/junk\.pem: no PEM certificate: error:\S+/,
        '... with OpenSSL\'s reason');

    my $closed = free_port();
    $r = ctl('cert', 'show', "127.0.0.1:$closed");
    is($r->{status}, 1, 'show of a closed port exits 1');
    like($r->{stderr}, qr/^cuttlectl: 127\.0\.0\.1:$closed: connect: Connection refused$/,
        '... and says why');
}

log_clean_ok();
done_testing();
