/**
 * Tuning numbers of the store and the remote sync: concurrency, batch and chunk sizes,
 * limits. Each is defined here once, with its default and why; the modules that use them
 * import them from here.
 */

// --- Remote CAS calls (cas-client.ts, remote-batches.ts, remote-bytestream.ts) ---

/**
 * Calls to a remote in flight at once (batches, ByteStream transfers, FindMissingBlobs groups). 8:
 * enough to hide a round trip without flooding a small server.
 */
export const CAS_CLIENT_CONCURRENCY = 8;
/**
 * Batch and ByteStream transfers in flight at once, at most: each carries up to a batch limit of
 * data, so fewer than the lighter FindMissingBlobs calls.
 */
export const TRANSFER_CONCURRENCY_CAP = 4;
/**
 * FindMissingBlobs asks about at most this many digests per call: 512 digests keep a request far
 * below any message limit.
 */
export const FIND_MISSING_GROUP = 512;
/** The batch limit assumed when a server advertises none (REAPI suggests 4 MiB). */
export const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024;
/**
 * Uploads batch at most this many bytes even where the server takes more: every batch is
 * held about three times over while it is sent (the blobs, their encoding, grpc-js's frame)
 * and V8 frees those late, so TRANSFER_CONCURRENCY_CAP batches of 4 MiB raised a push's peak
 * memory by ~25 MB over batches of 2 MiB (307-322 MB against 278-294 MB pushing 291 MB in
 * 13,354 blobs, in 2.6-2.8 s either way on loopback). 8 MiB in flight still fills 100 MB/s
 * up to ~80 ms of round trip.
 */
export const UPLOAD_BATCH_BYTES = 2 * 1024 * 1024;
/**
 * zstd level for blobs sent to a server that takes them compressed. 1, not zstd's default 3: on
 * the bench tree (291 MB, 10,000 files) level 1 sends 188.5 MB in 1.35 s of compression on 2
 * cores, level 3 186.5 MB in 1.77 s; the 2 MB saved are worth 0.02 s at 100 MB/s.
 */
export const ZSTD_LEVEL = 1;
/**
 * Blobs smaller than this go uncompressed even to a server that takes zstd: a frame's ~10
 * bytes of header and the call's work outweigh what so few bytes can save.
 */
export const ZSTD_MIN_BLOB_BYTES = 512;
/** The batch limit used after a server rejected a batch for its size; 1 MiB is common. */
export const FALLBACK_MAX_BATCH_BYTES = 1024 * 1024;
/**
 * Bytes counted per blob on top of its data: the digest (64 hex + size), field tags, length
 * prefixes and a status or compressor field. Generous on purpose, as strict servers measure
 * the whole message.
 */
export const PER_BLOB_OVERHEAD_BYTES = 160;
/** Kept free in every batch for the request's own fields (instance name, digest function). */
export const BATCH_HEADROOM_BYTES = 4096;
/** At most this many blobs per batch, so that many small blobs still spread over calls. */
export const MAX_BLOBS_PER_BATCH = 1024;
/**
 * ByteStream messages carry at most this much data each: 1 MiB stays well inside gRPC's default 4
 * MiB message limit.
 */
export const BYTESTREAM_CHUNK_BYTES = 1024 * 1024;

// --- Checkout (checkout.ts) ---

/**
 * Files written at once by default. 8, 32 and 128 measured the same (bench/copy-variants.ts):
 * libuv's pool has 4 threads and the work is kernel time; 32 keeps the pool fed.
 */
export const CHECKOUT_CONCURRENCY = 32;
/**
 * File entries whose Directories checkout's first pass keeps for the second (beyond: read again),
 * bounding memory on huge trees.
 */
export const CHECKOUT_KEEP_FILE_ENTRIES = 250_000;
/**
 * A checkout straight from a remote reads blobs up to this size in batches of at most this
 * many bytes (bigger ones stream into their file): 2 MiB, as uploads (UPLOAD_BATCH_BYTES).
 */
export const REMOTE_CHECKOUT_BATCH_BYTES = 2 * 1024 * 1024;
/** Batches and streamed blobs of a checkout from a remote in flight at once (as uploads). */
export const REMOTE_CHECKOUT_CONCURRENCY = 4;
/**
 * Files of one such batch written at once: with REMOTE_CHECKOUT_CONCURRENCY batches, as many
 * as CHECKOUT_CONCURRENCY (one by one, a checkout of 10,000 files took 18.5 s in the action).
 */
export const REMOTE_CHECKOUT_WRITES_PER_BATCH = 8;

// --- Incremental capture (incremental-capture.ts) ---

