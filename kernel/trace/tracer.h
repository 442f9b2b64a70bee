/*
 * The tracer: a ring of sub-buffers that records are written into, and that a sink (the
 * virtio console in the kernel, a fake in host tests) drains in batches of one sub-buffer.
 * Arch-free: the sink is injected, and so is the clock in host builds (the kernel reads the TSC
 * inline, see trace_now). The records' layout is trace/trace_format.h.
 *
 *   storage:  | sub-buffer 0 | sub-buffer 1 | ... | sub-buffer count-1 |   (slot = number % count)
 *
 *   sub-buffer numbers:  reclaimed <= submitted <= closed, then the open one (number `closed`)
 *     [reclaimed, submitted)  handed to the sink, not yet given back
 *     [submitted, closed)     full, waiting for a sink (only before one is attached)
 *     closed                  the open sub-buffer records are written into (when has_open)
 *
 * Invariants:
 *   - closed - reclaimed + has_open <= count: a slot is reused only after the sink gave it back.
 *   - Every sub-buffer is one chunk of the stream (trace/FORMAT.md): it starts with a chunk header,
 *     filled in when it is closed (its bytes, its number = the sub-buffer's number), and records
 *     follow it from TRACE_CHUNK_HEADER_BYTES on. A record never straddles two sub-buffers; when
 *     it does not fit in the open one, that one is closed (its used bytes noted) and submitted,
 *     and the next slot is opened. The tail of a closed sub-buffer (< TRACE_RECORD_MAX bytes) is
 *     never sent: the stream has no padding. A sub-buffer is closed only when it holds a record.
 *   - Records reach the sink in the order they were written, chunks in their numbers' order; a
 *     record carries no number of its own (a chunk's header says how many bytes it holds, which
 *     is what shows a gap), so the fast path writes none.
 *   - Fast path: a record is written in place at `cursor` when cursor + length <= room_end.
 *     `room_end` is the open sub-buffer's end, or NULL whenever the slow path must run first: no
 *     open sub-buffer, lost events waiting to be reported by a `loss` record, or the tracer
 *     already busy in its slow path. (A pointer, not an offset: the record's address is then
 *     the cursor itself, one instruction less per record.)
 *
 * Policies when no slot is free: LOSSLESS makes the producer wait for the sink (reclaim with
 * wait); DROP takes back what the sink finished without waiting and drops the event if that was
 * not enough. With no sink attached (early boot, or no device at all) nothing can be reclaimed:
 * events are dropped with reason no_device in both policies, so the early buffer (the whole ring)
 * must hold everything emitted before the device is up; the trace says when it did not.
 *
 * Lost events are counted per reason and reported by a `loss` record placed right before the
 * next record that is written, so the reader sees where they happened.
 *
 * Recursion: the slow path (which calls the sink) marks the tracer busy; a tracepoint reached from
 * inside it (an allocation made by the sink, an interrupt handler) is dropped with reason
 * recursion instead of re-entering. Array records are assembled in a separate static part buffer,
 * so ordinary records may interleave with them; a second array begun while one is open is dropped
 * with reason recursion. Single CPU: `busy` is the per-CPU guard. The fast path itself takes no
 * guard (it would cost two stores per event): it is safe because nothing can run between its
 * reserve and commit on this CPU: the kernel polls its devices with interrupts off, and the
 * tracer touches only static memory, so it cannot fault. Tracing from an interrupt handler would
 * need interrupts masked around reserve..commit. One window is wider: a traced page_free writes
 * its record at the cursor before the regions placement frees the run and commits it after
 * (page_allocator.h, with trace_encoders.h's two-phase encoder); that free emits no event and
 * cannot fault either.
 */
#ifndef PAGESCOPE_TRACE_TRACER_H
#define PAGESCOPE_TRACE_TRACER_H

#include "kernel/lib/compiler.h"
#include "trace/trace_format.h"

/* Where sub-buffers go. Both calls run with the tracer busy, so they must not emit events. */
struct trace_sink {
	/* Queues len bytes for the device; they stay untouched until reclaim gives them back. */
	void (*submit)(void *ctx, const void *data, uint32_t len);
	/*
	 * Returns how many submitted buffers the device finished since the last call (they finish in
	 * submission order). With wait, polls until at least one finishes, unless none is queued;
	 * 0 then means the device failed, and the tracer drops (and counts) instead of hanging.
	 */
	uint32_t (*reclaim)(void *ctx, bool wait);
	void *ctx;
};

enum trace_policy { TRACE_POLICY_LOSSLESS, TRACE_POLICY_DROP };

/* tracer.lost[] is indexed by the `loss_reason` values of trace/events.def. */
#define TRACE_LOSS_REASONS TRACE_VALUE_LIMIT(trace_loss_reason)
#define TRACE_SUBBUFS_MAX 64

