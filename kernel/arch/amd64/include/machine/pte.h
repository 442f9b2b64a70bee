/*
 * x86-64 page-table entry encoding: the only file that knows where the bits of an entry are.
 * Everything else (kernel/mm/pagetable.c, the VMM and its bookkeeping backends) works with
 * neutral protection flags (enum pt_prot) and the named software fields below. Pure C, no asm,
 * so host tests compile it unchanged.
 *
 * It is the machine layer's one header the arch-free core reads, and the core names no machine to
 * reach it: code includes <machine/pte.h>, and the build puts the chosen machine's include
 * directory (kernel/arch/amd64/include) on the include path, for the kernel and the host builds
 * alike (BSD's <machine/...> convention). scripts/check-layering.sh holds the core to that.
 *
 * Levels: 0 = page table (4 KiB leaves), 1 = page directory (2 MiB leaves), 2 = PDPT (1 GiB
 * leaves), 3 = PML4 (pointers only). An entry at level L covers 512^L pages.
 *
 * Hardware layout (Intel SDM vol. 3 §4.5, AMD APM vol. 2 §5.3), with the software fields this
 * project puts into the bits the CPU ignores:
 *
 *   63  62........59 58....52 51...................12 11..9 8 7 6 5 4 3 2 1 0
 *  +--+------------+--------+-----------------------+-----+-+-+-+-+-+-+-+-+-+
 *  |NX|  SOFTWARE FIELD (11 bits, 52..62)  | phys address | STR |G|S|D|A|C|T|U|W|P|
 *  +--+------------+--------+-----------------------+-----+-+-+-+-+-+-+-+-+-+
 *   C = PCD (uncached), T = PWT, S = PS (large page at levels 1 and 2), STR = count stripe.
 *
 *   - bits 9..11, "count stripe": pagetable.c keeps each table's number of used entries (0..512,
 *     10 bits) striped over bits 9..11 of the table's entries 0..3 (entry k holds count bits
 *     3k..3k+2). These bits are ignored by the CPU at every level, present or not, so the count
 *     costs no memory. An entry is "used" when any bit outside the stripe (and, in a non-present
 *     entry, outside the free-run tag, bits 12..21: PTE_FREE_TAG_MASK below) is set.
 *   - bits 9..11 of entries 4..6, "hint stripe": a 9-bit value the pagetable bookkeeping backend
 *     keeps per table (kernel/mm/vmm_pt.h says what it means). Like the count it is ignored by
 *     the CPU, does not make an entry "used", and pt_slot_write keeps it; a new table starts at 0.
 *   - bits 52..62, "software field": ignored by the CPU in non-leaf entries; in leaf entries 59..62
 *     are protection keys, which are ignored while CR4.PKE/PKS are off (this kernel never sets
 *     them, and nothing here depends on them: bit 59, the VMM's COPY_ON_WRITE mark, is one).
 *     Leaf entries use 52..59. The VMM layer owns bits 54 (OWNED) and 59 (COPY_ON_WRITE) of
 *     leaves;
 *     the pagetable bookkeeping backend owns the rest (see kernel/mm/vmm_pt.h for the
 *     meaning and the diagrams per level).
 *   - A non-present entry (P = 0) is ignored entirely by the CPU; this project still keeps its
 *     software payload in the same bit positions as a present entry, so mapping or unmapping a
 *     page never moves bookkeeping bits around: unmap keeps (entry & PTE_SW_FIELD_MASK).
 */
#ifndef PAGESCOPE_ARCH_AMD64_PTE_H
#define PAGESCOPE_ARCH_AMD64_PTE_H

#include "kernel/mm/pagetable.h"

typedef uint64_t pte_t;

