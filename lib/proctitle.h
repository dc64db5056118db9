/*
 * Process titles for ps(1): "cuttle: master", "cuttle: worker 3".  The
 * title is written over the argv area, whose environment neighbour is
 * moved to the heap first (as nginx does), so proctitle_init() must run
 * before anything keeps a pointer into argv or environ.
 */
#ifndef CT_PROCTITLE_H
#define CT_PROCTITLE_H

void proctitle_init(int argc, char **argv);
void proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
