#!/bin/sh
# Writes, on standard output, a C file that holds the files named as
# arguments (the dashboard's, ctl/ui/) as byte arrays: struct
# admin_ui_file of ctl/admin_int.h, named by their base names.  Only od
# and awk, which every POSIX system has (xxd comes with vim).  The files
# are text: a NUL in one is refused, since the admin process serves them
# as strings.
set -eu

echo "/* Made by ctl/ui_embed.sh from ctl/ui/: edit those files, not this one. */"
echo "#include \"ctl/admin_int.h\""
i=0
for f in "$@"; do
	echo "static const unsigned char admin_ui_f$i[] = {"
	od -An -v -tx1 "$f" | awk -v f="$f" '
	    { line = "";
	      for (k = 1; k <= NF; k++) {
	          if ($k == "00") { print "ui_embed: a NUL in " f > "/dev/stderr"; exit 1 }
	          line = line "0x" $k ",";
	      }
	      if (line != "") print "\t" line }'
	echo "};"
	i=$((i + 1))
done
echo "const struct admin_ui_file admin_ui_files[] = {"
i=0
for f in "$@"; do
	echo "	{ \"${f##*/}\", admin_ui_f$i, sizeof(admin_ui_f$i) },"
	i=$((i + 1))
done
echo "};"
echo "const size_t admin_ui_nfiles = $i;"
