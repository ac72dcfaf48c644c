#!/usr/bin/env bash
# Builds android_demo/:core and its tests WITHOUT Gradle or the Android SDK, and runs them
# against camkit's golden fixtures (issue 17). What a fresh Debian machine with Java 17 needs:
#   - the Kotlin compiler from the npm registry package kotlin-compiler (pinned below),
#   - Gson and JUnit's console launcher from Debian's libgoogle-gson-java and junit5 .debs
#     (apt-get download + dpkg-deb -x: nothing is installed system-wide),
# all cached under android_demo/.tools/ (ignored by git); build output goes to
# android_demo/core/build-jvm/ (ignored). Reruns skip downloads, and compile only what changed.
#
# The same sources build under Gradle (cd android_demo && ./gradlew :core:test).
#
# Exit status: 0 all tests passed (and at least one ran); 1 a test or the compile failed;
# 3 the toolchain could not be fetched or is missing (npm, apt-get, java, camkit's venv).
# Env: CAMKIT (the camkit CLI, default .venv/bin/camkit), CAMKIT_ANDROID_TOOLS (the cache).
set -euo pipefail

KOTLIN_VERSION=2.4.20
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CORE="$ROOT/android_demo/core"
TOOLS="${CAMKIT_ANDROID_TOOLS:-$ROOT/android_demo/.tools}"
BUILD="$CORE/build-jvm"
CAMKIT="${CAMKIT:-$ROOT/.venv/bin/camkit}"
KOTLIN_HOME="$TOOLS/npm/node_modules/kotlin-compiler"
JARS="$TOOLS/jars"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }
toolchain_error() { echo "android_core_test: $*" >&2; exit 3; }
T0=$(now_ms)

java_ok() {
    command -v java >/dev/null || return 1
    local v
    v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
    [ -n "$v" ] && [ "$v" -ge 17 ]
}
java_ok || toolchain_error "Java 17 or newer is needed on PATH (Debian: apt-get install openjdk-17-jdk-headless)"

# --- the Kotlin compiler (npm registry) -------------------------------------------------------
if [ ! -x "$KOTLIN_HOME/bin/kotlinc" ] || ! grep -q "\"version\": \"$KOTLIN_VERSION\"" "$KOTLIN_HOME/package.json"; then
    command -v npm >/dev/null || toolchain_error "npm is needed to fetch kotlin-compiler@$KOTLIN_VERSION (Debian: apt-get install npm)"
    echo "fetching kotlin-compiler@$KOTLIN_VERSION from the npm registry into $TOOLS/npm"
    mkdir -p "$TOOLS/npm"
    npm install --prefix "$TOOLS/npm" --no-audit --no-fund --loglevel=error "kotlin-compiler@$KOTLIN_VERSION" >&2 \
        || toolchain_error "npm could not fetch kotlin-compiler@$KOTLIN_VERSION (no network to the npm registry?)"
    [ -x "$KOTLIN_HOME/bin/kotlinc" ] || toolchain_error "kotlin-compiler@$KOTLIN_VERSION has no bin/kotlinc"
fi
KOTLINC="$KOTLIN_HOME/bin/kotlinc"
STDLIB="$KOTLIN_HOME/lib/kotlin-stdlib.jar"

