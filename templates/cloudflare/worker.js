
// ---- Cloudflare Workers glue: templates/cloudflare/worker.js, after templates/js/route-core.js,
// table.js and common.js ----
//
// An ES module Worker (wrangler.toml beside it) that answers every request: the shared core
// decides, the snapshot's public/ files are read through the static assets binding (ASSETS),
// the token is hashed with WebCrypto. The routing table below is rendered from
// _routers/routes.json at export time.
//
// ETags: ../etags.txt (sorted, `<path> "<blake3>";` per line) is bundled as a text module: a
// string, not parsed at isolate start; etagOf() binary-searches it.

import ETAGS from '../etags.txt';

// Any origin: the assets binding looks at the path only.
var ASSET_ORIGIN = 'https://assets.invalid/';

// The quoted blake3 of a file under public/, from ETAGS, or null. ETAGS is sorted by path
// (byte order; paths are ASCII): a binary search over its lines, without splitting it.
function etagOf(path) {
    var lo = 0;
    var hi = ETAGS.length;
    var mid, start, end, space, key;
    // lo and hi are line starts; the line sought, if any, starts in [lo, hi).
    while (lo < hi) {
        mid = (lo + hi) >>> 1;
        start = mid === 0 ? 0 : ETAGS.lastIndexOf('\n', mid - 1) + 1;
        end = ETAGS.indexOf('\n', start);
        if (end < 0) {
            end = ETAGS.length;
        }
        space = ETAGS.indexOf(' ', start);
        if (space < 0 || space > end) {
            return null;
        }
        key = ETAGS.substring(start, space);
        if (key === path) {
            // Without the `;` that ends the line (an nginx map entry).
            return ETAGS.substring(space + 1, end - 1);
        }
        if (key < path) {
            lo = end + 1;
        } else {
            hi = start;
        }
    }
    return null;
}

// A file of the snapshot (`path` under public/) from the assets binding: the response when it
// exists (a 200), else null.
async function asset(env, method, path) {
    var response = await env.ASSETS.fetch(new Request(ASSET_ORIGIN + path, {method: method}));
    if (response.status === 200) {
        return response;
    }
    if (response.body) {
        await response.body.cancel();
    }
    return null;
}

// Whether the forbidden-URL table (route-core.js forbiddenUrlTable) lists the hash of a `hashed`
// candidate's path: the table is one small static asset. One that routes.json promises but the
// binding cannot give throws: a 500, never a 404 instead of the 403.
async function forbiddenUrlListed(env, path) {
    var hash = await sha256hex(path);
    var file = forbiddenUrlTable(TABLE, hash);
    var table = await asset(env, 'GET', file);
    if (table === null) {
        throw new Error('cannot read ' + file);
    }
    return tableLists(await table.text(), hash);
}

async function handle(request, env) {
    var authorization = request.headers.get('Authorization');
    var token = bearerToken(authorization);
    var hash = token === null ? null : await sha256hex(token);
    var plan = planRoute(request.method, targetOf(request.url), authorization, TABLE,
        function () {
            return hash;
        });
    var answer = plan;
    var i, c, found, file, etag;
    if (plan.candidates) {
        answer = plan.otherwise;
        for (i = 0; i < plan.candidates.length; i++) {
            c = plan.candidates[i];
            if (c.hashed) {
                found = await forbiddenUrlListed(env, c.path);
            } else {
                // The 200's file is read at once (GET): when it exists, that is the answer.
                found = await asset(env, c.answer.kind === 'file' ? 'GET' : 'HEAD', c.path);
            }
            if (Boolean(found) === c.exists) {
                answer = c.answer;
                break;
            }
        }
        if (answer.kind === 'file') {
            etag = etagOf(answer.file);
            if (etag === null) {
                return fault(request.method,
                    'no ETag for ' + answer.file + ' in _routers/etags.txt');
            }
            return respond(request.method, answer, found, [['ETag', etag]]);
        }
    }
    if (answer.file === null) {
        return respond(request.method, answer, null);
    }
    file = await asset(env, 'GET', answer.file);
    if (file === null) {
        return fault(request.method, 'cannot read ' + answer.file);
    }
    return respond(request.method, answer, file);
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
