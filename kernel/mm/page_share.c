/* The mapping counts of shared physical pages (page_share.h says what and why). */
#include "page_share.h"
#include "kernel/trace/tracepoints.h"

#define FIRST_CAPACITY (PAGE_SIZE / sizeof(struct page_share_slot))

struct page_share_slot {
	uint64_t key;      /* pa | 1; 0 = empty */
	uint64_t mappings; /* >= 2 while present */
};

static uint64_t key_of(paddr_t pa)
{
	return pa | 1;
}

/* Fibonacci hashing of the page number: neighbouring pages land far apart. */
static uint64_t home_of(const struct page_share *share, uint64_t key)
{
	return ((key >> PAGE_SHIFT) * 0x9E3779B97F4A7C15ull) >> (64 - ilog2_u64(share->capacity));
}

static uint64_t table_pages(uint64_t capacity)
{
	return ALIGN_UP(capacity * sizeof(struct page_share_slot), PAGE_SIZE) / PAGE_SIZE;
}

void page_share_init(struct page_share *share, const struct page_source *source)
{
	*share = (struct page_share){ .source = source };
}

void page_share_destroy(struct page_share *share)
{
	MM_ASSERT(share->used == 0 && share->capacity == 0, "page_share_destroy: %llu pages still shared",
		  (unsigned long long)share->used);
}

static struct page_share_slot *find(const struct page_share *share, uint64_t key)
{
	if (!share->capacity)
		return NULL;
	uint64_t mask = share->capacity - 1;
	for (uint64_t i = home_of(share, key);; i = (i + 1) & mask) {
		struct page_share_slot *s = &share->slots[i];
		if (s->key == key)
			return s;
		if (s->key == 0)
			return NULL;
	}
}

static void insert(struct page_share *share, uint64_t key, uint64_t mappings)
{
	uint64_t mask = share->capacity - 1;
	uint64_t i = home_of(share, key);
	while (share->slots[i].key != 0)
		i = (i + 1) & mask;
	share->slots[i] = (struct page_share_slot){ key, mappings };
}

/* Rehashes into `capacity` slots. False (nothing changed) when the pages are not there. */
static bool resize(struct page_share *share, uint64_t capacity)
{
	paddr_t pa = page_source_alloc(share->source, table_pages(capacity), 1, MM_OWNER_MM_META);
	if (pa == PAGE_SOURCE_FAILED)
		return false;
	struct page_share old = *share;
	share->slots = phys_to_virt(pa);
	share->capacity = capacity;
	memset(share->slots, 0, table_pages(capacity) * PAGE_SIZE);
	for (uint64_t i = 0; i < old.capacity; i++)
		if (old.slots[i].key)
			insert(share, old.slots[i].key, old.slots[i].mappings);
	if (old.capacity)
		page_source_free(share->source, virt_to_phys(old.slots), table_pages(old.capacity));
	return true;
}

unsigned page_share_mappings(const struct page_share *share, paddr_t pa)
{
	const struct page_share_slot *s = find(share, key_of(pa));
	return s ? (unsigned)s->mappings : 1;
}

enum vm_status page_share_add(struct page_share *share, paddr_t pa, uint16_t context)
{
	uint64_t key = key_of(pa);
	struct page_share_slot *s = find(share, key);
	if (s) {
		s->mappings++;
	} else {
		if ((share->used + 1) * 2 > share->capacity &&
		    !resize(share, share->capacity ? share->capacity * 2 : FIRST_CAPACITY))
			return VM_ERR_NO_MEMORY;
		insert(share, key, 2);
		share->used++;
		s = find(share, key);
	}
	trace_page_share(pa, (uint32_t)s->mappings, context);
	return VM_OK;
}

/* Backward-shift deletion: later members of the probe run move up so no lookup stops early. */
static void remove_slot(struct page_share *share, struct page_share_slot *gone)
{
	uint64_t mask = share->capacity - 1;
	uint64_t hole = (uint64_t)(gone - share->slots);
	for (uint64_t i = (hole + 1) & mask; share->slots[i].key; i = (i + 1) & mask) {
		uint64_t home = home_of(share, share->slots[i].key);
		/* Move it when its home is not in (hole, i] (cyclically). */
		bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
		if (!stays) {
			share->slots[hole] = share->slots[i];
			hole = i;
		}
	}
	share->slots[hole] = (struct page_share_slot){ 0, 0 };
	share->used--;
}

bool page_share_drop(struct page_share *share, paddr_t pa, uint16_t context)
{
	struct page_share_slot *s = find(share, key_of(pa));
	if (!s)
		return false;
	uint64_t left = --s->mappings;
	trace_page_share(pa, (uint32_t)left, context);
	if (left == 1) {
		remove_slot(share, s);
		if (share->used == 0) { /* nothing shared: the map holds no memory */
			page_source_free(share->source, virt_to_phys(share->slots), table_pages(share->capacity));
			share->slots = NULL;
			share->capacity = 0;
		} else if (share->capacity > FIRST_CAPACITY && share->used * 4 < share->capacity) {
			resize(share, share->capacity / 2); /* a failed shrink keeps the larger table */
		}
	}
	return true;
}

uint64_t page_share_bytes(const struct page_share *share)
{
	return share->capacity ? table_pages(share->capacity) * PAGE_SIZE : 0;
}