/* The array (or oversized string) record being assembled between begin and end. */
struct trace_array_builder {
	bool open;
	uint8_t type;
	uint16_t fixed_bytes; /* header + payload, the item count included */
	uint16_t item_bytes;
	uint16_t items;       /* in the part being built */
	uint32_t used;        /* bytes of the part being built */
	uint8_t part[TRACE_RECORD_MAX];
};

struct trace_chain_table; /* call_chain.h */

struct tracer {
	/* Hot fields first: the fast path touches only these. */
	uint8_t *open_base; /* start of the open sub-buffer */
	uint8_t *cursor;    /* where its next record goes: open_base + the bytes used in it */
	uint8_t *room_end;  /* its end, or NULL to force the slow path (see the invariants) */
	uint64_t (*clock)(void); /* host builds only: the kernel reads the TSC inline (trace_now) */
	uint64_t emitted[TRACE_EVENT_ID_LIMIT]; /* records written, per event id */

	uint8_t *storage;
	uint32_t subbuf_bytes;
	uint32_t subbuf_count;
	uint32_t closed, submitted, reclaimed; /* sub-buffer numbers, see the diagram */
	bool has_open;
	bool busy;
	enum trace_policy policy;
	struct trace_sink sink; /* submit == NULL: no sink yet */
	uint32_t used[TRACE_SUBBUFS_MAX]; /* bytes used by each closed sub-buffer, per slot */
	uint64_t bytes_closed; /* chunk bytes in closed sub-buffers (+ trace_open_bytes = all) */
	uint64_t bytes_submitted;
	uint64_t clock_hz; /* clock ticks per second, 0 = unknown (set by whoever knows) */
	uint64_t lost[TRACE_LOSS_REASONS];
	uint64_t lost_unreported[TRACE_LOSS_REASONS];
	struct trace_array_builder array;
	/* Call chains (call_chain.h): the table of those the stream defines (NULL: none kept) and
	 * how many ids the stream has defined (the last id). */
	struct trace_chain_table *chains;
	uint32_t chains_defined;
};

/* Bytes of a chunk header: where a sub-buffer's first record goes. */
#define TRACE_CHUNK_HEADER_BYTES ((uint32_t)sizeof(struct trace_chunk_header))

/*
 * Prepares a tracer over `storage` (subbuf_count * subbuf_bytes bytes, which must stay valid).
 * subbuf_bytes >= TRACE_CHUNK_HEADER_BYTES + TRACE_RECORD_MAX and
 * 2 <= subbuf_count <= TRACE_SUBBUFS_MAX.
 */
void trace_init(struct tracer *t, uint8_t *storage, uint32_t subbuf_bytes, uint32_t subbuf_count,
		enum trace_policy policy, uint64_t (*clock)(void));

/* A tracer initialised at compile time (used for the kernel's, so boot code can trace at once);
 * more designated initializers may follow (the kernel's gives it a chain table). */
#define TRACE_TRACER_INITIALIZER(storage_, subbuf_bytes_, subbuf_count_, policy_, clock_, ...)  \
	{ .open_base = (storage_), .cursor = (storage_) + TRACE_CHUNK_HEADER_BYTES,              \
	  .room_end = (storage_) + (subbuf_bytes_),                                                \
	  .clock = (clock_),                                                                       \
	  .storage = (storage_), .subbuf_bytes = (subbuf_bytes_), .subbuf_count = (subbuf_count_), \
	  .has_open = true, .policy = (policy_), __VA_ARGS__ }

/*
 * Attaches the sink: sends the stream header and waits until it is out, then hands over every
 * sub-buffer filled so far; from then on sub-buffers go to the sink as they fill. Returns false
 * (and leaves the tracer without a sink) when the sink did not finish the header.
 */
bool trace_attach_sink(struct tracer *t, const struct trace_sink *sink, const void *header,
		       uint32_t header_bytes);

/* Sends the open sub-buffer too and waits until the sink has consumed everything. */
void trace_flush(struct tracer *t);

/*
 * Ends the stream: reports pending losses, writes the trace_end record with the tracer's totals
 * and flushes (waiting even under the drop policy). No record may follow.
 */
void trace_finish(struct tracer *t);

/* Forgets every record not yet submitted (used when tracing is switched off at boot), and the
 * call chains they defined; keeps the chain table. */
void trace_discard(struct tracer *t);

/* Slow path of trace_reserve: see the invariants. Returns NULL when the record is lost. */
void *trace_reserve_slow(struct tracer *t, uint32_t len);

/* Bytes used in the open sub-buffer: its chunk header and its records. */
static inline uint32_t trace_open_bytes(const struct tracer *t)
{
	return (uint32_t)(t->cursor - t->open_base);
}

/* Records written so far (each counted once in emitted[]). */
uint64_t trace_records_written(const struct tracer *t);

