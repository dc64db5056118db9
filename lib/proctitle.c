/*
 * Process titles ("cuttle: worker 0") as ps and top show them, written
 * over argv and the environment as nginx does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "lib/proctitle.h"

extern char **environ;

static char *pt_start;
static size_t pt_len;

/*
 * The environment moves into one block that a static keeps, so strings
 * that setenv()/unsetenv() later drop from environ are not leaked.  The
 * statics are volatile: nothing reads them, and the compiler would
 * otherwise drop the stores, leaving the copies unreferenced.
 */
static char *volatile pt_env;
static char **volatile pt_environ;  /* the copied environ array */

void
proctitle_init(int argc, char **argv)
{
	char *end, *p;
	char **env;
	size_t size = 0;
	int i, n;

	if (argc == 0 || argv[0] == NULL)
		return;
	end = argv[0] + strlen(argv[0]) + 1;
	for (i = 1; i < argc && argv[i] == end; i++)
		end = argv[i] + strlen(argv[i]) + 1;
	for (n = 0; environ[n] != NULL; n++)
		size += strlen(environ[n]) + 1;
	env = calloc((size_t)n + 1, sizeof(*env));
	pt_env = malloc(size + 1);
	if (env == NULL || pt_env == NULL) {
		free(env);
		free(pt_env);
		pt_env = NULL;
		return;
	}
	for (i = 0, p = pt_env; i < n; i++) {
		size_t len = strlen(environ[i]) + 1;

		if (environ[i] == end)
			end = environ[i] + len;
		memcpy(p, environ[i], len);
		env[i] = p;
		p += len;
	}
	/* Kept here too: setenv() may replace environ, and the copy must live on. */
	pt_environ = env;
	environ = env;
	/* argv[] past 0 now aliases the title; the program has parsed it. */
	for (i = 1; i < argc; i++)
		argv[i] = NULL;
	pt_start = argv[0];
	pt_len = (size_t)(end - argv[0]);
}

void
proctitle_set(const char *fmt, ...)
{
	char buf[256], comm[16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* The kernel keeps 15 bytes of comm; "cuttle: worker" fits. */
	memcpy(comm, buf, sizeof(comm) - 1);
	comm[sizeof(comm) - 1] = '\0';
	prctl(PR_SET_NAME, comm, 0, 0, 0);
	if (pt_start == NULL || pt_len < 2)
		return;
	memset(pt_start, 0, pt_len);
	snprintf(pt_start, pt_len, "%s", buf);
}
