// matrix-snapshot routing core (docs/routing.md), shared by the JavaScript hosts: nginx (njs),
// and the edge runtimes. It is the same decision as `resolve()` in src/route/mod.rs, written in
// an ES5 subset that also runs on njs 0.7.9 (var and function only; no classes, arrow functions,
// template literals, let/const, lookbehind or TextDecoder), and it is pure: no I/O, no clock, no
// globals written. Percent-decoding and UTF-8 validation work on byte values by hand.
//
// API
//
//   planRoute(method, rawTarget, authorization, table, sha256hex) -> Answer | Plan
//     method         the request method, as sent ("GET", "HEAD", ...).
//     rawTarget      the request target exactly as on the request line: path and query, not
//                    decoded, `..` and `//` not resolved (nginx: $request_uri).
//     authorization  the Authorization header value, or null/undefined when absent.
//                    Both strings may be bytes (one character per byte, as Fetch ByteStrings)
//                    or text (as njs gives valid UTF-8): see toBytes().
//     table          the routing table (_routers/routes.json, a RouteSpec) plus `sort_keys`:
//                    [[sort_by value, file code], ...], every value the API accepts, and
//                    `forbidden_urls: true` where by-URL requests have a forbidden marker too
//                    (the pack layout: templates/js/pack-read.js), or `forbidden_url_digits`
//                    (a number: the files layout's forbidden-URL tables). The
//                    1.2.0 fields may be absent (routes.json leaves out their defaults:
//                    include_dependents false, base_urls [], contexts ["Default"],
//                    context_variants [0]); names in it are text.
//     sha256hex      function(token) -> lower-case hex SHA-256 of the token's UTF-8 bytes; the
//                    token is passed as text (injected by the host glue: njs
//                    require('crypto'), node crypto). WebCrypto is asynchronous: hash
//                    bearerToken(authorization) first, and pass a function returning it.
//
//   An Answer: {status, file, kind, headers}
//     status   204 | 200 | 400 | 401 | 403 | 404 | 405
//     file     the body: a path under public/ (the route's file, or __api/~/errors/<status>.json,
//              or the "not exported" body), or null for the 204 (no body)
//     kind     "file" (200) | "error" | "not-exported" (404) | "preflight" (204)
//     headers  [[name, value], ...] besides Content-Type and Content-Length: WWW-Authenticate,
//              Allow, Access-Control-*, Vary, and Cache-Control on the 200. The host adds
//              Content-Type: application/json; charset=utf-8 (CONTENT_TYPE) to all but the 204,
//              and on the 200 the ETag of the file (from _routers/etags.txt: it cannot hash).
//   Before any file is looked at the answer is final (204, 405, 404 outside the API or for an
//   unknown endpoint, 401, 400, 404 for a URL that can never match): planRoute returns it.
//
//   Otherwise planRoute returns a Plan, which needs "does this file exist?" answers that only
//   the host can give:
//     {candidates: [{path, exists: true|false, answer}, ...], otherwise: answer}
//   The first candidate whose path's existence equals `exists` gives the answer (the file: 200,
//   a candidate only when the profile holds the variant: a file name carries no `base_url` or
//   `context` the profile left out; the forbidden marker: 403; no anchor, always last: 404);
//   when none does, `otherwise` (404 "not exported", or 404 for a page past the end). Paths
//   are relative to the web root (the snapshot's public/ directory) and contain only
//   [a-z0-9_.,~/-]. Hosts whose lookups are asynchronous walk the candidates themselves.
//
//   A candidate with `hashed: true` (by URL, the files layout's forbidden marker) is not a
//   file: it exists when forbiddenUrlTable(table, hash) lists the line of its hash, hash =
//   sha256hex(c.path) (tableLists(text of that table, hash)).
//
//   resolvePlan(plan, exists) -> Answer   (exists: function(path, candidate) -> boolean; an
//     Answer passes; `candidate` tells a `hashed` one)
//   route(method, rawTarget, authorization, table, sha256hex, exists) -> Answer
//     planRoute then resolvePlan, for hosts that can check files synchronously.
//
//   bearerToken(authorization) -> the token text to hash, or null (nothing to hash).
//
//   Also for glue code: CONTENT_TYPE, REALM, errorAnswer(status, headers) and
//   withCors(answer, table) (adds the CORS headers of the table to an answer built by hand).
//
// HEAD is answered as GET without the body: that is the host's job (the plan is the same).

