// Finding a TensorFlow.js layers model's files: a model.json beside its binary shards, or the nsfwjs
// package's bundles (model.min.js, group1-shardNofM.min.js), read without running them (umd.ts).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { TfjsLayersArtifacts } from './keras-mobilenet.ts';
import type { WeightsGroup } from './tfjs-weights.ts';
import { extractBundleExport } from './umd.ts';

export class TfjsFilesError extends Error {
  constructor(readonly location: string, problem: string) {
    super(`${location}: ${problem}`);
    this.name = 'TfjsFilesError';
  }
}

/** The nsfwjs models that are Keras layers models (mobilenet_v2_mid and inception_v3 are graph models). */
export const NSFWJS_LAYERS_MODELS = ['mobilenet_v2'] as const;

function modelJsonParts(json: unknown, location: string): { modelTopology: unknown; weightsManifest: WeightsGroup[] } {
  const fail = (problem: string): never => {
    throw new TfjsFilesError(location, problem);
  };
  if (typeof json !== 'object' || json === null) return fail('model JSON is not an object');
  const { format, modelTopology, weightsManifest } = json as Record<string, unknown>;
  if (format === 'graph-model') {
    fail("is a TensorFlow.js graph model (a frozen TF graph with BN folded into the convs); only layers models (format 'layers-model', a Keras topology) can be imported");
  }
  if (modelTopology === undefined) fail('has no modelTopology');
  const groups = Array.isArray(weightsManifest) ? weightsManifest : fail('has no weightsManifest array');
  groups.forEach((g, i) => {
    const ok = typeof g === 'object' && g !== null && Array.isArray(g.paths) && Array.isArray(g.weights);
    if (!ok) fail(`weightsManifest[${i}] needs "paths" and "weights" arrays`);
  });
  return { modelTopology, weightsManifest: groups as WeightsGroup[] };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

async function readShards(manifest: WeightsGroup[], read: (path: string) => Promise<Uint8Array>): Promise<Uint8Array[]> {
  return Promise.all(manifest.map(async (group) => concat(await Promise.all(group.paths.map(read)))));
}

async function readOrFail(path: string, location: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new TfjsFilesError(location, `cannot read ${path}: ${(err as Error).message}`);
  }
}

/** `path` is a model.json (or any .json with a model topology) or the directory holding model.json. */
export async function readTfjsLayersModel(path: string, isDirectory: boolean): Promise<TfjsLayersArtifacts> {
  const jsonPath = isDirectory ? join(path, 'model.json') : path;
  let json: unknown;
  try {
    json = JSON.parse((await readOrFail(jsonPath, path)).toString('utf8'));
  } catch (err) {
    if (err instanceof TfjsFilesError) throw err;
    throw new TfjsFilesError(jsonPath, `is not valid JSON (${(err as Error).message})`);
  }
  const { modelTopology, weightsManifest } = modelJsonParts(json, jsonPath);
  const dir = dirname(jsonPath);
  // Shard paths are relative to model.json and may be URL-encoded, as tfjs writes them.
  const weightData = await readShards(weightsManifest, (p) => readOrFail(join(dir, decodeURIComponent(p)), jsonPath));
  return { modelTopology, weightsManifest, weightData, location: jsonPath };
}

/** Directory of an nsfwjs model inside the installed package (nsfwjs is an optional, dev-time package). */
export function nsfwjsModelDir(model: string): string {
  const location = `nsfwjs:${model}`;
  if (!(NSFWJS_LAYERS_MODELS as readonly string[]).includes(model)) {
    throw new TfjsFilesError(location, `unknown or unsupported nsfwjs model; importable: ${NSFWJS_LAYERS_MODELS.map((m) => `nsfwjs:${m}`).join(', ')} (mobilenet_v2_mid and inception_v3 are graph models)`);
  }
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('nsfwjs');
  } catch {
    throw new TfjsFilesError(location, "needs the 'nsfwjs' package: npm install --save-dev nsfwjs");
  }
  // entry is <package>/dist/cjs/index.js
  return join(dirname(entry), '..', 'models', model);
}

export async function readNsfwjsModel(model: string): Promise<TfjsLayersArtifacts> {
  const dir = nsfwjsModelDir(model);
  const location = `nsfwjs:${model}`;
  const readBundle = async (file: string) => extractBundleExport((await readOrFail(join(dir, file), location)).toString('utf8'), join(dir, file));
  const { modelTopology, weightsManifest } = modelJsonParts(await readBundle('model.min.js'), location);
  const weightData = await readShards(weightsManifest, async (path) => {
    const base64 = await readBundle(`${path}.min.js`);
    if (typeof base64 !== 'string') throw new TfjsFilesError(location, `${path}.min.js does not export a base64 string`);
    return Buffer.from(base64, 'base64');
  });
  return { modelTopology, weightsManifest, weightData, location };
}
