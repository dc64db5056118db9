# Geo filtering: a listener's geo block refuses clients at accept by the
# country of their address (a MaxMind DB written here: 127.0.0.0/24 is
# DE, 127.0.1.0/24 is US, the rest of 127/8 unknown) and by networks
# from CIDR files; the country goes to the access logs and, on an http
# listener, upstream in a field the client cannot forge; every decision
# is counted in /metrics.  A missing or garbage database and a bad CIDR
# line are load errors naming the file (and the line); a reload with a
# bad file keeps the running configuration, one with a changed file
# takes it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CuttleTest;

my $dir = tmpdir();
my $db = mmdb_write("$dir/country.mmdb", { '127.0.0.0/24' => 'DE', '127.0.1.0/24' => 'US' });
write_file("$dir/allow.txt", "# the lab, whatever its country\n\n127.0.1.7  # lab host\n");
write_file("$dir/deny.txt", "127.0.0.9/32\n");

my $A = backend(mode => 'name', name => 'A');
my $O = http_origin(name => 'O');
my %port = map { $_ => free_port() } qw(only_de not_us web);
my $sock = "$dir/admin.sock";

my $c = cuttle_start(<<"EOF", workers => 1);
admin: {socket: $sock}
upstreams:
  u:
    servers:
      - {address: $A->{addr}}
  site:
    servers:
      - {address: $O->{addr}}
listeners:
  - name: only_de
    listen: 127.0.0.1:$port{only_de}
    mode: tcp
    upstream: u
    access_log: {path: $dir/only_de.log, format: json}
    geo: {database: $db, allow_countries: [de]}
  - name: not_us
    listen: 127.0.0.1:$port{not_us}
    mode: tcp
    upstream: u
    access_log: {path: $dir/not_us.log}
    geo:
      database: $db
      deny_countries: [US]
      cidr_allow: [$dir/allow.txt]
      cidr_deny: [$dir/deny.txt]
  - name: web
    listen: 127.0.0.1:$port{web}
    mode: http
    access_log: {path: $dir/web.log}
    geo: {database: $db, header: X-Country}
    routes:
      - upstream: site
EOF
ok(wait_until(sub { -S $sock }, 5 * $CuttleTest::SLOW), 'the admin socket exists')
    or BAIL_OUT('no admin socket');

my %served = (only_de => 0, not_us => 0);

sub refused_ok {
    my ($what, $l, $local, $why) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $mark = log_mark($c);
    my ($name, $r) = fetch_name($port{$l}, local => $local);
    ok(!defined $name && $r->{closed} && $r->{data} eq '', "$what: closed with no data")
        or diag(explain($r));
    my ($line) = wait_conn($c, 1, since => $mark, client => "$local:$r->{client_port}");
    is($line && $line->{end}, "geo denied: $why", "$what: logged end=\"geo denied: $why\"");
}

sub served_ok {
    my ($what, $l, $local) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($name, $r) = fetch_name($port{$l}, local => $local);
    is($name, 'A', "$what: served") or diag(explain($r));
    $served{$l}++ if defined $name;
}

served_ok('DE client on allow_countries [de]', 'only_de', '127.0.0.1');
refused_ok('US client on allow_countries [de]', 'only_de', '127.0.1.1',
    'country not in allow_countries');
refused_ok('client of unknown country on allow_countries', 'only_de', '127.0.2.1',
    'country unknown');
served_ok('DE client on deny_countries [US]', 'not_us', '127.0.0.1');
served_ok('client of unknown country on deny_countries', 'not_us', '127.0.2.1');
refused_ok('US client on deny_countries [US]', 'not_us', '127.0.1.1',
    'country in deny_countries');
served_ok('US client in a cidr_allow file', 'not_us', '127.0.1.7');
refused_ok('DE client in a cidr_deny file', 'not_us', '127.0.0.9', 'in cidr_deny');
is(backend_accepts($A), $served{only_de} + $served{not_us},
    'the server saw only the clients let in');

