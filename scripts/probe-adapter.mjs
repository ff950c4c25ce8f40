// Exit 0 when Dawn finds a WebGPU adapter, 1 otherwise. Used by setup.sh; prints one line.
import { create } from 'webgpu';
process.env.XDG_RUNTIME_DIR ??= `/tmp/xdg-runtime-${process.getuid?.() ?? 0}`;
let gpu = create([]);
const adapter = await gpu.requestAdapter().catch(() => null);
const info = adapter?.info;
console.log(adapter ? `[setup] adapter: ${info?.vendor} ${info?.device || info?.description} (${info?.architecture})` : '[setup] no adapter');
gpu = null;
process.exit(adapter ? 0 : 1);
