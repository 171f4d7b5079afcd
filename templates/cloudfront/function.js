
// ---- CloudFront Function glue (cloudfront-js-2.0, viewer request), after route-core.js ----
//
// A CloudFront Function cannot read S3. It decides what needs no file (204, 405, 401, 400, and
// the 404 of a path outside the API, of an unknown endpoint or of a URL that can never match)
// and answers it itself, with the error body. Otherwise it asks the key value store (kvs.json,
// written by every export: each asset directory -> "a" when readable, "f" when forbidden, and
// `~f` + the first 32 hex digits of the SHA-256 of each forbidden URL's marker path -> "f": the
// forbidden-URL tables' lines, decision D-057) what the files cannot tell S3: 403 for a
// forbidden id or URL, 404 for no such asset, and the "not exported" 404 (its body is in the
// store too). The table's forbidden_url_digits only tells route-core.js that forbidden URLs are
// recorded; the function asks the store, not the tables. What is left goes to S3: the request is
// rewritten to the 200 file, and a missing object (a page past the end) becomes a 404 with the
// generic 404 body through the distribution's custom error responses
// (docs/hosting/cloudfront.md). The file starts with `import cf from 'cloudfront'` (added when
// rendered) and is minified: it must stay under CloudFront's 10 KB.

var crypto = require('crypto');
var kvs = cf.kvs();

// The routing table, spelled compactly: route-core reads only the codes of sort_by and
// asset_types; space-separated lists (no code or key holds a space) are shorter than JSON; the
// Content API 1.2.0 fields are left out at their defaults, as in routes.json.
function codes(list) {
    return list.split(' ').map(function (code) {
        return {code: code};
    });
}

// sort_keys: [value, code] pairs; most codes are the value with `.` -> `-`, and are not spelled.
function sortKeys(plain, others) {
    var out = [];
    var items = others.split(' ');
    var i;
    plain.split(' ').forEach(function (key) {
        out.push([key, key.split('.').join('-')]);
    });
    for (i = 0; i + 1 < items.length; i += 2) {
        out.push([items[i], items[i + 1]]);
    }
    return out;
}

var TABLE = {
    auth: {{ auth | json_encode() }},
    token_sha256: {{ token_sha256 | json_encode() }},
    cors: {{ cors | json_encode() }},
    data: '{{ data | join(sep=" ") }}'.split(' '),
    children_data: '{{ children_data | join(sep=" ") }}'.split(' '),
    sort_by: codes('{% for s in sort_by %}{{ s.code }}{% if not loop.last %} {% endif %}{% endfor %}'),
    sort_order: {{ sort_order | json_encode() }},
    limits: {{ limits | json_encode() }},
    asset_types: codes('{% for t in asset_types %}{{ t.code }}{% if not loop.last %} {% endif %}{% endfor %}'),
    anchor: {{ anchor | json_encode() }},
{% if include_dependents %}    include_dependents: true,
{% endif %}{% if base_urls %}    base_urls: {{ base_urls | json_encode() }},
{% endif %}{% if contexts | length > 1 or contexts[0] != "Default" %}    contexts: {{ contexts | json_encode() }},
{% endif %}{% if context_variants | length > 1 %}    context_variants: {{ context_variants | json_encode() }},
{% endif %}{% if forbidden_url_digits is number %}    forbidden_url_digits: 0,
{% endif %}    sort_keys: sortKeys('{% for k in sort_keys %}{% if k.0 and k.0 | replace(from=".", to="-") == k.1 %}{{ k.0 }} {% endif %}{% endfor %}'.trim(),
        '{% for k in sort_keys %}{% if k.0 and k.0 | replace(from=".", to="-") != k.1 %}{{ k.0 }} {{ k.1 }} {% endif %}{% endfor %}')
};

// The messages of the bodies of __api/~/errors/<status>.json this function answers with, each
// `{"code":<status>,"message":"<message>"}` (built in handler(): shorter than the five bodies
// spelled out; no message holds a character JSON escapes).
var MESSAGES = {
    403: {{ error_messages["403"] | json_encode() }},
    400: {{ error_messages["400"] | json_encode() }},
    401: {{ error_messages["401"] | json_encode() }},
    404: {{ error_messages["404"] | json_encode() }},
    405: {{ error_messages["405"] | json_encode() }}
};


function sha256hex(text) {
    return crypto.createHash('sha256').update(text).digest('hex');
}

// The query as sent, rebuilt from CloudFront's querystring object (names and values as
// received, not decoded; a repeated name is one entry with multiValue). Pairs keep their order
// except that repeats of a name follow its first occurrence: the same answer, since only a
// name's first occurrence counts.
function rawQuery(querystring) {
    var parts = [];
    var name, values, i;
    for (name in querystring) {
        values = querystring[name].multiValue || [querystring[name]];
        for (i = 0; i < values.length; i++) {
            parts.push(name + '=' + values[i].value);
        }
    }
    return parts.length > 0 ? '?' + parts.join('&') : '';
}

// The answer the key value store gives for a plan, or null to ask S3 for the 200 file (a
// readable asset's variant the profile holds; or a directory name too long for a key). The
// plan's candidates: the file (when the profile holds the variant), the forbidden marker (by
// id), the anchor. A variant outside the profile whose body the store lacks (a long directory
// name, or the body over 1 KB) answers the generic 404, as S3 would.
async function fromStore(plan) {
    var c = plan.candidates;
    var anchor = c[c.length - 1];
    // The forbidden marker's candidate (by URL, `hashed`: D-057), or none.
    var forbidden = c[c.length - 2] || anchor;
    var dir = anchor.path.substring(0, anchor.path.length - TABLE.anchor.length - 1);
    var out = plan.otherwise.kind === 'not-exported';
    var mark = '';
    if (dir.length <= 512) {
        try {
            mark = await kvs.get(dir);
        } catch (e) {
            // No such key: no such asset.
            mark = null;
        }
    }
    // By URL, no readable asset: a forbidden URL is the key `~f` + 32 hex digits of its
    // marker's hash.
    if (mark !== 'a' && forbidden.hashed) {
        try {
            mark = await kvs.get('~f' + sha256hex(forbidden.path).substring(0, 32));
        } catch (e) {
            // Not a forbidden URL.
        }
    }
    if (mark === 'f') {
        return forbidden.answer;
    }
    if (mark === 'a' && out) {
        try {
            plan.otherwise.body = await kvs.get('~not-exported');
            return plan.otherwise;
        } catch (e) {
            // Not in the store (over 1 KB).
        }
    }
    return mark === null || out ? anchor.answer : null;
}

async function handler(event) {
    var request = event.request;
    var authorization = request.headers.authorization;
    var answer = planRoute(request.method, request.uri + rawQuery(request.querystring),
        authorization ? authorization.value : null, TABLE, sha256hex);
    var headers = {};
    var response, i;
    if (answer.candidates) {
        answer = await fromStore(answer) || answer;
    }
    if (answer.candidates) {
        request.uri = '/' + answer.candidates[0].path;
        request.querystring = {};
        return request;
    }
    for (i = 0; i < answer.headers.length; i++) {
        headers[answer.headers[i][0].toLowerCase()] = {value: answer.headers[i][1]};
    }
    response = {
        statusCode: answer.status,
        headers: headers
    };
    if (answer.file !== null) {
        headers['content-type'] = {value: CONTENT_TYPE};
        response.body = {encoding: 'text', data: answer.body ||
            '{"code":' + answer.status + ',"message":"' + MESSAGES[answer.status] + '"}'};
    }
    return response;
}
{% endfilter %}
