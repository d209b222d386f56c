/** Config: defaults, env parsing, flags overriding env, errors naming the variable, secrets from env only. */
import t from 'tap'
import { CONFIG_VARS, loadConfig, redactConfig } from '../src/config.js'

t.test('defaults', async (t) => {
  const c = loadConfig({})
  t.equal(c.model, 'answerdotai/JaColBERTv2.5')
  t.equal(c.modelRevision, 'main')
  t.equal(c.port, 8080)
  t.equal(c.host, '0.0.0.0')
  t.equal(c.dataDir, './data')
  t.same(c.ortProviders, ['cuda', 'cpu'])
  t.equal(c.snapshotIntervalS, 300)
  t.equal(c.indexNbits, 2)
  t.equal(c.logLevel, 'info')
  t.equal(c.encoderWorkers, 1)
  t.equal(c.apiKey, undefined)
  t.equal(c.mecabDicdir, undefined)
  t.ok(Object.isFrozen(c))
  t.throws(() => {
    ;(c as { port: number }).port = 1
  })
})

t.test('env values are parsed and typed', async (t) => {
  const c = loadConfig({
    MODEL: '/m',
    PORT: '9000',
    ORT_PROVIDERS: ' CPU ',
    ORT_THREADS: '4',
    INDEX_NBITS: '4',
    LOG_LEVEL: 'DEBUG',
    API_KEY: 'k',
    HF_ENDPOINT: 'https://hf-mirror.example/',
    MAX_BATCH_TEXTS: '32',
    SNAPSHOT_INTERVAL_S: '0',
    DATA_DIR: '',
  })
  t.equal(c.model, '/m')
  t.equal(c.port, 9000)
  t.same(c.ortProviders, ['cpu'])
  t.equal(c.ortThreads, 4)
  t.equal(c.indexNbits, 4)
  t.equal(c.logLevel, 'debug')
  t.equal(c.apiKey, 'k')
  t.equal(c.hfEndpoint, 'https://hf-mirror.example')
  t.equal(c.maxBatchTexts, 32)
  t.equal(c.snapshotIntervalS, 0)
  t.equal(c.dataDir, './data', 'empty counts as unset')
})

t.test('flags override env; secrets are not flags', async (t) => {
  const c = loadConfig({ PORT: '9000', MODEL: 'a/b' }, ['--port', '9100', '--model=/x', '--mecab-dicdir', '/d'])
  t.equal(c.port, 9100)
  t.equal(c.model, '/x')
  t.equal(c.mecabDicdir, '/d')
  t.throws(() => loadConfig({}, ['--api-key', 'x']), { code: 'VALIDATION_ERROR', message: /api-key/ })
  t.throws(() => loadConfig({}, ['--hf-token', 'x']), { code: 'VALIDATION_ERROR' })
  t.throws(() => loadConfig({}, ['--database-url', 'postgres://x']), { code: 'VALIDATION_ERROR' }, 'the database URL (a password) is env only')
  const db = loadConfig({ DATABASE_URL: 'postgres://u:pw@db:5432/j' })
  t.equal(db.databaseUrl, 'postgres://u:pw@db:5432/j')
  t.equal(db.databasePollMs, 1000)
  t.equal(db.replicaWaitMs, 5000)
  t.equal(redactConfig(db).databaseUrl, '<set>', 'never logged')
  t.throws(() => loadConfig({}, ['--bogus']), { message: /bogus/ })
  t.throws(() => loadConfig({}, ['--port', 'x']), { message: /--port/ })
})