#define PT_LEVELS 4
#define PT_TOP_LEVEL (PT_LEVELS - 1)
#define PT_ENTRIES 512u
#define PT_INDEX_BITS 9
/* Bit position of the address bits that index a table at `level`. */
#define PT_LEVEL_SHIFT(level) (PAGE_SHIFT + PT_INDEX_BITS * (unsigned)(level))
/* Index of `va` in the table at `level` (xv6's PX()). */
#define PT_INDEX(level, va) ((unsigned)(((uint64_t)(va) >> PT_LEVEL_SHIFT(level)) & (PT_ENTRIES - 1)))
/* Pages covered by one entry at `level`. */
#define PT_SPAN_PAGES(level) ((uint64_t)1 << (PT_INDEX_BITS * (unsigned)(level)))
#define PT_SPAN_BYTES(level) ((uint64_t)1 << PT_LEVEL_SHIFT(level))
/* Root entries from this index up map the kernel half, shared by every context. */
#define PT_KERNEL_HALF_FIRST_INDEX 256u
#define PT_VA_BITS 48

#define PTE_PRESENT ((pte_t)1 << 0)
#define PTE_WRITABLE ((pte_t)1 << 1)
#define PTE_USER ((pte_t)1 << 2)
#define PTE_WRITE_THROUGH ((pte_t)1 << 3)
#define PTE_CACHE_DISABLE ((pte_t)1 << 4)
#define PTE_ACCESSED ((pte_t)1 << 5)
#define PTE_DIRTY ((pte_t)1 << 6)
#define PTE_LARGE ((pte_t)1 << 7)
#define PTE_GLOBAL ((pte_t)1 << 8)
#define PTE_NO_EXECUTE ((pte_t)1 << 63)
#define PTE_ADDR_MASK ((pte_t)0x000FFFFFFFFFF000ull)

#define PTE_COUNT_STRIPE_SHIFT 9
#define PTE_COUNT_STRIPE_MASK ((pte_t)7 << PTE_COUNT_STRIPE_SHIFT)
#define PTE_COUNT_STRIPE_ENTRIES 4u

#define PTE_HINT_STRIPE_FIRST 4u
#define PTE_HINT_STRIPE_ENTRIES 3u
#define PTE_HINT_MAX 511u

/* Entries 7.. of a table: the pagetable bookkeeping backend's exact summary (see that file). */
#define PTE_SUMMARY_STRIPE_FIRST 7u

/*
 * Bits 12..21 of a non-present entry, where a present one holds its frame number: the free-run
 * tag the pagetable bookkeeping backend keeps in free leaf entries (vmm_pt_leaf_tags.h). The CPU
 * ignores them (P = 0), and like the stripes they do not make an entry "used": a present entry is
 * used by its P bit anyway, and nothing else stores a non-present entry with address bits.
 */
#define PTE_FREE_TAG_SHIFT 12
#define PTE_FREE_TAG_MASK ((pte_t)0x3FF << PTE_FREE_TAG_SHIFT)

#define PTE_SW_FIELD_SHIFT 52
#define PTE_SW_FIELD_MASK ((pte_t)0x7FF << PTE_SW_FIELD_SHIFT)
/*
 * Leaf software bits: 52, 53 and 55..58 for the pagetable backend (55..58: the access a
 * reservation allows, kept in non-present and present leaves alike), 54 and 59 for the VMM.
 */
#define PTE_SW_BIT(n) ((pte_t)1 << (PTE_SW_FIELD_SHIFT + (n)))
#define PTE_SW_LEAF_OWNED PTE_SW_BIT(2)
/* A private page shared with another context since a fork: mapped read-only, copied on write. */
#define PTE_SW_LEAF_COPY_ON_WRITE PTE_SW_BIT(7)

/* Sign-extends bit 47 so that an address computed from table indices is canonical. */
static inline uint64_t pt_canonical(uint64_t va)
{
	return (uint64_t)((int64_t)(va << (64 - PT_VA_BITS)) >> (64 - PT_VA_BITS));
}

static inline bool pte_is_present(pte_t e) { return (e & PTE_PRESENT) != 0; }
/* Any bit outside the stripe and the free-run tag (both ignored by the count, pagetable.c). */
static inline bool pte_is_used(pte_t e) { return (e & ~(PTE_COUNT_STRIPE_MASK | PTE_FREE_TAG_MASK)) != 0; }
static inline paddr_t pte_address(pte_t e) { return e & PTE_ADDR_MASK; }
static inline pte_t pte_software(pte_t e) { return e & PTE_SW_FIELD_MASK; }

