// tidy() scopes: every tensor created inside is disposed at the end unless returned or kept.
import type { Tensor } from './tensor.ts';

const scopes: Set<Tensor>[] = [];

export function track(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Removes a tensor from every open scope so it outlives them. Returns it. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

type Kept = Tensor | Kept[] | { [k: string]: Kept } | number | string | boolean | null | undefined | void;

function collect(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 8 || value === null || typeof value !== 'object') return;
  if ('storage' in (value as object) && 'shape' in (value as object) && 'gradFn' in (value as object)) {
    out.add(value as Tensor);
    return;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value as object)) collect(v, out, depth + 1);
}

/**
 * Runs `fn` in a scope. Tensors it creates are disposed afterwards, except those in its result (a
 * tensor, array or plain object of tensors) and those passed to `keep()`. `fn` must be synchronous:
 * recording is synchronous, only readback awaits.
 */
export function tidy<T extends Kept>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result && typeof (result as { then?: unknown }).then === 'function') {
      throw new Error('tidy(): the function returned a Promise; tidy scopes must be synchronous');
    }
  } catch (e) {
    for (const t of scope) t.dispose();
    throw e;
  } finally {
    scopes.pop();
  }
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  for (const t of scope) {
    if (survivors.has(t)) track(t);
    else t.dispose();
  }
  return result;
}
