import { createRequire as __WEBPACK_EXTERNAL_createRequire } from "module";
/******/ var __webpack_modules__ = ({

/***/ 429:
/***/ ((__webpack_module__, __unused_webpack___webpack_exports__, __nccwpck_require__) => {

__nccwpck_require__.a(__webpack_module__, async (__webpack_handle_async_dependencies__, __webpack_async_result__) => { try {
/* harmony import */ var _casd_bridge_process_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(530);

// The detached Bazel bridge process (see src/casd/bazel-bridge.ts), started by the daemon manager.
try {
    await (0,_casd_bridge_process_js__WEBPACK_IMPORTED_MODULE_0__/* .runBridgeProcess */ .WG)(process.argv.slice(2));
}
catch (err) {
    process.stdout.write(`error: ${err.message}\n`);
    process.exit(1);
}
//# sourceMappingURL=bazel-bridge.js.map
__webpack_async_result__();
} catch(e) { __webpack_async_result__(e); } }, 1);

/***/ }),

/***/ 530:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __nccwpck_require__) => {


// EXPORTS
__nccwpck_require__.d(__webpack_exports__, {
  WG: () => (/* binding */ runBridgeProcess)
});

// UNUSED EXPORTS: bridgeEntry, spawnBridgeProcess

;// CONCATENATED MODULE: external "node:child_process"
const external_node_child_process_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:child_process");
;// CONCATENATED MODULE: external "node:fs"
const external_node_fs_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs");
;// CONCATENATED MODULE: external "node:path"
const external_node_path_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:path");
;// CONCATENATED MODULE: external "node:readline"
const external_node_readline_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:readline");
;// CONCATENATED MODULE: external "node:url"
const external_node_url_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:url");
;// CONCATENATED MODULE: ./lib/errors.js
/** The one error type of the library: a message for people, a reason for code. */
class errors_CasError extends Error {
    reason;
    grpcCode;
    logPath;
    constructor(reason, message, options = {}) {
        super(message, options.cause === undefined ? undefined : { cause: options.cause });
        this.name = 'CasError';
        this.reason = reason;
        this.grpcCode = options.grpcCode;
        this.logPath = options.logPath;
    }
}
/** True when `err` is a CasError with one of the given reasons. */
function isCasError(err, ...reasons) {
    return err instanceof errors_CasError && (reasons.length === 0 || reasons.includes(err.reason));
}
/** A short, single-line description of any thrown value. */
function describeError(err) {
    if (err instanceof Error)
        return err.message;
    return String(err);
}
//# sourceMappingURL=errors.js.map
;// CONCATENATED MODULE: external "node:http2"
const external_node_http2_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:http2");
;// CONCATENATED MODULE: external "node:net"
const external_node_net_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:net");
;// CONCATENATED MODULE: ./lib/casd/api-version.js
// Why this exists: Bazel 4-7 speak REAPI 2.0 only and refuse a server whose advertised range
// starts above it; buildbox-casd 1.4.x advertises low_api_version 2.1 yet serves Bazel 7's
// 2.0-style calls without error. The bridge lowers the advertised low end in the
// GetCapabilities answer and nothing else.
//
// The rewrite works on the wire bytes of ServerCapabilities, field by field, so that every
// other field (including ones this project's protos do not know) passes through unchanged.
/** REAPI's ServerCapabilities.low_api_version (a build.bazel.semver.SemVer message). */
const LOW_API_VERSION_FIELD = 4;
const SEMVER_MAJOR_FIELD = 1;
const SEMVER_MINOR_FIELD = 2;
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;
/** The REAPI version Bazel 4-7 speak. */
const REAPI_2_0 = { major: 2, minor: 0 };
function readVarint(bytes, offset) {
    let value = 0;
    let scale = 1;
    for (let i = offset; i < bytes.length && i < offset + 10; i++) {
        const byte = bytes[i];
        value += (byte & 0x7f) * scale;
        scale *= 128;
        if ((byte & 0x80) === 0)
            return { value, next: i + 1 };
    }
    throw new Error('truncated or overlong varint');
}
function writeVarint(value) {
    const out = [];
    let rest = value;
    while (rest >= 0x80) {
        out.push((rest % 128) | 0x80);
        rest = Math.floor(rest / 128);
    }
    out.push(rest);
    return out;
}
/** The end offset of one field's value, starting at `offset` (just after its tag). */
function skipValue(bytes, wireType, offset) {
    switch (wireType) {
        case WIRE_VARINT:
            return readVarint(bytes, offset).next;
        case WIRE_FIXED64:
            return offset + 8;
        case WIRE_FIXED32:
            return offset + 4;
        case WIRE_LENGTH_DELIMITED: {
            const { value, next } = readVarint(bytes, offset);
            return next + value;
        }
        default:
            throw new Error(`unsupported wire type ${wireType}`);
    }
}
function* fields(bytes) {
    let offset = 0;
    while (offset < bytes.length) {
        const start = offset;
        const tag = readVarint(bytes, offset);
        const wireType = tag.value % 8;
        const number = Math.floor(tag.value / 8);
        let payloadStart = tag.next;
        if (wireType === WIRE_LENGTH_DELIMITED)
            payloadStart = readVarint(bytes, tag.next).next;
        const end = skipValue(bytes, wireType, tag.next);
        if (end > bytes.length)
            throw new Error('field runs past the end of the message');
        yield { number, wireType, start, end, payloadStart };
        offset = end;
    }
}
/** Decodes a SemVer message's major and minor (absent fields are 0, as proto3 says). */
function decodeSemVer(bytes) {
    const version = { major: 0, minor: 0 };
    for (const field of fields(bytes)) {
        if (field.wireType !== WIRE_VARINT)
            continue;
        const { value } = readVarint(bytes, field.payloadStart);
        if (field.number === SEMVER_MAJOR_FIELD)
            version.major = value;
        if (field.number === SEMVER_MINOR_FIELD)
            version.minor = value;
    }
    return version;
}
function encodeSemVerField(fieldNumber, version) {
    const body = [];
    if (version.major)
        body.push(...writeVarint(SEMVER_MAJOR_FIELD * 8 + WIRE_VARINT), ...writeVarint(version.major));
    if (version.minor)
        body.push(...writeVarint(SEMVER_MINOR_FIELD * 8 + WIRE_VARINT), ...writeVarint(version.minor));
    return [...writeVarint(fieldNumber * 8 + WIRE_LENGTH_DELIMITED), ...writeVarint(body.length), ...body];
}
function newer(a, b) {
    return a.major !== b.major ? a.major > b.major : a.minor > b.minor;
}
/**
 * A ServerCapabilities message whose low_api_version is at most `floor`: when the server
 * advertises a higher low end, that field is replaced; every other byte is kept as it was.
 * Returns the input itself when nothing needed to change (no low_api_version, or one at or
 * below `floor`). Throws on bytes that are not a protobuf message.
 */
function lowerLowApiVersion(message, floor = REAPI_2_0) {
    const parts = [];
    let changed = false;
    let copiedUpTo = 0;
    for (const field of fields(message)) {
        if (field.number !== LOW_API_VERSION_FIELD || field.wireType !== WIRE_LENGTH_DELIMITED)
            continue;
        const low = decodeSemVer(message.subarray(field.payloadStart, field.end));
        if (!newer(low, floor))
            continue;
        parts.push(message.subarray(copiedUpTo, field.start), Uint8Array.from(encodeSemVerField(field.number, floor)));
        copiedUpTo = field.end;
        changed = true;
    }
    if (!changed)
        return message;
    parts.push(message.subarray(copiedUpTo));
    return Buffer.concat(parts);
}
/**
 * The same for a whole gRPC response body (length-prefixed messages, as on the wire).
 * Compressed messages pass unchanged (the bridge never asks for compression, and casd sends
 * none unasked). Returns `body` itself when nothing changed.
 */
function lowerLowApiVersionInGrpcBody(body, floor = REAPI_2_0) {
    const out = [];
    let changed = false;
    let offset = 0;
    while (offset + 5 <= body.length) {
        const compressed = body[offset] !== 0;
        const length = body.readUInt32BE(offset + 1);
        const end = offset + 5 + length;
        if (end > body.length)
            break;
        const message = body.subarray(offset + 5, end);
        const rewritten = compressed ? message : lowerLowApiVersion(message, floor);
        if (rewritten !== message)
            changed = true;
        const prefix = Buffer.alloc(5);
        prefix[0] = body[offset];
        prefix.writeUInt32BE(rewritten.length, 1);
        out.push(prefix, Buffer.from(rewritten));
        offset = end;
    }
    if (!changed)
        return body;
    out.push(body.subarray(offset));
    return Buffer.concat(out);
}
//# sourceMappingURL=api-version.js.map
;// CONCATENATED MODULE: ./lib/casd/options.js
/**
 * Tuning numbers of the daemon's life: readiness, shutdown, log files, the Bazel bridge.
 * Each is defined here once, with its default and why; the modules that use them import them
 * from here.
 */
// --- Readiness (daemon.ts) ---
/**
 * Give up when casd does not answer within this long from start: a cold start with a big store
 * takes a few seconds, 15 s leaves room on a slow runner.
 */
const DEFAULT_READY_TIMEOUT_MS = 15_000;
/**
 * Wait between readiness probes: casd usually answers within tens of ms, so a short poll saves
 * start-up time.
 */
const READY_POLL_MS = 10;
/**
 * Longest single readiness probe (GetCapabilities), so a socket that accepts but never answers is
 * probed again.
 */
const READY_PROBE_MAX_MS = 2_000;
// --- Shutdown (daemon.ts) ---
/**
 * How a daemon is stopped by default: a quiet 0.5 s after SIGTERM (casd usually exits in
 * it), then 15 s announced as "Terminating buildbox-casd" before SIGKILL, then 15 s for the
 * kill to be seen.
 */
const DEFAULT_STOP = {
    termGraceMs: 500,
    termTimeoutMs: 15_000,
    killTimeoutMs: 15_000,
};
/**
 * How a daemon that failed to start is stopped: briefly, as the error already says what went wrong.
 */
const FAILED_START_STOP = {
    termGraceMs: 500,
    termTimeoutMs: 2_000,
    killTimeoutMs: 5_000,
};
// --- Log files (logs.ts) ---
/**
 * How many daemon log files a cache directory keeps: enough for the last few runs, bounded on disk.
 */
const MAX_LOG_FILES = 10;
/**
 * Lines of a log quoted in an error by default: the end of the story without flooding the message.
 */
const LOG_TAIL_LINES = 20;
/** Bytes read from the end of a log to find its last lines, so a huge log is never read whole. */
const LOG_TAIL_BYTES = (/* unused pure expression or super */ null && (64 * 1024));
// --- Bazel bridge (bridge-process.ts, bazel-bridge.ts) ---
/**
 * How long a new bridge process may take to say it listens: a Node start is well under a second, 10
 * s allows a loaded runner.
 */
const options_BRIDGE_READY_TIMEOUT_MS = 10_000;
/**
 * How often the bridge process checks that casd still runs: a bridge left behind for a quarter
 * second is harmless.
 */
const BRIDGE_WATCH_POLL_MS = 250;
/**
 * HTTP/2 stream window: big enough that a ByteStream transfer is not held to 64 KiB a round trip.
 */
const BRIDGE_STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
/** Connection window, shared by Bazel's many concurrent calls on one connection. */
const BRIDGE_CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024;
// --- from casd/usage.ts ---
/** Object-store subdirectories (`cas/objects/<2 hex>`) read at once by objectStoreUsage. */
const USAGE_SCAN_DIR_CONCURRENCY = 8;
/** Object files stat'ed at once within one subdirectory. */
const USAGE_SCAN_FILE_CONCURRENCY = 32;
// --- from casd/process.ts ---
const options_ATTACHED_POLL_MS = 20;
//# sourceMappingURL=options.js.map
;// CONCATENATED MODULE: ./lib/casd/bazel-bridge.js




// The Bazel bridge: a plaintext HTTP/2 pass-through from a loopback TCP port to casd's unix
// socket. Every gRPC call goes through byte for byte (headers, messages, trailers, resets);
// only the GetCapabilities answer is changed, to advertise REAPI 2.0 as the low end, which
// Bazel 4-7 require (see api-version.ts). One upstream connection per Bazel connection keeps
// flow control and cancellation end to end.
const CAPABILITIES_PATH = '/build.bazel.remote.execution.v2.Capabilities/GetCapabilities';
const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_CANCEL } = external_node_http2_namespaceObject.constants;
// Headers the HTTP/2 layer sets itself, or that HTTP/2 forbids on a forwarded stream.
const DROPPED_REQUEST_HEADERS = new Set([':scheme', ':authority', 'connection', 'keep-alive', 'host']);
function forwardedHeaders(headers) {
    const out = {};
    for (const [name, value] of Object.entries(headers)) {
        if (value === undefined || DROPPED_REQUEST_HEADERS.has(name))
            continue;
        out[name] = value;
    }
    return out;
}
function responseHeaders(headers) {
    const out = {};
    for (const [name, value] of Object.entries(headers)) {
        if (value === undefined || name === 'connection' || name === 'keep-alive')
            continue;
        out[name] = value;
    }
    return out;
}
/** Answers a call that cannot reach casd the way gRPC does: trailers-only UNAVAILABLE. */
function unavailable(stream, why) {
    if (stream.destroyed || stream.closed)
        return;
    if (stream.headersSent) {
        stream.close(NGHTTP2_INTERNAL_ERROR);
        return;
    }
    stream.respond({
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': '14',
        'grpc-message': encodeURIComponent(`casd-action bazel bridge: ${why}`),
    }, { endStream: true });
}
function forwardStream(stream, headers, upstream, onProblem) {
    if (upstream.destroyed || upstream.closed) {
        unavailable(stream, 'the cache daemon is gone');
        return;
    }
    const rewrite = headers[':path'] === CAPABILITIES_PATH;
    let call;
    try {
        call = upstream.request(forwardedHeaders(headers), { endStream: false });
    }
    catch (err) {
        unavailable(stream, err.message);
        return;
    }
    let trailers;
    call.on('response', (head, flags) => {
        if (stream.destroyed || stream.closed)
            return;
        if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
            // Trailers-only (how gRPC sends most errors): one HEADERS frame that ends the stream.
            stream.respond(responseHeaders(head), { endStream: true });
            return;
        }
        stream.respond(responseHeaders(head), { waitForTrailers: true });
        if (rewrite) {
            const chunks = [];
            call.on('data', (chunk) => chunks.push(chunk));
            call.on('end', () => stream.end(lowerLowApiVersionInGrpcBody(Buffer.concat(chunks))));
        }
        else {
            call.pipe(stream);
        }
    });
    call.on('trailers', (t) => {
        trailers = t;
    });
    stream.on('wantTrailers', () => {
        if (trailers)
            stream.sendTrailers(responseHeaders(trailers));
        else
            stream.close();
    });
    stream.pipe(call);
    // Cancellation and failures travel both ways as stream resets.
    stream.on('close', () => {
        if (!call.closed)
            call.close(stream.rstCode || NGHTTP2_CANCEL);
    });
    call.on('close', () => {
        if (stream.closed || stream.destroyed)
            return;
        if (!stream.headersSent)
            unavailable(stream, `casd reset the call (code ${call.rstCode})`);
        else if (call.rstCode)
            stream.close(call.rstCode);
    });
    call.on('error', (err) => onProblem(`call ${headers[':path']}: ${err.message}`));
    stream.on('error', (err) => onProblem(`client stream ${headers[':path']}: ${err.message}`));
}
/**
 * Starts the bridge on `host:port` in front of casd's socket. Resolves once it listens.
 * Throws when the address cannot be bound.
 */