/* A present entry that points to the next table (never at level 0). */
static inline bool pte_is_table(pte_t e, unsigned level)
{
	return level > 0 && pte_is_present(e) && !(e & PTE_LARGE);
}

/* A present entry that maps memory: every level-0 entry, and large pages at levels 1 and 2. */
static inline bool pte_is_leaf(pte_t e, unsigned level)
{
	return pte_is_present(e) && (level == 0 || (e & PTE_LARGE));
}

/*
 * Intermediate entries grant everything (writable, user, executable): x86 combines permissions
 * along the walk with AND, so only the leaf decides. Kernel-half pointers get no USER bit so a
 * bug in a leaf can never expose kernel memory to user mode.
 */
static inline pte_t pte_make_table(paddr_t table, enum pt_half half)
{
	pte_t e = (table & PTE_ADDR_MASK) | PTE_PRESENT | PTE_WRITABLE;
	return half == PT_HALF_USER ? e | PTE_USER : e;
}

/* Leaf for neutral flags; NX unless EXECUTE. The caller has refused WRITE|EXECUTE already. */
static inline pte_t pte_make_leaf(paddr_t pa, unsigned level, unsigned prot)
{
	pte_t e = (pa & PTE_ADDR_MASK) | PTE_PRESENT;
	if (level > 0)
		e |= PTE_LARGE;
	if (prot & PT_WRITE)
		e |= PTE_WRITABLE;
	if (prot & PT_USER)
		e |= PTE_USER;
	if (prot & PT_GLOBAL)
		e |= PTE_GLOBAL;
	if (prot & PT_UNCACHED)
		e |= PTE_CACHE_DISABLE | PTE_WRITE_THROUGH;
	if (!(prot & PT_EXECUTE))
		e |= PTE_NO_EXECUTE;
	return e;
}

/* Neutral flags of a leaf (READ is implied by presence on x86). */
static inline unsigned pte_leaf_prot(pte_t e)
{
	unsigned prot = PT_READ;
	if (e & PTE_WRITABLE)
		prot |= PT_WRITE;
	if (e & PTE_USER)
		prot |= PT_USER;
	if (e & PTE_GLOBAL)
		prot |= PT_GLOBAL;
	if (e & PTE_CACHE_DISABLE)
		prot |= PT_UNCACHED;
	if (!(e & PTE_NO_EXECUTE))
		prot |= PT_EXECUTE;
	return prot;
}

/*
 * Stripe fields: a value kept in bits 9..11 of consecutive entries of one table, 3 bits per entry,
 * low bits first (entry first + k holds value bits 3k..3k+2). The CPU ignores these bits at every
 * level, present or not, and pt_slot_write never changes them.
 */
static inline uint64_t pte_stripe_field_read(const pte_t *table, unsigned first, unsigned entries)
{
	uint64_t value = 0;
	/* Callers pass constant fields: unrolled, each entry is a load, a mask, a shift and an or. */
#pragma GCC unroll 16
	for (unsigned k = 0; k < entries; k++)
		value |= (uint64_t)((table[first + k] & PTE_COUNT_STRIPE_MASK) >> PTE_COUNT_STRIPE_SHIFT)
			 << (3 * k);
	return value;
}

/* Writes the field; true when any bit changed. */
static inline bool pte_stripe_field_write(pte_t *table, unsigned first, unsigned entries,
					  uint64_t value)
{
	bool changed = false;
#pragma GCC unroll 16
	for (unsigned k = 0; k < entries; k++) {
		pte_t part = (pte_t)((value >> (3 * k)) & 7) << PTE_COUNT_STRIPE_SHIFT;
		pte_t now = (table[first + k] & ~PTE_COUNT_STRIPE_MASK) | part;
		changed |= now != table[first + k];
		table[first + k] = now;
	}
	return changed;
}

