/* Names of the virtual-memory status codes, from the one list in vm_status.h. */
#include "vm_status.h"
#include "kernel/lib/compiler.h"

const char *vm_status_name(enum vm_status status)
{
	static const char *const names[] = {
#define VM_STATUS_NAME(e, text) [e] = #e ": " text,
		VM_STATUS_LIST(VM_STATUS_NAME)
#undef VM_STATUS_NAME
	};
	if ((unsigned)status >= ARRAY_SIZE(names))
		return "?";
	return names[status];
}
