#!/bin/bash
# tests/static.sh: the daemon serving --root end to end: bytes, Content-Type, HEAD,
# Last-Modified and 304, 404/403/405/414, the directory redirect and index.html, and every
# way out of the root we know of (dot segments, encoded dots, slashes and backslashes, NUL,
# symlinks). The fixture tree is built under $T at run time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/static-lib.sh"

command -v curl >/dev/null || skip "curl not found"

R=$T/root
mkdir -p "$R/sub/deep" "$R/empty" "$R/.git" "$T/outside"
echo 'secret outside the root' >"$T/outside/secret.txt"
printf '<h1>home</h1>\n' >"$R/index.html"
printf '<h1>sub</h1>\n' >"$R/sub/index.html"
printf 'deep\n' >"$R/sub/deep/d.txt"
printf 'plain text\n' >"$R/a.txt"
printf 'spaced\n' >"$R/with space.txt"
printf 'body{}\n' >"$R/style.css"
printf 'let x;\n' >"$R/app.js"
printf 'export {};\n' >"$R/mod.mjs"
printf '{}\n' >"$R/data.json"
printf '<svg/>\n' >"$R/img.svg"
printf '# doc\n' >"$R/README.md"
printf '<x/>\n' >"$R/feed.xml"
printf '\211PNG\r\n\032\n' >"$R/pic.PNG"
printf '\0asm\1\0\0\0' >"$R/mod.wasm"
printf 'blob' >"$R/blob.unknownext"
printf 'noext' >"$R/Makefile"
printf 'KEY=1\n' >"$R/.env"
printf '[core]\n' >"$R/.git/config"
: >"$R/empty.txt"
head -c 5242880 /dev/urandom >"$R/big.bin"
mkfifo "$R/fifo"
ln -s ../outside/secret.txt "$R/out-rel"     # relative, leads out
ln -s "$T/outside/secret.txt" "$R/out-abs"   # absolute, leads out
ln -s ../outside "$R/out-dir"                # a directory outside
ln -s ../a.txt "$R/sub/up-in"                # climbs with .., but stays inside
ln -s ../../outside/secret.txt "$R/sub/up-out" # climbs with .., out
ln -s a.txt "$R/in-file"                     # inside
ln -s sub "$R/in-dir"                        # inside, a directory
ln -s "$R/a.txt" "$R/in-abs"                 # absolute, names a file inside
touch -d '2020-01-01 00:00:00 UTC' "$R/a.txt"

svc_start --root "$R"

# Content, byte for byte.
expect_file /a.txt "$R/a.txt"
expect_file /index.html "$R/index.html"
expect_file /empty.txt "$R/empty.txt"
expect_file "/with%20space.txt" "$R/with space.txt"
expect_file /sub/deep/d.txt "$R/sub/deep/d.txt"
expect_file //sub//deep//d.txt "$R/sub/deep/d.txt"
expect_file /big.bin "$R/big.bin"
expect_eq "big Content-Length" 5242880 "$(hdr get Content-Length)"

# Several downloads of the big file at once: every one byte-exact.
pids=()
for i in 1 2 3 4; do
	curl -sS --max-time 30 -o "$T/par$i.b" "$SVC_URL/big.bin" &
	pids+=($!)
	TEST_PIDS+=($!)
done
for i in 1 2 3 4; do
	wait "${pids[$((i - 1))]}" || fail "parallel download $i failed"
	cmp -s "$T/par$i.b" "$R/big.bin" || fail "parallel download $i differs"
done

# Content-Type by extension (case-insensitive), text types with a charset.
while read -r path type; do
	expect_eq "GET $path" 200 "$(fetch type "$path")"
	expect_eq "Content-Type of $path" "$type" "$(hdr type Content-Type)"
