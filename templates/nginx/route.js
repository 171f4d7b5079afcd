
// ---- nginx (njs 0.7.9) glue: templates/nginx/route.js, after templates/js/route-core.js ----
//
// nginx.conf calls handle() for every request (js_content). The routing table below is
// rendered from _routers/routes.json at export time. A 200 is not read here: handle() names the
// file in $snapshot_file and redirects to the internal location @file, where nginx serves the
// bytes itself (sendfile, Content-Length, HEAD) and adds ETag (the map over _routers/etags.txt),
// Cache-Control and CORS. Every other answer is small and is sent with r.return().

var fs = require('fs');
var crypto = require('crypto');

var INTERNAL_ERROR = '{"code":500,"message":"Internal Server Error"}';

function sha256hex(s) {
    return crypto.createHash('sha256').update(s).digest('hex');
}

// "Does this file exist?", and for a `hashed` candidate (route-core.js: a by-URL forbidden
// marker of the files layout) whether the forbidden-URL table lists its hash. A table that
// routes.json promises but that cannot be read throws: a 500, never a 404 instead of the 403.
function fileExists(root) {
    return function (path, candidate) {
        var hash;
        if (candidate && candidate.hashed) {
            hash = sha256hex(path);
            return tableLists(fs.readFileSync(root + forbiddenUrlTable(TABLE, hash), 'utf8'),
                hash);
        }
        try {
            fs.accessSync(root + path);
            return true;
        } catch (e) {
            return false;
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

// The answer to a request nginx refused to parse (error_page 400 = /): a path with %00, a
// malformed % escape or more `..` than directories. nginx gives up before reading the headers,
// so the Authorization header is unknown. A public snapshot answers as always. A token
// snapshot answers what a valid token gets when that is an error (404, 400, 405, the CORS
// preflight: nothing is disclosed), and a 401 when a file or a 403 would be the answer.
function unparsedAnswer(line, exists) {
    var open, key, answer;
    if (line === null) {
        return withCors(errorAnswer(400), TABLE);
    }
    if (TABLE.auth !== 'token') {
        return route(line.method, line.target, null, TABLE, sha256hex, exists);
    }
    open = {};
    for (key in TABLE) {
        if (Object.prototype.hasOwnProperty.call(TABLE, key)) {
            open[key] = TABLE[key];
        }
    }
    open.auth = 'public';
    answer = route(line.method, line.target, null, open, sha256hex, exists);
    if (answer.kind === 'file' || answer.status === 403) {
        return withCors(errorAnswer(401, [['WWW-Authenticate', REALM]]), TABLE);
    }
    return answer;
}

function handle(r) {
    // `root` of the server block: the snapshot's public/ directory.
    var root = r.variables.document_root + '/';
    var exists = fileExists(root);
    var line = requestLine(r);
    var answer, i, body;
    try {
        if (r.variables.request_uri) {
            answer = route(line === null ? r.method : line.method, r.variables.request_uri,
                r.headersIn.Authorization, TABLE, sha256hex, exists);
        } else {
            answer = unparsedAnswer(line, exists);
        }
    } catch (e) {
        r.error('matrix-snapshot: ' + e);
        r.headersOut['Content-Type'] = CONTENT_TYPE;
        r.return(500, INTERNAL_ERROR);
        return;
    }
    if (answer.kind === 'file') {
        r.variables.snapshot_file = answer.file;
        r.internalRedirect('@file');
        return;
    }
    for (i = 0; i < answer.headers.length; i++) {
        r.headersOut[answer.headers[i][0]] = answer.headers[i][1];
    }
    if (answer.file === null) {
        r.return(answer.status);
        return;
    }
    r.headersOut['Content-Type'] = CONTENT_TYPE;
    try {
        body = fs.readFileSync(root + answer.file);
    } catch (e) {
        r.error('matrix-snapshot: cannot read ' + root + answer.file + ': ' + e);
        r.return(500, INTERNAL_ERROR);
        return;
    }
    r.return(answer.status, body);
}

export default {handle: handle};
