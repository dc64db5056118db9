# cuttle -v and cuttle -t: the version line, a valid file accepted
# without binding anything, and every error of an invalid file reported
# at its FILE:LINE:COL.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::IP;
use CuttleTest;

my $dir = tmpdir();

# Runs "cuttle -t -c FILE" and returns the result and the error lines
# ("FILE:LINE:COL: message") it printed.
sub check {
    my ($file) = @_;
    my $r = cuttle_run('-t', '-c', $file);
    my @errors = grep { /^\Q$file\E:\d+:\d+: / } split /\n/, $r->{stderr};
    return ($r, @errors);
}

# --- -v
{
    my $r = cuttle_run('-v');
    is($r->{status}, 0, '-v exits 0');
    like($r->{stdout} . $r->{stderr}, qr/^cuttle version \d+\.\d+\.\d+$/m,
        '-v prints "cuttle version X.Y.Z"');
}

# --- a valid file, checked while its listen port is taken: a check that
# tried to bind would fail.
{
    my $port = free_port();
    my $bport = free_port();
    my $good = write_file("$dir/good.yaml", <<"EOF");
workers: 2
shm_size: 32m
error_log: {path: $dir/good-error.log, level: info}
upstreams:
  app:
    balance: round_robin
    servers:
      - {address: 127.0.0.1:$bport, weight: 2}
      - {address: "[::1]:$bport"}
  other:
    balance: least_conn
    servers:
      - {address: 127.0.0.1:$bport}
listeners:
  - name: app
    listen: 127.0.0.1:$port
    mode: tcp
    upstream: app
    acl: {allow: [127.0.0.0/8, "::1/128"], deny: [127.0.0.2/32]}
    timeouts: {connect: 2s, idle: 5m}
    retries: 2
EOF
    my $taken = IO::Socket::IP->new(LocalHost => '127.0.0.1',
        LocalPort => $port, Proto => 'tcp', Listen => 1)
        or die "cannot take port $port: $@";
    my ($r, @errors) = check($good);
    is($r->{status}, 0, '-t on a valid file exits 0')
        or diag($r->{stderr});
    like($r->{stderr},
        qr/^cuttle: configuration file \Q$good\E test is successful$/m,
        '-t says the test is successful');
    is(scalar @errors, 0, 'no error line for a valid file');
    close $taken;
    my $again = IO::Socket::IP->new(LocalHost => '127.0.0.1',
        LocalPort => $port, Proto => 'tcp', Listen => 1);
    ok($again, 'the listen port is still free after -t (nothing bound it)')
        or diag("bind 127.0.0.1:$port: $@");

    my $auto = write_file("$dir/auto.yaml", <<"EOF");
workers: auto
upstreams:
  app:
    servers:
      - {address: 127.0.0.1:$bport}
listeners:
  - name: app
    listen: 127.0.0.1:$port
    mode: tcp
    upstream: app
EOF
    ($r) = check($auto);
    is($r->{status}, 0, '-t accepts "workers: auto" and the defaults')
        or diag($r->{stderr});
}

# --- three independent errors: all reported, with their positions.
# Values are reported at the value, an unknown key at the key.
{
    my $port = free_port();
    my $bport = free_port();
    my $bad = write_file("$dir/bad.yaml", <<"EOF");
workers: 2
shm_size: 32x
upstreams:
  app:
    balance: fastest
    servers:
      - {address: 127.0.0.1:$bport}
listeners:
  - name: app
    listen: 127.0.0.1:$port
    mode: tcp
    upstream: app
    retris: 2
EOF
    my ($r, @errors) = check($bad);
    is($r->{status}, 1, '-t on a file with errors exits 1');
    is(scalar @errors, 3, 'exactly the three errors are printed')
        or diag($r->{stderr});
    ok((grep { /^\Q$bad\E:2:11: / } @errors), 'bad size at 2:11')
        or diag($r->{stderr});
    ok((grep { /^\Q$bad\E:5:14: / } @errors), 'bad balance at 5:14')
        or diag($r->{stderr});
    ok((grep { $_ eq "$bad:13:5: unknown key \"retris\" in listener,"
            . ' did you mean "retries"?' } @errors),
        'misspelt key at 13:5 with "did you mean"')
        or diag($r->{stderr});
    like($r->{stderr},
        qr/^cuttle: configuration file \Q$bad\E test failed$/m,
        '-t says the test failed');
}

