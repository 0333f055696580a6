#!/usr/bin/env bash
# Build miner/data/demo.warc.gz: a small, real, multilingual WARC written by
# GNU wget while crawling real HTML documentation pages from Debian packages,
# served locally by `python3 -m http.server` on 127.0.0.1.
#
#   bench/build_demo_warc.sh            # build if missing (no-op otherwise)
#   bench/build_demo_warc.sh --force    # rebuild even if the WARC exists
#
# Tools used: apt-get download, dpkg -x, python3 -m http.server, wget
# (plus coreutils/sed).  Nothing is installed; .deb files are cached in
# bench/.cache/debs and unpacked under bench/.cache/pkgs (git-ignored).
# The only network host the crawler ever contacts is 127.0.0.1.
#
# Contents (see miner/data/README.md for provenance and licenses):
#   /faq/{en,de,fr,it,ja,ru,zh-cn}/   Debian FAQ (debian-faq, debian-faq-LANG 11.1)
#   /maint-guide/es/                  Debian New Maintainers' Guide, Spanish
#                                     (maint-guide-es 1.2.53)
#   /index.html                       tiny hub page written by this script
#   5 near-duplicate pages (*-rev2.LANG.html): copies of real pages with one
#     inserted dated "revision" sentence and a changed <title>
#   1 exact duplicate under another URL (a ?utm_source= query-string variant)
#   404s: /robots.txt (wget asks for it) and one dangling link on the hub page
#   non-HTML assets: debian.css and the navigation PNG icons of each manual
set -euo pipefail

FORCE=0
case "${1:-}" in
  --force|-f) FORCE=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$REPO/bench/.cache"
DEBS="$CACHE/debs"
PKGS="$CACHE/pkgs"
OUT="$REPO/miner/data/demo.warc.gz"
PY="${PYTHON:-python3}"
PORT="${DEMO_PORT:-8731}"

if [[ -s "$OUT" && $FORCE -eq 0 ]]; then
  echo "exists: $OUT (use --force to rebuild)"
  exit 0
fi

# package -> pinned version (falls back to the archive's candidate version
# with a warning if the pinned one is no longer downloadable)
PACKAGES=(
  debian-faq=11.1
  debian-faq-de=11.1
  debian-faq-fr=11.1
  debian-faq-it=11.1
  debian-faq-ja=11.1
  debian-faq-ru=11.1
  debian-faq-zh-cn=11.1
  maint-guide-es=1.2.53
)

mkdir -p "$DEBS" "$PKGS" "$(dirname "$OUT")"

fetch_and_unpack() {  # $1 = name=version
  local name="${1%%=*}" ver="${1#*=}" deb
  deb="$(ls "$DEBS/${name}_"*.deb 2>/dev/null | head -n1 || true)"
  if [[ -z "$deb" ]]; then
    echo "apt-get download $name=$ver"
    if ! (cd "$DEBS" && apt-get download -q "$name=$ver"); then
      echo "WARNING: $name=$ver not available, downloading candidate version" >&2
      (cd "$DEBS" && apt-get download -q "$name") || {
        echo "ERROR: cannot download $name (try: apt-get update)" >&2; exit 1; }
    fi
    deb="$(ls "$DEBS/${name}_"*.deb | head -n1)"
  fi
  if [[ ! -e "$PKGS/$name/.unpacked" ]]; then
    rm -rf "${PKGS:?}/$name"
    dpkg -x "$deb" "$PKGS/$name"
    basename "$deb" > "$PKGS/$name/.unpacked"
  fi
}
for p in "${PACKAGES[@]}"; do fetch_and_unpack "$p"; done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/toxmine-demo.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

SITE="$WORK/site"
mkdir -p "$SITE"

