# mode http: basic authentication.  An htpasswd file on the listener
# (bcrypt from "htpasswd -B", sha512crypt, sha256crypt and yescrypt from
# "mkpasswd"), a route with a file of its own that passes Authorization
# upstream, a route with "auth: off"; good, wrong, missing and unknown
# users; garbage credentials; failures over the limit answered 429; a
# slow bcrypt check that does not stall another client of the worker;
# the cache that makes a keep-alive client's later requests cheap; the
# access log's user field and the metrics; reloads with a changed and a
# bad file; and bad files refused by "cuttle -t" with their line.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time);
use CuttleTest;

my $dir = tmpdir();

# Runs a command that makes a hash; dies with its output if it fails.
sub run_ok {
    my @cmd = @_;
    open(my $fh, '-|', @cmd) or BAIL_OUT("@cmd: $!");
    my $out = do { local $/; <$fh> };
    close $fh or BAIL_OUT("@cmd failed: $?");
    chomp $out;
    return $out;
}

sub mkpw { return run_ok('mkpasswd', '-m', $_[0], $_[1]) }

# htpasswd -B with cost $cost: "user:hash".
sub bcrypt { return run_ok('htpasswd', '-nbB', '-C', $_[2], $_[0], $_[1]) }

my $main = "$dir/main.pw";
write_file($main, join("\n", "# staff", bcrypt('alice', 'alice pw', 10), '',
    'sha512:' . mkpw('sha-512', 'pw512'), 'sha256:' . mkpw('sha-256', 'pw256'),
    'yes:' . mkpw('yescrypt', 'pwyes'), 'ev"il:' . mkpw('sha-256', 'x')) . "\n");
my $carol = "$dir/carol.pw";
system('htpasswd', '-c', '-B', '-C', '10', '-b', $carol, 'carol', 'carol pw') == 0
    or BAIL_OUT('htpasswd -c failed');
my $slow = "$dir/slow.pw";
write_file($slow, bcrypt('slow', 'slow pw', 13) . "\n" . bcrypt('twelve', 'pw12', 12) . "\n");

my $A = http_origin(name => 'A');
my $port = free_port();
my $sock = "$dir/admin.sock";
my $yaml = sub {
    my ($file) = @_;
    return <<"EOF";
upstreams:
  app:
    servers:
      - {address: $A->{addr}}
admin: {socket: $sock}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    max_header_size: 128k
    access_log: {path: %TMP%/access.log}
    auth: {basic: {realm: "Staff only", htpasswd: $file, max_failures_per_minute: 6}}
    routes:
      - {match: {path_prefix: /open/}, upstream: app, auth: off}
      - match: {path_prefix: /carol/}
        upstream: app
        auth: {basic: {realm: Carol, htpasswd: $carol, pass_authorization: true}}
      - match: {path_prefix: /vault/}
        upstream: app
        auth: {basic: {realm: Slow, htpasswd: $slow}}
      - {match: {path_exact: /healthz}, return: {status: 200, body: "ok"}}
      - {upstream: app}
EOF
};
my $c = cuttle_start($yaml->($main), workers => 1);

# Each group of requests comes from an address of its own, so that the
# failures of one do not throttle another.
my $nlocal = 10;
sub fresh_addr { return '127.0.0.' . $nlocal++ }

sub basic { return 'Basic ' . encode_base64("$_[0]:$_[1]", '') }

