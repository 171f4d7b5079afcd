
// ---- Netlify Edge Function glue (Deno): netlify/edge-functions/matrix-api.js ----
//
// After templates/js/route-core.js and templates/js/edge-fetch.js (answer()). Runs for every request (netlify.toml: path "/*"), decides
// with the routing core, and builds the whole answer itself: status, headers and body. Which
// files exist comes from ./snapshot-files.js (written by every export: every file under
// public/ and, for the 200 files, the ETag), so deciding needs no I/O. The body is the static
// file, fetched from the same site with the header x-matrix-snapshot-key: that request runs this
// function again, which lets it through to Netlify's static files only when the header equals
// the site's environment variable MATRIX_SNAPSHOT_KEY. Any other request for a raw file is
// routed like every request (a 404: not an API path), so the token cannot be bypassed.

export default async function (request, context) {
    return answer(request, Netlify.env.get('MATRIX_SNAPSHOT_KEY'));
}
