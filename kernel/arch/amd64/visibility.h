/*
 * Force-included into every kernel translation unit (see KCFLAGS). The kernel is one static
 * position-independent image: every symbol resolves inside it. -fvisibility=hidden marks only
 * definitions hidden; declarations of functions defined in other files would still be reached
 * through the GOT, and the linker cannot turn a GOT load of a higher-half address into an
 * absolute one. Hidden declarations make every reference a plain RIP-relative one.
 */
#pragma GCC visibility push(hidden)