/*
 * Rewrites a field that holds `was` to `now`, up to the highest entry whose 3-bit digit changes:
 * a count that moves by one changes its low entry only, most of the time. Each entry's digit is
 * xored with the two values' difference there, which turns was's digit into now's in one store
 * without masking the old digit out; so `was` must be what the stripe holds (every caller reads it
 * from there or from the value cache, which is kept true). Unrolled for the constant field sizes
 * of the callers.
 */
static inline __attribute__((always_inline)) void pte_stripe_field_update(pte_t *table, unsigned first, unsigned entries, uint64_t was,
					   uint64_t now)
{
	uint64_t diff = (was ^ now) & (((uint64_t)1 << (3 * entries)) - 1);
	if (!diff)
		return;
	unsigned top = (63 - (unsigned)__builtin_clzll(diff)) / 3;
#pragma GCC unroll 16
	for (unsigned k = 0; k < entries; k++) {
		if (k > top)
			break;
		table[first + k] ^= (pte_t)((diff >> (3 * k)) & 7) << PTE_COUNT_STRIPE_SHIFT;
	}
}

/* Count stripe: entries 0..3 hold the table's used-entry count. */
static inline unsigned pte_stripe_read(const pte_t *table)
{
	return (unsigned)pte_stripe_field_read(table, 0, PTE_COUNT_STRIPE_ENTRIES);
}

/*
 * Adds `amount` to a field (subtracts it when `subtract`), digit by digit from the lowest entry, and
 * stops at the first entry past which nothing is left to add and nothing carries: a count that
 * moves by one reads and rewrites its low entry only, seven times in eight, where reading the
 * field first costs all its entries. Entries whose digit stays are not written. False when the
 * result leaves [0, 8^entries) (the field is then left wrapped: the caller panics). Forced inline
 * so that a constant amount and direction fold into the one or two entries they can touch.
 */
static inline __attribute__((always_inline)) bool pte_stripe_field_add(pte_t *table, unsigned first,
								       unsigned entries, uint64_t amount,
								       bool subtract)
{
	unsigned carry = 0; /* a carry when adding, a borrow when subtracting */
#pragma GCC unroll 16
	for (unsigned k = 0; k < entries; k++) {
		if (amount == 0 && carry == 0)
			return true;
		pte_t e = table[first + k];
		int digit = (int)((e & PTE_COUNT_STRIPE_MASK) >> PTE_COUNT_STRIPE_SHIFT);
		int step = (int)(amount & 7) + (int)carry;
		int sum = subtract ? digit - step : digit + step;
		carry = subtract ? sum < 0 : sum > 7;
		if ((sum & 7) != digit)
			table[first + k] = (e & ~PTE_COUNT_STRIPE_MASK) | ((pte_t)(sum & 7) << PTE_COUNT_STRIPE_SHIFT);
		amount >>= 3;
	}
	return amount == 0 && carry == 0;
}

/* The count moves up or down by `amount`; false when it would leave the field. */
static inline __attribute__((always_inline)) bool pte_stripe_add(pte_t *table, uint64_t amount,
								 bool subtract)
{
	return pte_stripe_field_add(table, 0, PTE_COUNT_STRIPE_ENTRIES, amount, subtract);
}

static inline void pte_stripe_write(pte_t *table, unsigned count)
{
	pte_stripe_field_write(table, 0, PTE_COUNT_STRIPE_ENTRIES, count);
}

/* Hint stripe: entries 4..6 hold the table's 9-bit hint. */
static inline unsigned pte_hint_read(const pte_t *table)
{
	return (unsigned)pte_stripe_field_read(table, PTE_HINT_STRIPE_FIRST, PTE_HINT_STRIPE_ENTRIES);
}

/* The hint moves from `was` (what the stripe holds) to `hint`. */
static inline void pte_hint_update(pte_t *table, unsigned was, unsigned hint)
{
	pte_stripe_field_update(table, PTE_HINT_STRIPE_FIRST, PTE_HINT_STRIPE_ENTRIES, was, hint);
}

static inline void pte_hint_write(pte_t *table, unsigned hint)
{
	pte_stripe_field_write(table, PTE_HINT_STRIPE_FIRST, PTE_HINT_STRIPE_ENTRIES, hint);
}

#endif
