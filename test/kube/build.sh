#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl of the pinned Kubernetes release
# into a cache outside the repo, keyed by the release and a hash of the module and its mains, and
# prints the directory holding them. A second run with nothing changed only prints it.
set -euo pipefail
cd "$(dirname "$0")"

version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' go.mod)
hash=$(cat build.sh go.mod go.sum $(find . -name '*.go' | sort) | sha256sum | cut -c1-12)
bin="${XDG_CACHE_HOME:-$HOME/.cache}/ballast/kube/${version}-${hash}"
binaries=(etcd kube-apiserver kube-controller-manager kubectl)

have_all() { for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || return 1; done; }

if ! have_all; then
  command -v go >/dev/null || { echo "build.sh: Go is required to build the test control plane (https://go.dev/dl/)" >&2; exit 1; }
  mkdir -p "$(dirname "$bin")"
  # Build beside the target and rename it into place, so a concurrent or interrupted run never
  # leaves a half-filled directory that looks complete.
  tmp=$(mktemp -d "$bin.tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "build.sh: building Kubernetes ${version} test binaries into $bin (a cold build takes several minutes)" >&2
  # The release's version stamps, as its own build sets them: kubectl (the machine's, which picks a
  # bundled binary by the server's minor version, and ours) reads them from /version.
  minor=$(echo "$version" | cut -d. -f2)
  stamp=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  go build -trimpath -ldflags="-s$stamp" -o "$tmp/" ./cmd/... >&2
  if ! have_all; then rm -rf "$bin" && mv "$tmp" "$bin"; fi
fi
echo "$bin"