# The lines of an access log, once there are at least $n.
sub access_lines {
    my ($name, $n) = @_;
    my @l;
    wait_until(sub {
        @l = grep { length } split /\n/, (-e "$dir/$name.log" ? slurp("$dir/$name.log") : '');
        @l >= $n;
    }, 5);
    return @l;
}

# --- the country in the access logs
{
    my @j = access_lines('only_de', 3);
    like($j[0], qr/"client":"127\.0\.0\.1:\d+".*"end":"done","country":"DE"/,
        'JSON access log: "country":"DE" for the DE client');
    like($j[1], qr/"client":"127\.0\.1\.1:\d+".*"country":"US"/,
        'JSON access log: "country":"US" for the refused US client');
    like($j[2], qr/"client":"127\.0\.2\.1:\d+".*"country":null/,
        'JSON access log: "country":null when unknown');
    my @t = access_lines('not_us', 5);
    like($t[0], qr/client=127\.0\.0\.1:\d+ .* country=DE$/, 'text access log: country=DE');
    like($t[1], qr/client=127\.0\.2\.1:\d+ .* country=-$/,
        'text access log: country=- when unknown');
}

# --- http: the country upstream, a client's own X-Country dropped
sub get_from {
    my ($local, %o) = @_;
    my $s = tcp_connect($port{web}, local => $local) or return { error => "connect: $@" };
    http_send($s, target => '/echo', %o) or return { error => "send: $!" };
    my $r = http_recv($s);
    close $s;
    return $r;
}

