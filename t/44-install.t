# "make install" installs the systemd unit with the paths it installed
# cuttle and its configuration into.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Basename qw(dirname);
use Test::More;
use CuttleTest;

my $dir = tmpdir();
my $b = dirname(cuttle_bin());
# It installs the binaries under test as they are (-o: never rebuilt here,
# where a rebuild would lack the flags they were built with, the sanitizers').
my $keep = "-o $b/cuttle -o $b/cuttlectl";
my $out = `make -s -C $CuttleTest::ROOT $keep install DESTDIR=$dir/root PREFIX=/opt/ct SYSCONFDIR=/etc/ct B=$b 2>&1`;
is($?, 0, 'make install into DESTDIR succeeds') or diag($out);
ok(-x "$dir/root/opt/ct/sbin/cuttle", 'the binary is in PREFIX/sbin');
my $unit = "$dir/root/lib/systemd/system/cuttle.service";
ok(-f $unit, 'the unit is in /lib/systemd/system');
my $text = -f $unit ? slurp($unit) : '';
like($text, qr{^ExecStart=/opt/ct/sbin/cuttle -c /etc/ct/cuttle\.yaml$}m,
    'ExecStart has the installed binary and configuration');
like($text, qr{^ExecStartPre=/opt/ct/sbin/cuttle -t -c /etc/ct/cuttle\.yaml$}m, 'so has ExecStartPre');
unlike($text, qr{/usr/local|\@[A-Z]+\@}, 'no default path or placeholder is left');
`make -s -C $CuttleTest::ROOT $keep install DESTDIR=$dir/root2 SYSTEMDDIR=/usr/lib/systemd/system B=$b 2>&1`;
ok(-f "$dir/root2/usr/lib/systemd/system/cuttle.service", 'SYSTEMDDIR moves it');
log_clean_ok();
done_testing();
