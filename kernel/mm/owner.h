/*
 * Who owns a used physical region. The tag is kept in the pmm's region record and travels into
 * trace events, so a trace can say not just "4 pages allocated" but "4 pages for page tables".
 * The X-macro is the single list: C enums and names come from it, and the trace format's Python
 * side reads the same list (trace/ parses this file), so a new owner cannot drift.
 */
#ifndef PAGESCOPE_MM_OWNER_H
#define PAGESCOPE_MM_OWNER_H

/*      enumerator            value  name */
#define MM_OWNER_LIST(X)                         \
	X(MM_OWNER_NONE,          0, "none")     \
	X(MM_OWNER_KERNEL_IMAGE,  1, "kernel")   \
	X(MM_OWNER_PAGE_TABLE,    2, "pagetable") \
	X(MM_OWNER_SLAB,          3, "slab")     \
	X(MM_OWNER_HEAP,          4, "heap")     \
	X(MM_OWNER_DMA,           5, "dma")      \
	X(MM_OWNER_BOOT_MODULE,   6, "module")   \
	X(MM_OWNER_FIRMWARE,      7, "firmware") \
	X(MM_OWNER_TEST,          8, "test")     \
	X(MM_OWNER_USER,          9, "user")     \
	X(MM_OWNER_BOOTSTRAP,    10, "bootstrap") \
	X(MM_OWNER_MM_META,      11, "mm-meta")

enum mm_owner {
#define MM_OWNER_ENUM(e, v, n) e = v,
	MM_OWNER_LIST(MM_OWNER_ENUM)
#undef MM_OWNER_ENUM
	MM_OWNER_COUNT
};

/* Short lowercase name for logs; "?" for an out-of-range value. */
const char *mm_owner_name(enum mm_owner owner);

#endif
