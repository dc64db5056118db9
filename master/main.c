/*
 * cuttle's entry point: the command line, then either a configuration
 * check (-t) or the master.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf/conf.h"
#include "lib/ct.h"
#include "lib/proctitle.h"
#include "master/master.h"

#ifndef CT_CONF_PATH
#define CT_CONF_PATH "/etc/cuttle/cuttle.yaml"
#endif

static void
main_usage(FILE *out)
{
	fprintf(out,
	    "usage: cuttle [-htv] [-c file]\n"
	    "  -c file  configuration file (default " CT_CONF_PATH ")\n"
	    "  -t       check the configuration file and exit\n"
	    "  -v       print the version and exit\n"
	    "  -h       print this help and exit\n");
}

static void
main_conf_error(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

int
main(int argc, char **argv)
{
	const char *path = CT_CONF_PATH;
	struct conf *conf;
	int ch, test = 0;

	while ((ch = getopt(argc, argv, "c:htv")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'v':
			printf("cuttle version %s\n", CT_VERSION);
			return 0;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		main_usage(stderr);
		return 2;
	}
	conf = conf_load(path, main_conf_error, NULL);
	if (test) {
		fprintf(stderr, "cuttle: configuration file %s test %s\n", path,
		    conf != NULL ? "is successful" : "failed");
		conf_free(conf);
		return conf != NULL ? 0 : 1;
	}
	if (conf == NULL) {
		fprintf(stderr, "cuttle: configuration file %s has errors; not starting\n", path);
		return 1;
	}
	/* From here on argv's strings are the process title; conf owns copies. */
	proctitle_init(argc, argv);
	master_run(conf);
}
