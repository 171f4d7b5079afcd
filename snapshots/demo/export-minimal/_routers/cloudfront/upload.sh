#!/bin/sh
# matrix-snapshot: uploads a snapshot to the S3 bucket behind CloudFront (docs/hosting/cloudfront.md).
# Usage: sh upload.sh SNAPSHOT_DIR BUCKET
# Every file of public/ with the Content-Type and Cache-Control of the API, then each 200 file
# again with its blake3 (from _routers/etags.txt) as the metadata x-amz-meta-blake3, which the
# viewer-response function sends as the ETag. Needs the AWS CLI; 8 uploads at a time.
set -eu
dir=${1:?usage: upload.sh SNAPSHOT_DIR BUCKET}
bucket=${2:?usage: upload.sh SNAPSHOT_DIR BUCKET}
aws s3 sync "$dir/public" "s3://$bucket/" --delete --only-show-errors \
  --content-type 'application/json; charset=utf-8' --cache-control 'no-cache'
tr -d '";' < "$dir/_routers/etags.txt" | xargs -P 8 -L 1 sh -c \
  'aws s3 cp --only-show-errors --content-type "application/json; charset=utf-8" --cache-control "$2" --metadata "blake3=$4" "$0/public/$3" "s3://$1/$3"' \
  "$dir" "$bucket" 'no-cache'