# --- Debian FAQ, 7 languages: only the *.LANG.html pages, css and icons ---
copy_manual() {  # $1 = source dir, $2 = lang suffix, $3 = dest dir
  local src="$1" lang="$2" dst="$3"
  mkdir -p "$dst/images"
  cp -p "$src"/*."$lang".html "$dst/"
  cp -p "$src/debian.css" "$dst/"
  cp -p "$src"/images/*.png "$dst/images/"
}
copy_manual "$PKGS/debian-faq/usr/share/doc/debian/FAQ" en "$SITE/faq/en"
for l in de fr it ja ru zh-cn; do
  copy_manual "$PKGS/debian-faq-$l/usr/share/doc/debian/FAQ/$l" "$l" "$SITE/faq/$l"
done
copy_manual "$PKGS/maint-guide-es/usr/share/doc/maint-guide-es/html" es "$SITE/maint-guide/es"

# --- near-duplicates: same directory, new name, two small edits -----------
# edit 1: prepend one dated sentence to the first <p> after the first </h2>
#         (i.e. inside the main text, so it survives boilerplate removal)
# edit 2: append a marker to the <title>
near_dup() {  # $1 = dir, $2 = stem, $3 = lang, $4 = sentence, $5 = title suffix
  local d="$SITE/$1" src dst
  src="$d/$2.$3.html"; dst="$d/$2-rev2.$3.html"
  sed -e "0,/<\/title>/s##$5&#" \
      -e "/<\/h2>/,\${/<p>/{s##<p>$4 #;:a;n;ba}}" "$src" > "$dst"
  touch -d '2024-03-15 12:00:00 UTC' "$dst"
  cmp -s "$src" "$dst" && { echo "ERROR: near-dup edit did not apply to $dst" >&2; exit 1; }
  echo "$1/$2-rev2.$3.html"
}
NEAR=()
NEAR+=("$(near_dup faq/en kernel en 'Last reviewed on 15 March 2024 by the mirror maintainers; no changes were needed.' ' (reviewed 2024)')")
NEAR+=("$(near_dup faq/de support de 'Zuletzt geprüft am 15.03.2024; die Angaben in diesem Kapitel sind weiterhin gültig.' ' (Stand 2024)')")
NEAR+=("$(near_dup faq/ru nextrelease ru 'Последняя проверка: 15 марта 2024 года; сведения в этой главе по-прежнему актуальны.' ' (ред. 2024)')")
NEAR+=("$(near_dup faq/ja redistributing ja '最終確認日：2024年3月15日。この章の内容は現在も有効です。' '（2024年版）')")
NEAR+=("$(near_dup maint-guide/es upload es 'Última revisión: 15 de marzo de 2024; el procedimiento descrito sigue vigente.' ' (rev. 2024)')")

# --- hub page ---------------------------------------------------------------
{
  echo '<!DOCTYPE html>'
  echo '<html><head><meta charset="utf-8"><title>toxmine demo mirror</title></head><body>'
  echo '<h1>Documentation mirror</h1><ul>'
  for l in en de fr it ja ru zh-cn; do
    echo "<li><a href=\"/faq/$l/index.$l.html\">Debian FAQ ($l)</a></li>"
  done
  echo '<li><a href="/maint-guide/es/index.es.html">Guía del nuevo desarrollador de Debian (es)</a></li>'
  echo '</ul><h2>Revised copies</h2><ul>'
  for n in "${NEAR[@]}"; do echo "<li><a href=\"/$n\">$n</a></li>"; done
  echo '<li><a href="/faq/zh-cn/kernel.zh-cn.html?utm_source=hub">kernel (zh-cn)</a></li>'
  echo '</ul><p><a href="/faq/es/index.es.html">Debian FAQ (es)</a> (not mirrored)</p>'
  echo '</body></html>'
} > "$SITE/index.html"
touch -d '2024-03-15 12:00:00 UTC' "$SITE/index.html"

# --- serve on 127.0.0.1 and crawl with wget ---------------------------------
start_server() {
  local p
  for p in $(seq "$PORT" $((PORT + 20))); do
    "$PY" -m http.server --bind 127.0.0.1 --directory "$SITE" "$p" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 50); do
      if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
      if wget -q --no-proxy --tries=1 --timeout=2 -O /dev/null "http://127.0.0.1:$p/index.html" 2>/dev/null; then
        PORT=$p; return 0
      fi
      sleep 0.1
    done
    kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  done
  echo "ERROR: could not start http.server on 127.0.0.1:$PORT..$((PORT + 20))" >&2
  cat "$WORK/server.log" >&2
  return 1
}
start_server
echo "serving $SITE on http://127.0.0.1:$PORT/"

# --no-http-keep-alive: http.server speaks HTTP/1.0 and closes every
# connection; without it wget may try to reuse a closing connection.
rc=0
(
  cd "$WORK"
  wget --warc-file=demo \
       --recursive --level=inf --no-parent --page-requisites \
       --no-proxy --no-http-keep-alive --no-verbose --wait=0 --tries=1 --timeout=5 \
       --reject-regex '\.(pdf|gz|txt|epub)$' \
       --delete-after --directory-prefix=dl \
       "http://127.0.0.1:$PORT/"
) >"$WORK/wget.out" 2>&1 || rc=$?
# wget exits 8 when the server answered with an error (the intended 404s)
if [[ $rc -ne 0 && $rc -ne 8 ]]; then
  echo "ERROR: wget failed with exit code $rc" >&2; tail -n 30 "$WORK/wget.out" >&2; exit 1
fi
if grep -Eq 'No data received|Read error|Connection refused|failed: ' "$WORK/wget.out"; then
  echo "ERROR: transport errors while crawling" >&2; tail -n 30 "$WORK/wget.out" >&2; exit 1
fi
[[ -s "$WORK/demo.warc.gz" ]] || { echo "ERROR: wget wrote no WARC" >&2; exit 1; }

mv -f "$WORK/demo.warc.gz" "$OUT"
echo "wget: $(grep -c ' URL:' "$WORK/wget.out" || true) fetches, $(grep -c 'ERROR 404' "$WORK/wget.out" || true) x 404"
echo "wrote $OUT ($(du -h "$OUT" | cut -f1))"
