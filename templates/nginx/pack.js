
// ---- nginx (njs 0.7.9) glue for a pack snapshot: templates/nginx/pack.js, after
// templates/js/route-core.js, table.js and pack-read.js ----
//
// nginx.conf (templates/nginx/pack.conf) calls handle() for every request (js_content). The
// core plans the answer; pack-read.js looks the files up in the index and reads the 200's byte
// range of its pack, here with fs.readSync at a position (njs >= 0.7.7). njs before 0.8 keeps no
// state between requests, so root.json and the one shard a request needs are read from disk for
// each request (the page cache keeps them; a shard is ~56 KiB at most on average).

var fs = require('fs');
var crypto = require('crypto');

var INTERNAL_ERROR = '{"code":500,"message":"Internal Server Error"}';

// By-URL requests have a forbidden marker in the pack index (route-core.js step 9).
TABLE.forbidden_urls = true;

function sha256hex(s) {
    return crypto.createHash('sha256').update(s).digest('hex');
}

// The snapshot's files under `root` (the web root, with a trailing `/`), as pack-read.js
// reads them.
function packIo(root) {
    function missing(e) {
        return e && e.code === 'ENOENT';
    }
    return {
        text: function (path) {
            try {
                return fs.readFileSync(root + path, 'utf8');
            } catch (e) {
                if (missing(e)) {
                    return null;
                }
                throw e;
            }
        },
        bytes: function (path) {
            try {
                return fs.readFileSync(root + path);
            } catch (e) {
                if (missing(e)) {
                    return null;
                }
                throw e;
            }
        },
        range: function (path, offset, length) {
            var fd, buf, got, n;
            try {
                fd = fs.openSync(root + path, 'r');
            } catch (e) {
                if (missing(e)) {
                    return null;
                }
                throw e;
            }
            try {
                buf = Buffer.alloc(length);
                got = 0;
                while (got < length) {
                    n = fs.readSync(fd, buf, got, length - got, offset + got);
                    if (!n) {
                        break;
                    }
                    got += n;
                }
            } finally {
                fs.closeSync(fd);
            }
            return {bytes: buf.subarray(0, got), start: offset};
        },
        sha256: function (data) {
            return crypto.createHash('sha256').update(data).digest();
        }
    };
}

// The method and target of the request line ($request), or null. The method comes from here
// rather than r.method, which an error_page redirect turns into GET.
function requestLine(r) {
    var request = r.variables.request || '';
    var first = request.indexOf(' ');
    var last = request.lastIndexOf(' ');
    if (first <= 0 || last <= first) {
        return null;
    }
    return {
        method: request.substring(0, first),
        target: request.substring(first + 1, last)
    };
}

// The answer to a request nginx refused to parse (error_page 400 = /), as templates/nginx/route.js
// gives it: nginx gives up before reading the headers, so the Authorization header is unknown.
// A public snapshot answers as always; a token snapshot answers what a valid token gets when
// that is an error (nothing is disclosed), and a 401 when a file or a 403 would be the answer.
async function unparsed(io, state, line) {
    var open, key, result;
    if (line === null) {
        result = await packResolve(io, state, withCors(errorAnswer(400), TABLE), 0);
        return result;
    }
    if (TABLE.auth !== 'token') {
        result = await packResolve(io, state, planRoute(line.method, line.target, null, TABLE,
            sha256hex), 0);
        return result;
    }
    open = {};
    for (key in TABLE) {
        if (Object.prototype.hasOwnProperty.call(TABLE, key)) {
            open[key] = TABLE[key];
        }
    }
    open.auth = 'public';
    result = await packResolve(io, state, planRoute(line.method, line.target, null, open,
        sha256hex), 0);
    if (result.answer.kind === 'file' || result.answer.status === 403) {
        result = await packResolve(io, state,
            withCors(errorAnswer(401, [['WWW-Authenticate', REALM]]), TABLE), 0);
    }
    return result;
}

async function handle(r) {
    // `root` of the server block: the snapshot's public/ directory.
    var io = packIo(r.variables.document_root + '/');
    var state = packState();
    var line = requestLine(r);
    var result, answer, i, plan;
    try {
        if (r.variables.request_uri) {
            plan = planRoute(line === null ? r.method : line.method, r.variables.request_uri,
                r.headersIn.Authorization, TABLE, sha256hex);
            result = await packResolve(io, state, plan, 0);
        } else {
            result = await unparsed(io, state, line);
        }
        answer = result.answer;
    } catch (e) {
        r.error('matrix-snapshot: ' + r.variables.document_root + ': ' + (e && e.message || e));
        answer = withCors(errorAnswer(500), TABLE);
        result = {body: INTERNAL_ERROR, etag: null};
    }
    for (i = 0; i < answer.headers.length; i++) {
        r.headersOut[answer.headers[i][0]] = answer.headers[i][1];
    }
    if (answer.file === null) {
        r.return(answer.status);
        return;
    }
    r.headersOut['Content-Type'] = CONTENT_TYPE;
    if (result.etag !== null) {
        r.headersOut.ETag = result.etag;
    }
    r.return(answer.status, result.body);
}

export default {handle: handle};
