#ifndef CT_MASTER_MASTER_H
#define CT_MASTER_MASTER_H

#include "conf/conf.h"

/* Runs the master on a loaded config; never returns. */
void master_run(struct conf *conf) __attribute__((noreturn));

#endif
