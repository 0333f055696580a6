#!/usr/bin/env bash
# Build the benchmark corpus: 8 WARC files written by GNU wget while crawling
# real HTML documentation from Debian packages, served locally by
# `python3 -m http.server` on 127.0.0.1 (the only host ever contacted).
#
#   bench/build_bench_corpus.sh          # build what is missing (rerunnable)
#   bench/build_bench_corpus.sh --force  # recrawl all 8 parts
#
# Output (git-ignored):
#   bench/.cache/warc/part-00.warc.gz ... part-07.warc.gz
#   bench/.cache/warc/SOURCES.txt        package files used, wget options
#   bench/.cache/logs/part-NN.log        wget logs
# Work areas: bench/.cache/debs (downloaded .deb files), bench/.cache/pkgs
# (dpkg -x trees), bench/.cache/site (symlinks served by http.server).
#
# Each part is one wget run over a disjoint set of documentation sections
# (sections are whole manuals / languages, grouped so the parts have similar
# compressed size).  The 8 runs go in parallel against one local server.
# Images, scripts, PDFs and archives are rejected (--reject-regex) to keep the
# corpus HTML-heavy; CSS files and 404s (robots.txt, missing stylesheets and
# the like) are kept, as a crawler would record them.
#
# Sources (Debian bookworm; the pinned version is used when still downloadable,
# otherwise the archive's current version, with a warning):
#   postgresql-doc-15           PostgreSQL 15 manual (en)                 ~1170 pages
#   python3.11-doc              Python 3.11 documentation (en)            ~530 pages
#   debian-handbook             Debian Administrator's Handbook, 26 langs ~3300 pages
#                               (several translations are partial: untranslated
#                               chapters are English text in a localized frame)
#   debian-reference-LANG       Debian Reference, 9 langs                 ~135 pages
#   developers-reference[-LANG] Debian Developer's Reference, 5 langs     ~60 pages
#   maint-guide[-LANG]          Debian New Maintainers' Guide, 7 langs    ~77 pages
#   debian-faq[-LANG]           Debian FAQ, 7 langs                       ~120 pages
set -euo pipefail

FORCE=0
case "${1:-}" in
  --force|-f) FORCE=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

T0=$(date +%s)
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$REPO/bench/.cache"
DEBS="$CACHE/debs"
PKGS="$CACHE/pkgs"
SITE="$CACHE/site"
WARC="$CACHE/warc"
LOGS="$CACHE/logs"
PY="${PYTHON:-python3}"
PORT="${BENCH_PORT:-8741}"
NPARTS=8

PACKAGES=(
  postgresql-doc-15=15.20-0+deb12u1
  python3.11-doc=3.11.2-6+deb12u9
  debian-handbook=11.20220922
)
DR_LANGS=(en de es fr it ja pt zh-cn zh-tw)
DEVREF_LANGS=(de fr ja ru)          # plus English (package developers-reference)
MG_LANGS=(es fr it ja ru zh-cn)     # plus English (package maint-guide)
FAQ_LANGS=(de fr it ja ru zh-cn)    # plus English (package debian-faq)
for l in "${DR_LANGS[@]}"; do PACKAGES+=("debian-reference-$l=2.100"); done
PACKAGES+=(developers-reference=12.18)
for l in "${DEVREF_LANGS[@]}"; do PACKAGES+=("developers-reference-$l=12.18"); done
PACKAGES+=(maint-guide=1.2.53)
for l in "${MG_LANGS[@]}"; do PACKAGES+=("maint-guide-$l=1.2.53"); done
PACKAGES+=(debian-faq=11.1)
for l in "${FAQ_LANGS[@]}"; do PACKAGES+=("debian-faq-$l=11.1"); done

HB_LANGS=(ar-MA ca-ES cs-CZ da-DK de-DE el-GR en-US es-ES fa-IR fr-FR hr-HR id-ID
          it-IT ja-JP ko-KR nb-NO nl-NL pl-PL pt-BR ro-RO ru-RU sv-SE tr-TR vi-VN
          zh-CN zh-TW)