async function startBazelBridge(options) {
    const onProblem = options.onProblem ?? (() => undefined);
    const sessions = new Set();
    const server = external_node_http2_namespaceObject.createServer({ settings: { initialWindowSize: BRIDGE_STREAM_WINDOW_BYTES } });
    server.on('session', (session) => {
        sessions.add(session);
        session.on('connect', () => session.setLocalWindowSize(BRIDGE_CONNECTION_WINDOW_BYTES));
        const upstream = external_node_http2_namespaceObject.connect('http://localhost', {
            createConnection: () => external_node_net_namespaceObject.connect(options.socketPath),
            settings: { initialWindowSize: BRIDGE_STREAM_WINDOW_BYTES },
        });
        upstream.on('connect', () => upstream.setLocalWindowSize(BRIDGE_CONNECTION_WINDOW_BYTES));
        upstream.on('error', (err) => onProblem(`casd connection: ${err.message}`));
        session.on('error', (err) => onProblem(`client connection: ${err.message}`));
        // Why both ways: a client gone leaves nothing to serve; casd gone leaves nothing to serve
        // with, and Bazel reconnects (getting a fresh upstream) when its connection closes.
        upstream.on('close', () => {
            if (!session.closed)
                session.close();
        });
        session.on('close', () => {
            sessions.delete(session);
            if (!upstream.closed)
                upstream.close();
        });
        session.on('stream', (stream, headers) => forwardStream(stream, headers, upstream, onProblem));
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
            server.off('error', reject);
            resolve();
        });
    });
    server.on('error', (err) => onProblem(`listener: ${err.message}`));
    const port = server.address().port;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    return {
        url: `grpc://${host}:${port}`,
        port,
        close: () => new Promise((resolve) => {
            server.close(() => resolve());
            for (const session of sessions)
                session.destroy();
        }),
    };
}
//# sourceMappingURL=bazel-bridge.js.map
;// CONCATENATED MODULE: ./lib/casd/process.js