{
    my $r = get_from('127.0.0.1', headers => [['X-Country', 'FR'], ['X_Country', 'FR']]);
    is($r->{status}, 200, 'http: the DE client is served');
    my $j = http_json($r);
    is_deeply([hdr_all($j, 'X-Country')], ['DE'],
        'http: the origin sees X-Country: DE and not the client\'s FR');
    is_deeply([grep { lc $_->[0] eq 'x_country' } @{$j->{headers} // []}], [],
        'http: the client\'s X_Country is dropped too');
    $r = get_from('127.0.2.1', headers => [['X-Country', 'FR']]);
    is($r->{status}, 200, 'http: a client of unknown country is served');
    is_deeply([hdr_all(http_json($r), 'X-Country')], [],
        'http: no X-Country upstream when the country is unknown');
    my @t = access_lines('web', 2);
    like($t[0], qr/client=127\.0\.0\.1:\d+ .*status=200 .* country=DE$/,
        'http access log: country=DE');
    like($t[1], qr/client=127\.0\.2\.1:\d+ .* country=-$/, 'http access log: country=-');
}

# --- metrics
sub metric {
    my ($labels) = @_;
    my $m = curl_run('--unix-socket', $sock, 'http://x/metrics');
    return $m->{stdout} =~ /^cuttle_geo_decisions_total\{\Q$labels\E\} (\d+)$/m ? $1 : undef;
}
is(metric('listener="only_de",result="allowed"'), 1, 'metrics: only_de allowed 1');
is(metric('listener="only_de",result="denied"'), 2, 'metrics: only_de denied 2');
is(metric('listener="only_de",result="unknown"'), 0, 'metrics: only_de unknown 0');
is(metric('listener="not_us",result="allowed"'), 2,
    'metrics: not_us allowed 2 (a DE client, a cidr_allow one)');
is(metric('listener="not_us",result="denied"'), 2, 'metrics: not_us denied 2');
is(metric('listener="not_us",result="unknown"'), 1, 'metrics: not_us unknown 1');
is(metric('listener="web",result="unknown"'), 1, 'metrics: web unknown 1');

# --- load errors name the file and the line
sub check_errors {
    my ($geo) = @_;
    my $f = write_file("$dir/check.yaml", <<"EOF");
upstreams:
  u:
    servers:
      - {address: $A->{addr}}
listeners:
  - name: l
    listen: 127.0.0.1:$port{only_de}
    mode: tcp
    upstream: u
    geo: $geo
EOF
    my $r = cuttle_run('-t', '-c', $f);
    isnt($r->{status}, 0, "-t fails for geo: $geo");
    return [grep { /^\Q$f\E:/ } split /\n/, $r->{stderr}];
}
write_file("$dir/bad.txt", "127.0.0.0/24\n# fine so far\n127.0.0.300\n");
write_file("$dir/garbage.mmdb", "not a database at all\n" x 10);
is_deeply(check_errors("{cidr_deny: [$dir/bad.txt]}"),
    ["$dir/check.yaml:10:23: $dir/bad.txt:3: invalid CIDR \"127.0.0.300\": invalid IPv4 address"],
    'a bad CIDR line: the file and its line, at the value naming it');
is_deeply(check_errors("{database: $dir/none.mmdb}"),
    ["$dir/check.yaml:10:21: cannot read database \"$dir/none.mmdb\": No such file or directory"],
    'a missing database: named, with the reason');
is_deeply(check_errors("{database: $dir/garbage.mmdb, deny_countries: [DE]}"),
    ["$dir/check.yaml:10:21: cannot open database \"$dir/garbage.mmdb\": "
        . "The MaxMind DB file contains invalid metadata"],
    'a garbage database: named, with libmaxminddb\'s reason');
is_deeply(check_errors("{database: $db, allow_countries: [DEU]}"),
    ["$dir/check.yaml:10:" . (41 + length $db) . ": invalid country \"DEU\" in "
        . "\"allow_countries\": a country is an ISO 3166-1 alpha-2 code, two letters"],
    'a country that is not a two-letter code');
is_deeply(check_errors("{database: $db, allow_countries: [DE], deny_countries: [US]}"),
    ["$dir/check.yaml:10:" . (46 + length $db) . ": \"allow_countries\" and "
        . "\"deny_countries\": a geo block has one or the other"],
    'allow_countries and deny_countries together');

# --- reload: a bad file keeps the running configuration
{
    write_file("$dir/deny.txt", "127.0.0.9/32\nnot-a-network\n");
    my $r = cuttle_reload($c);
    ok($r->{failed}, 'a reload with a bad CIDR file fails');
    ok((grep { m{\Q$dir\E/deny\.txt:2: invalid CIDR "not-a-network"} } @{$r->{lines}}),
        '... and the error log names the file and the line')
        or diag(join "\n", @{$r->{lines}});
    refused_ok('after the failed reload, cidr_deny still holds', 'not_us', '127.0.0.9',
        'in cidr_deny');
    served_ok('after the failed reload, the DE client is still served', 'not_us', '127.0.0.1');

    rename $db, "$db.keep" or die "rename: $!";
    $r = cuttle_reload($c);
    ok($r->{failed}, 'a reload whose database is gone fails');
    rename "$db.keep", $db or die "rename: $!";
    served_ok('after that failed reload, allow_countries still lets DE in', 'only_de',
        '127.0.0.1');
}

# --- reload: changed files take effect
{
    write_file("$dir/deny.txt", "127.0.0.1\n");
    mmdb_write($db, { '127.0.0.0/24' => 'FR', '127.0.1.0/24' => 'DE' });
    my $r = cuttle_reload($c);
    ok($r->{ok}, 'a reload with good files succeeds') or diag(join "\n", @{$r->{lines}});
    refused_ok('the changed cidr_deny file holds', 'not_us', '127.0.0.1', 'in cidr_deny');
    served_ok('127.0.0.9 is no longer in cidr_deny', 'not_us', '127.0.0.9');
    refused_ok('127.0.0.1 is FR in the new database', 'only_de', '127.0.0.1',
        'country not in allow_countries');
    served_ok('127.0.1.1 is DE in the new database', 'only_de', '127.0.1.1');
}

cuttle_stop($c);
log_clean_ok();
done_testing();