# --- the misspelling of the contract: "listn" for "listen".
{
    my $bport = free_port();
    my $f = write_file("$dir/listn.yaml", <<"EOF");
workers: 1
upstreams:
  app:
    servers:
      - {address: 127.0.0.1:$bport}
listeners:
  - name: app
    listn: 127.0.0.1:$bport
    mode: tcp
    upstream: app
EOF
    my ($r, @errors) = check($f);
    is($r->{status}, 1, '-t rejects "listn"');
    ok((grep { $_ eq "$f:8:5: unknown key \"listn\" in listener,"
            . ' did you mean "listen"?' } @errors),
        '"listn" reported at 8:5 with did you mean "listen"')
        or diag($r->{stderr});
}

# --- an upstream that does not exist, reported at the reference.
{
    my $port = free_port();
    my $bport = free_port();
    my $f = write_file("$dir/noupstream.yaml", <<"EOF");
workers: 1
upstreams:
  app:
    servers:
      - {address: 127.0.0.1:$bport}
listeners:
  - name: front
    listen: 127.0.0.1:$port
    mode: tcp
    upstream: nosuch
EOF
    my ($r, @errors) = check($f);
    is($r->{status}, 1, '-t rejects an undefined upstream');
    is(scalar @errors, 1, 'one error for one undefined upstream')
        or diag($r->{stderr});
    ok((grep { /^\Q$f\E:10:15: .*nosuch/ } @errors),
        'the error is at the value (10:15) and names "nosuch"')
        or diag($r->{stderr});
}

log_clean_ok();
# --- every configuration shipped in conf/ is valid as it stands
{
    my $root = "$FindBin::Bin/..";
    my $token = write_file("$dir/admin.token", "0123456789abcdef0123\n");
    chmod 0600, $token or die "chmod $token: $!";
    local $ENV{CUTTLE_TOKEN_FILE} = $token;
    # conf/examples/cluster.yaml's password file, owner-only like the token.
    my $redis_pw = write_file("$dir/redis.password", "not-a-real-password\n");
    chmod 0600, $redis_pw or die "chmod $redis_pw: $!";
    local $ENV{CUTTLE_REDIS_PASSWORD_FILE} = $redis_pw;
    # conf/examples/tls.yaml's certificates, made as its comment says.
    my $tls = "$dir/tls";
    mkdir $tls or die "mkdir $tls: $!";
    local $ENV{CUTTLE_TLS_DIR} = $tls;
    for my $gen (['ca'], ['server', '--cn', 'example.com', '--san', 'DNS:example.com',
            '--san', 'DNS:*.example.com'],
        ['server', '--name', 'example.com-rsa', '--key-type', 'rsa2048', '--cn', 'example.com',
            '--san', 'DNS:example.com', '--san', 'DNS:*.example.com'],
        ['server', '--cn', 'fallback.invalid']) {
        my $g = cuttlectl_run('cert', 'gen', @$gen, '--out', $tls);
        $g->{status} == 0 or BAIL_OUT("cuttlectl cert gen @$gen: $g->{stderr}");
    }
    # conf/examples/auth.yaml's htpasswd files (and socks.yaml's and forward.yaml's),
    # made as their comments say.
    local $ENV{CUTTLE_HTPASSWD_DIR} = $tls;
    for my $pw (['htpasswd', 'alice'], ['htpasswd-ops', 'carol'], ['proxy.htpasswd', 'alice']) {
        system('htpasswd', '-c', '-B', '-C', '4', '-b', "$tls/$pw->[0]", $pw->[1], 'pw') == 0
            or BAIL_OUT("htpasswd $pw->[0] failed");
    }
    # conf/examples/geo-rules.yaml's database and lists, made as its comment says.
    my $geo = "$dir/geo";
    mkdir $geo or die "mkdir $geo: $!";
    local $ENV{CUTTLE_GEO_DIR} = $geo;
    mmdb_write("$geo/country.mmdb", { '203.0.113.0/24' => 'DE' });
    write_file("$geo/partners.txt", "203.0.113.0/24   # a partner\n");
    write_file("$geo/blocked.txt", "198.51.100.66    # abuse\n");
    for my $file ("$root/conf/cuttle.yaml", glob("$root/conf/examples/*.yaml")) {
        my ($r, @errors) = check($file);
        # -t also checks the log and pid paths, which name directories
        # (/run/cuttle, /var/log/cuttle, /var/lib/cuttle) that this host need not have.
        my @other = grep { !/^cuttle: (?:error_log|access_log|pid_file|approvals\.state_file) "[^"]+" cannot be created: /
            && !/test (?:failed|is successful)$/ } split /\n/, $r->{stderr};
        ok(!@errors && !@other && ($r->{status} == 0 || $r->{stderr} =~ /cannot be created/),
            "shipped configuration " . ($file =~ s{.*/conf/}{conf/}r) .
            " passes cuttle -t (but for paths this host lacks)") or diag($r->{stderr});
    }
}

done_testing();
