# mode: http and request fields: a name with '_' is dropped on the way
# upstream by default (nginx's underscores_in_headers off), refused with
# 400 by "underscores_in_headers: reject", sent on by "pass"; cuttle's
# own answers carry a Date (RFC 9110 IMF-fixdate).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::Local qw(timegm);
use CuttleTest;

my $O = http_origin(name => 'O');
my %port = map { $_ => free_port() } qw(drop reject pass);

my $c = cuttle_start(<<"EOF", workers => 1);
upstreams:
  o:
    servers:
      - {address: $O->{addr}}
listeners:
  - name: drop
    listen: 127.0.0.1:$port{drop}
    mode: http
    routes:
      - match: {path_prefix: /local}
        return: {status: 200, body: "ok\\n"}
      - upstream: o
  - name: reject
    listen: 127.0.0.1:$port{reject}
    mode: http
    underscores_in_headers: reject
    routes:
      - upstream: o
  - name: pass
    listen: 127.0.0.1:$port{pass}
    mode: http
    underscores_in_headers: pass
    routes:
      - upstream: o
EOF

my @fields = (['X_User', 'admin'], ['X-User', 'guest']);

# --- underscores in field names.
{
    my $r = http_get($port{drop}, '/echo', headers => \@fields);
    is($r->{status}, 200, 'default (drop): served');
    my $j = http_json($r);
    is(hdr($j, 'X_User'), undef, '... without the field whose name has "_"');
    is(hdr($j, 'X-User'), 'guest', '... with the others');

    $r = http_get($port{reject}, '/echo', headers => \@fields);
    http_error_ok($r, 400, 'reject: 400');
    $r = http_get($port{reject}, '/echo', headers => [['X-User', 'guest']]);
    is($r->{status}, 200, 'reject: a request without one is served');

    $r = http_get($port{pass}, '/echo', headers => \@fields);
    is(hdr(http_json($r), 'X_User'), 'admin', 'pass: the field goes upstream');
}

# --- Date on cuttle's own answers.
{
    my %mon = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5,
        Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);
    for my $t (['/local', 200, 'a return: answer'], ['/bad%zz', 400, 'an error answer']) {
        my $before = time;
        my $r = http_get($port{drop}, $t->[0]);
        my $after = time;
        is($r->{status}, $t->[1], "$t->[2]: $t->[1]");
        my $d = $r->{h}{date} // '';
        my @p = $d =~ /\A(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) (\w{3}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT\z/;
        ok(@p && exists $mon{$p[2]}, "$t->[2]: Date is an IMF-fixdate") or diag("Date: $d");
        my $when = @p ? timegm($p[6], $p[5], $p[4], $p[1], $mon{$p[2]}, $p[3]) : 0;
        ok($when >= $before - 1 && $when <= $after + 1, "$t->[2]: Date is now");
    }
}

log_clean_ok();
done_testing();
