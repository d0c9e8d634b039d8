#!/usr/bin/env bash
# A tus 1.0.0 upload with nothing but curl: create, upload half, "lose the connection",
# ask the server how far it got, upload the rest, and verify.
#
#   examples/curl.sh [FILE] [TUS_URL]
#   TUS_URL=http://127.0.0.1:8080/files/ examples/curl.sh ./photo.jpg
#
# Without FILE a 1 MiB file of random bytes is made in a temporary directory.
set -euo pipefail

TUS_URL="${2:-${TUS_URL:-http://127.0.0.1:8080/files/}}"
# Every request is bounded: a stuck server makes the script fail instead of hang.
CURL=(curl --silent --show-error --fail --max-time 60)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

file="${1:-}"
if [[ -z "$file" ]]; then
  file="$work/random.bin"
  head -c 1048576 /dev/urandom >"$file"
fi
size="$(wc -c <"$file" | tr -d ' ')"
name="$(basename "$file")"

# header NAME < response-headers: print the value of one response header, or fail loudly.
header() {
  local value
  value="$(grep -i "^$1:" | tail -n 1 | cut -d: -f2- | tr -d ' \r')" || true
  if [[ -z "$value" ]]; then
    echo "the response has no $1 header" >&2
    return 1
  fi
  printf '%s\n' "$value"
}

# 1. Create the upload. Upload-Length is the total size; Upload-Metadata is a comma-separated
#    list of "key base64(value)" pairs, which the server stores and hands to whoever processes
#    the file. The answer is 201 Created with the upload's URL in Location.
b64() { printf '%s' "$1" | base64 | tr -d '\n'; }
"${CURL[@]}" -X POST "$TUS_URL" \
  -H "Tus-Resumable: 1.0.0" \
  -H "Upload-Length: $size" \
  -H "Upload-Metadata: filename $(b64 "$name"),filetype $(b64 application/octet-stream)" \
  --dump-header "$work/create.txt" --output /dev/null
location="$(header Location <"$work/create.txt")"
# Location may be relative ("/files/abc"): resolve it against the server's origin.
if [[ "$location" != http* ]]; then
  origin="$(printf '%s' "$TUS_URL" | sed -E 's#^(https?://[^/]+).*#\1#')"
  location="$origin$location"
fi
echo "upload URL: $location"

# 2. Send the first half. A PATCH carries raw bytes (Content-Type application/offset+octet-stream)
#    and says where they start (Upload-Offset); the server answers 204 with the new offset.
half=$((size / 2))
head -c "$half" "$file" |
  "${CURL[@]}" -X PATCH "$location" \
    -H "Tus-Resumable: 1.0.0" \
    -H "Content-Type: application/offset+octet-stream" \
    -H "Upload-Offset: 0" \
    --data-binary @- \
    --dump-header "$work/patch1.txt" --output /dev/null
echo "first PATCH: server offset $(header Upload-Offset <"$work/patch1.txt") of $size"

# 3. Pretend the connection dropped here. A client that comes back never assumes how much
#    arrived: it asks with HEAD, and the server's Upload-Offset is the truth.
"${CURL[@]}" --head "$location" -H "Tus-Resumable: 1.0.0" --dump-header "$work/head1.txt" \
  --output /dev/null
offset="$(header Upload-Offset <"$work/head1.txt")"
echo "resuming at offset $offset"

# 4. Send everything from that offset on (tail -c +N starts at byte N, counting from 1).
tail -c "+$((offset + 1))" "$file" |
  "${CURL[@]}" -X PATCH "$location" \
    -H "Tus-Resumable: 1.0.0" \
    -H "Content-Type: application/offset+octet-stream" \
    -H "Upload-Offset: $offset" \
    --data-binary @- \
    --dump-header "$work/patch2.txt" --output /dev/null
echo "second PATCH: server offset $(header Upload-Offset <"$work/patch2.txt") of $size"

# 5. Verify: the upload is complete when Upload-Offset equals Upload-Length.
"${CURL[@]}" --head "$location" -H "Tus-Resumable: 1.0.0" --dump-header "$work/head2.txt" \
  --output /dev/null
final_offset="$(header Upload-Offset <"$work/head2.txt")"
final_length="$(header Upload-Length <"$work/head2.txt")"
if [[ "$final_offset" != "$size" || "$final_length" != "$size" ]]; then
  echo "incomplete: offset $final_offset, length $final_length, file $size bytes" >&2
  exit 1
fi
echo "complete: $final_offset of $final_length bytes"