# Sections per part.  Section names map to start URLs in start_url() below.
# "python" is the Python docs minus /python/library/ (its own section).
PARTS=(
  "postgresql"
  "python/library debian-reference/en devref/en faq/en"
  "python handbook/en-US maint-guide/en debian-reference/pt debian-reference/zh-cn"
  "handbook/de-DE handbook/nl-NL handbook/da-DK handbook/nb-NO handbook/sv-SE debian-reference/de devref/de faq/de"
  "handbook/fr-FR handbook/es-ES handbook/it-IT handbook/pt-BR handbook/ca-ES devref/fr faq/fr maint-guide/fr maint-guide/es maint-guide/ru"
  "handbook/ru-RU handbook/cs-CZ handbook/pl-PL handbook/hr-HR handbook/el-GR devref/ru faq/ru debian-reference/es debian-reference/fr"
  "handbook/ja-JP handbook/zh-CN handbook/zh-TW handbook/ko-KR handbook/vi-VN debian-reference/ja devref/ja faq/ja faq/zh-cn maint-guide/ja maint-guide/zh-cn"
  "handbook/ar-MA handbook/fa-IR handbook/tr-TR handbook/id-ID handbook/ro-RO debian-reference/it debian-reference/zh-tw faq/it maint-guide/it"
)

start_url() {  # section name -> path on the local server
  case "$1" in
    postgresql)         echo "/postgresql/index.html" ;;
    python)             echo "/python/index.html" ;;
    python/library)     echo "/python/library/index.html" ;;
    handbook/*)         echo "/$1/index.html" ;;
    devref/*)           echo "/$1/index.html" ;;
    debian-reference/*|maint-guide/*|faq/*) echo "/$1/index.${1#*/}.html" ;;
    *) echo "unknown section $1" >&2; return 1 ;;
  esac
}

# --no-http-keep-alive: http.server speaks HTTP/1.0 and closes every
# connection, but wget would otherwise try to reuse it and, under load, lose
# the race ("No data received").
WGET_OPTS=(
  --recursive --level=inf --no-parent --page-requisites
  --no-proxy --no-http-keep-alive --no-verbose --wait=0 --tries=1 --timeout=5
  --reject-regex '(/_sources/|/_downloads/|/_images/|\.(png|jpe?g|gif|svg|xpm|ico|js|pdf|epub|gz|bz2|zip|tar|txt|inv)$)'
  --delete-after
)

all_done() {
  local i
  for ((i = 0; i < NPARTS; i++)); do
    [[ -s "$WARC/part-$(printf %02d "$i").warc.gz" ]] || return 1
  done
}
if [[ $FORCE -eq 1 ]]; then rm -f "$WARC"/part-*.warc.gz; fi
if all_done; then
  echo "all $NPARTS parts exist in $WARC (use --force to recrawl)"
  exit 0
fi

mkdir -p "$DEBS" "$PKGS" "$SITE" "$WARC" "$LOGS"

# ---------------------------------------------------------------- packages
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
T1=$(date +%s)

# -------------------------------------------------------------------- site
link() {  # $1 = target dir (must exist), $2 = link path relative to $SITE
  [[ -d "$1" ]] || { echo "ERROR: missing $1" >&2; exit 1; }
  mkdir -p "$(dirname "$SITE/$2")"
  ln -sfn "$1" "$SITE/$2"
}
link "$PKGS/postgresql-doc-15/usr/share/doc/postgresql-doc-15/html" postgresql
link "$PKGS/python3.11-doc/usr/share/doc/python3.11/html" python
link "$PKGS/debian-handbook/usr/share/doc/debian-handbook/html" handbook
for l in "${DR_LANGS[@]}"; do
  link "$PKGS/debian-reference-$l/usr/share/debian-reference" "debian-reference/$l"
done
link "$PKGS/developers-reference/usr/share/developers-reference" devref/en
for l in "${DEVREF_LANGS[@]}"; do
  link "$PKGS/developers-reference-$l/usr/share/developers-reference/$l" "devref/$l"
