// A node model of CloudFront in front of an S3 bucket, with the CloudFront Function
// (cloudfront-js-2.0, viewer request) matrix-snapshot renders, for tests/it/hosts/edge.rs.
// Usage:
//
//   node edge_cloudfront_shim.cjs cloudfront FUNCTION_DIR PUBLIC_DIR CASES_JSON OUT_JSON
//
// The model, per docs/hosting/cloudfront.md (what CloudFront and S3 document):
//   - the function is one script defining handler(event), with require('crypto') the runtime's
//     crypto module (createHash('sha256')) and `import cf from 'cloudfront'` its key value
//     store module (cf.kvs().get(key), rejecting for a missing key), the store loaded from
//     kvs.json; it runs in strict mode, and may be async;
//   - the event's request: method; uri, the path as received (not decoded); querystring, an
//     object with one entry per name as received, {value} or, for a repeated name,
//     {value, multiValue: [{value}, ...]}; headers with lower-case names, {value};
//   - a returned response object is sent as is: statusCode, headers, and body.data (text);
//     no body for HEAD;
//   - a returned request goes to S3 (key: the uri, decoded, without the leading /). An object
//     answers 200 with the metadata upload.sh sets (Content-Type, Cache-Control, and for the
//     200 files x-amz-meta-blake3 from etags.txt) and S3's ETag (the quoted MD5 of the bytes);
//     a missing object answers 403 (no s3:ListBucket), which the distribution's custom error
//     responses turn into a 404 with the body of /__api/~/errors/404.json;
//   - every answer from S3 goes through the viewer-response function (viewer-response.js);
//   - with --cors, a response headers policy adds Access-Control-Allow-Origin and Vary: Origin
//     to S3's answers (the function adds them to its own).
// Output: one [status, [[name, value], ...], base64 body, target as the function saw it] per
// case.

'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const [, fnDir, publicDir, casesFile, outFile] = process.argv.slice(2);
const root = path.resolve(publicDir);
const routes = JSON.parse(fs.readFileSync(path.join(root, '..', '_routers', 'routes.json'), 'utf8'));

// The key value store associated with the viewer-request function, loaded from the import
// file every export writes (kvs.json); get() rejects for a missing key, as documented.
const store = new Map(JSON.parse(fs.readFileSync(path.join(fnDir, 'kvs.json'), 'utf8')).data
    .map((e) => [e.key, e.value]));
const cf = {
    kvs: () => ({
        get: async (key) => {
            if (!store.has(key)) {
                throw new Error('key not found');
            }
            return store.get(key);
        },
    }),
};

function load(file) {
    let code = fs.readFileSync(path.join(fnDir, file), 'utf8');
    if (Buffer.byteLength(code) > 10240) {
        throw new Error(file + ' is over 10 KB');
    }
    // The module import the runtime offers (first statement), as a parameter here.
    let cfName = '_cf';
    code = code.replace(/^import\s*(\w+)\s*from\s*'cloudfront';/, (_, name) => {
        cfName = name;
        return '';
    });
    // eslint-disable-next-line no-new-func
    return new Function('require', cfName, '"use strict";\n' + code + '\nreturn handler;')((name) => {
        if (name !== 'crypto') {
            throw new Error('CloudFront Functions have no module ' + name);
        }
        return crypto;
    }, cf);
}
const handler = load('function.js');
const viewerResponse = load('viewer-response.js');
// What upload.sh stores: each 200 file with its blake3 as x-amz-meta-blake3.
const blake3 = new Map(fs.readFileSync(path.join(root, '..', '_routers', 'etags.txt'), 'utf8')
    .split('\n').filter((l) => l !== '').map((l) => {
        // As upload.sh reads a line `<path> "<blake3>";`: without the quotes and the `;`.
        const [file, etag] = l.split(' ');
        return [file, etag.replace(/[";]/g, '')];
    }));

function event(method, target, authorization) {
    const q = target.indexOf('?');
    const uri = q < 0 ? target : target.slice(0, q);
    const querystring = {};
    if (q >= 0) {
        for (const pair of target.slice(q + 1).split('&')) {
            if (pair === '') {
                continue;
            }
            const eq = pair.indexOf('=');
            const name = eq < 0 ? pair : pair.slice(0, eq);
            const value = eq < 0 ? '' : pair.slice(eq + 1);
            if (Object.prototype.hasOwnProperty.call(querystring, name)) {
                const entry = querystring[name];
                entry.multiValue = entry.multiValue || [{value: entry.value}];
                entry.multiValue.push({value});
            } else {
                querystring[name] = {value};
            }
        }
    }
    const headers = {host: {value: 'd111111abcdef8.cloudfront.net'}};
    if (authorization !== null) {
        headers.authorization = {value: Buffer.from(authorization, 'utf8').toString('latin1').trim()};
    }
    return {
        version: '1.0',
        context: {eventType: 'viewer-request'},
        viewer: {ip: '192.0.2.1'},
        request: {method, uri, querystring, headers, cookies: {}},
    };
}

function s3(key) {
    const file = path.resolve(root, key);
    if (!file.startsWith(root + path.sep) || !fs.statSync(file, {throwIfNoEntry: false})?.isFile()) {
        return null;
    }
    return fs.readFileSync(file);
}

function fromS3(uri) {
    let key;
    try {
        key = decodeURIComponent(uri.slice(1));
    } catch (e) {
        key = null;
    }
    let body = key === null ? null : s3(key);
    let status = 200;
    if (body === null) {
        // S3 403 -> custom error response: 404, /__api/~/errors/404.json.
        status = 404;
        key = '__api/~/errors/404.json';
        body = s3(key);
    }
    const headers = {
        'content-type': {value: 'application/json; charset=utf-8'},
        'cache-control': {value: routes.cache_control},
        'etag': {value: '"' + crypto.createHash('md5').update(body).digest('hex') + '"'},
    };
    if (blake3.has(key)) {
        headers['x-amz-meta-blake3'] = {value: blake3.get(key)};
    }
    if (routes.cors) {
        headers['access-control-allow-origin'] = {value: routes.cors};
        headers['vary'] = {value: 'Origin'};
    }
    // The viewer-response function sees every answer from the origin (not the viewer-request
    // function's own).
    const r = viewerResponse({
        version: '1.0',
        context: {eventType: 'viewer-response'},
        viewer: {ip: '192.0.2.1'},
        request: {method: 'GET', uri, querystring: {}, headers: {}, cookies: {}},
        response: {statusCode: status, statusDescription: '', headers, cookies: {}},
    });
    return {
        status: r.statusCode,
        headers: Object.entries(r.headers).map(([name, h]) => [name, h.value]),
        body,
    };
}

async function main() {
const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
const out = [];
for (const [method, target, authorization] of cases) {
    const ev = event(method, target, authorization);
    const seen = ev.request.uri + (target.indexOf('?') >= 0 ? target.slice(target.indexOf('?')) : '');
    const r = await handler(ev);
    let answer;
    if (r.statusCode !== undefined) {
        answer = {
            status: r.statusCode,
            headers: Object.entries(r.headers || {}).map(([name, h]) => [name, h.value]),
            body: Buffer.from(r.body ? r.body.data : '', 'utf8'),
        };
    } else if (r === ev.request) {
        answer = fromS3(r.uri);
    } else {
        throw new Error('the function returned neither a response nor the request');
    }
    const body = method === 'HEAD' ? Buffer.alloc(0) : answer.body;
    out.push([answer.status, answer.headers, body.toString('base64'), seen]);
}
fs.writeFileSync(outFile, JSON.stringify(out));
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
