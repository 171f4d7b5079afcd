// Runs a rendered Cloudflare Worker config in workerd (Miniflare), as `wrangler dev` would, for
// tests/it/hosts/cloudflare.rs:
//
//   node serve.mjs WRANGLER_TOML HOST:PORT [R2_DIR]
//
// WRANGLER_TOML is what `matrix-snapshot router cloudflare` prints. Its keys that matter here
// (main, compatibility_date/flags, [[rules]], [assets], [[r2_buckets]]) are read by a small
// reader of the TOML subset the templates use, and handed to Miniflare. R2 buckets are local
// and in memory; with R2_DIR (a pack snapshot's public/), every file under it is put into the
// first bucket under its path relative to R2_DIR, as docs/hosting/cloudflare.md uploads them.
// Prints "listening on URL" when ready, and runs until SIGTERM/SIGINT.

import { Miniflare } from 'miniflare';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

// `key = value` lines, `[table]` and `[[array of tables]]` headers; strings, booleans, numbers
// and one-line arrays (JSON syntax). Enough for templates/cloudflare/wrangler.toml.
function readToml(text) {
    const root = {};
    let table = root;
    for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (line === '' || line.startsWith('#')) {
            continue;
        }
        let m = /^\[\[([A-Za-z0-9_.-]+)\]\]$/.exec(line);
        if (m) {
            (root[m[1]] ||= []).push((table = {}));
            continue;
        }
        m = /^\[([A-Za-z0-9_.-]+)\]$/.exec(line);
        if (m) {
            table = root[m[1]] ||= {};
            continue;
        }
        m = /^([A-Za-z0-9_-]+)\s*=\s*(.*)$/.exec(line);
        if (!m) {
            throw new Error(`cannot read this line of the wrangler config: ${line}`);
        }
        table[m[1]] = JSON.parse(m[2]);
    }
    return root;
}

const [config, listen, r2Dir] = process.argv.slice(2);
if (!config || !listen) {
    console.error('usage: node serve.mjs WRANGLER_TOML HOST:PORT [R2_DIR]');
    process.exit(2);
}
const toml = readToml(readFileSync(config, 'utf8'));
const colon = listen.lastIndexOf(':');
const assets = toml.assets;
const buckets = toml.r2_buckets || [];
// R2 objects live in a temporary directory: filled by a first Miniflare (on a port of its own)
// before the one that serves starts listening, so no request comes before the upload is done.
const r2Persist = buckets.length > 0 ? mkdtempSync(join(tmpdir(), 'matrix-snapshot-r2-')) : undefined;
function options(host, port) {
    return {
        name: toml.name,
        r2Buckets: Object.fromEntries(buckets.map((b) => [b.binding, b.bucket_name])),
        modules: true,
        scriptPath: toml.main,
        // Imports may leave the script's directory (worker.js imports ../etags.txt).
        modulesRoot: '/',
        modulesRules: (toml.rules || []).map((r) => ({
            type: r.type,
            include: r.globs,
            fallthrough: r.fallthrough,
        })),
        compatibilityDate: toml.compatibility_date,
        compatibilityFlags: toml.compatibility_flags || [],
        host,
        port,
        r2Persist,
        assets: assets && {
            directory: assets.directory,
            binding: assets.binding,
            routerConfig: {
                has_user_worker: true,
                invoke_user_worker_ahead_of_assets: assets.run_worker_first === true,
            },
            assetConfig: {
                html_handling: assets.html_handling,
                not_found_handling: assets.not_found_handling,
            },
        },
    };
}
if (r2Dir) {
    if (buckets.length === 0) {
        throw new Error(`${config} binds no R2 bucket to put ${r2Dir} in`);
    }
    const loader = new Miniflare(options('127.0.0.1', 0));
    await loader.ready;
    const bucket = await loader.getR2Bucket(buckets[0].binding);
    // Packs and shards first, root.json last (docs/hosting/cloudflare.md).
    const files = readdirSync(r2Dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => relative(r2Dir, join(e.parentPath ?? e.path, e.name)))
        .sort((a, b) => a.endsWith('root.json') - b.endsWith('root.json'));
    for (const key of files) {
        // A plain ArrayBuffer: Miniflare's proxy refuses a node Buffer.
        const bytes = readFileSync(join(r2Dir, key));
        await bucket.put(key, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    }
    await loader.dispose();
    console.log(`put ${files.length} files of ${r2Dir} into R2 bucket ${buckets[0].bucket_name}`);
}
const mf = new Miniflare(options(listen.slice(0, colon), Number(listen.slice(colon + 1))));
const url = await mf.ready;
console.log(`listening on ${url}`);

async function stop() {
    await mf.dispose();
    if (r2Persist) {
        rmSync(r2Persist, { recursive: true, force: true });
    }
    process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