# One request on a new connection: auth => [user, pass] or a raw value.
sub req {
    my ($target, %o) = @_;
    my $s = tcp_connect($port, local => $o{from} // '127.0.0.1')
        or return { error => "connect: $@" };
    my @h = @{$o{headers} // []};
    push @h, ['Authorization', ref $o{auth} ? basic(@{$o{auth}}) : $o{auth}] if defined $o{auth};
    http_send($s, target => $target, headers => \@h) or return { error => "send: $!" };
    my $r = http_recv($s, timeout => $o{timeout} // 10);
    close $s;
    return $r;
}

# The request fields the origin saw, from its echo.
sub seen_auth {
    my ($r) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq 'authorization' } @{http_json($r)->{headers} // []};
    return @v ? $v[0] : undef;
}

my $challenge = 'Basic realm="Staff only", charset="UTF-8"';

# --- good, wrong, missing, unknown
{
    my $from = fresh_addr();
    my $r = req('/echo', auth => ['alice', 'alice pw'], from => $from);
    is($r->{status}, 200, 'bcrypt ($2y$ from htpasswd -B): good password: 200');
    is($r->{h}{'x-origin'}, 'A', 'the request went upstream');
    is(seen_auth($r), undef, 'Authorization is not passed upstream by default');

    for (['wrong password', auth => ['alice', 'nope']],
         ['no credentials'],
         ['unknown user', auth => ['mallory', 'alice pw']],
         ['another scheme', auth => 'Bearer abc.def'],
         ['the right password of another user', auth => ['sha512', 'alice pw']]) {
        my ($what, %o) = @$_;
        $r = req('/echo', %o, from => $from);
        is($r->{status}, 401, "$what: 401");
        is($r->{h}{'www-authenticate'}, $challenge, "$what: the challenge names the realm");
        isnt($r->{h}{'x-origin'}, 'A', "$what: nothing reached the origin");
    }
}

# --- each hash kind, good and wrong
{
    my $from = fresh_addr();
    for (['sha512', 'pw512', 'sha512crypt ($6$)'], ['sha256', 'pw256', 'sha256crypt ($5$)'],
         ['yes', 'pwyes', 'yescrypt ($y$)']) {
        my ($u, $p, $kind) = @$_;
        is(req('/echo', auth => [$u, $p], from => $from)->{status}, 200, "$kind: good: 200");
        is(req('/echo', auth => [$u, "$p!"], from => $from)->{status}, 401, "$kind: wrong: 401");
    }
}

# --- a route's own file, passing Authorization; auth: off; a return route
{
    my $from = fresh_addr();
    my $r = req('/carol/echo', auth => ['carol', 'carol pw'], from => $from);
    is($r->{status}, 200, "a route's own htpasswd: its user: 200");
    is(seen_auth($r), basic('carol', 'carol pw'), 'pass_authorization: the origin sees it');
    $r = req('/carol/echo', auth => ['alice', 'alice pw'], from => $from);
    is($r->{status}, 401, "the listener's user on a route with its own file: 401");
    is($r->{h}{'www-authenticate'}, 'Basic realm="Carol", charset="UTF-8"', "with the route's realm");
    $r = req('/open/echo', from => $from);
    is($r->{status}, 200, 'auth: off on a route: no credentials needed');
    is(req('/healthz', from => $from)->{status}, 200, 'a return route answers without credentials');
}

# --- garbage
{
    my $from = fresh_addr();
    for (['bad base64', 'Basic !!!not base64'],
         ['padding in the middle', 'Basic YQ==YQ=='],
         ['no colon', 'Basic ' . encode_base64('alicealice pw', '')],
         ['a NUL in the password', 'Basic ' . encode_base64("alice:alice pw\0x", '')],
         ['64 KiB of credentials', 'Basic ' . ('QUFB' x 16384)]) {
        my ($what, $v) = @$_;
        my $r = req('/echo', auth => $v, from => $from);
        is($r->{status}, 400, "$what: 400");
        isnt($r->{h}{'x-origin'}, 'A', "$what: nothing reached the origin");
    }
    # The failures above are throttled from now on: another address checks the worker.
    is(req('/echo', auth => ['alice', 'alice pw'], from => fresh_addr())->{status}, 200,
        'the worker still answers after the garbage');
}

# --- failures over the limit
{
    my $from = fresh_addr();
    my @st = map { req('/echo', auth => ['alice', "wrong $_"], from => $from)->{status} } 1 .. 6;
    is("@st", join(' ', (401) x 6), 'six wrong passwords: 401 each');
    my $r = req('/echo', auth => ['alice', 'alice pw'], from => $from);
    is($r->{status}, 429, 'the seventh attempt, even a good one: 429, nothing verified');
    is(req('/echo', auth => ['alice', 'alice pw'], from => fresh_addr())->{status}, 200,
        'another address is not throttled');
}

# --- a slow check does not stall another client of the (single) worker
{
    my $from = fresh_addr();
    my $s1 = tcp_connect($port, local => $from) or die "connect: $@";
    my $t0 = time;
    http_send($s1, target => '/vault/echo', headers => [['Authorization', basic('slow', 'slow pw')]]);
    # Let the worker take the request and start the check.
    select(undef, undef, undef, 0.05);
    my $r2 = req('/open/echo', from => $from);
    my $t2 = time - $t0;
    my $r1 = http_recv($s1, timeout => 20);
    my $t1 = time - $t0;
    close $s1;
    is($r1->{status}, 200, 'bcrypt cost 13: good password: 200');
    is($r2->{status}, 200, 'a plain request during that check: 200');
    ok($t2 < $t1, sprintf('the plain request (%.3f s) ended before the check (%.3f s)', $t2, $t1));
    ok($t2 < $t1 / 2, 'well before it');
}

# --- the cache: later requests of a keep-alive client skip the check
{
    my $from = fresh_addr();
    my $s = tcp_connect($port, local => $from) or die "connect: $@";
    my @h = (['Authorization', basic('twelve', 'pw12')]);
    my $t0 = time;
    http_send($s, target => '/vault/echo', headers => \@h);
    my $r = http_recv($s, timeout => 20);
    my $first = time - $t0;
    is($r->{status}, 200, 'bcrypt cost 12: the first request: 200');
    my $ok = 0;
    $t0 = time;
    for (1 .. 50) {
        http_send($s, target => '/vault/echo', headers => \@h);
        $r = http_recv($s, timeout => 20);
        $ok++ if ($r->{status} // 0) == 200;
    }
    my $rest = time - $t0;
    close $s;
    is($ok, 50, '50 more requests on the same connection: 200 each');
    ok($rest < 10 * $first, sprintf('they took %.3f s, one check %.3f s: under 10 checks',
        $rest, $first));
    # Wrong passwords are never cached as good.
    is(req('/vault/echo', auth => ['twelve', 'pw12!'], from => fresh_addr())->{status}, 401,
        'a wrong password after a good one: 401');
}

# --- the access log and the metrics
{
    my $from = fresh_addr();
    req('/echo', auth => ['ev"il', 'no'], from => $from);
    my $log = '';
    wait_until(sub { $log = slurp(tmpdir() . '/access.log') // ''; $log =~ /ev\\"il/ }, 5);
    like($log, qr/status=200 .*user="alice"/, 'the access log names the user');
    like($log, qr/user="ev\\"il"/, 'escaped');
    like($log, qr/status=401 .*user="-"/, 'and "-" without credentials');
    unlike($log, qr/alice pw/, 'never the password');
    my $m = curl_run('--unix-socket', $sock, 'http://localhost/metrics')->{stdout} // '';
    for my $res (qw(ok cached denied malformed throttled)) {
        like($m, qr/^cuttle_auth_total\{listener="web",result="$res"\} [1-9]\d*$/m,
            "metrics: results \"$res\" counted");
    }
}

# --- reload: a changed file is read again; a bad one keeps the old
{
    write_file($main, slurp($main) . bcrypt('dave', 'dave pw', 4) . "\n");
    my $r = cuttle_reload($c);
    ok($r->{ok}, 'reload with a user added');
    is(req('/echo', auth => ['dave', 'dave pw'], from => fresh_addr())->{status}, 200,
        'the new user is known after the reload');
    my $good = slurp($main);
    write_file($main, $good . "eve:\$apr1\$abc\$def\n");
    $r = cuttle_reload($c);
    ok($r->{failed} && !$r->{ok}, 'reload with an unsupported hash fails');
    my $main_lines = () = ($good =~ /\n/g);
    my $line = $main_lines + 1;
    ok((grep { /\Q$main\E:$line: user "eve": unsupported hash \(apr1-MD5\)/ } @{$r->{lines}}),
        "the error names the file and line $line") or diag(join "\n", @{$r->{lines}});
    is(req('/echo', auth => ['dave', 'dave pw'], from => fresh_addr())->{status}, 200,
        'the old configuration serves on');
    write_file($main, $good);
}

# --- cuttle -t: bad files refused with their line
{
    my @cases = (
        ['unsupported hash', "a:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n", 1, qr/user "a": unsupported hash \(SHA-1\)/],
        ['no colon', "# c\n\nnocolon\n", 3, qr/no colon/],
        ['duplicate user', 'x:' . mkpw('sha-256', 'a') . "\nx:" . mkpw('sha-256', 'b') . "\n", 2,
            qr/duplicate user "x" \(first at line 1\)/],
        ['truncated hash', "t:\$2y\$10\$abc\n", 1, qr/user "t": malformed bcrypt hash/],
    );
    for (@cases) {
        my ($what, $text, $line, $re) = @$_;
        my $pw = "$dir/bad-$line.pw";
        write_file($pw, $text);
        my $conf = "$dir/t-$line.yaml";
        write_file($conf, $yaml->($pw) =~ s/%TMP%/$dir/gr);
        my $r = cuttle_run('-t', '-c', $conf);
        isnt($r->{status}, 0, "cuttle -t: $what: refused");
        like($r->{stderr}, qr/^\Q$conf\E:\d+:\d+: \Q$pw\E:$line: $re/m,
            "cuttle -t: $what: at the htpasswd key, with the file's line $line")
            or diag($r->{stderr});
    }
    my $conf = "$dir/t-missing.yaml";
    write_file($conf, $yaml->("$dir/none.pw") =~ s/%TMP%/$dir/gr);
    my $r = cuttle_run('-t', '-c', $conf);
    like($r->{stderr}, qr/cannot read htpasswd "\Q$dir\E\/none.pw": No such file/,
        'cuttle -t: a missing file is an error');
    $conf = "$dir/t-good.yaml";
    write_file($conf, $yaml->($main) =~ s/%TMP%/$dir/gr);
    is(cuttle_run('-t', '-c', $conf)->{status}, 0, 'cuttle -t: the good file passes');
}

log_clean_ok($c);
done_testing();
