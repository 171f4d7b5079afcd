
// ---- Shared by the Netlify Edge Function and the Vercel Routing Middleware of a pack snapshot
// (export --layout pack): templates/js/edge-pack.js, after route-core.js, table.js and
// pack-read.js, before the platform's entry point (templates/netlify/pack.js,
// templates/vercel/pack.js) ----
//
// packAnswer(request, key) builds the whole answer: the core plans it, pack-read.js looks the
// files up in the pack index and reads the 200's byte range. The snapshot's public/ files (the
// packs, the index shards and root.json under __api/~/pack/) are the site's static files, read
// with fetch() from the same site carrying the header x-matrix-snapshot-key: that request runs
// the function again, which lets it through to the static files only when the header equals
// `key` (the environment variable MATRIX_SNAPSHOT_KEY). Any other request for a raw file is
// routed like every request (a 404: not an API path), so the token cannot be bypassed.
//
// A body is read with a Range header. Whether Netlify's and Vercel's static files honour it in
// production is unproven (docs/hosting.md, "Pack snapshots"), so both answers are taken, as
// PMTiles' FetchSource tells them apart: a 206 holds the bytes its Content-Range names; a 200
// to a Range request is the whole pack (the server ignored the range), whose stream is read up
// to the range's end, the bytes before it dropped, and then cancelled, so the cost is at most
// one pack (--pack-size keeps it small). A 416 means the pack is shorter than the range
// (truncated). pack-read.js then checks the body's length and hash.
//
// Per isolate: root.json is kept for PACK_ROOT_TTL (5 s) and parsed shards in an LRU
// (PACK_SHARDS_KEPT, PACK_SHARD_BYTES); a pack's bytes are never kept. The code does not grow
// with the snapshot: nothing but the routing table is bundled.

// By-URL requests have a forbidden marker in the pack index (route-core.js step 9).
TABLE.forbidden_urls = true;

var KEY_HEADER = 'x-matrix-snapshot-key';
var INTERNAL_ERROR = '{"code":500,"message":"Internal Server Error"}';
var STATE = packState();

function sha256(data) {
    return crypto.subtle.digest('SHA-256', typeof data === 'string' ?
        new TextEncoder().encode(data) : data).then(function (digest) {
        return new Uint8Array(digest);
    });
}

async function sha256hex(text) {
    var bytes = await sha256(text);
    return packHex(bytes, bytes.length);
}

// Drops a response's body unread.
async function packDiscard(response) {
    if (response.body) {
        try {
            await response.body.cancel();
        } catch (e) {
            // Already closed.
        }
    }
}

// The `length` bytes at `offset` of a whole-object response's stream (fewer when it ends
// first): the chunks before them dropped, the stream cancelled once they are in.
async function packSlice(response, offset, length) {
    var out = new Uint8Array(length);
    var got = 0;
    var at = 0;
    var reader, chunk, from, take;
    if (!response.body) {
        return out.subarray(0, 0);
    }
    reader = response.body.getReader();
    while (got < length) {
        chunk = await reader.read();
        if (chunk.done) {
            break;
        }
        from = Math.max(offset + got - at, 0);
        take = Math.min(chunk.value.length - from, length - got);
        if (take > 0) {
            out.set(chunk.value.subarray(from, from + take), got);
            got += take;
        }
        at += chunk.value.length;
    }
    if (got === length) {
        try {
            await reader.cancel();
        } catch (e) {
            // Already closed.
        }
    }
    return out.subarray(0, got);
}

// The site's static files, as pack-read.js reads them: fetched from `origin` with the key.
function edgeIo(origin, key) {
    function get(path, range) {
        var headers = [[KEY_HEADER, key]];
        if (range) {
            headers.push(['Range', range]);
        }
        return fetch(new URL('/' + path, origin), {headers: headers});
    }
    async function whole(path) {
        var response = await get(path, null);
        if (response.status === 404) {
            await packDiscard(response);
            return null;
        }
        if (response.status !== 200) {
            await packDiscard(response);
            throw packFault('/' + path + ': status ' + response.status);
        }
        return new Uint8Array(await response.arrayBuffer());
    }
    return {
        text: async function (path) {
            var bytes = await whole(path);
            return bytes === null ? null : new TextDecoder().decode(bytes);
        },
        bytes: whole,
        range: async function (path, offset, length) {
            var response, range, bytes;
            if (length === 0) {
                return {bytes: new Uint8Array(0), start: offset};
            }
            response = await get(path, 'bytes=' + offset + '-' + (offset + length - 1));
            if (response.status === 404) {
                await packDiscard(response);
                return null;
            }
            if (response.status === 416) {
                // The pack ends before the range: pack-read.js reports it truncated.
                await packDiscard(response);
                return {bytes: new Uint8Array(0), start: offset};
            }
            if (response.status === 200) {
                // The server ignored the range: the stream is the whole pack.
                bytes = await packSlice(response, offset, length);
                return {bytes: bytes, start: offset};
            }
            if (response.status !== 206) {
                await packDiscard(response);
                throw packFault('/' + path + ': status ' + response.status +
                    ' to a range request');
            }
            range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('content-range') ||
                '');
            if (range === null) {
                await packDiscard(response);
                throw packFault('/' + path + ': a 206 without one Content-Range (' +
                    response.headers.get('content-range') + ')');
            }
            bytes = new Uint8Array(await response.arrayBuffer());
            return {bytes: bytes, start: Number(range[1])};
        },
        sha256: sha256
    };
}

function packFailure(message) {
    var answer = withCors(errorAnswer(500), TABLE);
    var headers = new Headers();
    var i;
    console.error('matrix-snapshot: ' + message);
    headers.set('Content-Type', CONTENT_TYPE);
    for (i = 0; i < answer.headers.length; i++) {
        headers.append(answer.headers[i][0], answer.headers[i][1]);
    }
    return new Response(INTERNAL_ERROR, {status: 500, headers: headers});
}

// The answer to `request`, or undefined to let it through to the static files (this
// function's own reads of the snapshot's files). `key`: the site's MATRIX_SNAPSHOT_KEY. Any
// failure is the API's 500, never the platform's error page.
async function packAnswer(request, key) {
    var response;
    try {
        response = await packAnswerOrThrow(request, key);
        return response;
    } catch (e) {
        return packFailure(String(e && e.stack || e));
    }
}

async function packAnswerOrThrow(request, key) {
    var url, authorization, token, hash, plan, result, headers, answer, i;
    if (!key) {
        return packFailure('set the environment variable MATRIX_SNAPSHOT_KEY (docs/hosting)');
    }
    if (request.headers.get(KEY_HEADER) === key) {
        return undefined;
    }
    url = new URL(request.url);
    authorization = request.headers.get('authorization');
    token = bearerToken(authorization);
    hash = token === null ? null : await sha256hex(token);
    plan = planRoute(request.method, url.pathname + url.search, authorization, TABLE,
        function () {
            return hash;
        });
    try {
        result = await packResolve(edgeIo(url.origin, key), STATE, plan, Date.now());
    } catch (e) {
        return packFailure(String(e && e.message || e));
    }
    answer = result.answer;
    headers = new Headers();
    for (i = 0; i < answer.headers.length; i++) {
        headers.append(answer.headers[i][0], answer.headers[i][1]);
    }
    if (answer.file === null) {
        return new Response(null, {status: answer.status, headers: headers});
    }
    headers.set('Content-Type', CONTENT_TYPE);
    if (result.etag !== null) {
        headers.set('ETag', result.etag);
    }
    return new Response(request.method === 'HEAD' ? null : result.body, {
        status: answer.status,
        headers: headers
    });
}