var CONTENT_TYPE = 'application/json; charset=utf-8';
var ALLOW = 'GET, HEAD';
var REALM = 'Bearer realm="Matrix Content API"';
var NOT_EXPORTED_FILE = '__api/~/errors/404-not-exported.json';
var MAX_NAME = 200;
var MAX_I64 = '9223372036854775807';
var DATA_ITEMS = ['urls', 'attributes', 'metadata', 'contents'];
var DATA_LETTERS = ['u', 'a', 'm', 'c'];

function errorAnswer(status, headers) {
    return {
        status: status,
        file: '__api/~/errors/' + status + '.json',
        kind: 'error',
        headers: headers || []
    };
}

// The bytes of `s`, one character per byte. Hosts hand strings over in two ways: as bytes
// (Fetch ByteStrings, latin1: UTF-8 "\u00e9" arrives as "\u00c3\u00a9"; njs 0.7 byte strings)
// or as text (njs decodes valid UTF-8). A string of characters up to 255 that is valid UTF-8
// read as bytes is taken as bytes; any other string is text, encoded as UTF-8. ASCII is the
// same either way. The result is built anew character by character: an njs byte string (nginx
// variables and headers) would turn a character over 127 appended to it later into its UTF-8
// bytes. (Text from a host is decoded bytes: it holds no lone surrogate, which utf8() refuses.)
function toBytes(s) {
    var out = '';
    var i, c;
    for (i = 0; i < s.length; i++) {
        c = s.charCodeAt(i);
        if (c > 255) {
            return utf8(s);
        }
        out += String.fromCharCode(c);
    }
    return isUtf8(out) ? out : utf8(out);
}

// The UTF-8 bytes of text, one character per byte (the table's names are text): every
// character percent-encoded as UTF-8, then each escape read as its byte.
function utf8(s) {
    return encodeURIComponent(s).replace(/%(..)/g, function (m, h) {
        return String.fromCharCode(parseInt(h, 16));
    });
}

// Percent-decodes a byte string once; `+` is a space only when `form` (replaced first, so a
// decoded %2B stays `+`). A `%` not followed by two hex digits stays as it is.
function percentDecode(s, form) {
    return (form ? s.replace(/\+/g, ' ') : s).replace(/%[0-9A-Fa-f]{2}/g, function (m) {
        return String.fromCharCode(parseInt(m.substring(1), 16));
    });
}

// Whether a byte string is well-formed UTF-8 (as Rust's str::from_utf8: no overlong forms, no
// surrogates, nothing above U+10FFFF).
function isUtf8(s) {
    var i = 0;
    var n = s.length;
    var c, need, min, cp, k, d;
    while (i < n) {
        c = s.charCodeAt(i);
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            min = 0x80;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            min = 0x800;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            min = 0x10000;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + need >= n) {
            return false;
        }
        for (k = 1; k <= need; k++) {
            d = s.charCodeAt(i + k);
            if ((d & 0xc0) !== 0x80) {
                return false;
            }
            cp = (cp << 6) | (d & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += need + 1;
    }
    return true;
}

// The characters of a valid UTF-8 byte string (for hosts' sha256hex, which hash UTF-8): every
// byte percent-encoded, then decoded as UTF-8.
function fromUtf8(s) {
    return decodeURIComponent(s.replace(/[\s\S]/g, function (c) {
        return '%' + (256 + c.charCodeAt(0)).toString(16).substring(1);
    }));
}

// Unicode White_Space (Rust's char::is_whitespace) in UTF-8: the bytes of U+0009..U+000D,
// U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 (a
// lead byte never matches as a continuation byte).
var WHITESPACE = /[\t-\r ]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]|\xe2\x81\x9f|\xe3\x80\x80/;

