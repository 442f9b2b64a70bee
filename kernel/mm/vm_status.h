/*
 * The one status enum of the virtual-memory code (page tables, VMM, bookkeeping backends, slab,
 * kmalloc): every public call says which of these it returns and what stays unchanged.
 */
#ifndef PAGESCOPE_MM_VM_STATUS_H
#define PAGESCOPE_MM_VM_STATUS_H

#define VM_STATUS_LIST(X)                                                                        \
	X(VM_OK, "ok")                                                                           \
	X(VM_ERR_NO_MEMORY, "page source exhausted")                                             \
	X(VM_ERR_INVALID, "invalid argument (alignment, range, flags)")                          \
	X(VM_ERR_WRITE_EXECUTE, "writable and executable refused (W^X)")                         \
	X(VM_ERR_EXISTS, "already mapped")                                                       \
	X(VM_ERR_NOT_MAPPED, "not mapped")                                                       \
	X(VM_ERR_BUSY, "a large page or a table of small pages is in the way")                   \
	X(VM_ERR_NO_SPACE, "no free range large enough in the region")                           \
	X(VM_ERR_NOT_RESERVED, "not reserved (never reserved, or already released)")             \
	X(VM_ERR_NOT_RESERVATION_START, "address inside a reservation, not at its start")        \
	X(VM_ERR_WRONG_LENGTH, "length differs from the reservation's")                          \
	X(VM_ERR_DOUBLE_FREE, "object already free")                                             \
	X(VM_ERR_FOREIGN_POINTER, "pointer not from this allocator")

enum vm_status {
#define VM_STATUS_ENUM(e, text) e,
	VM_STATUS_LIST(VM_STATUS_ENUM)
#undef VM_STATUS_ENUM
};

/* "VM_ERR_X: what it means", or "?" for a value outside the enum. */
const char *vm_status_name(enum vm_status status);

#endif
