
// ---- Vercel Routing Middleware glue (Edge runtime) for a pack snapshot: middleware.js
// (templates/vercel/pack.js), after templates/js/route-core.js, table.js, pack-read.js and
// edge-pack.js (packAnswer()) ----
//
// Runs for every request (config.matcher) and builds the whole answer; the snapshot's packs,
// index shards and root.json are the deployment's static files, read back with fetch() and the
// project's environment variable MATRIX_SNAPSHOT_KEY (templates/js/edge-pack.js).

export const config = {
    matcher: '/:path*'
};

export default async function middleware(request) {
    return packAnswer(request, process.env.MATRIX_SNAPSHOT_KEY);
}