# --- Gson and the JUnit console launcher (Debian packages, unpacked, not installed) ----------
if [ ! -f "$JARS/junit-platform-console-standalone.jar" ] || [ ! -f "$JARS/gson.jar" ] || [ ! -f "$JARS/versions.txt" ]; then
    command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
        || toolchain_error "apt-get and dpkg-deb are needed to fetch junit5 and libgoogle-gson-java (a Debian machine)"
    echo "fetching junit5 and libgoogle-gson-java (.deb) into $JARS"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    sandbox=()
    [ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root)
    download() { (cd "$tmp" && apt-get "${sandbox[@]}" -q download junit5 libgoogle-gson-java) >&2; }
    if ! download; then
        [ "$(id -u)" = 0 ] || toolchain_error "apt-get download failed; run 'apt-get update' (as root) and retry"
        apt-get -qq update >&2 && download || toolchain_error "apt-get could not download junit5 and libgoogle-gson-java (no network to Debian?)"
    fi
    for deb in "$tmp"/*.deb; do
        dpkg-deb -x "$deb" "$tmp/x"
        echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)" >>"$tmp/versions.txt"
    done
    mkdir -p "$JARS"
    for f in x/usr/share/java/gson.jar x/usr/share/java/junit-platform-console-standalone.jar versions.txt; do
        cp -L "$tmp/$f" "$JARS/.$(basename "$f").tmp" && mv "$JARS/.$(basename "$f").tmp" "$JARS/$(basename "$f")"
    done
fi
GSON="$JARS/gson.jar"
JUNIT="$JARS/junit-platform-console-standalone.jar"
T_TOOLS=$(now_ms)

# --- the golden fixtures camkit writes -------------------------------------------------------
[ -x "$CAMKIT" ] || toolchain_error "no camkit at $CAMKIT: run 'make .venv/.installed' first (or set CAMKIT)"
mkdir -p "$BUILD"
"$CAMKIT" app fixtures "$BUILD/fixtures" --overwrite >/dev/null
T_FIXTURES=$(now_ms)

# --- compile (skipped when the sources, the compiler and the jars are unchanged) ------------
stamp() {  # a digest of the Kotlin sources under $1 and of the extra words
    local dir=$1; shift
    { find "$dir" -name '*.kt' -print0 | sort -z | xargs -0 sha256sum; echo "$KOTLIN_VERSION $*"; } | sha256sum | cut -d' ' -f1
}
compile() {  # compile DIR into JAR with CLASSPATH, unless its stamp (and SALT's) is current
    local src=$1 jar=$2 cp=$3 salt=${4:-} key
    key=$(stamp "$src" "$cp" "$salt" "$(cat "$JARS/versions.txt" 2>/dev/null)")
    if [ -f "$jar" ] && [ "$(cat "$jar.stamp" 2>/dev/null)" = "$key" ]; then
        echo "$(basename "$jar"): up to date"
        return
    fi
    echo "compiling $(basename "$jar") ($(find "$src" -name '*.kt' | wc -l) files)"
    rm -f "$jar" "$jar.stamp" "$jar.tmp.jar"
    local status=0
    "$KOTLINC" "$src" -classpath "$cp" -jvm-target 17 -Werror -d "$jar.tmp.jar" >"$BUILD/kotlinc.log" 2>&1 || status=$?
    cat "$BUILD/kotlinc.log" >&2
    if [ "$status" -ne 0 ] || [ ! -f "$jar.tmp.jar" ]; then
        echo "android_core_test: compiling $src failed (kotlinc exit $status)" >&2
        exit 1
    fi
    mv "$jar.tmp.jar" "$jar"
    echo "$key" >"$jar.stamp"
}
compile "$CORE/src/main/kotlin" "$BUILD/core.jar" "$GSON"
T_MAIN=$(now_ms)
compile "$CORE/src/test/kotlin" "$BUILD/core-tests.jar" "$BUILD/core.jar:$GSON:$JUNIT" "$(cat "$BUILD/core.jar.stamp")"
T_TESTS=$(now_ms)

# --- run -----------------------------------------------------------------------------------
rm -rf "$BUILD/contract" "$BUILD/test-results"
mkdir -p "$BUILD/contract"
set +e
java -Dcamkit.fixtures="$BUILD/fixtures" -Dcamkit.contract.out="$BUILD/contract" \
    -jar "$JUNIT" --disable-banner --details=summary --fail-if-no-tests \
    --reports-dir "$BUILD/test-results" \
    --class-path "$BUILD/core.jar:$BUILD/core-tests.jar:$GSON:$STDLIB" \
    --scan-class-path 2>&1 | tee "$BUILD/junit.log"
rc=${PIPESTATUS[0]}
set -e
T_RUN=$(now_ms)
passed=$(sed -n 's/^\[ *\([0-9]*\) tests successful *\].*/\1/p' "$BUILD/junit.log" | tail -1)
failed=$(sed -n 's/^\[ *\([0-9]*\) tests failed *\].*/\1/p' "$BUILD/junit.log" | tail -1)
passed=${passed:-0}
failed=${failed:-0}
echo "android core: $passed tests passed, $failed failed; tests $(secs $((T_RUN - T_TESTS))) s, total $(secs $((T_RUN - T0))) s" \
     "(toolchain $(secs $((T_TOOLS - T0))) s, fixtures $(secs $((T_FIXTURES - T_TOOLS))) s," \
     "compile $(secs $((T_TESTS - T_FIXTURES))) s; kotlinc $KOTLIN_VERSION; $(tr '\n' ' ' <"$JARS/versions.txt" | sed 's/ $//'))"
echo "android core: result JSON in $BUILD/contract ($(find "$BUILD/contract" -name '*.json' | wc -l) files)"
if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
    echo "android_core_test: FAILED (junit exit $rc, $passed passed, $failed failed)" >&2
    exit 1
fi
