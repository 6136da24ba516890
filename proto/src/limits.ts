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
 * bounds a compromised guest without refusing any real one. Restricted
 * cgroups add about 200 bytes each (4.2 MiB only at MAX_GUEST_CGROUPS paths of
 * MAX_GUEST_CGROUP_PATH_CHARS, still within 8 MiB beside 8192 CPUs).
 */
export const MAX_REPLY_BYTES = 8 * 1024 * 1024;

/** x86_64 Linux's largest NR_CPUS (CONFIG_MAXSMP); no kernel has more CPUs. */
export const MAX_CPUS_PER_REQUEST = 8192;

/**
 * Requests per second one peer (remote address) may make, across all its
 * connections, with a burst allowance: reconnecting does not refill it. A
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
 * Connections one peer (remote address) may hold, so one peer cannot take
 * every slot: half of MAX_CONNECTIONS (8) leaves the other half to others.
 * A host runs one connection per vcpuctl command plus one per watcher; the
 * per-domain lock serialises changing commands, so 8 is far above need.
 * (Controllers behind one NAT, e.g. QEMU user networking, share one address.)
 */
export const MAX_CONNECTIONS_PER_PEER = MAX_CONNECTIONS / 2;

/**
 * An authenticated connection that sends no request for this long, and is
 * not subscribed, is closed: held idle, it only takes a slot. A controller
 * sends its requests within milliseconds of connecting; 30 s is far above
 * any pause between two steps of one command.
 */
export const IDLE_TIMEOUT_MS = 30_000;

/**
 * Subscribed connections are idle by design; they are pinged this often and
 * closed when the previous ping has had no pong, so a vanished controller
 * frees its slot within 2 x 15 s = 30 s, like an idle one.
 */
export const PING_INTERVAL_MS = 15_000;

/**
 * Requests one connection may have waiting: one is carried out at a time per
 * connection, the rest wait in order. A controller has one or two
 * outstanding; 8 more means a peer pipelining past its answers, which is
 * closed (RATE_LIMITED) instead of queued.
 */
export const MAX_PENDING_REQUESTS = 8;

/**
 * Work one peer may make the agent do, in milliseconds of the agent's time
 * per second (a token bucket of milliseconds; a request is started only when
 * the peer's bucket is not in debt, and charged what it cost). A snapshot of
 * a 256-CPU guest costs ~130 ms on a slow core, so 250 ms/s (a quarter of a
 * core) still serves ~2 such snapshots a second to one peer, while the
 * count limit alone (50/s) would let it ask for 6.5 s of work per second.
 * The burst of 2000 ms serves a controller's whole operation at once.
 */
export const PEER_WORK_MS_PER_SECOND = 250;
export const PEER_WORK_BURST_MS = 2000;

/**
 * Peers (remote addresses) whose limits are remembered. An entry is
 * forgotten once it has no connection and its buckets are full again (it
 * then means nothing); when this many are still remembered, new peers are
 * refused (503) rather than given fresh buckets. About 200 bytes an entry.
 */
export const MAX_TRACKED_PEERS = 1024;

/**
 * Largest CPU number a request may name: x86_64's NR_CPUS ceiling is 8192
 * CPUs, numbered 0..8191. Anything larger, or a number protobuf would have
 * to truncate (the wire field is a 64-bit varint so truncation is visible),
 * is refused as PROTOCOL before any CPU is looked at.
 */
export const MAX_CPU_NUMBER = MAX_CPUS_PER_REQUEST - 1;

/**
 * Frames queued to a slow subscriber before it is dropped: a controller that
 * stops reading must not make the agent buffer snapshots without end.
 * 4 MiB is about a hundred events of a 40-CPU guest.
 */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** A token file larger than this is not a token (tokens are ~64 chars). */
export const MAX_TOKEN_FILE_BYTES = 4096;

/*
 * Bounds on what a controller accepts from a guest. The guest's root user can
 * replace the agent, so every frame is hostile until checked: each bound is
 * what a real Linux guest can produce, with room, and a frame past one is
 * refused whole (PROTOCOL) before it costs the host more than its bytes.
 */

/** CPUs in one snapshot or one set-online reply: x86_64's NR_CPUS ceiling, as for requests. */
export const MAX_GUEST_CPUS = MAX_CPUS_PER_REQUEST;

/**
 * Cache entries per CPU. Linux lists each level and type under cpuN/cache
 * (x86: L1d, L1i, L2, L3; some arm64 parts add a system cache); 16 is far
 * above any CPU and keeps 8192 CPUs' caches at 131072 entries.
 */
export const MAX_GUEST_CACHES_PER_CPU = 16;

/** NUMA nodes in a snapshot: x86_64's MAX_NUMNODES (NODES_SHIFT 10) is 1024. */
export const MAX_GUEST_NUMA_NODES = 1024;

/** CPU flags in a snapshot: x86 names about 330 in 6.x kernels; 1024 leaves room for any architecture. */
export const MAX_GUEST_CPU_FLAGS = 1024;

/** Changes in one pushed event: each CPU can be hot-added and onlined (or offlined and removed) in one tick. */
export const MAX_GUEST_CHANGES_PER_EVENT = 2 * MAX_GUEST_CPUS;

/**
 * Kernel lines in one frame. The agent reads at most 64 KiB of /dev/kmsg per
 * tick and sends what it read; a record is at least ~20 bytes, so a real
 * burst is under 3300 lines. 4096 bounds a frame's line objects.
 */
