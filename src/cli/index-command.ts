/**
 * `jacolbert index`: bulk indexing of a JSONL/TSV/parquet file into an index folder (DATA_DIR/indexes/<name>, what
 * `serve` restores) or into a running server (--url). Resumable: ids already indexed are skipped.
 */
import { createWriteStream, type WriteStream } from 'node:fs'
import { basename } from 'node:path'
import { readDocuments, type BulkDocument } from '../bulk/document-rows.js'
import { createFolderSink, createServerSink, type BulkSink } from '../bulk/sinks.js'
import { countRecords, formatOf, type FileFormat } from '../data/record-reader.js'
import { AppError } from '../errors.js'
import { checkIndexName } from '../index/index-store.js'
import { createLexicalAnalyzer } from '../lexical/analyzer.js'
import { resolveDictionaryDir } from '../tokenizer/colbert-tokenizer.js'
import { createMecabAnalyzer } from '../tokenizer/mecab/index.js'
import { parseCommandArgs, usageError } from './command-args.js'
import { ENCODER_HELP, ENCODER_OPTIONS, openEncoder } from './encoder-flags.js'
import { createProgress } from './progress.js'

const HELP = `usage: jacolbert index FILE --index NAME (--data-dir DIR | --url URL) [options]

Indexes the documents of FILE (.jsonl, .tsv with a header row, .parquet; .gz for the first two) in batches, with
progress (documents/s, ETA) on stderr. Run the same command again after an interrupt (Ctrl-C saves what is done) or a
crash: documents whose id is already indexed are skipped.

destination (one of):
  --data-dir DIR        write the index folder DIR/indexes/NAME that \`jacolbert serve\` (DATA_DIR=DIR) restores;
                        default $DATA_DIR. Do not point it at the DATA_DIR of a running server. Records of
                        the DATA_DIR's write-ahead log are applied first. Refused in shared mode
                        (DATABASE_URL): use --url there.
  --url URL             send the documents to a running server (POST /index); bearer token from $API_KEY.
                        Indexed ids are remembered in --progress-file (default FILE.NAME.progress) for resuming.

options:
  --index NAME          index name (default: default)
  --id-col C            id column (default: id)
  --text-col C          text column, repeatable, joined with a space (default: text)
  --metadata-col C      column stored as metadata, repeatable (strings, numbers, booleans, null)
  --format F            jsonl, tsv or parquet (default: from the extension)
  --tsv-columns LIST    TSV without a header row: the column names, e.g. id,text (ColBERT's collection.tsv)
  --batch N             documents per batch (default: sized for the encoder, ≈ 4 encoder batches of doc_maxlen)
  --skip-bad-rows       skip rows that cannot be indexed, report them, and go on (default: stop at the first)
  --bad-rows FILE       write the skipped rows as JSON lines {"line", "error"}
  --nbits N             residual bits of a new index: 1, 2 or 4 (default: $INDEX_NBITS or 2)
  --save-every S        folder: snapshot every S seconds (default 60), so a crash loses at most that much work
  --store-text          server: keep each text for include: ["text"]
  --progress-file FILE  server: where indexed ids are remembered
  --progress-interval MS  progress line every MS when stderr is not a terminal (default 5000)
  --json                print the summary as JSON on stdout
  --quiet               no progress

encoder options (folder mode):
${ENCODER_HELP}  -h, --help            show this help

exit codes: 0 done, 1 error (bad row without --skip-bad-rows, unreachable server, ...), 2 usage, 130 interrupted (resumable).
`

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs('index', argv, {
    ...ENCODER_OPTIONS,
    index: { type: 'string' }, 'data-dir': { type: 'string' }, url: { type: 'string' }, 'id-col': { type: 'string' },
    'text-col': { type: 'string', multiple: true }, 'metadata-col': { type: 'string', multiple: true }, format: { type: 'string' },
    'tsv-columns': { type: 'string' }, batch: { type: 'string' }, 'skip-bad-rows': { type: 'boolean' }, 'bad-rows': { type: 'string' },
    nbits: { type: 'string' }, 'save-every': { type: 'string' }, 'store-text': { type: 'boolean' }, 'progress-file': { type: 'string' },
    'progress-interval': { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' },
  }, HELP, { positionals: true })
  if (typeof args === 'number') return args
  const { values: v, positionals } = args
  const fail = (msg: string): number => usageError('index', msg, HELP)
  if (positionals.length !== 1) return fail('expected one input FILE')
  const file = positionals[0]!
  const name = v.index ?? 'default'
  try {
    checkIndexName(name)
  } catch (err) {
    return fail((err as Error).message)
  }
  const dataDir = v['data-dir'] ?? (v.url ? undefined : process.env.DATA_DIR)
  if (!!dataDir === !!v.url) return fail(v.url ? 'give --data-dir or --url, not both' : '--data-dir DIR (or $DATA_DIR) or --url URL is required')
  let format: FileFormat
  try {
    if (v.format !== undefined && !['jsonl', 'tsv', 'parquet'].includes(v.format)) return fail(`--format must be jsonl, tsv or parquet, got '${v.format}'`)
    format = formatOf(file, v.format as FileFormat | undefined)
  } catch (err) {
    return fail((err as Error).message)
  }
  const posInt = (flag: string, s: string | undefined): number | undefined | string => {
    if (s === undefined) return undefined
    const n = Number(s)
    return Number.isInteger(n) && n >= 1 ? n : `--${flag} must be a positive integer, got '${s}'`
  }
  const batchFlag = posInt('batch', v.batch)
  const saveEvery = v['save-every'] === undefined ? 60 : Number(v['save-every'])
  const progressMs = posInt('progress-interval', v['progress-interval'])
  for (const x of [batchFlag, progressMs]) if (typeof x === 'string') return fail(x)
  if (!(saveEvery > 0)) return fail('--save-every must be a positive number of seconds')
  const nbits = Number(v.nbits ?? process.env.INDEX_NBITS ?? 2)
  if (![1, 2, 4].includes(nbits)) return fail('--nbits must be 1, 2 or 4')

  let sink: BulkSink
  let batch: number
  let closeEncoder = async (): Promise<void> => undefined
  if (dataDir) {
    const model = v.model ?? process.env.MODEL
    if (!model) return fail('--model DIR is required (or set MODEL) to index into a folder')
    const encoder = await openEncoder('index', model, v, 1 << 20)
    if (typeof encoder === 'string') return fail(encoder)
    closeEncoder = () => encoder.close()
    const budget = Number(v['batch-tokens'] ?? process.env.ENCODER_MAX_BATCH_TOKENS ?? (encoder.provider === 'cpu' ? 2048 : 16384))
    batch = (batchFlag as number | undefined) ?? Math.max(8, Math.ceil((4 * budget) / encoder.settings.docMaxlen))
    try {
      // the lexical (BM25) side gets each text as POST /index gives it: same dictionary as the encoder's
      const analyzer = createLexicalAnalyzer(createMecabAnalyzer(resolveDictionaryDir(model, v.dic ?? process.env.MECAB_DICDIR)))
      sink = await createFolderSink({
        dataDir, index: name, encoder, nbits: nbits as 1 | 2 | 4, analyzer, databaseUrl: process.env.DATABASE_URL,
        logger: { info: () => undefined, warn: (o, msg) => process.stderr.write(`jacolbert index: ${msg ?? ''} ${JSON.stringify(o)}\n`) },
      })
    } catch (err) {
      await closeEncoder()
      throw err
    }
  } else {
    batch = (batchFlag as number | undefined) ?? 256
    sink = await createServerSink({
      url: v.url!, index: name, apiKey: process.env.API_KEY, storeText: !!v['store-text'],
      progressFile: v['progress-file'] ?? `${file}.${name}.progress`,
    })
  }

  const badOut: WriteStream | undefined = v['bad-rows'] ? createWriteStream(v['bad-rows']) : undefined
  const started = performance.now()
  let added = 0, skipped = 0, bad = 0, rows = 0
  let interrupted = false
  const onSigint = (): void => {
    if (interrupted) process.exit(130) // second Ctrl-C: stop now
    interrupted = true
    process.stderr.write(`\njacolbert index: interrupted; finishing the current batch and saving (Ctrl-C again to quit without saving)\n`)
  }
  process.on('SIGINT', onSigint)
  process.on('SIGTERM', onSigint)
  const readOpts = { format, ...(v['tsv-columns'] ? { columns: v['tsv-columns'].split(',') } : {}) }
  const total = await countRecords(file, readOpts).catch(() => 0)
  const progress = createProgress(`index ${basename(file)} → ${name}`, total, { unit: 'docs', silent: !!v.quiet, ...(progressMs ? { intervalMs: progressMs as number } : {}) })
  let lastSave = performance.now()
  let failure: unknown
  try {
    const inFlight = new Set<Promise<void>>()
    const send = async (docs: BulkDocument[]): Promise<void> => {
      const p = sink.write(docs).then(() => {
        added += docs.length
        progress.update(added + skipped, undefined, added)
      })
      inFlight.add(p)
      p.finally(() => inFlight.delete(p)).catch(() => undefined)
      // two batches in flight: the next one encodes (or travels) while the previous one is stored
      if (inFlight.size >= 2) await Promise.race(inFlight)
      if (dataDir && performance.now() - lastSave > saveEvery * 1000) {
        await Promise.all(inFlight)
        await sink.save()
        lastSave = performance.now()
      }
    }
    let pending: BulkDocument[] = []
    for await (const item of readDocuments(file, { id: v['id-col'] ?? 'id', text: v['text-col'] ?? ['text'], metadata: v['metadata-col'] ?? [] }, readOpts)) {
      if (interrupted) break
      rows++
      if (item.error !== undefined) {
        bad++
        const msg = `${file}:${item.line}: ${item.error}`
        if (!v['skip-bad-rows']) throw new AppError('VALIDATION_ERROR', `${msg} (--skip-bad-rows skips such rows)`, { line: item.line })
        if (!v.quiet) process.stderr.write(`jacolbert index: skipped ${msg}\n`)
        badOut?.write(`${JSON.stringify({ line: item.line, error: item.error })}\n`)
        continue
      }
      if (sink.has(item.doc.id)) {
        skipped++
        if (skipped % 1000 === 0) progress.update(added + skipped, undefined, added)
        continue
      }
      pending.push(item.doc)
      if (pending.length >= batch) {
        const docs = pending
        pending = []
        await send(docs)
      }
    }
    if (!interrupted && pending.length) await send(pending)
    await Promise.all(inFlight)
  } catch (err) {
    failure = err
  }
  try {
    // what was indexed stays indexed, also after an error: the next run resumes from it
    await sink.save()
  } finally {
    progress.finish()
    await sink.close().catch(() => undefined)
    await closeEncoder()
    process.off('SIGINT', onSigint)
    process.off('SIGTERM', onSigint)
    if (badOut) await new Promise<void>((r) => badOut.end(r))
  }
  const secs = (performance.now() - started) / 1000
  const summary = {
    index: name, destination: dataDir ? { dataDir } : { url: v.url }, rows, added, skippedExisting: skipped, badRows: bad,
    documents: sink.documents(), seconds: Math.round(secs * 100) / 100, documentsPerSecond: Math.round((added / secs) * 10) / 10,
    interrupted, batch,
  }
  if (v.json) process.stdout.write(`${JSON.stringify(summary)}\n`)
  else if (!v.quiet) {
    process.stderr.write(`jacolbert index: ${added} added, ${skipped} already indexed, ${bad} bad rows; index "${name}" has ${summary.documents} documents (${summary.documentsPerSecond} docs/s)${interrupted ? ' — interrupted: run the same command again to resume' : ''}\n`)
  }
  if (failure !== undefined) throw failure
  return interrupted ? 130 : 0
}
