
// ---- Shared by the Netlify Edge Function and the Vercel Routing Middleware (after
// templates/js/route-core.js, before the platform's entry point): the table, the files list and
// answer(request, key), which builds the whole answer. See templates/netlify/matrix-api.js.

import FILES from './snapshot-files.js';

var KEY_HEADER = 'x-matrix-snapshot-key';
var INTERNAL_ERROR = '{"code":500,"message":"Internal Server Error"}';

function fileExists(path) {
    return Object.prototype.hasOwnProperty.call(FILES, path);
}

async function sha256hex(text) {
    var digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
    return Array.from(new Uint8Array(digest), function (b) {
        return (b < 16 ? '0' : '') + b.toString(16);
    }).join('');
}

function internalError(message) {
    console.error('matrix-snapshot: ' + message);
    return new Response(INTERNAL_ERROR, {
        status: 500,
        headers: {'Content-Type': CONTENT_TYPE}
    });
}

// A static file of the snapshot (`path` under public/), fetched from the same deployment with
// the key header, which lets the request through to the static files.
function fetchFile(path, url, key) {
    return fetch(new URL('/' + path, url), {headers: [[KEY_HEADER, key]]});
}

// Whether the forbidden-URL table (route-core.js forbiddenUrlTable) lists the hash of a
// `hashed` candidate's path: the one small table is fetched, not bundled (it grows with the
// forbidden URLs). One that routes.json promises but that cannot be fetched throws: a 500,
// never a 404 instead of the 403.
async function forbiddenUrlListed(path, url, key) {
    var hash = await sha256hex(path);
    var file = forbiddenUrlTable(TABLE, hash);
    var table = await fetchFile(file, url, key);
    if (table.status !== 200) {
        throw new Error('fetching /' + file + ': ' + table.status);
    }
    return tableLists(await table.text(), hash);
}

// resolvePlan with the files list, and the forbidden-URL tables fetched when asked.
async function resolveEdge(plan, url, key) {
    var i, c, found;
    if (!plan.candidates) {
        return plan;
    }
    for (i = 0; i < plan.candidates.length; i++) {
        c = plan.candidates[i];
        found = c.hashed ? await forbiddenUrlListed(c.path, url, key) : fileExists(c.path);
        if (found === c.exists) {
            return c.answer;
        }
    }
    return plan.otherwise;
}

// The answer to `request`, or undefined to let it through to the static files (this
// function's or middleware's own body fetches). `key`: the deployment's MATRIX_SNAPSHOT_KEY.
async function answer(request, key) {
    var url = new URL(request.url);
    var authorization = request.headers.get('authorization');
    var token, hash, a, headers, i, file, body;
    if (!key) {
        return internalError('set the environment variable MATRIX_SNAPSHOT_KEY (docs/hosting)');
    }
    if (request.headers.get(KEY_HEADER) === key) {
        return undefined;
    }
    token = bearerToken(authorization);
    hash = token === null ? null : await sha256hex(token);
    try {
        a = await resolveEdge(planRoute(request.method, url.pathname + url.search, authorization,
            TABLE, function () { return hash; }), url, key);
    } catch (e) {
        return internalError(String(e && e.message || e));
    }
    headers = new Headers();
    for (i = 0; i < a.headers.length; i++) {
        headers.set(a.headers[i][0], a.headers[i][1]);
    }
    if (a.file === null) {
        return new Response(null, {status: a.status, headers: headers});
    }
    headers.set('Content-Type', CONTENT_TYPE);
    if (a.kind === 'file') {
        headers.set('ETag', FILES[a.file]);
    }
    file = await fetchFile(a.file, url, key);
    if (file.status !== 200) {
        return internalError('fetching /' + a.file + ': ' + file.status);
    }
    body = await file.arrayBuffer();
    return new Response(request.method === 'HEAD' ? null : body, {
        status: a.status,
        headers: headers
    });
}
