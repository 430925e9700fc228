#!/usr/bin/env bash
# The Debian packages a profile needs, installed through apt-get when missing (as root), else one line that
# says what to run. An already-provisioned machine pays one `dpkg-query` call: no apt-get, no network.
#
#   scripts/system-deps.sh demo   what `make venv` / `make demo` need: mysqlclient builds from source
#                                 (pkg-config, libmariadb-dev, a C compiler, the Python headers)
#   scripts/system-deps.sh test   demo + what `make test` needs: MariaDB (server, client, mariadb-install-db
#                                 for the TLS tests), Chromium with its driver (browser test), and for
#                                 `make test-java` a JDK (openjdk-17-jdk-headless), libphonenumber8-java,
#                                 libmariadb-java (the repository's JDBC driver) and junit5 (its test suite)
#
# Environment: PY (the interpreter the venv is made from, default python3); LEADS_SKIP_SYSTEM_DEPS=1 skips the
# check (a machine provisioned some other way); LEADS_PRETEND_MISSING="pkg ..." treats those packages as
# missing (to try the install path or the non-root message).
set -euo pipefail

profile=${1:-}
case "$profile" in
  demo|test) ;;
  *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
[ "${LEADS_SKIP_SYSTEM_DEPS:-}" = 1 ] && exit 0
if ! command -v dpkg >/dev/null 2>&1; then
  echo "system-deps: not a Debian system, not checked; $profile needs: pkg-config, the MariaDB/MySQL client headers, a C compiler$([ "$profile" = test ] && echo ', MariaDB server, chromium + chromedriver')" >&2
  exit 0
fi

py=${PY:-python3}
pkgs=(pkg-config libmariadb-dev)
command -v cc >/dev/null 2>&1 || pkgs+=(gcc)
py_path=$(command -v "$py" 2>/dev/null || true)
py_path=$(readlink -f "$py_path" 2>/dev/null || true)
if [ -z "$py_path" ] || [[ "$py_path" == /usr/bin/* ]]; then
  # Debian's own interpreter: venv/ensurepip and the headers come as packages.
  pkgs+=(python3 python3-venv python3-dev)
fi
if [ "$profile" = test ]; then
  pkgs+=(mariadb-server mariadb-client chromium chromium-driver)
  # the Java conformance kit (make test-java): a JDK unless one is there, and libphonenumber's jar
  command -v javac >/dev/null 2>&1 || pkgs+=(openjdk-17-jdk-headless)
  pkgs+=(libphonenumber8-java libmariadb-java junit5)
fi

pretend=" ${LEADS_PRETEND_MISSING:-} "
# One dpkg query for all of them (`dpkg -s` exits 0 for a removed package whose config files remain, so
# read the status: "ii" is installed).
installed=" $(dpkg-query -W -f='${Package}:${db:Status-Abbrev}\n' "${pkgs[@]}" 2>/dev/null \
  | awk -F: '$2 ~ /^ii/ {printf "%s ", $1}' || true) "
missing=()
for p in "${pkgs[@]}"; do
  if [[ "$pretend" == *" $p "* ]] || [[ "$installed" != *" $p "* ]]; then
    missing+=("$p")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  update=""
  compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null || update="sudo apt-get update && "
  echo "system-deps ($profile): missing Debian packages; run: ${update}sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "system-deps ($profile): installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}"
