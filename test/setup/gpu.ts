// Each test file runs in its own process: one device for the file, shut down afterwards so the process exits.
import { afterAll, beforeAll } from 'vitest';
import { init, shutdown } from '../../engine/runtime.ts';

beforeAll(async () => {
  await init();
});

afterAll(async () => {
  await shutdown();
});
