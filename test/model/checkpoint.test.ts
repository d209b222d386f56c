import t, { type Test } from 'tap'
import { copyFileSync, cpSync, readFileSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadCheckpoint } from '../../src/model/checkpoint.js'
import { AppError } from '../../src/errors.js'
import { TINY_MODEL_DIR, sharedOnly } from '../helpers/shared.js'
import { makeRandomCheckpoint } from '../helpers/make-checkpoint.js'

/** Asserts a CHECKPOINT_INVALID AppError whose message matches `re`. */
async function rejectsInvalid(t: Test, p: Promise<unknown>, re: RegExp, name: string): Promise<void> {
  try {
    await p
    t.fail(`${name}: no error`)
  } catch (e) {
    t.ok(e instanceof AppError && e.code === 'CHECKPOINT_INVALID', `${name}: CHECKPOINT_INVALID`)
    t.match((e as Error).message, re, name)
  }
}

t.test('loads the tiny JaColBERT fixture', sharedOnly(), async (t) => {
  const ck = await loadCheckpoint(TINY_MODEL_DIR)
  t.match(ck.config, { vocabSize: 32768, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64, maxPositions: 512, layerNormEps: 1e-12 })
  t.equal(ck.settings.dim, 16)
  t.equal(ck.settings.docMaxlen, 64)
  const w = await ck.loadWeights()
  t.equal(w.layers.length, 2)
  t.equal(w.linear.length, 16 * 32)
  t.equal(w.wordEmb.length, 32768 * 32)
})

t.test('bare weight names load the same weights as bert.-prefixed ones', async (t) => {
  const dir = t.testdir()
  const a = await makeRandomCheckpoint(join(dir, 'a'), { vocabSize: 50, seed: 7 })
  const b = await makeRandomCheckpoint(join(dir, 'b'), { vocabSize: 50, seed: 7, prefix: false })
  const wa = await (await loadCheckpoint(a)).loadWeights()
  const wb = await (await loadCheckpoint(b)).loadWeights()
  t.same(Array.from(wa.layers[1]!.fW), Array.from(wb.layers[1]!.fW))
  t.same(Array.from(wa.wordEmb.subarray(0, 64)), Array.from(wb.wordEmb.subarray(0, 64)))
})

t.test('broken checkpoints give clear errors', async (t) => {
  const root = t.testdir()
  let n = 0
  const fresh = async (opts = {}): Promise<string> => makeRandomCheckpoint(join(root, `c${n++}`), { vocabSize: 40, ...opts })

  await rejectsInvalid(t, loadCheckpoint(join(root, 'nope')), /does not exist/, 'missing folder')

  let d = await fresh()
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')), model_type: 'roberta', architectures: ['RobertaModel'] }))
  await rejectsInvalid(t, loadCheckpoint(d), /config\.json: unsupported architecture: model_type "roberta"/, 'unknown architecture')

  d = await fresh()
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')), hidden_act: 'relu' }))
  await rejectsInvalid(t, loadCheckpoint(d), /hidden_act "relu" is not supported/, 'activation')

  d = await fresh()
  writeFileSync(join(d, 'config.json'), '{"model_type": "bert",')
  await rejectsInvalid(t, loadCheckpoint(d), /config\.json: not valid JSON/, 'config not JSON')

  d = await fresh()
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')), hidden_size: 48 }))
  await rejectsInvalid(t, loadCheckpoint(d), /model\.safetensors: tensor 'bert\.encoder\.layer\.0\.attention\.self\.query\.weight' has shape \[32, 32\], expected \[48, 48\]/, 'wrong shape')

  d = await fresh()
  const { unlinkSync } = await import('node:fs')
  unlinkSync(join(d, 'model.safetensors'))
  await rejectsInvalid(t, loadCheckpoint(d), /model\.safetensors: missing from checkpoint folder/, 'missing weights file')

  d = await fresh()
  truncateSync(join(d, 'model.safetensors'), 5000)
  await rejectsInvalid(t, loadCheckpoint(d), /model\.safetensors: truncated: tensor '.*' ends at byte/, 'truncated weights')

  d = await fresh({ layers: 1 })
  const d2 = await fresh({ layers: 2 })
  copyFileSync(join(d, 'model.safetensors'), join(d2, 'model.safetensors'))
  await rejectsInvalid(t, loadCheckpoint(d2), /missing tensor 'bert\.encoder\.layer\.1\.attention\.self\.query\.weight'/, 'missing tensor')

  d = await fresh({ dim: 8 })
  writeFileSync(join(d, 'artifact.metadata'), JSON.stringify({ dim: 16 }))
  await rejectsInvalid(t, loadCheckpoint(d), /linear\.weight has 8 output rows but artifact\.metadata dim is 16/, 'dim mismatch')

  d = await fresh()
  writeFileSync(join(d, 'vocab.txt'), 'a\nb\n')
  await rejectsInvalid(t, loadCheckpoint(d), /vocab\.txt: has 2 tokens but config\.json vocab_size is 40/, 'vocab size')

  d = await fresh()
  const e = join(root, 'copy')
  cpSync(d, e, { recursive: true })
  unlinkSync(join(e, 'config.json'))
  await rejectsInvalid(t, loadCheckpoint(e), /config\.json: missing from checkpoint folder/, 'missing config')
})