// The token of an Authorization header as text, or null when the header is missing or not
// `Bearer ` and a non-empty run of non-whitespace (then there is nothing to hash). Hosts whose
// SHA-256 is asynchronous (WebCrypto) hash this first and pass planRoute a sha256hex that
// returns the result.
function bearerToken(authorization) {
    var token;
    if (authorization === null || authorization === undefined) {
        return null;
    }
    authorization = toBytes(String(authorization));
    token = authorization.substring(7);
    if (authorization.substring(0, 7) !== 'Bearer ' || !token || !isUtf8(token) ||
        WHITESPACE.test(token)) {
        return null;
    }
    return fromUtf8(token);
}

// `null` when the token opens the snapshot, else the WWW-Authenticate challenge of the 401.
function tokenProblem(table, authorization, sha256hex) {
    var token;
    if (authorization === null || authorization === undefined) {
        return REALM;
    }
    token = bearerToken(authorization);
    if (token === null) {
        return REALM + ', error="invalid_request"';
    }
    if (!table.token_sha256 || sha256hex(token) !== table.token_sha256) {
        return REALM + ', error="invalid_token"';
    }
    return null;
}

// The front servers' normalisation (request::normalize_path, spec section 1, revised 2026-12):
// null when the decoded path holds a NUL (a 404 before any other check), else the raw path
// with its dot segments resolved (RFC 3986 remove_dot_segments on the raw segments; %2e spells
// a dot too; `..` never climbs above `/`). Segments stay encoded.
function normalizePath(path) {
    var parts = path.split('/');
    var out = [];
    var i, dots;
    if (/%00|\x00/.test(path)) {
        return null;
    }
    if (parts[0] !== '') {
        return path;
    }
    for (i = 1; i < parts.length; i++) {
        dots = /^(\.|%2e){1,2}$/i.test(parts[i]) && parts[i].replace(/%2e/gi, '.');
        if (!dots) {
            out.push(parts[i]);
            continue;
        }
        if (dots === '..') {
            out.pop();
        }
        if (i === parts.length - 1) {
            out.push('');
        }
    }
    return '/' + out.join('/');
}

// Whether a normalised raw path is under /__api/, its first segment judged decoded
// (request::in_api: /%5F_api/ is the API).
function inApiPath(path) {
    var slash = path.indexOf('/', 1);
    return path.charAt(0) === '/' && slash > 0 &&
        percentDecode(path.substring(1, slash), false) === '__api';
}

// The route of a normalised raw path under /__api/: {byUrl, id, endpoint} or null (unknown
// endpoint).
function parseEndpoint(path) {
    var parts = path.split('/').slice(2);
    var segs = [];
    var i, d, endpoint;
    for (i = 0; i < parts.length; i++) {
        d = percentDecode(parts[i], false);
        if (!isUtf8(d)) {
            return null;
        }
        segs.push(d);
    }
    // The segments after the id, with their count (a decoded `/` inside one never matches).
    endpoint = {
        '2': 'asset',
        '3children': 'children',
        '4lineage/site': 'lineage'
    }[segs.length + segs.slice(2).join('/')];
    if (segs[0] !== 'assets' || !segs[1] || !endpoint) {
        return null;
    }
    return {
        byUrl: segs[1] === 'by_url',
        id: segs[1],
        endpoint: endpoint
    };
}

// The query as decoded [name, value] byte-string pairs, in order.
function parseQuery(raw) {
    var pairs = [];
    var parts = raw.split('&');
    var i, p, eq;
    for (i = 0; i < parts.length; i++) {
        p = parts[i];
        if (p === '') {
            continue;
        }
        eq = p.indexOf('=');
        if (eq < 0) {
            pairs.push([percentDecode(p, true), '']);
        } else {
            pairs.push([percentDecode(p.substring(0, eq), true),
                percentDecode(p.substring(eq + 1), true)]);
        }
    }
    return pairs;
}

// The first occurrence's value when non-empty, else null (an empty value counts as absent).
function present(pairs, name) {
    var i;
    for (i = 0; i < pairs.length; i++) {
        if (pairs[i][0] === name) {
            return pairs[i][1] || null;
        }
    }
    return null;
}

