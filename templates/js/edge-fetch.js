
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
    a = route(request.method, url.pathname + url.search, authorization, TABLE,
        function () { return hash; }, fileExists);
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
    file = await fetch(new URL('/' + a.file, url), {headers: [[KEY_HEADER, key]]});
    if (file.status !== 200) {
        return internalError('fetching /' + a.file + ': ' + file.status);
    }
    body = await file.arrayBuffer();
    return new Response(request.method === 'HEAD' ? null : body, {
        status: a.status,
        headers: headers
    });
}
