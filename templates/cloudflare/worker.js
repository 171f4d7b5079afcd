
// ---- Cloudflare Workers glue: templates/cloudflare/worker.js, after templates/js/route-core.js ----
//
// An ES module Worker (wrangler.toml beside it) that answers every request: the shared core
// decides, the snapshot's public/ files are read through the static assets binding (ASSETS),
// the token is hashed with WebCrypto. The routing table below is rendered from
// _routers/routes.json at export time.
//
// What a Worker cannot see: the raw request target. request.url is the URL as the WHATWG parser
// left it, and the parser resolves `.` and `..` segments (also spelled %2e), turns `\` into `/`
// and percent-encodes a few bytes. The re-encoding loses nothing (the core decodes each segment
// once, and an encoded byte decodes to itself); the resolved dot segments are lost
// (docs/hosting/cloudflare.md).
//
// ETags: ../etags.txt (sorted, `<path> "<blake3>";` per line) is bundled as a text module: a
// string, not parsed at isolate start; etagOf() binary-searches it.

import ETAGS from '../etags.txt';

var INTERNAL_ERROR = '{"code":500,"message":"Internal Server Error"}';

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

async function sha256hex(text) {
    var digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
    var bytes = new Uint8Array(digest);
    var hex = '';
    var i;
    for (i = 0; i < bytes.length; i++) {
        hex += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
    }
    return hex;
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

// The request target from request.url: the path and query after the origin.
function targetOf(url) {
    var slash = url.indexOf('/', url.indexOf('//') + 2);
    return slash < 0 ? '/' : url.substring(slash);
}

// The answer, its body read from `file` (an assets response, or a string), or none. HEAD: the
// head GET would give; the runtime drops the Content-Length of a HEAD answer that has a body, so
// the body is measured and left out.
async function respond(method, answer, file, extra) {
    var headers = new Headers();
    var body = file === null || typeof file === 'string' ? file : file.body;
    var i, bytes;
    if (answer.file !== null) {
        headers.set('Content-Type', CONTENT_TYPE);
    }
    for (i = 0; i < answer.headers.length; i++) {
        headers.append(answer.headers[i][0], answer.headers[i][1]);
    }
    for (i = 0; extra && i < extra.length; i++) {
        headers.set(extra[i][0], extra[i][1]);
    }
    if (method === 'HEAD' && body !== null) {
        bytes = typeof file === 'string' ? new TextEncoder().encode(file) :
            new Uint8Array(await file.arrayBuffer());
        headers.set('Content-Length', String(bytes.length));
        body = null;
    }
    return new Response(body, {status: answer.status, headers: headers});
}

function fault(method, message) {
    console.error('matrix-snapshot: ' + message);
    return respond(method, withCors(errorAnswer(500), TABLE), INTERNAL_ERROR);
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
            // The 200's file is read at once (GET): when it exists, that is the answer.
            found = await asset(env, c.answer.kind === 'file' ? 'GET' : 'HEAD', c.path);
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