export const MAX_GUEST_KERNEL_LINES_PER_FRAME = 4096;

/**
 * One kernel line's text. The kernel keeps at most 1 KiB of text per record;
 * /dev/kmsg writes unprintable bytes as \xNN (4x) and the agent's record
 * buffer is 8 KiB, so a real line is never longer.
 */
export const MAX_GUEST_KERNEL_LINE_CHARS = 8192;

/**
 * Identity and model strings (hostname, kernel release, product UUID, CPU
 * model name, vendor, ...). Linux bounds a hostname and a release at 64
 * characters, SMBIOS strings at 255 bytes, a CPUID brand string at 48.
 */
export const MAX_GUEST_FIELD_CHARS = 256;

/** The flags line of /proc/cpuinfo: about 330 names of up to ~20 characters; 16 KiB leaves room. */
export const MAX_GUEST_FLAGS_LINE_CHARS = 16 * 1024;

/**
 * The guest's lscpu view as text: about 40 lines plus the flags line and the
 * vulnerability lines (~5 KiB on x86); 64 KiB, in at most 512 lines.
 */
export const MAX_GUEST_LSCPU_CHARS = 64 * 1024;
export const MAX_GUEST_LSCPU_LINES = 512;

/** An error message from the agent: one line of explanation; 1 KiB is several of the agent's longest. */
export const MAX_GUEST_MESSAGE_CHARS = 1024;

/**
 * Frames a guest may push (events and kernel lines) per second, with a burst.
 * The agent pushes at most one frame per poll tick (50 ms: 20 a second) plus
 * one after each request it carries out; 100 a second is five times that.
 * Past the budget, pushed frames are dropped and counted, and the newest view
 * is asked for once it refills, so a flooding guest costs the host at most
 * this rate and still ends up seen as it is.
 */
export const MAX_GUEST_FRAMES_PER_SECOND = 100;
export const GUEST_FRAME_BURST = 500;

/**
 * Bytes a guest may push per second, with a burst: one full snapshot of the
 * largest guest (~3.3 MiB, see MAX_REPLY_BYTES) must fit the burst.
 */
export const MAX_GUEST_BYTES_PER_SECOND = 1024 * 1024;
export const GUEST_BYTES_BURST = 8 * 1024 * 1024;

/**
 * Restricted cgroups in one snapshot (cgroups that set their own CPUs and
 * lack an online one). A Kubernetes node runs at most 110 pods by default
 * (250 when raised), each a pod cgroup and a few containers, all pinned by
 * the static CPU manager: about 1000 cgroups. The agent lists no more than
 * this (and says it stopped); the host refuses a snapshot with more.
 */
export const MAX_GUEST_CGROUPS = 1024;

/**
 * One cgroup path, from its hierarchy's root. The agent reads a cgroup's
 * files by path, so a path it could report fits PATH_MAX (4096 bytes, the
 * mount point included); a longer one is no real guest's.
 */
export const MAX_GUEST_CGROUP_PATH_CHARS = 4096;

/**
 * The agent's wanted-offline state file (SetWantedOfflineRequest, kept across
 * the agent's restarts): a small JSON object of a boot id (36 characters), a
 * time and one cpulist of at most MAX_CPULIST_CHARS (32 KiB, cpulist.ts).
 * 40 KiB holds the largest real one; a bigger file is not the agent's and is
 * ignored (logged) rather than read.
 */
export const MAX_WANTED_OFFLINE_STATE_BYTES = 40 * 1024;

/**
 * The guest's udev rules that online CPUs, in one snapshot. A distribution
 * ships one such rule at most (SUSE's 80-hotplug-cpu-mem.rules, the guides'
 * pasted one); 64 leaves room for a guest that has collected many, and the
 * agent lists no more (it then says it stopped).
 */
export const MAX_GUEST_UDEV_RULES = 64;

/**
 * One such rule's text, as the agent sends it (cut with "..." past this).
 * The rules people write for CPUs are one line of under 200 characters;
 * 1024 shows any of them whole, while udev itself allows a line of 16 KiB.
 */
export const MAX_GUEST_UDEV_RULE_CHARS = 1024;

/** A rules file's path in the guest: PATH_MAX (4096 bytes), as for cgroup paths. */
export const MAX_GUEST_UDEV_PATH_CHARS = 4096;

/**
 * The events a rule fires on, joined by "|": the agent names at most the
 * eight actions the kernel sends (add, remove, change, move, online,
 * offline, bind, unbind), about 50 characters; 128 leaves room.
 */
export const MAX_GUEST_UDEV_ACTIONS_CHARS = 128;

/**
 * Online writes refused, in one snapshot: the agent keeps the newest this
 * many (one per CPU still offline after its failure). A hot-add that fails
 * fails for every vCPU it plugs, and 64 named are enough to see the cause.
 */
export const MAX_GUEST_ONLINE_FAILURES = 64;

/**
 * Kernel lines kept with one refused online write: the kernel logs two to
 * five lines about a CPU that does not come up ("smpboot: Booting Node 0
 * Processor 1", "do_boot_cpu failed", "CPU1 failed to report alive
 * state"); 16 holds those of a retried write.
 */
export const MAX_GUEST_ONLINE_FAILURE_LINES = 16;
