// A node model of a Fetch-API edge platform (Netlify Edge Functions, Vercel Routing Middleware)
// in front of its static files, for tests/it/hosts/edge.rs. Usage:
//
//   node edge_fetch_shim.mjs netlify|vercel FUNCTION_DIR PUBLIC_DIR CASES_JSON OUT_JSON
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
//     to the static files: 200 with the file's bytes, or 404;
//   - the environment variable MATRIX_SNAPSHOT_KEY is set (Netlify.env.get, process.env).
// Output: one [status, [[name, value], ...], base64 body, target as the function saw it] per
// case.

import fs from 'node:fs';
import path from 'node:path';

const [kind, fnDir, publicDir, casesFile, outFile] = process.argv.slice(2);
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
    return new Response(fs.readFileSync(file), {status: 200});
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

globalThis.fetch = async (input, init) => platform(new Request(input, init));

const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
const out = [];
for (const [method, target, authorization] of cases) {
    const headers = new Headers();
    if (authorization !== null) {
        headers.set('authorization', Buffer.from(authorization, 'utf8').toString('latin1'));
    }
    const request = new Request(ORIGIN + target, {method, headers});
    const seen = new URL(request.url);
    const response = await platform(request);
    const body = method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(await response.arrayBuffer());
    out.push([response.status, [...response.headers], body.toString('base64'), seen.pathname + seen.search]);
}
fs.writeFileSync(outFile, JSON.stringify(out));