/** Files per CaptureFiles call: 128 keeps each call short so a slow file holds up little. */
export const CAPTURE_BATCH = 128;
/** CaptureFiles calls in flight: casd hashes on a few threads, so more only queue. */
export const CAPTURE_CONCURRENCY = 4;

// --- Verify (verify.ts, link-check.ts) ---

/**
 * Objects hashed at once. Big objects are read in libuv's 4-thread pool while the main thread
 * hashes: 1 lane gave 1.5 GB/s, 4 to 16 lanes 1.9 GB/s (SHA-256 bound); small ones are read
 * synchronously (see checkObject), about 70,000 a second whatever the lanes.
 */
export const VERIFY_CONCURRENCY = 4;
/** Bytes read per call: big files stream through a buffer of this size, never whole. */
export const VERIFY_READ_CHUNK_BYTES = 1024 * 1024;
/**
 * Objects up to this size are read synchronously (see checkObject): cheaper than a thread-pool
 * round trip.
 */
export const VERIFY_SYNC_READ_BYTES = 64 * 1024;

// --- Bringing a tree local (bring-local.ts) ---

/** Directory blobs of one level read from the local store at once. */
export const BRING_LOCAL_READ_CONCURRENCY = 32;
/**
 * File blobs gathered before they are fetched: four LocalCAS calls of 512 (Remote.fetchBlobs
 * runs four at once), so transfers stay batched while progress moves during a walk.
 */
export const BRING_LOCAL_FILE_GROUP = 2048;

// --- from cas/remote/remote.ts ---

/**
 * Blobs of the present trees asked about anyway: enough to catch a server that does not keep
 * what it vouches for, about 4.5 kB of request.
 */
export const SPOT_CHECK_SIZE = 64;

/** Digests per LocalCAS Fetch/UploadMissingBlobs call; casd batches them itself. */
export const LOCAL_CAS_GROUP = 512;

// --- from cas/remote/remote-tree.ts ---

/** Directories per GetTree page asked for; servers may send fewer. */
export const GET_TREE_PAGE_SIZE = 1000;

// --- from cas/remote/remote-copy.ts ---

/** Blobs up to this size are copied through memory; bigger ones through a temp file. */
export const IN_MEMORY_BLOB_BYTES = 4 * 1024 * 1024;

/** Bytes of small blobs held in memory at once per copy lane. */
export const IN_MEMORY_GROUP_BYTES = 16 * 1024 * 1024;

// --- from cas/store/store.ts ---

/** How many object files are stat-ed or touched at once. */
export const STORE_FS_CONCURRENCY = 32;

/** How many paths go into one CaptureFiles call. */
export const STORE_CAPTURE_BATCH = 1000;

// --- from cas/trees/tree.ts ---

/** How many Directory blobs a walk reads ahead of its consumer. */
export const TREE_READ_AHEAD = 32;

/**
 * Largest piece a pack slice is copied or verified in: 4 MiB keeps a checkout's
 * CHECKOUT_CONCURRENCY copies within 128 MiB, and a blob that small is read in one call.
 */
export const PACK_COPY_CHUNK_BYTES = 4 * 1024 * 1024;
/** The window a pack's data is read in to check every blob's digest (verifyPack). */
export const PACK_VERIFY_WINDOW_BYTES = 8 * 1024 * 1024;
/** Small blobs a pack writer gathers before one write: 1 MiB is ~35 files of sources. */
export const PACK_WRITE_BUFFER_BYTES = 1024 * 1024;
/** Blobs read ahead of the sequential appends while a pack is written: keeps the disk busy. */
export const PACK_WRITE_READ_AHEAD = 16;
/** Blobs written out of packs into casd's store at once: each is an inode creation; 32 as checkout. */
export const PACK_INSTALL_CONCURRENCY = 32;
/**
 * Files above this size are captured through casd even into a pack: a pack capture reads each
 * file whole into memory, and 64 MiB times PACK_CAPTURE_READ_AHEAD bounds what it holds.
 */
export const PACK_CAPTURE_MAX_FILE_BYTES = 64 * 1024 * 1024;
/** Files read ahead of the sequential appends of a pack capture: keeps the disk busy. */
export const PACK_CAPTURE_READ_AHEAD = 8;
/**
 * A pack capture reads files up to this size into one of PACK_CAPTURE_READ_AHEAD reused
 * buffers: a fresh buffer per file is garbage V8 collects late, and glibc keeps the freed
 * pages (RSS grew by ~90 MB capturing 291 MB in 10,000 files). 1 MiB holds most source files.
 */
export const PACK_CAPTURE_SLOT_BYTES = 1024 * 1024;