done
link "$PKGS/maint-guide/usr/share/doc/maint-guide/html" maint-guide/en
for l in "${MG_LANGS[@]}"; do
  link "$PKGS/maint-guide-$l/usr/share/doc/maint-guide-$l/html" "maint-guide/$l"
done
link "$PKGS/debian-faq/usr/share/doc/debian/FAQ" faq/en
for l in "${FAQ_LANGS[@]}"; do
  link "$PKGS/debian-faq-$l/usr/share/doc/debian/FAQ/$l" "faq/$l"
done
for l in "${HB_LANGS[@]}"; do
  [[ -f "$SITE/handbook/$l/index.html" ]] || { echo "ERROR: handbook/$l missing" >&2; exit 1; }
done

# ------------------------------------------------------------------ server
SERVER_PID=""
WORK="$(mktemp -d "${TMPDIR:-/tmp}/toxmine-bench.XXXXXX")"
cleanup() {
  local pid
  for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

start_server() {
  local p
  for p in $(seq "$PORT" $((PORT + 20))); do
    "$PY" -m http.server --bind 127.0.0.1 --directory "$SITE" "$p" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 50); do
      if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
      if wget -q --no-proxy --tries=1 --timeout=2 -O /dev/null "http://127.0.0.1:$p/faq/en/index.en.html" 2>/dev/null; then
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

# ------------------------------------------------------------------- crawl
crawl_part() {  # $1 = part index
  local i="$1" name urls=() extra=() s rc=0
  name="part-$(printf %02d "$i")"
  for s in ${PARTS[$i]}; do
    urls+=("http://127.0.0.1:$PORT$(start_url "$s")")
    [[ "$s" == python ]] && extra+=(--exclude-directories=/python/library)
  done
  mkdir -p "$WORK/$name"
  (cd "$WORK/$name" && wget --warc-file="$name" "${WGET_OPTS[@]}" "${extra[@]}" \
      --directory-prefix=dl "${urls[@]}") >"$LOGS/$name.log" 2>&1 || rc=$?
  # 8 = the server answered some request with an error (expected 404s)
  if [[ $rc -ne 0 && $rc -ne 8 ]]; then
    echo "ERROR: wget for $name exited with $rc (see $LOGS/$name.log)" >&2; return 1
  fi
  if grep -Eq 'No data received|Read error|Connection refused|failed: ' "$LOGS/$name.log"; then
    echo "ERROR: transport errors while crawling $name (see $LOGS/$name.log)" >&2; return 1
  fi
  mv -f "$WORK/$name/$name.warc.gz" "$WARC/$name.warc.gz"
  echo "$name: $(grep -c ' URL:' "$LOGS/$name.log" || true) fetches, $(grep -c 'ERROR 404' "$LOGS/$name.log" || true) x 404, $(du -h "$WARC/$name.warc.gz" | cut -f1)"
}

T2=$(date +%s)
pids=()
for ((i = 0; i < NPARTS; i++)); do
  name="part-$(printf %02d "$i")"
  if [[ -s "$WARC/$name.warc.gz" ]]; then echo "$name: exists, skipped"; continue; fi
  crawl_part "$i" &
  pids+=($!)
done
fail=0
for pid in "${pids[@]}"; do wait "$pid" || fail=1; done
[[ $fail -eq 0 ]] || { echo "ERROR: some parts failed" >&2; exit 1; }
T3=$(date +%s)

{
  echo "# bench corpus sources (built $(date -u +%Y-%m-%dT%H:%M:%SZ) by bench/build_bench_corpus.sh)"
  echo "# package files (Debian):"
  for p in "${PACKAGES[@]}"; do echo "  $(cat "$PKGS/${p%%=*}/.unpacked")"; done
  echo "# parts:"
  for ((i = 0; i < NPARTS; i++)); do echo "  part-$(printf %02d "$i"): ${PARTS[$i]}"; done
  echo "# wget options: ${WGET_OPTS[*]}"
} > "$WARC/SOURCES.txt"

echo "packages: $((T1 - T0))s, crawl: $((T3 - T2))s, total: $((T3 - T0))s"
ls -l "$WARC"
