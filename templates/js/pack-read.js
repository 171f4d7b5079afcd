
// ---- The pack layout's reader: templates/js/pack-read.js, after route-core.js and table.js,
// before a host's glue (nginx njs, the Cloudflare Worker, edge-pack.js for Netlify and
// Vercel). ----
//
// A pack snapshot (`export --layout pack`; src/snapshot/pack.rs is the reference reader and
// documents the format) keeps every route's file as an index entry pointing at a byte range of
// a pack. Routing is unchanged: planRoute (route-core.js) names the files to look for, by the
// paths the files layout would use; packResolve() looks each one up in the index instead of the
// file system, then reads the winning body's byte range. Nothing here grows with the snapshot:
// the index is read from the snapshot's files as requests need it.
//
// Written in the subset route-core.js uses (njs 0.7.9), plus async/await (never `await` inside
// a call's arguments: njs 0.7.9 refuses it). No Map: the shard cache is a plain object.
//
// API
//
//   packState() -> a cache: the root (kept PACK_ROOT_TTL ms) and parsed shards (an LRU of at
//     most PACK_SHARDS_KEPT shards and PACK_SHARD_BYTES bytes, keyed by the shard's name, which
//     is the hash of its bytes, so a new export never meets a stale shard). Hosts with state
//     that survives requests (a Worker's isolate) keep one; nginx before njs 0.8 makes one per
//     request.
//
//   packResolve(io, state, plan, now) -> Promise of {answer, body, etag}
//     plan    what planRoute returned (an Answer or a Plan; the table needs forbidden_urls).
//     now     milliseconds (Date.now()), for the root's TTL.
//     answer  the Answer (route-core.js); body: the bytes of a 200 (a Uint8Array or Buffer,
//             checked against the index's length and hash), the text of an error body (from
//             root.json's `errors`: no body read), or null (the 204); etag: the 200's quoted
//             ETag, else null.
//     A missing, truncated or altered root, shard or pack throws an Error whose `packFault` is
//     true: the glue answers 500 with the API's error body (never wrong bytes). When the root
//     came from the cache, the lookup is tried once more with a fresh root first (an update
//     deletes what the previous root named only after the new root is up).
//
//   io, given by the glue (paths are relative to the web root, the snapshot's public/):
//     io.text(path)    -> the object as text, or null when it does not exist
//     io.bytes(path)   -> the object's bytes (Uint8Array or Buffer), or null
//     io.range(path, offset, length) -> null when the object does not exist, else
//                         {bytes, start}: bytes holding the range, `start` being the offset of
//                         bytes[0] in the object (a host that ignores a Range header answers the
//                         whole object: start 0; the range is sliced out here)
//     io.sha256(data)  -> the SHA-256 digest (32 bytes) of a string of ASCII or of bytes
//   Each may return a value or a Promise of one.

var PACK_DIR = '__api/~/pack';
var PACK_ROOT_FILE = PACK_DIR + '/root.json';
var PACK_ROOT_FORMAT = 'matrix-snapshot-pack-root/1';
// A root whose index has an overlay: entries that differ from its (base) shards, looked up
// first (an update writes one when it is less to upload than the base shards that changed).
var PACK_ROOT_FORMAT_OVERLAY = 'matrix-snapshot-pack-root/2';
// The pack position of an overlay record that deletes its key.
var PACK_DELETED = 4294967295;
var PACK_MAGIC = 'msidx/1\n';
var PACK_HEADER = 16;
var PACK_RECORD = 28;
// How long a Worker keeps root.json before reading it again: an update is seen within this.
var PACK_ROOT_TTL = 5000;
// The shards a Worker keeps (the bytes bound wins: a snapshot has at most 8,192 shards, 28 bytes
// an entry). 32 MiB hold the whole index of a snapshot of up to about 1.2M routes (150,000
// assets `minimal`), so a warm isolate reads one range an answer; above, shards come and go.
var PACK_SHARDS_KEPT = 8192;
var PACK_SHARD_BYTES = 32 * 1024 * 1024;
var PACK_NAME = /^[0-9a-f]{16}$/;

function packFault(message) {
    var e = new Error(message);
    e.packFault = true;
    return e;
}

function packState() {
    return {
        root: null,
        rootAt: 0,
        shards: {},
        count: 0,
        bytes: 0,
        clock: 0
    };
}

// Lower-case hex of the first `n` bytes.
function packHex(bytes, n) {
    var out = '';
    var i;
    for (i = 0; i < n; i++) {
        out += HEX.charAt(bytes[i] >> 4) + HEX.charAt(bytes[i] & 15);
    }
    return out;
}

