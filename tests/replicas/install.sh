#!/usr/bin/env bash
# Installs what the replication tests need, when missing: litestream v0.5.18 and litefs v0.5.14
# with `go install` from the Go module proxy (into $(go env GOPATH)/bin; the build cache makes a
# second install on the same machine take seconds), and Debian's fuse3 (fusermount3) for LiteFS.
# Prints how long each install took.
set -euo pipefail
LITESTREAM_VERSION=v0.5.18
LITEFS_VERSION=v0.5.14

command -v go >/dev/null || { echo "install.sh: the Go toolchain is needed (go install)" >&2; exit 1; }
bin="$(go env GOPATH | cut -d: -f1)/bin"

installed_version() { # tool -> the version it reports, or nothing
  "$bin/$1" version 2>/dev/null | head -n1 || true
}

install_go() { # name module version
  local name=$1 module=$2 version=$3 started
  if [ -x "$bin/$name" ]; then
    return 0
  fi
  echo "install.sh: go install $module@$version"
  started=$(date +%s)
  nice -n 10 go install "$module@$version"
  echo "install.sh: $name installed in $(( $(date +%s) - started )) s"
}

install_go litestream github.com/benbjohnson/litestream/cmd/litestream "$LITESTREAM_VERSION"
install_go litefs github.com/superfly/litefs/cmd/litefs "$LITEFS_VERSION"
case "$(installed_version litestream)" in
  "$LITESTREAM_VERSION") ;;
  *) echo "install.sh: $bin/litestream reports '$(installed_version litestream)', expected $LITESTREAM_VERSION" >&2 ;;
esac

if ! command -v fusermount3 >/dev/null; then
  echo "install.sh: apt-get install fuse3"
  started=$(date +%s)
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 >/dev/null; } ||
    echo "install.sh: fuse3 could not be installed (the LiteFS tests will say so)" >&2
  echo "install.sh: fuse3 installed in $(( $(date +%s) - started )) s"
fi
