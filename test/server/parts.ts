/**
 * The encoder and index store for server tests: the real tiny JaColBERT model (MeCab ipadic) and the real index
 * store when ../shared is present (CI, this machine); otherwise the small fakes in fakes.ts, so a fresh clone still
 * checks the HTTP mechanics. `real` says which, for the test log.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEncoder } from '../../src/encoder/index.js'
import { createIndexStore } from '../../src/index/index-store.js'
import type { EncoderPort, IndexStorePort } from '../../src/server/ports.js'
import { IPADIC_DIR, TINY_MODEL_DIR, hasShared } from '../helpers/shared.js'
import { createFakeEncoder, createFakeStore } from './fakes.js'

export interface TestParts {
  real: boolean
  dim: number
  encoder: EncoderPort
  makeStore(): IndexStorePort
  close(): Promise<void>
}

export async function loadTestParts(): Promise<TestParts> {
  if (!hasShared) {
    const encoder = createFakeEncoder({ dim: 16 })
    return { real: false, dim: 16, encoder, makeStore: () => createFakeStore(16), close: async () => {} }
  }
  const encoder = await createEncoder({
    modelDir: TINY_MODEL_DIR,
    dicdir: IPADIC_DIR,
    providers: ['cpu'],
    threads: 1,
    graphCacheDir: mkdtempSync(join(tmpdir(), 'jacolbert-test-graph-')),
  })
  return {
    real: true,
    dim: encoder.dim,
    encoder,
    makeStore: () => createIndexStore({ defaultSettings: { dim: encoder.dim, nbits: 2 } }),
    close: () => encoder.close(),
  }
}