// `^[0-9]+$` up to 2^63-1, leading zeros allowed: the plain decimal, or null when invalid.
function integer(v) {
    if (!/^[0-9]+$/.test(v)) {
        return null;
    }
    v = v.replace(/^0+(.)/, '$1');
    return v.length > MAX_I64.length || (v.length === MAX_I64.length && v > MAX_I64) ? null : v;
}

function dataCode(value) {
    var items = value.split(',');
    return DATA_ITEMS.map(function (item, k) {
        return items.indexOf(item) >= 0 ? DATA_LETTERS[k] : '-';
    }).join('');
}

// The request's parameters, or null when one is invalid (400).
function parseParams(pairs, target, table) {
    var p = {
        data: '----',
        url: null,
        limit: '100',
        page: '1',
        types: null,
        sort: 'tree',
        order: 'asc'
    };
    var v, types, i, sorted, found, x, b, dep;
    v = present(pairs, 'data');
    if (v !== null) {
        if (!isUtf8(v)) {
            return null;
        }
        p.data = dataCode(v);
    }
    // Content API 1.2.0 (RouteSpec::variant): `context` is a declared name's position (the
    // default's, 0, names no file; an undeclared name, or bytes that are not UTF-8, are a
    // 400); `base_url`, when http(s) with a host, is the 1-based position of its canonical
    // form among the exported values (-1: not exported); `include_dependents` (asset
    // endpoints) counts when exactly `true`. They give the variant code of the file name, and
    // whether the profile holds it. routes.json leaves the fields out at their defaults.
    v = present(pairs, 'context');
    x = v === null ? 0 : (table.contexts || ['Default']).map(utf8).indexOf(v);
    if (x < 0) {
        return null;
    }
    v = present(pairs, 'base_url');
    b = 0;
    if (v !== null) {
        if (!isUtf8(v)) {
            return null;
        }
        v = cleanUrl(v);
        found = /^https?:\/\//i.exec(v);
        if (found && urlKey(v) !== null) {
            b = (table.base_urls || []).map(utf8).indexOf(found[0].toLowerCase() + urlKey(v)) +
                1 || -1;
        }
    }
    dep = target.endpoint === 'asset' && present(pairs, 'include_dependents') === 'true';
    p.listed = b >= 0 && (!x || contains(table.context_variants || [0], String(x))) &&
        (!dep || table.include_dependents === true);
    v = (dep ? 'd' : '') + (b > 0 ? 'b' + b : '') + (x ? 'x' + x : '');
    p.variant = v && '.' + v;
    if (target.byUrl) {
        v = present(pairs, 'url');
        if (v === null || !isUtf8(v)) {
            return null;
        }
        // Blank after the URL clean-up is missing too (`url=%20`: 400).
        p.url = cleanUrl(v);
        if (p.url === '') {
            return null;
        }
    }
    if (target.endpoint !== 'children') {
        return p;
    }
    v = present(pairs, 'limit');
    if (v !== null) {
        p.limit = integer(v);
        if (p.limit === null) {
            return null;
        }
    }
    v = present(pairs, 'page');
    if (v !== null) {
        p.page = integer(v);
        if (p.page === null || p.page === '0') {
            return null;
        }
    }
    v = present(pairs, 'asset_types');
    if (v !== null) {
        if (!isUtf8(v)) {
            return null;
        }
        types = v.split(',');
        sorted = [];
        for (i = 0; i < types.length; i++) {
            if (types[i] !== '') {
                sorted.push(types[i]);
            }
        }
        // Bytes compare as code units here: the order of Rust's String sort.
        sorted.sort();
        p.types = [];
        for (i = 0; i < sorted.length; i++) {
            if (i === 0 || sorted[i] !== sorted[i - 1]) {
                p.types.push(sorted[i]);
            }
        }
        if (p.types.length === 0) {
            p.types = null;
        }
    }
    v = present(pairs, 'sort_by');
    if (v !== null) {
        found = null;
        for (i = 0; i < table.sort_keys.length; i++) {
            if (table.sort_keys[i][0] === v) {
                found = table.sort_keys[i][1];
            }
        }
        if (found === null) {
            return null;
        }
        p.sort = found;
    }
    v = present(pairs, 'sort_order');
    if (v !== null) {
        if (v !== 'asc' && v !== 'desc') {
            return null;
        }
        p.order = v;
    }
    return p;
}

