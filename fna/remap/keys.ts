// Structural parsing of state-dict keys (spec pitfall 1: never fixed character positions).

export type MobileNetKey =
  | { kind: 'stem'; module: number; param: string }
  /** `blocks.b.layers.l.op.j.p`, or `blocks.b.layers.l._ops.<prim>.op.j.p` in a super net (prim set). */
  | { kind: 'layer'; block: number; layer: number; prim: string | null; module: number; param: string }
  /** The super net's fixed first block, a bare MBBlock: `blocks.1.op.j.p`. */
  | { kind: 'bare-block'; block: number; module: number; param: string }
  | { kind: 'head'; block: number; module: number; param: string }
  | { kind: 'classifier'; param: string };

export type ResNetKey =
  | { kind: 'stem'; module: 'conv1' | 'bn1'; param: string }
  /** `layer<stage>.<index>.<module>.<param>`, module like conv2 or downsample.1; stage is 1-based. */
  | { kind: 'block'; stage: number; index: number; module: string; param: string }
  | { kind: 'fc'; param: string };

const PARAMS = new Set(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);

function index(part: string | undefined): number | null {
  return part !== undefined && /^(0|[1-9]\d*)$/.test(part) ? Number(part) : null;
}

function unknownKey(key: string, family: string): Error {
  return new Error(`'${key}' is not a ${family} state-dict key`);
}

export function parseMobileNetKey(key: string): MobileNetKey {
  const parts = key.split('.');
  const param = parts[parts.length - 1];
  if (!PARAMS.has(param)) throw unknownKey(key, 'MobileNetV2');
  if (parts[0] === 'classifier' && parts.length === 2) return { kind: 'classifier', param };
  const block = parts[0] === 'blocks' ? index(parts[1]) : null;
  if (block === null) throw unknownKey(key, 'MobileNetV2');
  const body = parts.slice(2, -1);
  if (block === 0 && body.length === 1 && index(body[0]) !== null) return { kind: 'stem', module: index(body[0])!, param };
  if (body.length === 2 && body[0] === 'conv' && index(body[1]) !== null) return { kind: 'head', block, module: index(body[1])!, param };
  if (body.length === 2 && body[0] === 'op' && index(body[1]) !== null) return { kind: 'bare-block', block, module: index(body[1])!, param };
  if (body[0] === 'layers' && index(body[1]) !== null) {
    const layer = index(body[1])!;
    if (body.length === 4 && body[2] === 'op' && index(body[3]) !== null) {
      return { kind: 'layer', block, layer, prim: null, module: index(body[3])!, param };
    }
    if (body.length === 6 && body[2] === '_ops' && body[4] === 'op' && index(body[5]) !== null) {
      return { kind: 'layer', block, layer, prim: body[3], module: index(body[5])!, param };
    }
  }
  throw unknownKey(key, 'MobileNetV2');
}

export function mobilenetLayerKey(block: number, layer: number, module: number, param: string): string {
  return `blocks.${block}.layers.${layer}.op.${module}.${param}`;
}

export function parseResNetKey(key: string): ResNetKey {
  const parts = key.split('.');
  const param = parts[parts.length - 1];
  if (!PARAMS.has(param)) throw unknownKey(key, 'ResNet');
  if (parts.length === 2 && (parts[0] === 'conv1' || parts[0] === 'bn1')) return { kind: 'stem', module: parts[0], param };
  if (parts.length === 2 && parts[0] === 'fc') return { kind: 'fc', param };
  const stage = /^layer([1-9]\d*)$/.exec(parts[0]);
  const blockIndex = index(parts[1]);
  if (stage && blockIndex !== null && parts.length >= 4) {
    const module = parts.slice(2, -1).join('.');
    if (/^(conv|bn)[1-3]$/.test(module) || /^downsample\.[01]$/.test(module)) {
      return { kind: 'block', stage: Number(stage[1]), index: blockIndex, module, param };
    }
  }
  throw unknownKey(key, 'ResNet');
}
