/* Constants shared by user_entry.S and C: the selectors user mode runs with (descriptors.h's, RPL 3). */
#ifndef PAGESCOPE_ARCH_AMD64_USER_VECTORS_H
#define PAGESCOPE_ARCH_AMD64_USER_VECTORS_H

#define USER_DATA_SELECTOR (0x18 | 3) /* GDT_USER_DATA | RPL 3 */
#define USER_CODE_SELECTOR (0x20 | 3) /* GDT_USER_CODE | RPL 3 */
/* The `vector` a system call's frame carries: beyond the 32 exception vectors, never a real one. */
#define USER_SYSCALL_VECTOR 0x100

#endif
