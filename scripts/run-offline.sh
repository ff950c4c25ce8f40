#!/bin/bash
# On the GPU machine, in a copy of the repository holding .device/ (scripts/pack-offline.sh) and optionally
# .gl/*.deb: unpacks node and node_modules, runs the benchmark into $OUT/bench, with SOFTWARE_AB=1 again
# under FNA_TUNING=software into $OUT/bench-software, then the test suite (tests that need MNIST or tfjs
# fail there: those packages do not travel). BENCH_S, SOFTWARE_AB_S and TEST_S cap each part.
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/fna-offline}
mkdir -p "$OUT"
T0=$(date +%s); el() { echo "[t+$(( $(date +%s) - T0 ))s] $*"; }
# The Vulkan loader and the GL dispatch libraries NVIDIA's Vulkan driver links against, when brought along.
if ls .gl/*.deb >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f $icd ] && export VK_DRIVER_FILES=$icd
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg}; mkdir -p "$XDG_RUNTIME_DIR"
mkdir -p /tmp/fna-node && xz -dc .device/node.xz > /tmp/fna-node/node && chmod +x /tmp/fna-node/node
export PATH=/tmp/fna-node:$PATH
tar -xJf .device/nm.tar.xz && mkdir -p node_modules/webgpu/dist/linux-x64
xz -dc .device/dawn.node.xz > node_modules/webgpu/dist/linux-x64/dawn.node
command -v nvidia-smi >/dev/null && nvidia-smi -L
el unpacked
timeout "${BENCH_S:-330}" node .device/bench/run.mjs --out "$OUT/bench" $BENCH_ARGS 2>&1 | tee "$OUT/bench.log" | grep -v '^  '
el bench done
# The software adapter's work splits on this GPU, for an A/B against the run above (engine/tuning.ts).
if [ -n "$SOFTWARE_AB" ]; then
  FNA_TUNING=software timeout "${SOFTWARE_AB_S:-150}" node .device/bench/run.mjs --suite batchnorm,mixedop,conv,train \
    --out "$OUT/bench-software" 2>&1 | tee "$OUT/bench-software.log" | grep -v '^  '
  el software-splits bench done
fi
NO_COLOR=1 timeout "${TEST_S:-180}" node node_modules/vitest/vitest.mjs run --fileParallelism --maxWorkers="${TEST_WORKERS:-8}" \
  --reporter=default --reporter=json --outputFile="$OUT/tests.json" > "$OUT/tests.log" 2>&1
echo "vitest exit $?"; grep -E "Test Files|Tests |FAIL|Error:" "$OUT/tests.log" | head -40
el tests done