function send(pid, signal) {
    try {
        process.kill(pid, signal);
        return true;
    }
    catch (err) {
        // EPERM: it exists but is not ours to signal; it is still alive.
        return err.code === 'EPERM';
    }
}
function killGroup(pid) {
    // A negative pid signals the group: children casd spawned go too.
    if (!send(-pid, 'SIGKILL'))
        send(pid, 'SIGKILL');
}
/**
 * Wraps a child we spawned. When `tied`, the child gets SIGTERM if this process exits
 * normally while it still runs, so a front end that forgets to stop it leaves no orphan.
 */
function childHandle(child, tied) {
    const pid = child.pid;
    let status;
    const onParentExit = () => {
        if (!status)
            send(pid, 'SIGTERM');
    };
    if (tied)
        process.once('exit', onParentExit);
    const exited = new Promise((resolve) => {
        child.once('exit', (code, signal) => {
            status = { code, signal };
            process.removeListener('exit', onParentExit);
            resolve();
        });
    });
    return {
        exitStatus: () => status,
        alive: () => status === undefined,
        signal: (signal) => void send(pid, signal),
        kill: () => killGroup(pid),
        async waitExit(timeoutMs) {
            if (status)
                return true;
            let timer;
            const timedOut = new Promise((resolve) => {
                timer = setTimeout(() => resolve(false), timeoutMs);
            });
            try {
                return await Promise.race([exited.then(() => true), timedOut]);
            }
            finally {
                clearTimeout(timer);
            }
        },
    };
}
// An exited process whose parent has not reaped it still answers signal 0. A daemon attached
// from an earlier process was orphaned, and not every init (containers!) reaps promptly, so
// on Linux a zombie counts as dead.
function isZombie(pid) {
    if (process.platform !== 'linux')
        return false;
    try {
        const stat = (0,external_node_fs_namespaceObject.readFileSync)(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
    }
    catch {
        return false;
    }
}
/** True while process `pid` exists and has not exited (a zombie counts as exited). */
function processAlive(pid) {
    return send(pid, 0) && !isZombie(pid);
}
/**
 * Wraps a process known only by pid (started by an earlier process of ours). Liveness comes
 * from signal 0; its exit code cannot be known, so it is reported as null.
 */
function attachedHandle(pid) {
    let dead = false;
    const alive = () => {
        if (!dead && !processAlive(pid))
            dead = true;
        return !dead;
    };
    return {
        exitStatus: () => (alive() ? undefined : { code: null, signal: null }),
        alive,
        signal: (signal) => void send(pid, signal),
        kill: () => killGroup(pid),
        async waitExit(timeoutMs) {
            const deadline = Date.now() + timeoutMs;
            while (alive()) {
                if (Date.now() >= deadline)
                    return false;
                await sleep(Math.min(ATTACHED_POLL_MS, Math.max(deadline - Date.now(), 1)));
            }
            return true;
        },
    };
}
//# sourceMappingURL=process.js.map
;// CONCATENATED MODULE: ./lib/casd/bridge-process.js









// A detached daemon outlives the process that started it (the action's main step, the CLI's
// `start`), so its Bazel bridge must too: it runs as a small Node process of its own, started
// with the daemon, and it exits when casd does (or on SIGTERM from the daemon's `stop`).
const READY_PREFIX = 'listening ';
/**
 * The bridge's entry script: beside the running bundle (dist/<entry>/index.js ->
 * dist/bazel-bridge/index.js), beside the compiled library (lib/casd -> lib/bazel-bridge.js),
 * or the repository's bundle when running from sources. CASD_ACTION_BAZEL_BRIDGE overrides.
 */
function bridgeEntry() {
    const here = dirname(fileURLToPath(import.meta.url));
    const candidates = [
        process.env.CASD_ACTION_BAZEL_BRIDGE,
        join(here, '..', 'bazel-bridge', 'index.js'),
        join(here, '..', 'bazel-bridge.js'),
        join(here, '..', '..', 'dist', 'bazel-bridge', 'index.js'),
    ].filter((c) => Boolean(c));
    const found = candidates.find((c) => existsSync(c));
    if (!found) {
        throw new CasError('daemon-start', `cannot find the Bazel bridge script (looked at ${candidates.join(', ')}); set CASD_ACTION_BAZEL_BRIDGE`);
    }
    return found;
}
/**
 * Starts the bridge as a detached process on `host` (a free port) in front of casd's socket;
 * it exits once process `watchPid` is gone. Its problems go to `logPath` (appended).
 * Resolves with its pid and URL once it listens; throws CasError('daemon-start') otherwise.
 */
async function spawnBridgeProcess(options) {
    const log = openSync(options.logPath, 'a');
    const args = [
        bridgeEntry(),
        '--host',
        options.host,
        '--socket',
        options.socketPath,
        '--watch-pid',
        String(options.watchPid),
    ];
    let child;
    try {
        child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', log] });
    }
    finally {
        closeSync(log);
    }
    const lines = createInterface({ input: child.stdout });
    let timer;
    try {
        const url = await new Promise((resolve, reject) => {
            timer = setTimeout(() => reject(new Error(`it did not listen within ${BRIDGE_READY_TIMEOUT_MS / 1000} s`)), BRIDGE_READY_TIMEOUT_MS);
            lines.once('line', (line) => line.startsWith(READY_PREFIX) ? resolve(line.slice(READY_PREFIX.length)) : reject(new Error(line)));
            child.once('error', reject);
            child.once('exit', (code) => reject(new Error(`it exited with code ${code}`)));
        });
        child.unref();
        return { pid: child.pid, url };
    }
    catch (err) {
        child.kill('SIGKILL');
        throw new CasError('daemon-start', `the Bazel bridge did not start: ${err.message}; log: ${options.logPath}`, { cause: err, logPath: options.logPath });
    }
    finally {
        clearTimeout(timer);
        lines.close();
        child.stdout?.destroy();
    }
}
function argument(argv, name) {
    const at = argv.indexOf(name);
    const value = at >= 0 ? argv[at + 1] : undefined;
    if (!value)
        throw new Error(`${name} is required`);
    return value;
}
/** The bridge process's main: `--host H --socket PATH --watch-pid PID`. */
async function runBridgeProcess(argv) {
    const host = argument(argv, '--host');
    const socketPath = argument(argv, '--socket');
    const watchPid = Number(argument(argv, '--watch-pid'));
    const problem = (message) => {
        process.stderr.write(`${new Date().toISOString()} casd-action bazel bridge: ${message}\n`);
    };
    const bridge = await startBazelBridge({ host, port: 0, socketPath, onProblem: problem });
    const exit = () => {
        void bridge.close().finally(() => process.exit(0));
    };
    process.on('SIGTERM', exit);
    process.on('SIGINT', exit);
    setInterval(() => {
        if (!processAlive(watchPid))
            exit();
    }, BRIDGE_WATCH_POLL_MS);
    process.stdout.write(`${READY_PREFIX}${bridge.url}\n`);
}
//# sourceMappingURL=bridge-process.js.map

/***/ })

