/*
 * Listener ACLs, decided at accept from the client address alone.
 */
#include <stddef.h>

#include "worker/acl.h"

int
acl_allows(const struct conf_acl *acl, const struct sockaddr *client)
{
	size_t i;

	for (i = 0; i < acl->ndeny; i++)
		if (cidr_match(&acl->deny[i], client))
			return 0;
	if (acl->nallow == 0)
		return 1;
	for (i = 0; i < acl->nallow; i++)
		if (cidr_match(&acl->allow[i], client))
			return 1;
	return 0;
}