function packU32(bytes, at) {
    return bytes[at] + bytes[at + 1] * 256 + bytes[at + 2] * 65536 + bytes[at + 3] * 16777216;
}

// Compares the 8 key-hash bytes of entry `i` with `key`: <0, 0, >0.
function packCompare(bytes, i, key) {
    var at = PACK_HEADER + i * PACK_RECORD;
    var k;
    for (k = 0; k < 8; k++) {
        if (bytes[at + k] !== key[k]) {
            return bytes[at + k] - key[k];
        }
    }
    return 0;
}

// root.json's text, parsed and checked as src/snapshot/pack.rs Root::parse does.
function packParseRoot(text) {
    var root, i, names;
    try {
        root = JSON.parse(text);
    } catch (e) {
        throw packFault(PACK_ROOT_FILE + ': not JSON (' + e.message + ')');
    }
    if (!root || (root.format !== PACK_ROOT_FORMAT && root.format !== PACK_ROOT_FORMAT_OVERLAY) ||
        typeof root.shard_bits !== 'number' ||
        root.shard_bits < 0 || root.shard_bits > 16 || !root.shards || !root.packs ||
        root.shards.length !== Math.pow(2, root.shard_bits) || !root.errors ||
        (root.format === PACK_ROOT_FORMAT_OVERLAY) !== Boolean(root.overlay) ||
        (root.overlay && (typeof root.overlay.bits !== 'number' || root.overlay.bits < 0 ||
            root.overlay.bits > root.shard_bits || !root.overlay.shards ||
            root.overlay.shards.length !== Math.pow(2, root.overlay.bits)))) {
        throw packFault(PACK_ROOT_FILE + ': not a ' + PACK_ROOT_FORMAT + ' or ' +
            PACK_ROOT_FORMAT_OVERLAY + ' root');
    }
    names = root.shards.concat(root.overlay ? root.overlay.shards : [], root.packs.filter(function (p) {
        return p !== null;
    }));
    for (i = 0; i < names.length; i++) {
        if (typeof names[i] !== 'string' || !PACK_NAME.test(names[i])) {
            throw packFault(PACK_ROOT_FILE + ': ' + JSON.stringify(names[i]) +
                ' is not a pack or shard name');
        }
    }
    return root;
}

async function packRoot(io, state, now) {
    var text;
    if (state.root !== null && now - state.rootAt < PACK_ROOT_TTL) {
        return state.root;
    }
    text = await io.text(PACK_ROOT_FILE);
    if (text === null || text === undefined) {
        throw packFault(PACK_ROOT_FILE + ' is missing');
    }
    state.root = packParseRoot(String(text));
    state.rootAt = now;
    state.fresh = true;
    return state.root;
}

// Keeps a parsed shard, dropping the least recently used past the bounds.
function packKeep(state, name, bytes) {
    var oldest, key;
    state.shards[name] = {bytes: bytes, used: ++state.clock};
    state.count++;
    state.bytes += bytes.length;
    while (state.count > PACK_SHARDS_KEPT || state.bytes > PACK_SHARD_BYTES) {
        oldest = null;
        for (key in state.shards) {
            if (Object.prototype.hasOwnProperty.call(state.shards, key) && key !== name &&
                (oldest === null || state.shards[key].used < state.shards[oldest].used)) {
                oldest = key;
            }
        }
        if (oldest === null) {
            break;
        }
        state.count--;
        state.bytes -= state.shards[oldest].bytes.length;
        delete state.shards[oldest];
    }
}

// The shard named `name` (a base or an overlay shard): read, checked against its name (the
// SHA-256 of its bytes), its header and its length, once; then kept.
async function packShard(io, state, name) {
    var file = PACK_DIR + '/index/' + name + '.idx';
    var hit = Object.prototype.hasOwnProperty.call(state.shards, name) && state.shards[name];
    var bytes, digest, k, count;
    if (hit) {
        hit.used = ++state.clock;
        return hit.bytes;
    }
    bytes = await io.bytes(file);
    if (bytes === null || bytes === undefined) {
        throw packFault(file + ' is missing');
    }
    digest = await io.sha256(bytes);
    if (packHex(digest, 8) !== name) {
        throw packFault(file + ': its bytes do not match its name (truncated or altered)');
    }
    for (k = 0; k < 8; k++) {
        if (bytes[k] !== PACK_MAGIC.charCodeAt(k)) {
            throw packFault(file + ': not an index shard');
        }
    }
    count = packU32(bytes, 8);
    if (bytes.length !== PACK_HEADER + count * PACK_RECORD) {
        throw packFault(file + ': ' + bytes.length + ' bytes for ' + count + ' entries');
    }
    packKeep(state, name, bytes);
    return bytes;
}