done <<'EOF'
/index.html text/html; charset=utf-8
/a.txt text/plain; charset=utf-8
/style.css text/css; charset=utf-8
/app.js text/javascript; charset=utf-8
/mod.mjs text/javascript; charset=utf-8
/data.json application/json
/img.svg image/svg+xml
/README.md text/markdown; charset=utf-8
/feed.xml text/xml; charset=utf-8
/pic.PNG image/png
/mod.wasm application/wasm
/blob.unknownext application/octet-stream
/Makefile application/octet-stream
EOF

# Last-Modified, and conditional requests.
expect_eq "GET /a.txt" 200 "$(fetch lm /a.txt)"
lm=$(hdr lm Last-Modified)
expect_eq "Last-Modified" "Wed, 01 Jan 2020 00:00:00 GMT" "$lm"
expect_eq "IMS equal" 304 "$(fetch ims /a.txt -H "If-Modified-Since: $lm")"
[ ! -s "$T/ims.b" ] || fail "304 carried a body"
expect_eq "304 Last-Modified" "$lm" "$(hdr ims Last-Modified)"
expect_eq "IMS later" 304 "$(fetch ims /a.txt -H 'If-Modified-Since: Sat, 01 Jan 2022 00:00:00 GMT')"
expect_eq "IMS earlier" 200 "$(fetch ims /a.txt -H 'If-Modified-Since: Tue, 31 Dec 2019 23:59:59 GMT')"
expect_eq "IMS unparsable" 200 "$(fetch ims /a.txt -H 'If-Modified-Since: yesterday')"
expect_eq "IMS bad date" 200 "$(fetch ims /a.txt -H 'If-Modified-Since: Mon, 31 Feb 2022 00:00:00 GMT')"
expect_eq "IMS with If-None-Match" 200 \
	"$(fetch ims /a.txt -H "If-Modified-Since: $lm" -H 'If-None-Match: "x"')"
touch -d '2021-06-01 12:00:00 UTC' "$R/a.txt"
expect_eq "file newer than IMS" 200 "$(fetch ims /a.txt -H "If-Modified-Since: $lm")"
cmp -s "$T/ims.b" "$R/a.txt" || fail "200 after a change: wrong body"
expect_eq "new Last-Modified" "Tue, 01 Jun 2021 12:00:00 GMT" "$(hdr ims Last-Modified)"

# HEAD: the GET headers, and no body on the wire (read raw, so a stray body would show).
expect_eq "HEAD /big.bin" 200 "$(fetch head /big.bin -I)"
expect_eq "HEAD Content-Length" 5242880 "$(hdr head Content-Length)"
expect_eq "HEAD Content-Type" application/octet-stream "$(hdr head Content-Type)"
[ -n "$(hdr head Last-Modified)" ] || fail "HEAD without Last-Modified"
exec 3<>"/dev/tcp/127.0.0.1/$SVC_PORT" || fail "cannot connect for raw HEAD"
printf 'HEAD /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' >&3
timeout "$WAIT_BOUND" cat <&3 >"$T/rawhead" || fail "raw HEAD: no EOF"
exec 3<&-
head -n 1 "$T/rawhead" | grep -q '^HTTP/1.1 200' || fail "raw HEAD: $(head -n 1 "$T/rawhead")"
grep -qi "^Content-Length: $(stat -c %s "$R/a.txt")"$'\r'"$" "$T/rawhead" || fail "raw HEAD: Content-Length"
[ "$(tail -c 4 "$T/rawhead" | od -An -c | tr -d ' ')" = '\r\n\r\n' ] || fail "raw HEAD: bytes after the headers"

# Methods.
for m in POST DELETE PUT; do
	expect_eq "$m /a.txt" 405 "$(fetch method /a.txt -X "$m")"
	expect_eq "$m Allow" "GET, HEAD" "$(hdr method Allow)"
done
expect_eq "POST with a body" 405 "$(fetch method /a.txt --data-binary 'x=1')"

