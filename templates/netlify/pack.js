
// ---- Netlify Edge Function glue (Deno) for a pack snapshot: netlify/edge-functions/matrix-api.js
// (templates/netlify/pack.js), after templates/js/route-core.js, table.js, pack-read.js and
// edge-pack.js (packAnswer()) ----
//
// Runs for every request (netlify.toml: path "/*") and builds the whole answer; the snapshot's
// packs, index shards and root.json are the site's static files, read back with fetch() and
// the site's environment variable MATRIX_SNAPSHOT_KEY (templates/js/edge-pack.js).

export default async function (request, context) {
    return packAnswer(request, Netlify.env.get('MATRIX_SNAPSHOT_KEY'));
}