// The index entry of `key` (a path under the web root), or null: {pack, offset, length, etag}.
// With an overlay, its overlay shard is asked first (a record there wins, a deleting one says
// the key is not there); then its base shard.
async function packLookup(io, state, root, key) {
    var slash = key.lastIndexOf('/');
    var dirDigest = await io.sha256(slash < 0 ? '' : key.substring(0, slash));
    var top = packU32([dirDigest[3], dirDigest[2], dirDigest[1], dirDigest[0]], 0);
    var hash = await io.sha256(key);
    var shard, entry;
    if (root.overlay) {
        shard = await packShard(io, state, root.overlay.shards[packTop(top, root.overlay.bits)]);
        entry = packFind(shard, hash);
        if (entry !== null) {
            return entry.pack === PACK_DELETED ? null : entry;
        }
    }
    shard = await packShard(io, state, root.shards[packTop(top, root.shard_bits)]);
    return packFind(shard, hash);
}

// The top `bits` bits of the 32-bit `top`.
function packTop(top, bits) {
    return bits === 0 ? 0 : Math.floor(top / Math.pow(2, 32 - bits));
}

// The record of key hash `hash` in a shard's bytes, or null.
function packFind(shard, hash) {
    var lo = 0;
    var hi = (shard.length - PACK_HEADER) / PACK_RECORD;
    var mid, c, at;
    while (lo < hi) {
        mid = (lo + hi) >>> 1;
        c = packCompare(shard, mid, hash);
        if (c < 0) {
            lo = mid + 1;
        } else if (c > 0) {
            hi = mid;
        } else {
            at = PACK_HEADER + mid * PACK_RECORD;
            return {
                pack: packU32(shard, at + 8),
                offset: packU32(shard, at + 12),
                length: packU32(shard, at + 16),
                etag: packHex(shard.subarray(at + 20, at + 28), 8)
            };
        }
    }
    return null;
}

// The body of an entry: its byte range of its pack, checked against its length and hash.
async function packBody(io, root, entry) {
    var name = root.packs[entry.pack];
    var file, got, from, body, digest;
    if (typeof name !== 'string') {
        throw packFault(PACK_ROOT_FILE + ': an index entry names pack ' + entry.pack +
            ', which it does not list');
    }
    file = PACK_DIR + '/packs/' + name + '.pack';
    got = await io.range(file, entry.offset, entry.length);
    if (got === null || got === undefined) {
        throw packFault(file + ' is missing');
    }
    from = entry.offset - got.start;
    body = from < 0 ? got.bytes.subarray(0, 0) : got.bytes.subarray(from, from + entry.length);
    if (body.length !== entry.length) {
        throw packFault(file + ': ' + body.length + ' bytes at ' + entry.offset +
            ' instead of ' + entry.length + ' (truncated)');
    }
    digest = await io.sha256(body);
    if (packHex(digest, 8) !== entry.etag) {
        throw packFault(file + ': the ' + entry.length + ' bytes at ' + entry.offset +
            ' do not match their hash (altered)');
    }
    return body;
}

async function packResolveOnce(io, state, plan, now) {
    var root = await packRoot(io, state, now);
    var answer = plan;
    var found = null;
    var i, c, entry, body;
    if (plan.candidates) {
        answer = plan.otherwise;
        for (i = 0; i < plan.candidates.length; i++) {
            c = plan.candidates[i];
            entry = await packLookup(io, state, root, c.path);
            if (Boolean(entry) === c.exists) {
                answer = c.answer;
                found = entry;
                break;
            }
        }
    }
    if (answer.kind === 'file') {
        body = await packBody(io, root, found);
        return {answer: answer, body: body, etag: '"' + found.etag + '"'};
    }
    if (answer.file === null) {
        return {answer: answer, body: null, etag: null};
    }
    if (!Object.prototype.hasOwnProperty.call(root.errors, answer.file)) {
        throw packFault(PACK_ROOT_FILE + ': no error body ' + answer.file);
    }
    return {answer: answer, body: root.errors[answer.file], etag: null};
}

async function packResolve(io, state, plan, now) {
    var result;
    state.fresh = false;
    try {
        result = await packResolveOnce(io, state, plan, now);
        return result;
    } catch (e) {
        // A root from the cache may name what an update has since deleted: once more, fresh.
        if (!e.packFault || state.fresh) {
            throw e;
        }
        state.root = null;
        result = await packResolveOnce(io, state, plan, now);
        return result;
    }
}
