
// ---- Cloudflare Workers glue shared by both layouts: templates/cloudflare/common.js, after
// templates/js/route-core.js and table.js, before worker.js (files) or pack.js (packs) ----
//
// What a Worker cannot see: the raw request target. request.url is the URL as the WHATWG parser
// left it, and the parser resolves `.` and `..` segments (also spelled %2e), turns `\` into `/`
// and percent-encodes a few bytes. The re-encoding loses nothing (the core decodes each segment
// once, and an encoded byte decodes to itself); the resolved dot segments are lost
// (docs/hosting/cloudflare.md).

var INTERNAL_ERROR = '{"code":500,"message":"Internal Server Error"}';

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

// The request target from request.url: the path and query after the origin.
function targetOf(url) {
    var slash = url.indexOf('/', url.indexOf('//') + 2);
    return slash < 0 ? '/' : url.substring(slash);
}

// The answer, its body read from `file` (an assets response, a string or bytes), or none. HEAD:
// the head GET would give; the runtime drops the Content-Length of a HEAD answer that has a
// body, so the body is measured and left out.
async function respond(method, answer, file, extra) {
    var headers = new Headers();
    var body = file === null || typeof file === 'string' || file instanceof Uint8Array ? file :
        file.body;
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
        if (typeof file === 'string') {
            bytes = new TextEncoder().encode(file);
        } else if (file instanceof Uint8Array) {
            bytes = file;
        } else {
            bytes = new Uint8Array(await file.arrayBuffer());
        }
        headers.set('Content-Length', String(bytes.length));
        body = null;
    }
    return new Response(body, {status: answer.status, headers: headers});
}

function fault(method, message) {
    console.error('matrix-snapshot: ' + message);
    return respond(method, withCors(errorAnswer(500), TABLE), INTERNAL_ERROR);
}

