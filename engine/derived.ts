// Results derived from a tensor's contents (a transposed weight, Winograd's transformed filters), kept with
// the source's storage while nothing writes to it: where weights stay fixed across calls (evaluation, the
// architecture steps of a search) the derivation runs once instead of every call.
//
// A result is kept only once it has been asked for twice at the same storage version: in training every
// step writes the weights, so they are derived once per version and never held past the call that made
// them (no memory beyond what the op used before). Kept results are live memory, counted in memory().live,
// and are disposed with the source storage, when it is next written and derived again, or by
// setDerivedCache(false).
import type { Storage } from './device/buffers.ts';
import type { Tensor } from './tensor.ts';

let enabled = true;
/** Calls inside `uncached` derive every time and leave the kept results alone. */
let bypass = 0;
/** Storages holding kept results, so that turning the cache off can drop them all; freed ones are pruned. */
const holders = new Set<Storage>();
let pruneAt = 64;

function prune(): void {
  for (const s of holders) if (s.refs <= 0 || !s.derived) holders.delete(s);
  pruneAt = Math.max(64, 2 * holders.size);
}

/** Turns the cache on or off; off also disposes every kept result. */
export function setDerivedCache(on: boolean): void {
  enabled = on;
  if (!on) clearDerivedCache();
}

/** Disposes every kept result (the cache stays on). */
export function clearDerivedCache(): void {
  prune();
  for (const s of holders) {
    for (const entry of s.derived?.values() ?? []) {
      entry.kept?.dispose();
      entry.kept = null;
    }
  }
  holders.clear();
}

export function derivedCacheEnabled(): boolean {
  return enabled;
}

/** Runs `fn` with every derivation made afresh, neither using nor changing what the cache keeps (for timing it). */
export function uncached<T>(fn: () => T): T {
  bypass++;
  try {
    return fn();
  } finally {
    bypass--;
  }
}

/** Bytes of the kept results (part of memory().live). */
export function derivedBytes(): number {
  prune();
  let bytes = 0;
  for (const s of holders) {
    for (const entry of s.derived?.values() ?? []) if (entry.kept) bytes += (entry.kept as Tensor).storage.byteSize;
  }
  return bytes;
}

/**
 * `make()`, a function of `source`'s contents only, or the result kept from an earlier call at the same
 * version of source's storage. `kind` names the derivation and every parameter it has besides the source
 * (the source's offset, shape and strides are added here). The caller owns the tensor returned and disposes
 * it as usual.
 */
export function derived(source: Tensor, kind: string, make: () => Tensor): Tensor {
  if (!enabled || bypass) return make();
  const storage = source.storage;
  const key = `${kind}@${source.offset}:${source.shape.join(',')}:${source.strides.join(',')}`;
  const entries = (storage.derived ??= new Map());
  const entry = entries.get(key);
  if (entry?.version === storage.version && entry.kept) {
    const kept = entry.kept as Tensor;
    return kept.view(kept.shape, kept.strides, kept.offset);
  }
  const version = storage.version;
  const result = make();
  // A view of the source itself (a transpose that moves nothing) is free to make again, and kept it would
  // hold its own storage alive.
  if (result.storage === storage) return result;
  if (entry?.version === version) {
    // The second call at this version: keep a reference outside any tidy scope.
    entry.kept = result.view(result.shape, result.strides, result.offset, false);
    holders.add(storage);
    if (holders.size > pruneAt) prune();
  } else {
    entry?.kept?.dispose();
    entries.set(key, { version, kept: null });
  }
  return result;
}
