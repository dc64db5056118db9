# balance: hash over HTTP keys, end to end.  With hash_key uri, a
# header or a cookie, every request with the same key reaches the same
# server whichever worker takes it, and different keys spread over all
# servers; a request without the header or cookie falls back to the
# client address, so it still lands on one server.  Removing one of three
# servers moves only the keys that were on it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my @O = map { http_origin(name => "o$_") } 1 .. 3;
my %port = map { $_ => free_port() } qw(uri hdr cookie);

sub conf {
    my (@servers) = @_;
    my $list = join '', map { "      - {address: $_->{addr}}\n" } @servers;
    my $out = '';
    for my $k (['uri', 'uri'], ['hdr', 'header:X-User'], ['cookie', 'cookie:sid']) {
        $out .= "  $k->[0]:\n    balance: hash\n    hash_key: $k->[1]\n    servers:\n$list";
    }
    my $lis = join '', map {
        "  - name: $_\n    listen: 127.0.0.1:$port{$_}\n    mode: http\n"
        . "    routes:\n      - upstream: $_\n"
    } qw(uri hdr cookie);
    return "upstreams:\n${out}listeners:\n$lis";
}

my $c = cuttle_start(conf(@O), workers => 2);

# The origin that answered, for $n requests on fresh connections (so that
# both workers take some).
sub served_by {
    my ($listener, $target, $n, @hdr) = @_;
    my %by;
    for (1 .. $n) {
        my $r = http_get($port{$listener}, $target, headers => [@hdr]);
        $by{ http_json($r)->{origin} // ($r->{error} // 'error') }++;
    }
    return %by;
}

# Same key, same server, every time.
for my $t (['uri', '/a/b?c=1'], ['hdr', '/', ['X-User', 'alice']],
    ['cookie', '/', ['Cookie', 'theme=dark; sid=s-42; x=y']]) {
    my ($l, $target, @h) = @$t;
    my %by = served_by($l, $target, 12, @h);
    is(scalar(keys %by), 1, "hash on $l: 12 requests with one key, one server")
        or diag(explain(\%by));
    ok((keys %by)[0] =~ /^o\d$/, "hash on $l: ... and it is an origin");
}

# Many keys use every server.
sub spread {
    my ($l, $mk) = @_;
    my (%by, %key_to);
    for my $i (1 .. 60) {
        my ($target, @h) = $mk->($i);
        my $r = http_get($port{$l}, $target, headers => [@h]);
        my $o = http_json($r)->{origin} // 'error';
        $by{$o}++;
        $key_to{$i} = $o;
    }
    return (\%by, \%key_to);
}
my %mk = (
    uri    => sub { ("/item/$_[0]") },
    hdr    => sub { ('/', ['X-User', "user$_[0]"]) },
    cookie => sub { ('/', ['Cookie', "sid=$_[0]"]) },
);
my %before;
for my $l (qw(uri hdr cookie)) {
    my ($by, $map) = spread($l, $mk{$l});
    is_deeply([sort keys %$by], [qw(o1 o2 o3)], "hash on $l: 60 keys reach all 3 servers")
        or diag(explain($by));
    $before{$l} = $map;
}

# Without the header, the client address decides: still one server.
{
    my %by = served_by('hdr', '/', 8);
    is(scalar(keys %by), 1, 'hash on a missing header: the client address, one server')
        or diag(explain(\%by));
}

# Take o3 out by a reload: keys on o1 and o2 stay where they were.
cuttle_reload($c, conf(@O[0, 1]), workers => 2);
for my $l (qw(uri hdr cookie)) {
    my ($by, $map) = spread($l, $mk{$l});
    my ($kept, $stay, $moved_ok) = (0, 0, 1);
    for my $i (keys %$map) {
        next if $before{$l}{$i} eq 'o3';
        $stay++;
        $kept++ if $map->{$i} eq $before{$l}{$i};
    }
    is($kept, $stay, "hash on $l: after removing o3, the $stay keys on o1 and o2 did not move");
    ok(!exists $by->{o3}, "hash on $l: o3 gets nothing after the reload");
}
cuttle_stop($c);
done_testing();
