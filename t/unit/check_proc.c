/*
 * proc_close_fds_except: in a child of its own (the test runner keeps
 * descriptors of its own), open descriptors around the kept ones and
 * see which survive.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/proc.h"
#include "t/unit/suites.h"

static int
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

/* Exit status of a child that runs the check: 0 when every fd is as expected. */
static int
run_child(int use_dups)
{
	int fds[8], keep[5], i, bad = 0;
	pid_t pid = fork();
	int st;

	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		for (i = 0; i < 8; i++)
			if ((fds[i] = open("/dev/null", O_RDONLY)) == -1)
				_exit(100);
		/* Unsorted, with a -1 and (in one run) a duplicate. */
		keep[0] = fds[5];
		keep[1] = -1;
		keep[2] = fds[1];
		keep[3] = use_dups ? fds[5] : fds[7];
		keep[4] = STDERR_FILENO;
		if (proc_close_fds_except(keep, 5) != CT_OK)
			_exit(101);
		for (i = 0; i < 8; i++) {
			int want = i == 5 || i == 1 || (!use_dups && i == 7);

			if (fd_open(fds[i]) != want)
				bad++;
		}
		if (!fd_open(STDERR_FILENO) || fd_open(STDIN_FILENO) || fd_open(STDOUT_FILENO))
			bad++;
		_exit(bad);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

START_TEST(close_all_but_kept)
{
	ck_assert_int_eq(run_child(0), 0);
}
END_TEST

START_TEST(duplicates_in_keep_list)
{
	ck_assert_int_eq(run_child(1), 0);
}
END_TEST

Suite *
suite_proc(void)
{
	Suite *s = suite_create("proc");
	TCase *tc = tcase_create("close_fds");

	tcase_add_test(tc, close_all_but_kept);
	tcase_add_test(tc, duplicates_in_keep_list);
	suite_add_tcase(s, tc);
	return s;
}
