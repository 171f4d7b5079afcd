// Runs a rendered Cloudflare Worker config in workerd (Miniflare), as `wrangler dev` would, for
// tests/it/hosts/cloudflare.rs:
//
//   node serve.mjs WRANGLER_TOML HOST:PORT
//
// WRANGLER_TOML is what `matrix-snapshot router cloudflare` prints. Its keys that matter here
// (main, compatibility_date/flags, [[rules]], [assets]) are read by a small reader of the TOML
// subset the template uses, and handed to Miniflare. Prints "listening on URL" when ready, and
// runs until SIGTERM/SIGINT.

import { Miniflare } from 'miniflare';
import { readFileSync } from 'node:fs';

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

const [config, listen] = process.argv.slice(2);
if (!config || !listen) {
    console.error('usage: node serve.mjs WRANGLER_TOML HOST:PORT');
    process.exit(2);
}
const toml = readToml(readFileSync(config, 'utf8'));
const colon = listen.lastIndexOf(':');
const assets = toml.assets;
const mf = new Miniflare({
    name: toml.name,
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
    host: listen.slice(0, colon),
    port: Number(listen.slice(colon + 1)),
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
});
const url = await mf.ready;
console.log(`listening on ${url}`);

async function stop() {
    await mf.dispose();
    process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
