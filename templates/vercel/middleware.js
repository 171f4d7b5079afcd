
// ---- Vercel Routing Middleware glue (Edge runtime): middleware.js ----
//
// After templates/js/route-core.js and templates/js/edge-fetch.js (answer()). Runs for every request (config.matcher), decides with the
// routing core, and builds the whole answer itself: status, headers and body. Which files exist
// comes from ./snapshot-files.js (written by every export: every file under public/ and, for
// the 200 files, the ETag), so deciding needs no I/O. The body is the static file, fetched from
// the same deployment with the header x-matrix-snapshot-key: that request runs this middleware
// again, which lets it through to the static files only when the header equals the project's
// environment variable MATRIX_SNAPSHOT_KEY. Any other request for a raw file is routed like
// every request (a 404: not an API path), so the token cannot be bypassed.

export const config = {
    matcher: '/:path*'
};

export default async function middleware(request) {
    return answer(request, process.env.MATRIX_SNAPSHOT_KEY);
}
