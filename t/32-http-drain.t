# A reload loses no HTTP request: a connection accepted before the
# reload whose request comes after it is served; an idle keep-alive
# connection answers one more request, with "Connection: close", and is
# closed only after a short grace; and 50 reloads under a load of new
# connections give every client its answer.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use CuttleTest;

my $dir = tmpdir();
my $O = http_origin(name => 'O');
my $port = free_port();

my $c = cuttle_start(<<"EOF", workers => 2);
upstreams:
  o:
    servers:
      - {address: $O->{addr}}
listeners:
  - name: web
    listen: 127.0.0.1:$port
    mode: http
    routes:
      - match: {path_prefix: /}
        upstream: o
EOF

# One GET on a connection $s: the parsed response.
sub get_on {
    my ($s, $target) = @_;
    http_send($s, target => $target) or return { error => "send: $!" };
    return http_recv($s);
}

# --- a connection accepted before the reload, its request 50 ms after.
{
    my $s = tcp_connect($port) or die "connect: $@";
    my $r = cuttle_reload($c);
    ok($r->{ok}, 'reload done');
    sleep 0.05;
    my $a = get_on($s, '/echo/fresh');
    is($a->{status}, 200, 'a request sent 50 ms after the reload is answered')
        or diag(explain($a));
    is(lc(hdr($a, 'Connection') // ''), 'close', '... with Connection: close');
    ok(recv_until_eof($s, 3)->{closed}, '... and the connection closes after it');
    close $s;
}

# --- an idle keep-alive connection: one more request, then close.
{
    my $s = tcp_connect($port) or die "connect: $@";
    my $a = get_on($s, '/echo/first');
    is($a->{status}, 200, 'keep-alive: the first request');
    isnt(lc(hdr($a, 'Connection') // ''), 'close', '... keeps the connection');
    my $r = cuttle_reload($c);
    ok($r->{ok}, 'reload done');
    sleep 0.05;
    $a = get_on($s, '/echo/second');
    is($a->{status}, 200, 'keep-alive: a request 50 ms after the reload is answered')
        or diag(explain($a));
    is(lc(hdr($a, 'Connection') // ''), 'close', '... with Connection: close');
    close $s;
}

# --- an idle keep-alive connection that sends nothing more: closed
# after the grace, and logged as a shutdown.
{
    my $s = tcp_connect($port) or die "connect: $@";
    my $cport = $s->sockport;
    is(get_on($s, '/echo/idle')->{status}, 200, 'idle: the first request');
    my $mark = log_mark($c);
    my $t0 = time;
    ok(cuttle_reload($c)->{ok}, 'reload done');
    my $e = recv_until_eof($s, 5);
    ok($e->{closed}, 'idle: closed by the draining worker');
    my $took = time - $t0;
    ok($took >= 0.9, sprintf('... not before the grace (%.2f s)', $took));
    my ($l) = wait_conn($c, 1, since => $mark, client => "127.0.0.1:$cport");
    is($l && $l->{end}, 'shutdown', '... logged end="shutdown"');
    close $s;
}

# --- 50 reloads under a load of new connections, each one request; every
# reload waits until the clients have been answered a few more times.
{
    my $STOP = "$dir/stop";
    my $out = "$dir/load";
    my $deadline = time + 60;
    my @kids;
    for my $k (1 .. 3) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            open my $fh, '>', "$out.$k" or _exit(1);
            $fh->autoflush(1);
            while (!-e $STOP && time < $deadline) {
                my $r = http_get($port, "/echo/load$k", headers => [['Connection', 'close']],
                    timeout => 5);
                print $fh (($r->{status} // 0) == 200 ? "ok\n"
                    : "fail: " . ($r->{error} // $r->{status} // '?') . "\n");
            }
            close $fh;
            _exit(0);
        }
        push @kids, $pid;
    }
    my $answered = sub {
        my $n = 0;
        $n += () = slurp("$out.$_") =~ /^ok$/mg for 1 .. 3;
        return $n;
    };
    my (@failed, @starved);
    for my $i (1 .. 50) {
        my $before = $answered->();
        push @starved, $i unless wait_until(sub { $answered->() >= $before + 3 }, 10);
        my $r = cuttle_reload($c);
        push @failed, $i unless $r->{ok};
    }
    write_file($STOP, '');
    waitpid($_, 0) for @kids;
    is_deeply(\@failed, [], '50 reloads under load all succeed');
    is_deeply(\@starved, [], 'the clients were answered between every two reloads');
    my @fails = map { grep { /^fail/ } split /\n/, slurp("$out.$_") } 1 .. 3;
    is_deeply(\@fails, [], 'no client request failed across the reloads ('
        . $answered->() . ' answered)');
}

backend_stop($O);
log_clean_ok();
done_testing();
