/*
 * Listener ACLs: CIDR allow and deny lists; acl.c.
 */
#ifndef CT_WORKER_ACL_H
#define CT_WORKER_ACL_H

#include "conf/conf.h"

/*
 * Deny wins over allow; a non-empty allow list admits only its members.
 * Returns 1 when the client may be served.
 */
int acl_allows(const struct conf_acl *acl, const struct sockaddr *client);

#endif