/* Whether a record of len bytes fits at the cursor (the fast path: see the invariants). */
static ALWAYS_INLINE bool trace_has_room(const struct tracer *t, uint32_t len)
{
	/* as integers: room_end may be NULL, and the cursor is never near the top of memory */
	return (uintptr_t)t->cursor + len <= (uintptr_t)t->room_end;
}

/* Room for a record of len bytes (header included) or NULL if it is lost; commit must follow. */
static inline void *trace_reserve(struct tracer *t, uint32_t len)
{
	if (likely(trace_has_room(t, len))) {
		uint8_t *record = t->cursor;
		if (!record)
			__builtin_unreachable(); /* lets the caller's NULL check vanish from this path */
		return record;
	}
	return trace_reserve_slow(t, len);
}

#ifndef PAGESCOPE_HOST
/*
 * The kernel's clock: timestamp-counter ticks since the kernel's first instruction, whose reading
 * (kernel_clock_origin) boot/multiboot2.S takes and kmain stores before anything is traced. Every
 * clock reading the kernel reports (trace timestamps, the header's, fault costs, a program's
 * clock_gettime) counts from there, so the firmware's and the loader's time, which varies with the
 * host's I/O even under icount, is in none of them: two identical boots under QEMU -icount read
 * identical clocks. (TCG ignores a guest's write of the counter, so it cannot be reset instead.)
 */
extern uint64_t kernel_clock_origin;
static inline uint64_t kernel_clock_now(void)
{
	return __builtin_ia32_rdtsc() - kernel_clock_origin;
}
#endif

/*
 * The clock before its origin is taken off; trace_now() is trace_clock_at(trace_clock_raw()).
 * Differences (an operation's cost) need no origin: reading the raw clock for them saves the
 * compiler from keeping the origin and both readings alive across the operation.
 */
static inline uint64_t trace_clock_raw(const struct tracer *t)
{
#ifdef PAGESCOPE_HOST
	return t->clock();
#else
	(void)t;
	return __builtin_ia32_rdtsc();
#endif
}

static inline uint64_t trace_clock_at(uint64_t raw)
{
#ifdef PAGESCOPE_HOST
	return raw;
#else
	return raw - kernel_clock_origin;
#endif
}

/*
 * The tracer's time. Host builds call the injected clock (tests pass fakes). The kernel reads its
 * clock inline: with no call left on the hot path the encoders need no callee-saved registers or
 * stack frame, which is about a quarter of an event's instructions. Under QEMU -icount shift=0 the
 * counter counts guest instructions.
 */
static inline uint64_t trace_now(const struct tracer *t)
{
	return trace_clock_at(trace_clock_raw(t));
}

/*
 * Fills the header of a reserved record whose payload is written, and makes it part of the ring.
 * `timestamp` is a clock reading taken after every record already in the ring was committed
 * (timestamps never decrease along the stream): a caller that read the clock anyway (an
 * operation's cost) passes that reading instead of reading it twice.
 */
static inline void trace_commit_at(struct tracer *t, void *record, uint8_t type, uint8_t flags,
				   uint32_t len, uint64_t timestamp)
{
	struct trace_record_header *h = record;
	h->type = type;
	h->flags = flags;
	h->length = (uint16_t)len;
	h->timestamp = timestamp;
	t->emitted[type]++;
	t->cursor = (uint8_t *)record + len;
}

static inline void trace_commit(struct tracer *t, void *record, uint8_t type, uint8_t flags,
				uint32_t len)
{
	trace_commit_at(t, record, type, flags, len, trace_now(t));
}

/*
 * Array records (snapshots) are assembled in t->array and cut into parts of at most
 * TRACE_RECORD_MAX bytes; every part but the last carries TRACE_FLAG_CONTINUED and repeats the
 * fixed fields. begin copies the payload (fixed fields; the count is filled in per part) and
 * returns false when the record is lost; item returns room for one item (NULL when the array of
 * that type is not open); end writes the last part. `type` must match the open array's.
 */
bool trace_array_begin(struct tracer *t, uint8_t type, const void *payload, uint16_t payload_bytes,
		       uint16_t item_bytes);
void *trace_array_item(struct tracer *t, uint8_t type);
void trace_array_end(struct tracer *t, uint8_t type);

/* The default clock: the CPU's timestamp counter (in the kernel, kernel_clock_now). */
uint64_t trace_clock_tsc(void);

/*
 * The first clock reading of the stream, for the header's first_timestamp: the timestamp of the
 * first record when it was written before any sink was attached (it is then still at the start of
 * the ring, after the first chunk header: no slot is reused before a sink gives one back), else
 * `now`, the header's own time. Either way no record of the stream is older, and the first record
 * has min(its time, now).
 */
uint64_t trace_first_timestamp(const struct tracer *t, uint64_t now);

#endif
