
// ---- Cloudflare Workers glue for a pack snapshot: templates/cloudflare/pack.js, after
// templates/js/route-core.js, table.js, pack-read.js and common.js ----
//
// An ES module Worker (wrangler.toml beside it) that answers every request: the shared core
// decides, pack-read.js finds the files in the pack index and reads the 200's byte range, here
// from an R2 bucket bound as BUCKET holding the snapshot's public/ files under the same keys
// (`__api/~/pack/...`; docs/hosting/cloudflare.md has the upload recipe). R2 reads ranges
// (`get(key, {range})`); Workers Static Assets would not (they answer the whole file).
//
// Per isolate: root.json is kept for PACK_ROOT_TTL (5 s: an update is seen within that), and
// parsed shards in an LRU (PACK_SHARDS_KEPT, PACK_SHARD_BYTES). A 200 takes one shard read (none
// when cached) and one range read; an error takes the shard read only.

// By-URL requests have a forbidden marker in the pack index (route-core.js step 9).
TABLE.forbidden_urls = true;

var STATE = packState();

function sha256(data) {
    return crypto.subtle.digest('SHA-256', typeof data === 'string' ?
        new TextEncoder().encode(data) : data).then(function (digest) {
        return new Uint8Array(digest);
    });
}

// The bucket's objects, as pack-read.js reads them.
function r2Io(bucket) {
    return {
        text: async function (path) {
            var object = await bucket.get(path);
            return object === null ? null : object.text();
        },
        bytes: async function (path) {
            var object = await bucket.get(path);
            return object === null ? null : new Uint8Array(await object.arrayBuffer());
        },
        range: async function (path, offset, length) {
            var object = await bucket.get(path, {range: {offset: offset, length: length}});
            if (object === null) {
                return null;
            }
            // R2 answers the range asked for; a whole object (start 0) would be sliced.
            return {
                bytes: new Uint8Array(await object.arrayBuffer()),
                start: object.range && typeof object.range.offset === 'number' ?
                    object.range.offset : offset
            };
        },
        sha256: sha256
    };
}

async function handle(request, env) {
    var authorization = request.headers.get('Authorization');
    var token = bearerToken(authorization);
    var hash = token === null ? null : await sha256hex(token);
    var plan = planRoute(request.method, targetOf(request.url), authorization, TABLE,
        function () {
            return hash;
        });
    var result;
    if (!env.BUCKET) {
        return fault(request.method, 'no R2 bucket bound as BUCKET (wrangler.toml r2_buckets)');
    }
    try {
        result = await packResolve(r2Io(env.BUCKET), STATE, plan, Date.now());
    } catch (e) {
        return fault(request.method, String(e && e.message || e));
    }
    return respond(request.method, result.answer, result.body,
        result.etag === null ? null : [['ETag', result.etag]]);
}

export default {
    async fetch(request, env) {
        try {
            return await handle(request, env);
        } catch (e) {
            return fault(request.method, String(e && e.stack || e));
        }
    }
};
