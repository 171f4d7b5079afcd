// matrix-snapshot CloudFront Function (cloudfront-js-2.0, viewer response): docs/hosting/cloudfront.md.
// S3 returns the metadata upload.sh gave each 200 file, x-amz-meta-blake3: its blake3, which
// becomes the ETag (S3's own ETag is an MD5).
function handler(event) {
    var response = event.response;
    var blake3 = response.headers['x-amz-meta-blake3'];
    if (blake3) {
        response.headers.etag = {value: '"' + blake3.value + '"'};
        delete response.headers['x-amz-meta-blake3'];
    }
    return response;
}
