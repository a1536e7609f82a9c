# shellcheck shell=bash
# shellcheck disable=SC2034  # constants and helpers for the scripts that source this file
# Installs what the local services need, skipping what is present. Sourced by up.sh (needs lib.sh).
# Each ensure_* prints nothing when there is nothing to do, and returns non-zero with the reason
# in INSTALL_WHY when it cannot install.

KAFKA_POM="$EDP_ROOT/infra/kafka/pom.xml"
KAFKA_LIBS="$STATE/kafka/libs"
FERRET_SRC="$EDP_ROOT/infra/ferretdb"
FERRET_BIN="$BIN/ferretdb-edp"
INSTALL_WHY=""

ensure_apt_packages() {
  local want=()
  command -v java >/dev/null 2>&1 || want+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || want+=(maven)
  command -v curl >/dev/null 2>&1 || want+=(curl)
  command -v ss >/dev/null 2>&1 || want+=(iproute2)
  [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || want+=(rabbitmq-server)
  command -v prometheus >/dev/null 2>&1 || want+=(prometheus)
  # The portal's browser test (tests/e2e/test_portal.py): Playwright drives Debian's Chromium.
  [[ -x /usr/bin/chromium ]] || want+=(chromium)
  [[ -x /usr/bin/chromedriver ]] || want+=(chromium-driver)
  ((${#want[@]})) || return 0
  apt_ensure "${want[@]}" || {
    INSTALL_WHY="apt-get install ${want[*]} failed; see .local/logs/apt.log"
    return 1
  }
}

# Kafka's jars come from Maven Central through infra/kafka/pom.xml (cached in ~/.m2); a stamp of
# the pom's hash tells whether the copy in .local/kafka/libs is current.
ensure_kafka_jars() {
  local stamp="$KAFKA_LIBS/.pom.sha256" want t0=$SECONDS
  want=$(sha_of "$KAFKA_POM")
  [[ -f $stamp && $(<"$stamp") == "$want" ]] && return 0
  say "kafka: fetching jars with Maven (log .local/logs/mvn.log)"
  rm -rf "$KAFKA_LIBS"
  mkdir -p "$KAFKA_LIBS"
  # shellcheck disable=SC2086  # MAVEN_ARGS is a list of flags on purpose
  if ! mvn -q -B ${MAVEN_ARGS:-} -f "$KAFKA_POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >"$LOGS/mvn.log" 2>&1; then
    INSTALL_WHY="mvn dependency:copy-dependencies failed: $(last_log_line "$LOGS/mvn.log")"
    return 1
  fi
  printf '%s\n' "$want" >"$stamp"
  say "kafka: jars ready in $((SECONDS - t0))s"
}

# FerretDB is built from infra/ferretdb (our small main around its embeddable package); the
# binary is rebuilt only when the sources change.
ensure_ferretdb_bin() {
  local stamp="$FERRET_BIN.sha256" want go t0=$SECONDS
  want=$(sha_of "$FERRET_SRC/main.go" "$FERRET_SRC/go.mod" "$FERRET_SRC/go.sum")
  [[ -x $FERRET_BIN && -f $stamp && $(<"$stamp") == "$want" ]] && return 0
  if ! go=$(find_go); then
    INSTALL_WHY="Go >= 1.24 is needed to build it and was not found (PATH or /usr/local/go/bin)"
    return 1
  fi
  say "ferretdb: building .local/bin/ferretdb-edp with $($go version | cut -d' ' -f3) (log .local/logs/go-build.log)"
  if ! (cd "$FERRET_SRC" && "$go" build -buildvcs=false -trimpath -o "$FERRET_BIN" .) \
    >"$LOGS/go-build.log" 2>&1; then
    INSTALL_WHY="go build failed: $(last_log_line "$LOGS/go-build.log")"
    return 1
  fi
  printf '%s\n' "$want" >"$stamp"
  say "ferretdb: built in $((SECONDS - t0))s"
}