t.test('bad values name the variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /^PORT must be an integer/],
    [{ PORT: '70000' }, /^PORT /],
    [{ PORT: '80.5' }, /^PORT /],
    [{ ORT_THREADS: '0' }, /^ORT_THREADS /],
    [{ INDEX_NBITS: '3' }, /^INDEX_NBITS must be 1, 2 or 4/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
    [{ DATABASE_URL: 'mysql://u:secret@h/db' }, /^DATABASE_URL must be a postgres:\/\/ URL, got "mysql:\/\/…"$/],
    [{ DATABASE_URL: 'not a url secret' }, /^DATABASE_URL must be a postgres:\/\/ URL, got "<redacted>"$/],
    [{ DATABASE_POLL_MS: '10' }, /^DATABASE_POLL_MS /],
    [{ HF_ENDPOINT: 'ftp://x' }, /^HF_ENDPOINT /],
    [{ HF_ENDPOINT: 'not a url' }, /^HF_ENDPOINT /],
    [{ ORT_PROVIDERS: ',' }, /^ORT_PROVIDERS /],
    [{ MAX_BODY_BYTES: '10' }, /^MAX_BODY_BYTES /],
    [{ SNAPSHOT_INTERVAL_S: '-1' }, /^SNAPSHOT_INTERVAL_S /],
    [{ MAX_BATCH_TEXTS: '300', ENCODER_MAX_QUEUE: '100' }, /^MAX_BATCH_TEXTS \(300\) must not exceed ENCODER_MAX_QUEUE \(100\)/],
  ]
  for (const [env, re] of cases) {
    t.throws(() => loadConfig(env), { code: 'VALIDATION_ERROR', message: re }, JSON.stringify(env))
  }
})

t.test('every documented variable from COMMON.md is parsed', async (t) => {
  const names = CONFIG_VARS.map((v) => v.env)
  for (const n of [
    'MODEL', 'MODEL_REVISION', 'MODEL_CACHE_DIR', 'MECAB_DICDIR', 'DATA_DIR', 'HOST', 'PORT', 'API_KEY', 'HF_ENDPOINT', 'HF_TOKEN',
    'ORT_PROVIDERS', 'ORT_THREADS', 'ENCODER_WORKERS', 'ENCODER_MAX_BATCH_TOKENS', 'ENCODER_BATCH_WAIT_MS', 'ENCODER_MAX_QUEUE',
    'MAX_BODY_BYTES', 'MAX_BATCH_TEXTS', 'MAX_TEXT_CHARS', 'SNAPSHOT_INTERVAL_S', 'INDEX_NBITS', 'LOG_LEVEL',
  ]) t.ok(names.includes(n), n)
})

t.test('ENCODER_PRECISION: fp32 by default, int8 on request, anything else named', async (t) => {
  t.equal(loadConfig({}).encoderPrecision, 'fp32')
  t.equal(loadConfig({ ENCODER_PRECISION: 'int8' }).encoderPrecision, 'int8')
  t.equal(loadConfig({}, ['--encoder-precision', 'int8']).encoderPrecision, 'int8')
  t.throws(() => loadConfig({ ENCODER_PRECISION: 'fp16' }), { code: 'VALIDATION_ERROR', message: /^ENCODER_PRECISION must be one of/ })
})

t.test('ORT_SPINNING: on by default, off on request, anything else named', async (t) => {
  t.equal(loadConfig({}).ortSpinning, 'on')
  t.equal(loadConfig({ ORT_SPINNING: 'off' }).ortSpinning, 'off')
  t.equal(loadConfig({}, ['--ort-spinning', 'off']).ortSpinning, 'off')
  t.throws(() => loadConfig({ ORT_SPINNING: 'yes' }), { code: 'VALIDATION_ERROR', message: /^ORT_SPINNING must be one of/ })
})

t.test('SEARCH_WORKERS: unset = automatic, 0 = in-process, bounded', async (t) => {
  t.equal(loadConfig({}).searchWorkers, undefined)
  t.equal(loadConfig({ SEARCH_WORKERS: '0' }).searchWorkers, 0)
  t.equal(loadConfig({ SEARCH_WORKERS: '6' }).searchWorkers, 6)
  t.throws(() => loadConfig({ SEARCH_WORKERS: '-1' }), { code: 'VALIDATION_ERROR', message: /^SEARCH_WORKERS / })
})