function asciiLower(s) {
    return s.replace(/[A-Z]+/g, function (m) {
        return m.toLowerCase();
    });
}

// The URL clean-up (src/store/url.rs clean, after the WHATWG URL Standard): leading and
// trailing C0 controls and spaces stripped, then tabs and newlines inside removed.
// (No anchored global regular expression: one looped forever in njs 0.7.9.)
function cleanUrl(url) {
    var start = 0;
    var end = url.length;
    while (start < end && url.charCodeAt(start) < 33) {
        start++;
    }
    while (end > start && url.charCodeAt(end - 1) < 33) {
        end--;
    }
    return url.substring(start, end).replace(/[\t\n\r]/g, '');
}

// A host with its port (url::normalize_host): lower case; the port compared as a number, the
// default ports (80, 443) and an empty port dropped; null for a port that is not all digits or
// above 65535 (it never matches).
function normalizeHost(host) {
    var colon = host.lastIndexOf(':');
    var name, port;
    if (colon < host.lastIndexOf(']')) {
        colon = -1;
    }
    name = asciiLower(colon < 0 ? host : host.substring(0, colon));
    port = colon < 0 ? '' : host.substring(colon + 1);
    if (port === '') {
        return name;
    }
    if (!/^[0-9]{1,5}$/.test(port.replace(/^0+(.)/, '$1')) || +port > 65535) {
        return null;
    }
    port = String(+port);
    return port === '80' || port === '443' ? name : name + ':' + port;
}

