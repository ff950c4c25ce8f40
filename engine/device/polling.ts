// Dawn's Node binding learns that GPU work finished (mapAsync, onSubmittedWorkDone, error scopes) by
// calling wgpuInstanceProcessEvents from a callback it re-queues with the global `setImmediate` for as long
// as any such promise is pending: a busy loop on the main thread. On a software adapter the "GPU" is the
// CPU's other threads, so the loop takes a core from the very work it waits for (on a 2-core machine a
// MobileNetV2 step ran 15% faster with the main thread asleep during the wait).
//
// `politeDawnPolling` wraps `setImmediate` so that, once Dawn has polled back-to-back for SPIN_MS, its
// further polls in that wait go through setTimeout (about 1 ms apart). Short waits keep their latency; a
// long one costs at most a millisecond more. Only Dawn's callbacks are touched: they are native functions
// (other code almost never hands a native function to setImmediate), everything else goes straight through.
const SPIN_MS = 1;
/** A poll this long after the previous one starts a new wait. */
const NEW_WAIT_GAP_MS = 4;

type SetImmediate = typeof globalThis.setImmediate;
let original: SetImmediate | null = null;

const nativeSource = /\{\s*\[native code\]\s*\}\s*$/;
const isNative = (fn: unknown) => typeof fn === 'function' && nativeSource.test(Function.prototype.toString.call(fn));

export function politeDawnPolling(): void {
  if (original) return;
  const plain = (original = globalThis.setImmediate);
  let waitStarted = 0;
  let lastPoll = -Infinity;
  const polite = function (this: unknown, callback: (...args: unknown[]) => void, ...args: unknown[]) {
    if (!isNative(callback)) return plain(callback, ...args);
    const now = performance.now();
    if (now - lastPoll > NEW_WAIT_GAP_MS) waitStarted = now;
    lastPoll = now;
    if (now - waitStarted < SPIN_MS) return plain(callback, ...args);
    return setTimeout(callback, 0, ...args) as unknown as NodeJS.Immediate;
  };
  globalThis.setImmediate = Object.assign(polite, plain) as SetImmediate;
}

/** Puts the plain setImmediate back (at shutdown). */
export function plainDawnPolling(): void {
  if (original) globalThis.setImmediate = original;
  original = null;
}

export function isPoliteDawnPolling(): boolean {
  return original !== null;
}
