# cuttlectl against a running master's admin socket: status and
# upstreams as tables and as JSON, drain / enable / disable of a server
# and their effect on new connections, reload, the error cases and their
# exit statuses (conns and kill with no connection open), "top" in a
# tmux pane, and the same API through curl.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use CuttleTest;

my $dir = tmpdir();
my $CTL = cuttlectl_bin();

my $A = backend(mode => 'name', name => 'A');
my $B = backend(mode => 'name', name => 'B');
my $port = free_port();
my $sock = "$dir/admin.sock";

my $c = cuttle_start(<<"EOF", workers => 2);
admin: {socket: %TMP%/admin.sock}
upstreams:
  app:
    servers:
      - {address: $A->{addr}}
      - {address: $B->{addr}}
listeners:
  - {name: web, listen: 127.0.0.1:$port, mode: tcp, upstream: app}
EOF
my $m = $c->{pid};
ok(wait_until(sub { -S $sock }, 5), 'the admin socket exists') or BAIL_OUT('no admin socket');

# ctl(ARGS...): cuttlectl, at most 10 s; {status, stdout, stderr}.
sub ctl { return cuttlectl_run(@_) }

sub ctl_json {
    my $r = ctl('-s', $sock, '--json', @_);
    my $j = eval { decode_json($r->{stdout}) };
    return ($r, $j);
}