// The URL key (src/store/url.rs): cleaned up, scheme (http, https or none) dropped, query and
// fragment dropped, host lower-cased, the port normalised (normalizeHost), one trailing `/`
// dropped; null when it can never match (another scheme, an empty host, a bad port).
function urlKey(url) {
    var rest, beforeSlash, cut, slash, host, path, head;
    url = cleanUrl(url);
    head = asciiLower(url.substring(0, 8));
    if (head.substring(0, 7) === 'http://') {
        rest = url.substring(7);
    } else if (head === 'https://') {
        rest = url.substring(8);
    } else if (url.substring(0, 2) === '//') {
        rest = url.substring(2);
    } else {
        // `host:1234` (a port) rather than `mailto:x` or `http:` (a scheme).
        beforeSlash = url.split('/')[0];
        if (url.indexOf('://') >= 0 || !/^[^:]*$|^.+:[0-9]+$/.test(beforeSlash)) {
            return null;
        }
        rest = url;
    }
    cut = rest.search(/[?#]/);
    if (cut >= 0) {
        rest = rest.substring(0, cut);
    }
    slash = rest.indexOf('/');
    host = slash < 0 ? rest : rest.substring(0, slash);
    path = slash < 0 ? '' : rest.substring(slash);
    host = host && normalizeHost(host);
    return host ? host + path.replace(/\/$/, '') : null;
}

var HEX = '0123456789abcdef';

// encode_segment (docs/snapshot-format.md) of a byte string: [a-z0-9_-] raw, `.` raw except
// first, every other byte ~xx, empty ~-; names over MAX_NAME bytes cut into chunks ending ~_.
function encodeSegment(s) {
    var enc = '';
    var out = '';
    var i, c, unit, chunk;
    if (s === '') {
        return '~-';
    }
    for (i = 0; i < s.length; i++) {
        c = s.charCodeAt(i);
        if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c === 45 ||
            (c === 46 && i > 0)) {
            enc += s.charAt(i);
        } else {
            enc += '~' + HEX.charAt(c >> 4) + HEX.charAt(c & 15);
        }
    }
    if (enc.length <= MAX_NAME) {
        return enc;
    }
    chunk = 0;
    i = 0;
    while (i < enc.length) {
        unit = enc.charAt(i) === '~' ? 3 : 1;
        if (chunk + unit > MAX_NAME - 2) {
            out += '~_/';
            chunk = 0;
        }
        if (chunk === 0 && enc.charAt(i) === '.') {
            // A chunk is a name of its own: it may not start with a dot either.
            out += '~2e';
            chunk += 3;
        } else {
            out += enc.substring(i, i + unit);
            chunk += unit;
        }
        i += unit;
    }
    return out;
}

// The code of an asset_types filter in file names: `all`, or the encoded types joined by `,`.
function typesCode(types) {
    var codes = [];
    var i;
    if (types === null) {
        return 'all';
    }
    for (i = 0; i < types.length; i++) {
        codes.push(encodeSegment(types[i]).split('/').join(''));
    }
    return codes.join(',');
}

function contains(list, value) {
    return list.map(String).indexOf(value) >= 0;
}

function containsCode(list, value) {
    return list.map(function (x) {
        return x.code;
    }).indexOf(value) >= 0;
}

// Whether the profile holds this variant of the endpoint (RouteSpec::holds).
function holds(table, endpoint, p) {
    if (endpoint !== 'children') {
        return p.listed && contains(table.data, p.data);
    }
    return p.listed && contains(table.children_data, p.data) &&
        containsCode(table.sort_by, p.sort) && contains(table.sort_order, p.order) &&
        contains(table.limits, p.limit) && containsCode(table.asset_types, typesCode(p.types));
}

function decide(method, target, authorization, table, sha256hex) {
    var q = target.indexOf('?');
    var path = normalizePath(q < 0 ? target : target.substring(0, q));
    var query = q < 0 ? '' : target.substring(q + 1);
    var inApi, challenge, endpoint, params, dir, key, file, plan, hashed;
    // 0. A NUL in the decoded path: 404 before any other check; then dot segments resolved and
    // the /__api/ prefix judged decoded (spec section 1, revised 2026-12).
    if (path === null) {
        return errorAnswer(404);
    }
    inApi = inApiPath(path);
    // 1. CORS preflight.
    if (inApi && method === 'OPTIONS' && table.cors) {
        return {
            status: 204,
            file: null,
            kind: 'preflight',
            headers: [['Access-Control-Allow-Methods', ALLOW],
                ['Access-Control-Allow-Headers', 'Authorization']]
        };
    }
    // 2. Method.
    if (method !== 'GET' && method !== 'HEAD') {
        return errorAnswer(405, [['Allow', ALLOW]]);
    }
    // 3. Outside the API.
    if (!inApi) {
        return errorAnswer(404);
    }
    // 4. Token.
    if (table.auth === 'token') {
        challenge = tokenProblem(table, authorization, sha256hex);
        if (challenge !== null) {
            return errorAnswer(401, [['WWW-Authenticate', challenge]]);
        }
    }
    // 5. Endpoint.
    endpoint = parseEndpoint(path);
    if (endpoint === null) {
        return errorAnswer(404);
    }
    // 6. Parameters.
    params = parseParams(parseQuery(query), endpoint, table);
    if (params === null) {
        return errorAnswer(400);
    }
    // 7. Directory.
    if (endpoint.byUrl) {
        key = urlKey(params.url);
        if (key === null) {
            return errorAnswer(404);
        }
        dir = '__api/assets/by_url/' + key.split('/').map(encodeSegment).join('/');
    } else {
        dir = '__api/assets/' + encodeSegment(endpoint.id);
    }
    // 8. File (the variant code before `.json`); looked for only when the profile holds it.
    if (endpoint.endpoint === 'asset') {
        file = dir + '/~asset.' + params.data;
    } else if (endpoint.endpoint === 'lineage') {
        file = dir + '/~lineage.' + params.data;
    } else {
        file = dir + '/~children.' + [params.data, params.sort, params.order,
            typesCode(params.types), params.limit, params.page].join('.');
    }
    file += params.variant + '.json';
    plan = {
        candidates: [],
        otherwise: null
    };
    if (params.listed) {
        plan.candidates.push({
            path: file,
            exists: true,
            answer: {
                status: 200,
                file: file,
                kind: 'file',
                headers: [['Cache-Control', table.cache_control]]
            }
        });
    }
    // 9. The forbidden marker: by id, a file; by URL, a hash of its path where the snapshot
    // records forbidden URLs: the pack layout's index entry (its glue sets
    // table.forbidden_urls), or a line of the files layout's forbidden-URL tables (the table
    // has forbidden_url_digits; the candidate says `hashed`: see forbiddenUrlTable).
    hashed = endpoint.byUrl && !table.forbidden_urls;
    // (forbidden_url_digits: a number, or null or absent: `!= null` tells them apart.)
    if (!hashed || table.forbidden_url_digits != null) {
        plan.candidates.push({
            path: dir + '/~forbidden.json',
            exists: true,
            hashed: hashed,
            answer: errorAnswer(403)
        });
    }
    // 10. No anchor: no such asset.
    plan.candidates.push({
        path: dir + '/' + table.anchor,
        exists: false,
        answer: errorAnswer(404)
    });
    // 11. Not exported; 12. a page past the end.
    if (!holds(table, endpoint.endpoint, params)) {
        plan.otherwise = {
            status: 404,
            file: NOT_EXPORTED_FILE,
            kind: 'not-exported',
            headers: []
        };
    } else {
        plan.otherwise = errorAnswer(404);
    }
    return plan;
}

function withCors(answer, table) {
    if (table.cors) {
        answer.headers.push(['Access-Control-Allow-Origin', table.cors]);
        answer.headers.push(['Vary', 'Origin']);
    }
    return answer;
}

function planRoute(method, rawTarget, authorization, table, sha256hex) {
    var r = decide(String(method), toBytes(String(rawTarget)), authorization, table, sha256hex);
    var i;
    if (r.candidates) {
        for (i = 0; i < r.candidates.length; i++) {
            withCors(r.candidates[i].answer, table);
        }
        withCors(r.otherwise, table);
        return r;
    }
    return withCors(r, table);
}

// The files layout's forbidden-URL tables (docs/snapshot-format.md, decision D-057): a
// `hashed` candidate exists when the table forbiddenUrlTable(table, hash) names lists the line
// of hash = sha256hex(candidate.path) (lower-case hex), which tableLists tells from the table's
// text (lines of the hash's first 32 hex digits, each ending in a newline).
function forbiddenUrlTable(table, hash) {
    return '__api/~/forbidden-urls/f' + hash.substring(0, table.forbidden_url_digits) + '.txt';
}

function tableLists(text, hash) {
    return ('\n' + text).indexOf('\n' + hash.substring(0, 32) + '\n') >= 0;
}

function resolvePlan(plan, exists) {
    var i, c;
    if (!plan.candidates) {
        return plan;
    }
    for (i = 0; i < plan.candidates.length; i++) {
        c = plan.candidates[i];
        if (Boolean(exists(c.path, c)) === c.exists) {
            return c.answer;
        }
    }
    return plan.otherwise;
}

function route(method, rawTarget, authorization, table, sha256hex, exists) {
    return resolvePlan(planRoute(method, rawTarget, authorization, table, sha256hex), exists);
}

// ---- The snapshot's routing table (_routers/routes.json) and the API's sort keys, rendered by
// export; shared by the JavaScript hosts' glue (after route-core.js, before the glue).
var TABLE = {
    format: "matrix-snapshot-routes/1",
    auth: "token",
    token_sha256: "f62af5c736dc9baceba384f8b4c0e66d5ad452f84c06d99fa38292e79ee55ca3",
    cors: null,
    cache_control: "no-cache",
    data: ["----","uamc"],
    children_data: ["----","uamc"],
    sort_by: [{"sort_by":null,"code":"tree"}],
    sort_order: ["asc"],
    limits: [100],
    asset_types: [{"types":[],"code":"all"}],
    anchor: "~asset.----.json",
    include_dependents: false,
    base_urls: [],
    contexts: ["Default","Māori"],
    context_variants: [0],
    forbidden_url_digits: null,
    sort_keys: [["id","id"],["type","type"],["version","version"],["name","name"],["short_name","short_name"],["status.id","status-id"],["created.date","created-date"],["created.user_id","created-user_id"],["updated.date","updated-date"],["updated.user_id","updated-user_id"],["published.date","published-date"],["published.user_id","published-user_id"],["status_changed.date","status_changed-date"],["status_changed.userid","status_changed-userid"],["status_changed.user_id","status_changed-userid"]]
};

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
