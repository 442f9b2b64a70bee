/* Names of owner tags, from the single list in owner.h. */
#include "owner.h"

const char *mm_owner_name(enum mm_owner owner)
{
	static const char *const names[] = {
#define MM_OWNER_NAME(e, v, n) [v] = n,
		MM_OWNER_LIST(MM_OWNER_NAME)
#undef MM_OWNER_NAME
	};
	if ((unsigned)owner >= MM_OWNER_COUNT || !names[owner])
		return "?";
	return names[owner];
}
