# Access control: a denied client is closed with no data before any
# server is contacted and logged end="acl denied"; allowed clients are
# served.  IPv4 (127.0.0.2 and 127.0.0.3 are loopback sources on Linux)
# and IPv6.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $A = backend(mode => 'name', name => 'A');
my %port = map { $_ => free_port() } qw(deny only3);
$port{v6} = free_port('::1');
$port{v6deny} = free_port('::1');

my $c = cuttle_start(<<"EOF", workers => 2);
upstreams:
  u:
    servers:
      - {address: $A->{addr}}
listeners:
  - name: deny
    listen: 127.0.0.1:$port{deny}
    mode: tcp
    upstream: u
    acl: {allow: [127.0.0.0/8], deny: [127.0.0.2/32]}
  - name: only3
    listen: 127.0.0.1:$port{only3}
    mode: tcp
    upstream: u
    acl: {allow: [127.0.0.3/32]}
  - name: v6
    listen: "[::1]:$port{v6}"
    mode: tcp
    upstream: u
    acl: {allow: ["::1/128"]}
  - name: v6deny
    listen: "[::1]:$port{v6deny}"
    mode: tcp
    upstream: u
    acl: {allow: [127.0.0.0/8], deny: ["::1/128"]}
EOF

my $served = 0;

sub refused_ok {
    my ($what, $port, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $mark = log_mark($c);
    my ($name, $r) = fetch_name($port, %o);
    ok(!defined $name && $r->{closed} && $r->{data} eq ''
        && $r->{elapsed} < 2,
        "$what: closed with no data")
        or diag(explain($r));
    my $client = ($o{local} =~ /:/ ? "[$o{local}]" : $o{local})
        . ":$r->{client_port}";
    my ($l) = wait_conn($c, 1, since => $mark, client => $client);
    ok($l && $l->{end} eq 'acl denied' && $l->{server} eq '-',
        "$what: logged end=\"acl denied\", server=-")
        or diag($l ? $l->{line} : "no conn line for $client");
}

sub served_ok {
    my ($what, $port, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($name) = fetch_name($port, %o);
    is($name, 'A', "$what: served");
    $served++;
}

refused_ok('127.0.0.2 on a listener denying 127.0.0.2/32', $port{deny},
    local => '127.0.0.2');
served_ok('127.0.0.1 on the same listener', $port{deny},
    local => '127.0.0.1');
refused_ok('127.0.0.1 on a listener allowing only 127.0.0.3', $port{only3},
    local => '127.0.0.1');
served_ok('127.0.0.3 on that listener', $port{only3}, local => '127.0.0.3');
served_ok('::1 on an IPv6 listener allowing ::1/128', $port{v6},
    host => '::1', local => '::1');
refused_ok('::1 on an IPv6 listener denying ::1/128', $port{v6deny},
    host => '::1', local => '::1');

is(backend_accepts($A), $served,
    'the server saw only the allowed clients');

cuttle_stop($c);
log_clean_ok();
done_testing();
