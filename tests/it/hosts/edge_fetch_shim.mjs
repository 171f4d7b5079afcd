// A node model of a Fetch-API edge platform (Netlify Edge Functions, Vercel Routing Middleware)
// in front of its static files, for tests/it/hosts/edge.rs. Usage:
//
//   node edge_fetch_shim.mjs netlify|vercel FUNCTION_DIR PUBLIC_DIR CASES_JSON OUT_JSON [RANGES]
//
// FUNCTION_DIR is the host's rendered _routers/<host>/ directory (with a package.json of
// {"type": "module"}, as the platform bundles ES modules). Each case [method, target,
// authorization] becomes what the platform hands the function: a standard Request whose URL is
// the target parsed by the WHATWG URL parser (as Deno and the Edge runtime do: dot segments
// resolved, some bytes percent-encoded), its header values as ByteStrings (one character per
// byte), leading and trailing blanks removed. The platform's model:
//   - every request, including the function's own fetch() of a file, runs the function first
//     (netlify.toml path "/*", middleware matcher "/:path*");
//   - the function's Response is sent as is (no body for HEAD); `undefined` passes the request on
//     to the static files: 200 with the file's bytes, or 404. The static files answer a `Range`
//     header as RANGES says: `whole` (the default; what `netlify dev` does) ignores it and sends
//     the whole file, `ranges` (what `vercel dev` does) answers one range `bytes=A-B` with a 206
//     and its Content-Range, or a 416 past the end. Bodies are streamed in chunks of 16 KiB;
//   - the environment variable MATRIX_SNAPSHOT_KEY is set (Netlify.env.get, process.env).
// Output: one [status, [[name, value], ...], base64 body, target as the function saw it] per
// case; and OUT_JSON.stats: {fetches: the function's static file reads, most: the most for one
// case, ranges: reads with a Range header, partial: 206 answers, whole: 200 answers to a range,
// streamed: bytes the function pulled from static bodies, cancelled: bodies it cancelled}.

import fs from 'node:fs';
import path from 'node:path';

const [kind, fnDir, publicDir, casesFile, outFile, rangeMode = 'whole'] = process.argv.slice(2);
if (rangeMode !== 'whole' && rangeMode !== 'ranges') {
    throw new Error('RANGES must be whole or ranges, not ' + rangeMode);
}
const CHUNK = 16384;
const stats = {fetches: 0, most: 0, ranges: 0, partial: 0, whole: 0, streamed: 0, cancelled: 0};
const ORIGIN = 'https://snapshot.test';
const KEY = 'shim-key-' + process.pid;

let handler;
if (kind === 'netlify') {
    globalThis.Netlify = {env: {get: (name) => (name === 'MATRIX_SNAPSHOT_KEY' ? KEY : undefined)}};
    handler = (await import(path.join(fnDir, 'netlify/edge-functions/matrix-api.js'))).default;
} else if (kind === 'vercel') {
    process.env.MATRIX_SNAPSHOT_KEY = KEY;
    const mod = await import(path.join(fnDir, 'middleware.js'));
    if (!mod.config || mod.config.matcher !== '/:path*') {
        throw new Error('middleware.js must run for every path');
    }
    handler = mod.default;
} else {
    throw new Error('unknown platform ' + kind);
}

const root = path.resolve(publicDir);

function staticFile(request) {
    const url = new URL(request.url);
    let file;
    try {
        file = path.resolve(root, '.' + decodeURIComponent(url.pathname));
    } catch (e) {
        return new Response('Not Found', {status: 404});
    }
    if (!file.startsWith(root + path.sep) || !fs.statSync(file, {throwIfNoEntry: false})?.isFile()) {
        return new Response('Not Found', {status: 404});
    }
    const bytes = fs.readFileSync(file);
    const range = request.headers.get('range');
    if (range !== null) {
        stats.ranges++;
    }
    const one = range === null ? null : /^bytes=(\d+)-(\d+)$/.exec(range);
    if (rangeMode === 'ranges' && one !== null) {
        const start = Number(one[1]);
        const end = Math.min(Number(one[2]), bytes.length - 1);
        if (start >= bytes.length || end < start) {
            return new Response(null, {
                status: 416,
                headers: {'Content-Range': 'bytes */' + bytes.length}
            });
        }
        stats.partial++;
        return new Response(chunked(bytes.subarray(start, end + 1)), {
            status: 206,
            headers: {
                'Content-Range': 'bytes ' + start + '-' + end + '/' + bytes.length,
                'Content-Length': String(end + 1 - start)
            }
        });
    }
    if (range !== null) {
        stats.whole++;
    }
    return new Response(chunked(bytes), {
        status: 200,
        headers: {'Content-Length': String(bytes.length), 'Accept-Ranges': 'none'}
    });
}

// A stream of `bytes` in CHUNK-byte chunks, pulled one at a time (counted in stats).
function chunked(bytes) {
    let at = 0;
    return new ReadableStream({
        pull(controller) {
            if (at >= bytes.length) {
                controller.close();
                return;
            }
            const chunk = bytes.subarray(at, Math.min(at + CHUNK, bytes.length));
            at += chunk.length;
            stats.streamed += chunk.length;
            controller.enqueue(new Uint8Array(chunk));
        },
        cancel() {
            stats.cancelled++;
        }
    }, {highWaterMark: 0});
}

async function platform(request) {
    const answer = await handler(request, {});
    if (answer === undefined) {
        return staticFile(request);
    }
    if (!(answer instanceof Response)) {
        throw new Error('the function returned ' + answer);
    }
    return answer;
}

let fetched = 0;
globalThis.fetch = async (input, init) => {
    fetched++;
    return platform(new Request(input, init));
};

const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
const out = [];
for (const [method, target, authorization] of cases) {
    const headers = new Headers();
    if (authorization !== null) {
        headers.set('authorization', Buffer.from(authorization, 'utf8').toString('latin1'));
    }
    const request = new Request(ORIGIN + target, {method, headers});
    const seen = new URL(request.url);
    fetched = 0;
    const response = await platform(request);
    const body = method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(await response.arrayBuffer());
    stats.fetches += fetched;
    stats.most = Math.max(stats.most, fetched);
    out.push([response.status, [...response.headers], body.toString('base64'), seen.pathname + seen.search]);
}
fs.writeFileSync(outFile, JSON.stringify(out));
fs.writeFileSync(outFile + '.stats', JSON.stringify(stats));