# The server entry of ADDR in upstream app, from --json upstreams.
sub server_of {
    my ($j, $addr) = @_;
    for my $u (@{$j->{upstreams} // []}) {
        next unless $u->{name} eq 'app';
        for (@{$u->{servers}}) {
            return $_ if $_->{address} eq $addr;
        }
    }
    return undef;
}

# --- status
{
    my $r = ctl('-s', $sock, 'status');
    is($r->{status}, 0, 'status exits 0') or diag($r->{stderr});
    like($r->{stdout}, qr/^version\s+0\.\d+\.\d+$/m, 'status shows the version');
    like($r->{stdout}, qr/^master pid\s+$m$/m, 'status shows the master pid');
    like($r->{stdout}, qr/^generation\s+1$/m, 'status shows generation 1');
    like($r->{stdout}, qr/^workers\s+2$/m, 'status shows two workers');
    like($r->{stdout}, qr/^\s+web\s+127\.0\.0\.1:$port\s+tcp$/m, 'status shows the listener')
        or diag($r->{stdout});

    my ($rj, $j) = ctl_json('status');
    is($rj->{status}, 0, 'status --json exits 0');
    ok($j, 'status --json prints JSON') or diag($rj->{stdout});
    my $v = cuttle_run('-v')->{stdout};
    like($v, qr/\Q$j->{version}\E/, 'its version is the binary\'s version');
    is($j->{pid}, $m, 'its pid is the master pid');
    is(scalar @{$j->{workers} // []}, 2, 'it lists two workers');
    ok(!grep({ !proc_alive($_->{pid}) } @{$j->{workers} // []}), 'whose pids are alive');
}

# --- upstreams (and its alias backends)
{
    my $r = ctl('-s', $sock, 'upstreams');
    is($r->{status}, 0, 'upstreams exits 0') or diag($r->{stderr});
    like($r->{stdout}, qr/^upstream app\b/m, 'upstreams names the upstream');
    like($r->{stdout}, qr/^\s+SERVER\s+WEIGHT\s+ADMIN\s+HEALTH\s+ACTIVE\s+MAXCONN\s+TOTAL\s+FAILS\s+LATENCY\s+REASON$/m,
        'upstreams has the column header') or diag($r->{stdout});
    like($r->{stdout}, qr/^\s+\Q$_->{addr}\E\s+1\s+enabled\s+up\s/m, "upstreams shows $_->{name} enabled and up")
        for $A, $B;
    is(ctl('-s', $sock, 'backends')->{stdout}, $r->{stdout}, 'backends is the same as upstreams');
    my ($rj, $j) = ctl_json('upstreams');
    is($rj->{status}, 0, 'upstreams --json exits 0');
    is(server_of($j, $_->{addr})->{admin}, 'enabled', "--json: $_->{name} enabled") for $A, $B;
}

# --- drain, enable, disable
{
    my $r = ctl('-s', $sock, 'drain', 'app', $A->{addr});
    is($r->{status}, 0, 'drain exits 0') or diag($r->{stderr});
    is($r->{stdout}, "upstream app server $A->{addr}: drain\n", 'drain says what it did');
    my ($rj, $j) = ctl_json('upstreams');
    is(server_of($j, $A->{addr})->{admin}, 'drain', 'upstreams --json shows A draining');
    my @names = map { (fetch_name($port))[0] // 'none' } 1 .. 10;
    is(join(',', @names), join(',', ('B') x 10), 'ten new connections all go to B');

    ($r, $j) = ctl_json('enable', 'app', $A->{addr});
    is($r->{status}, 0, 'enable --json exits 0') or diag($r->{stderr});
    is_deeply($j, { upstream => 'app', server => $A->{addr}, admin => 'enabled' },
        'enable --json prints the API answer');
    @names = map { (fetch_name($port))[0] // 'none' } 1 .. 10;
    ok((grep { $_ eq 'A' } @names), 'after enable A gets connections again')
        or diag(join ',', @names);

    $r = ctl('-s', $sock, 'disable', 'app', $B->{addr});
    is($r->{status}, 0, 'disable exits 0') or diag($r->{stderr});
    is($r->{stdout}, "upstream app server $B->{addr}: disabled\n", 'disable says what it did');
    ($rj, $j) = ctl_json('upstreams');
    is(server_of($j, $B->{addr})->{admin}, 'disabled', 'upstreams --json shows B disabled');
    @names = map { (fetch_name($port))[0] // 'none' } 1 .. 10;
    is(join(',', @names), join(',', ('A') x 10), 'ten new connections all go to A');
    is(ctl('-s', $sock, 'enable', 'app', $B->{addr})->{status}, 0, 'enable B again');
}

# --- curl speaks to the same socket
{
    my $r = curl_run('--unix-socket', $sock, 'http://x/api/v1/upstreams');
    is($r->{status}, 0, 'curl --unix-socket .../api/v1/upstreams exits 0') or diag($r->{stderr});
    my $j = eval { decode_json($r->{stdout}) };
    ok($j && server_of($j, $A->{addr}), 'and gets the upstreams JSON') or diag($r->{stdout});
}

# --- reload
{
    my $mark = log_mark($c);
    my $r = ctl('-s', $sock, 'reload');
    is($r->{status}, 0, 'reload exits 0') or diag($r->{stderr});
    is($r->{stdout}, "reload done: generation 2\n",
        'reload waits for the master and names the new generation');
    ok((wait_log($c, qr/\] $m#m: generation 2 started\b/, since => $mark)),
        'the master starts generation 2') or diag(join "\n", log_since($c, $mark));
    ok(wait_until(sub { keys %{generation_workers($c, 2)} == 2 }, 5 * $CuttleTest::SLOW),
        'two workers of generation 2 are ready');
    my $ok = wait_until(sub {
        my ($rj, $j) = ctl_json('status');
        $j && $j->{generation} == 2;
    }, 5);
    ok($ok, 'status --json then shows generation 2');
}

# --- errors
{
    my $r = ctl('-s', $sock, 'drain', 'nosuch', $A->{addr});
    is($r->{status}, 1, 'drain of an unknown upstream exits 1');
    like($r->{stderr}, qr/^cuttlectl: \S/, '... with the API\'s message') or diag($r->{stderr});
    $r = ctl('-s', $sock, 'enable', 'app', '127.0.0.1:1');
    is($r->{status}, 1, 'enable of an unknown server exits 1');
    like($r->{stderr}, qr/^cuttlectl: \S/, '... with a message');

    $r = ctl('-s', $sock, 'bogus');
    is($r->{status}, 2, 'an unknown command exits 2');
    like($r->{stderr}, qr/^usage: cuttlectl/m, '... and prints the usage');
    $r = ctl('-s', $sock, 'drain', 'app');
    is($r->{status}, 2, 'drain without an address exits 2');
    $r = ctl('-s', $sock);
    is($r->{status}, 2, 'no command exits 2');
    $r = ctl('-s', $sock, '--bogus', 'status');
    is($r->{status}, 2, 'an unknown option exits 2');

    $r = ctl('-s', "$dir/nothing.sock", 'status');
    is($r->{status}, 1, 'a missing socket exits 1');
    like($r->{stderr}, qr/^cuttlectl: .*nothing\.sock/, '... and names the socket');

    # (t/17-admin-conns.t lists and kills live connections.)  The
    # connections made above end soon after their clients saw EOF.
    ok(wait_until(sub { my ($x, $y) = ctl_json('conns'); $y && $y->{total} == 0 }, 5),
        'no connection is left open');
    $r = ctl('-s', $sock, 'conns');
    is($r->{status}, 0, 'conns with no connection open exits 0') or diag($r->{stderr});
    like($r->{stdout}, qr/\A\s*ID\s+WORKER\s+LISTENER\s+CLIENT\s+SERVER\s+TLS\s+AGE\s+IN\s+OUT\n\z/,
        '... and prints the header only') or diag($r->{stdout});
    my ($rj, $j) = ctl_json('conns');
    is_deeply($j, { connections => [], total => 0, truncated => JSON::PP::false },
        'conns --json: no connection') or diag($rj->{stdout});
    $r = ctl('-s', $sock, 'kill', '1');
    is($r->{status}, 1, 'kill of an id not in use exits 1');
    is($r->{stderr}, "cuttlectl: kill 1: no such connection\n", '... with the API\'s message');
    $r = ctl('-s', $sock, 'kill', 'abc');
    is($r->{status}, 2, 'kill abc exits 2');
    like($r->{stderr}, qr/^cuttlectl: kill: invalid connection id "abc"/, '... and says why');
    is(ctl('-s', $sock, 'kill')->{status}, 2, 'kill without an id exits 2');
}

# --- top in an 100x30 tmux pane: it shows the servers, q ends it.
SKIP: {
    skip 'tmux is not installed', 6 unless system('tmux -V >/dev/null 2>&1') == 0;
    my $tsock = "$dir/tmux.sock";
    my @tmux = ('tmux', '-S', $tsock);
    my $sess = "cuttlectl-$$";
    is(system(@tmux, 'new-session', '-d', '-s', $sess, '-x', '100', '-y', '30',
        "$CTL -s $sock top"), 0, 'tmux starts cuttlectl top');
    my $pane = '';
    my $seen = wait_until(sub {
        $pane = `tmux -S $tsock capture-pane -p -t $sess 2>/dev/null` // '';
        $pane =~ /\Q$A->{addr}\E/ && $pane =~ /\Q$B->{addr}\E/ && $pane =~ /CONN\/S/;
    }, 5);
    ok($seen, 'top shows both servers and the CONN/S column') or diag($pane);
    like($pane, qr/^\s+LISTENER\s+MODE\s+ACTIVE\s+TOTAL\s+CONN\/S\s+REQUESTS\s+REQ\/S\s*$/m,
        'top has the listener header') or diag($pane);
    like($pane, qr/^\s+web\s+tcp\s+\d+\s+\d+\s+\S+\s+0\s+\S+\s*$/m,
        'top shows the listener web') or diag($pane);
    fetch_name($port) for 1 .. 3;
    system(@tmux, 'send-keys', '-t', $sess, 'q');
    my $gone = wait_until(sub {
        system("tmux -S $tsock has-session -t $sess >/dev/null 2>&1") != 0;
    }, 5);
    ok($gone, 'q ends top (and the tmux session)');
    if (!$gone) {
        system(@tmux, 'kill-session', '-t', $sess);
    }
    system("tmux -S $tsock kill-server >/dev/null 2>&1");
    ok(1, 'tmux cleaned up');
}

log_clean_ok();
done_testing();