# Directories: the slash redirect, index.html, no listings.
expect_eq "GET /sub" 301 "$(fetch dir /sub)"
expect_eq "Location of /sub" /sub/ "$(hdr dir Location)"
expect_eq "GET /sub?q=1" 301 "$(fetch dir '/sub?q=1')"
expect_eq "Location keeps no query" /sub/ "$(hdr dir Location)"
expect_file /sub/ "$R/sub/index.html"
expect_file / "$R/index.html"
expect_eq "index Content-Type" "text/html; charset=utf-8" "$(hdr get Content-Type)"
expect_code 403 /empty/
expect_code 301 /empty
expect_code 404 /a.txt/
expect_code 404 /nope.txt
expect_code 404 /nope/
expect_code 403 /fifo

# Dotfiles are treated as absent.
expect_code 404 /.env
expect_code 404 /.git/config
expect_code 404 /.git/

# Ways out, written as text: refused before any file is looked at.
expect_code 400 /../etc/passwd
expect_code 400 /sub/../../etc/passwd
expect_code 400 /./a.txt
expect_code 400 /%2e%2e/
expect_code 400 /%2e%2e/etc/passwd
expect_code 400 /%2E%2E%2F
expect_code 400 /%2E%2E%2Fetc%2Fpasswd
expect_code 400 /sub/..%2f..%2f
expect_code 400 /sub/..%2f..%2fetc%2fpasswd
expect_code 400 /..%5c
expect_code 400 '/..%5c..%5cetc%5cpasswd'
expect_code 400 '/..\etc\passwd'
# Double encoding: a name "%2e%2e" (404) when the handler gets the raw URL, ".." (400)
# when libmicrohttpd already decoded once; neither is a way out.
expect_code '400|404' /%252e%252e/etc/passwd
expect_code 400 /%zz
expect_code 404 //etc/passwd
expect_code 404 /%2fetc%2fpasswd
long=/$(head -c 5000 /dev/zero | tr '\0' a)
expect_code 414 "$long"

# An encoded NUL. If libmicrohttpd decoded the URL before the handler (its default), the
# NUL has already ended the string there, and the request names what precedes it; with the
# raw URL, the NUL itself is refused. Either way nothing past the NUL is used.
c=$(fetch nul '/a.txt%00.html')
case $c in
400) ;;
200) cmp -s "$T/nul.b" "$R/a.txt" || fail "%00: served something other than a.txt"
     expect_eq "%00 Content-Type" "text/plain; charset=utf-8" "$(hdr nul Content-Type)" ;;
*) fail "/a.txt%00.html: expected 400 (or a.txt), got $c" ;;
esac
expect_code '400|404' '/nope%00/../../etc/passwd'

# Symlinks that lead out are refused, wherever they are.
expect_code 403 /out-rel
expect_code 403 /out-abs
expect_code 403 /out-dir/secret.txt
expect_code 403 /out-dir/
expect_code 403 /sub/up-out

# Symlinks that stay inside (relative ones, even through ..) are followed where the kernel
# has openat2 (Linux >= 5.6); without it every symlink is refused (403). An absolute link
# is always refused: RESOLVE_BENEATH cannot tell where it lands.
IFS=. read -r kmaj kmin _ <<<"$(uname -r)"
if [ "$kmaj" -gt 5 ] || { [ "$kmaj" -eq 5 ] && [ "${kmin%%[!0-9]*}" -ge 6 ]; }; then
	expect_file /in-file "$R/a.txt"
	expect_file /sub/up-in "$R/a.txt"
	expect_file /in-dir/ "$R/sub/index.html"
	expect_file /in-dir/deep/d.txt "$R/sub/deep/d.txt"
	expect_code 301 /in-dir
else
	expect_code 403 /in-file
	expect_code 403 /in-dir/
fi
expect_code 403 /in-abs

# Keep-alive: two requests share one connection (the response is queued on the second call).
n=$(curl -sS --max-time 10 -o /dev/null -o /dev/null -w '%{num_connects} ' \
	"$SVC_URL/a.txt" "$SVC_URL/index.html")
expect_eq "connections for two requests" "1 0 " "$n"

# Still alive after all that.
expect_eq "final GET" 200 "$(fetch get /a.txt)"
kill -0 "$SVC_PID" || fail "daemon died"
pass