/******/ });
/************************************************************************/
/******/ // The module cache
/******/ var __webpack_module_cache__ = {};
/******/ 
/******/ // The require function
/******/ function __nccwpck_require__(moduleId) {
/******/ 	// Check if module is in cache
/******/ 	var cachedModule = __webpack_module_cache__[moduleId];
/******/ 	if (cachedModule !== undefined) {
/******/ 		return cachedModule.exports;
/******/ 	}
/******/ 	// Create a new module (and put it into the cache)
/******/ 	var module = __webpack_module_cache__[moduleId] = {
/******/ 		// no module.id needed
/******/ 		// no module.loaded needed
/******/ 		exports: {}
/******/ 	};
/******/ 
/******/ 	// Execute the module function
/******/ 	var threw = true;
/******/ 	try {
/******/ 		__webpack_modules__[moduleId](module, module.exports, __nccwpck_require__);
/******/ 		threw = false;
/******/ 	} finally {
/******/ 		if(threw) delete __webpack_module_cache__[moduleId];
/******/ 	}
/******/ 
/******/ 	// Return the exports of the module
/******/ 	return module.exports;
/******/ }
/******/ 
/************************************************************************/
/******/ /* webpack/runtime/asset-relocator-loader */
/******/ if (typeof __nccwpck_require__ !== 'undefined') __nccwpck_require__.ab = decodeURIComponent(new URL('.', import.meta.url).pathname).slice(import.meta.url.match(/^file:\/\/\/\w:/) ? 1 : 0, -1) + "/";
/******/ 
/******/ /* webpack/runtime/async module */
/******/ (() => {
/******/ 	var webpackQueues = typeof Symbol === "function" ? Symbol("webpack queues") : "__webpack_queues__";
/******/ 	var webpackExports = typeof Symbol === "function" ? Symbol("webpack exports") : "__webpack_exports__";
/******/ 	var webpackError = typeof Symbol === "function" ? Symbol("webpack error") : "__webpack_error__";
/******/ 	var resolveQueue = (queue) => {
/******/ 		if(queue && queue.d < 1) {
/******/ 			queue.d = 1;
/******/ 			queue.forEach((fn) => (fn.r--));
/******/ 			queue.forEach((fn) => (fn.r-- ? fn.r++ : fn()));
/******/ 		}
/******/ 	}
/******/ 	var wrapDeps = (deps) => (deps.map((dep) => {
/******/ 		if(dep !== null && typeof dep === "object") {
/******/ 			if(dep[webpackQueues]) return dep;
/******/ 			if(dep.then) {
/******/ 				var queue = [];
/******/ 				queue.d = 0;
/******/ 				dep.then((r) => {
/******/ 					obj[webpackExports] = r;
/******/ 					resolveQueue(queue);
/******/ 				}, (e) => {
/******/ 					obj[webpackError] = e;
/******/ 					resolveQueue(queue);
/******/ 				});
/******/ 				var obj = {};
/******/ 				obj[webpackQueues] = (fn) => (fn(queue));
/******/ 				return obj;
/******/ 			}
/******/ 		}
/******/ 		var ret = {};
/******/ 		ret[webpackQueues] = x => {};
/******/ 		ret[webpackExports] = dep;
/******/ 		return ret;
/******/ 	}));
/******/ 	__nccwpck_require__.a = (module, body, hasAwait) => {
/******/ 		var queue;
/******/ 		hasAwait && ((queue = []).d = -1);
/******/ 		var depQueues = new Set();
/******/ 		var exports = module.exports;
/******/ 		var currentDeps;
/******/ 		var outerResolve;
/******/ 		var reject;
/******/ 		var promise = new Promise((resolve, rej) => {
/******/ 			reject = rej;
/******/ 			outerResolve = resolve;
/******/ 		});
/******/ 		promise[webpackExports] = exports;
/******/ 		promise[webpackQueues] = (fn) => (queue && fn(queue), depQueues.forEach(fn), promise["catch"](x => {}));
/******/ 		module.exports = promise;
/******/ 		body((deps) => {
/******/ 			currentDeps = wrapDeps(deps);
/******/ 			var fn;
/******/ 			var getResult = () => (currentDeps.map((d) => {
/******/ 				if(d[webpackError]) throw d[webpackError];
/******/ 				return d[webpackExports];
/******/ 			}))
/******/ 			var promise = new Promise((resolve) => {
/******/ 				fn = () => (resolve(getResult));
/******/ 				fn.r = 0;
/******/ 				var fnQueue = (q) => (q !== queue && !depQueues.has(q) && (depQueues.add(q), q && !q.d && (fn.r++, q.push(fn))));
/******/ 				currentDeps.map((dep) => (dep[webpackQueues](fnQueue)));
/******/ 			});
/******/ 			return fn.r ? promise : getResult();
/******/ 		}, (err) => ((err ? reject(promise[webpackError] = err) : outerResolve(exports)), resolveQueue(queue)));
/******/ 		queue && queue.d < 0 && (queue.d = 0);
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/define property getters */
/******/ (() => {
/******/ 	// define getter functions for harmony exports
/******/ 	__nccwpck_require__.d = (exports, definition) => {
/******/ 		for(var key in definition) {
/******/ 			if(__nccwpck_require__.o(definition, key) && !__nccwpck_require__.o(exports, key)) {
/******/ 				Object.defineProperty(exports, key, { enumerable: true, get: definition[key] });
/******/ 			}
/******/ 		}
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/hasOwnProperty shorthand */
/******/ (() => {
/******/ 	__nccwpck_require__.o = (obj, prop) => (Object.prototype.hasOwnProperty.call(obj, prop))
/******/ })();
/******/ 
/************************************************************************/
/******/ 
/******/ // startup
/******/ // Load entry module and return exports
/******/ // This entry module used 'module' so it can't be inlined
/******/ var __webpack_exports__ = __nccwpck_require__(429);
/******/ __webpack_exports__ = await __webpack_exports__;
/******/ 
