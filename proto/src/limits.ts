/**
 * Bounds on untrusted input on the wire. Every queue and buffer fed by a peer
 * is bounded by one of these; the arithmetic behind each is in its comment.
 */

/**
 * Largest frame the agent accepts. Requests are tiny: the largest is a
 * SetOnlineRequest naming every CPU, at most MAX_CPUS_PER_REQUEST entries of
 * about 6 bytes each (tag, cpu varint, bool) = 48 KiB; 64 KiB leaves room.
 * ws enforces it from the frame header, before buffering the payload.
 */
export const MAX_REQUEST_BYTES = 64 * 1024;

/**
 * Largest frame the controller accepts from an agent. A snapshot costs about
 * 400 bytes per CPU (topology, four caches) plus the flag list and the lscpu
 * text (~8 KiB); 8192 CPUs (x86's NR_CPUS ceiling) is about 3.3 MiB, so 8 MiB
 * bounds a compromised guest without refusing any real one.
 */
export const MAX_REPLY_BYTES = 8 * 1024 * 1024;

/** x86_64 Linux's largest NR_CPUS (CONFIG_MAXSMP); no kernel has more CPUs. */
export const MAX_CPUS_PER_REQUEST = 8192;

/**
 * Requests per second one connection may make, with a burst allowance. A
 * controller needs a handful per operation; 50/s sustained is far above that
 * and far below what could keep the agent busy writing sysfs files.
 */
export const MAX_REQUESTS_PER_SECOND = 50;
export const REQUEST_BURST = 100;

/**
 * Simultaneous controller connections. A guest has one host and a few
 * operators; each connection costs a socket and a subscription slot.
 */
export const MAX_CONNECTIONS = 16;

/**
 * Frames queued to a slow subscriber before it is dropped: a controller that
 * stops reading must not make the agent buffer snapshots without end.
 * 4 MiB is about a hundred events of a 40-CPU guest.
 */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** A token file larger than this is not a token (tokens are ~64 chars). */
export const MAX_TOKEN_FILE_BYTES = 4096;
