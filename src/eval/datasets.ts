/**
 * Evaluation sets, read from the files as their publishers ship them, into one shape:
 * queries, document texts, graded judgements (qrels) and — for reranking sets — each query's candidate list.
 *
 * - `beir`: a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) or the three files named one by one
 *   (MIRACL ships topics TSV, TREC qrels and a corpus jsonl.gz; both qrels layouts are recognised).
 * - `squad`: SQuAD-style JSON (JSQuAD); every paragraph is a document, each question's relevant document is its own
 *   paragraph.
 * - `rerank-long`: one row per (query, candidate) with a label (JQaRA; ESCI with its products file as collection).
 * - `rerank-wide`: one row per query with a positive id (or list) and a list of negative ids, texts from a collection
 *   file (JaCWIR).
 */
import { readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { AppError } from '../errors.js'
import { cellAsId, pickColumn, readRecords, type Row } from '../data/record-reader.js'

export interface EvalDataset {
  queries: Array<{ id: string; text: string }>
  /** document id -> text */
  docs: Map<string, string>
  /** query id -> (document id -> gain) */
  qrels: Map<string, Map<string, number>>
  /** reranking: query id -> candidate document ids in the publisher's order */
  candidates?: Map<string, string[]>
}

export interface ColumnMap {
  queryId?: string
  query?: string
  docId?: string
  /** columns joined with a space into the document text (e.g. title + text) */
  text?: string[]
  label?: string
  positive?: string
  negatives?: string
  collectionId?: string
  collectionText?: string[]
}

export interface DatasetSpec {
  format: 'beir' | 'squad' | 'rerank-long' | 'rerank-wide'
  /** beir folder, squad JSON file, or the reranking rows file */
  path: string
  split?: string
  corpus?: string
  queries?: string
  qrels?: string
  collection?: string
  columns?: ColumnMap
  /** keep only rows whose column equals the value (string comparison) */
  filters?: Array<[string, string]>
  /** label value -> gain (e.g. ESCI's E/S/C/I); numbers otherwise */
  labelMap?: Map<string, number>
  /** skip the title in BEIR corpora */
  noTitle?: boolean
}

const bad = (file: string, msg: string, line?: number): AppError =>
  new AppError('VALIDATION_ERROR', `${file}${line !== undefined ? `:${line}` : ''}: ${msg}`, { file, ...(line !== undefined ? { line } : {}) })

function textOf(row: Row, cols: string[]): string {
  return cols.map((c) => row[c]).filter((v) => typeof v === 'string' && v !== '').join(' ')
}

function column(row: Row, file: string, line: number, explicit: string | undefined, defaults: readonly string[], what: string): string {
  const c = explicit ?? pickColumn(row, defaults)
  if (c === undefined || !Object.prototype.hasOwnProperty.call(row, c)) {
    throw bad(file, `no ${what} column (${explicit ? `'${explicit}'` : `tried ${defaults.join(', ')}`}); row has ${Object.keys(row).join(', ')}`, line)
  }
  return c
}

function passes(row: Row, filters: Array<[string, string]> | undefined): boolean {
  return !filters || filters.every(([c, v]) => String(row[c]) === v)
}

function gainOf(v: unknown, labelMap: Map<string, number> | undefined, file: string, line: number): number {
  if (labelMap) {
    const g = labelMap.get(String(v))
    if (g === undefined) throw bad(file, `label ${JSON.stringify(v)} is not in --label-map`, line)
    return g
  }
  const g = typeof v === 'boolean' ? Number(v) : Number(v)
  if (!Number.isFinite(g)) throw bad(file, `label ${JSON.stringify(v)} is not a number (map it with --label-map)`, line)
  return g
}

async function* rows(path: string, columns?: string[]): AsyncGenerator<{ line: number; row: Row }> {
  for await (const r of readRecords(path, columns ? { columns } : {})) {
    if (r.error !== undefined) throw bad(path, r.error, r.line)
    yield r
  }
}

/**
 * TSV files with a header row name their columns; MIRACL's topics TSV has none (`qid \t query`). A first line whose
 * first field is not a known id column name is taken as data, with the columns named `_id` and `text`.
 */
async function headerlessTsvColumns(path: string, idCols: readonly string[]): Promise<string[] | undefined> {
  if (!/\.tsv(\.gz)?$/i.test(path)) return undefined
  for await (const r of readRecords(path, { columns: ['_id', 'text'] })) {
    return r.row && idCols.includes(String(r.row._id)) ? undefined : ['_id', 'text']
  }
  return undefined
}

async function readTable(path: string, idCols: readonly string[], textCols: readonly string[], cols: { id?: string; text?: string[] }, noTitle = false): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const headerless = cols.id === undefined ? await headerlessTsvColumns(path, idCols) : undefined
  for await (const { line, row } of rows(path, headerless)) {
    const idc = column(row, path, line, cols.id, idCols, 'id')
    const id = cellAsId(row[idc])
    if (id === undefined) throw bad(path, `empty or non-scalar id in column '${idc}'`, line)
    let text: string
    if (cols.text) text = textOf(row, cols.text)
    else {
      const tc = column(row, path, line, undefined, textCols, 'text')
      text = noTitle || typeof row.title !== 'string' || row.title === '' || tc === 'title' ? String(row[tc] ?? '') : `${row.title as string} ${String(row[tc] ?? '')}`
    }
    out.set(id, text)
  }
  return out
}

async function readQrels(path: string): Promise<Map<string, Map<string, number>>> {
  const qrels = new Map<string, Map<string, number>>()
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw bad(path, `cannot read (${err.code ?? err.message})`)
  })
  let n = 0
  for (const raw of text.split('\n')) {
    n++
    const line = raw.trim()
    if (line === '') continue
    const f = line.split(/\s+/)
    let qid: string, did: string, score: number
    if (f.length === 4) [qid, , did, score] = [f[0]!, f[1], f[2]!, Number(f[3])] // TREC: qid Q0 docid rel
    else if (f.length === 3) [qid, did, score] = [f[0]!, f[1]!, Number(f[2])] // BEIR: query-id corpus-id score
    else throw bad(path, `expected 3 (BEIR) or 4 (TREC) fields, got ${f.length}`, n)
    if (!Number.isFinite(score)) {
      if (n === 1) continue // BEIR header row
      throw bad(path, `relevance ${JSON.stringify(f[f.length - 1])} is not a number`, n)
    }
    let m = qrels.get(qid)
    if (!m) qrels.set(qid, (m = new Map()))
    m.set(did, score)
  }
  return qrels
}

async function readBeir(spec: DatasetSpec): Promise<EvalDataset> {
  const dir = spec.path
  const corpusPath = spec.corpus ?? join(dir, 'corpus.jsonl')
  const queriesPath = spec.queries ?? join(dir, 'queries.jsonl')
  const qrelsPath = spec.qrels ?? join(dir, 'qrels', `${spec.split ?? 'test'}.tsv`)
  for (const p of [corpusPath, queriesPath, qrelsPath]) if (!existsSync(p)) throw bad(p, 'does not exist')
  const c = spec.columns ?? {}
  const docs = await readTable(corpusPath, ['_id', 'docid', 'doc_id', 'id', 'pid'], ['text', 'contents', 'passage'], { ...(c.docId ? { id: c.docId } : {}), ...(c.text ? { text: c.text } : {}) }, spec.noTitle)
  const qtexts = await readTable(queriesPath, ['_id', 'query_id', 'qid', 'id'], ['text', 'query', 'question'], { ...(c.queryId ? { id: c.queryId } : {}), ...(c.query ? { text: [c.query] } : {}) }, true)
  const qrels = await readQrels(qrelsPath)
  const queries = [...qrels.keys()].filter((q) => qtexts.has(q)).map((id) => ({ id, text: qtexts.get(id)! }))
  return { queries, docs, qrels }
}

async function readSquad(spec: DatasetSpec): Promise<EvalDataset> {
  let json: unknown
  try {
    json = JSON.parse(await readFile(spec.path, 'utf8'))
  } catch (err) {
    throw bad(spec.path, `not a readable SQuAD JSON file (${(err as Error).message})`)
  }
  const data = (json as { data?: unknown }).data
  if (!Array.isArray(data)) throw bad(spec.path, 'has no "data" array (SQuAD layout: data[].paragraphs[].{context, qas[]})')
  const docs = new Map<string, string>()
  const queries: EvalDataset['queries'] = []
  const qrels = new Map<string, Map<string, number>>()
  data.forEach((article: { paragraphs?: Array<{ context?: unknown; qas?: Array<{ id?: unknown; question?: unknown }> }> }, a) => {
    article.paragraphs?.forEach((p, i) => {
      if (typeof p.context !== 'string') throw bad(spec.path, `data[${a}].paragraphs[${i}].context is not a string`)
      const docId = `${a}-${i}`
      docs.set(docId, p.context)
      p.qas?.forEach((qa, j) => {
        if (typeof qa.question !== 'string') throw bad(spec.path, `data[${a}].paragraphs[${i}].qas[${j}].question is not a string`)
        const id = cellAsId(qa.id) ?? `${docId}-${j}`
        queries.push({ id, text: qa.question })
        qrels.set(id, new Map([[docId, 1]]))
      })
    })
  })
  return { queries, docs, qrels }
}

async function readRerankLong(spec: DatasetSpec): Promise<EvalDataset> {
  const c = spec.columns ?? {}
  const collection = spec.collection ? await readTable(spec.collection, ['doc_id', 'docid', 'id', '_id', 'product_id'], ['text'], { ...(c.collectionId ? { id: c.collectionId } : {}), ...(c.collectionText ? { text: c.collectionText } : {}) }) : undefined
  const docs = new Map<string, string>()
  const qtext = new Map<string, string>()
  const qrels = new Map<string, Map<string, number>>()
  const candidates = new Map<string, string[]>()
  for await (const { line, row } of rows(spec.path)) {
    if (!passes(row, spec.filters)) continue
    const qidc = column(row, spec.path, line, c.queryId, ['q_id', 'query_id', 'qid'], 'query id')
    const qc = column(row, spec.path, line, c.query, ['question', 'query'], 'query text')
    const didc = column(row, spec.path, line, c.docId, ['passage_row_id', 'doc_id', 'docid', 'product_id', 'id'], 'document id')
    const lc = column(row, spec.path, line, c.label, ['label', 'relevance', 'score'], 'label')
    const qid = cellAsId(row[qidc])
    const did = cellAsId(row[didc])
    if (qid === undefined || did === undefined) throw bad(spec.path, 'empty query or document id', line)
    if (!qtext.has(qid)) qtext.set(qid, String(row[qc] ?? ''))
    if (collection) {
      const t = collection.get(did)
      if (t === undefined) throw bad(spec.path, `document ${did} is not in the collection ${spec.collection}`, line)
      docs.set(did, t)
    } else docs.set(did, textOf(row, c.text ?? [column(row, spec.path, line, undefined, ['text', 'passage'], 'text')]))
    let list = candidates.get(qid)
    if (!list) candidates.set(qid, (list = []))
    let q = qrels.get(qid)
    if (!q) qrels.set(qid, (q = new Map()))
    if (!q.has(did)) list.push(did)
    q.set(did, gainOf(row[lc], spec.labelMap, spec.path, line))
  }
  return { queries: [...qtext].map(([id, text]) => ({ id, text })), docs, qrels, candidates }
}

async function readRerankWide(spec: DatasetSpec): Promise<EvalDataset> {
  const c = spec.columns ?? {}
  if (!spec.collection) throw bad(spec.path, 'rerank-wide needs --collection (the file the positive and negative ids point into)')
  const collection = await readTable(spec.collection, ['doc_id', 'docid', 'id', '_id'], ['text'], { ...(c.collectionId ? { id: c.collectionId } : {}), ...(c.collectionText ? { text: c.collectionText } : {}) })
  const docs = new Map<string, string>()
  const queries: EvalDataset['queries'] = []
  const qrels = new Map<string, Map<string, number>>()
  const candidates = new Map<string, string[]>()
  for await (const { line, row } of rows(spec.path)) {
    if (!passes(row, spec.filters)) continue
    const qc = column(row, spec.path, line, c.query, ['query', 'question'], 'query text')
    const pc = column(row, spec.path, line, c.positive, ['positive', 'positives', 'pos'], 'positive')
    const nc = column(row, spec.path, line, c.negatives, ['negatives', 'negative', 'neg'], 'negatives')
    const qid = (c.queryId && cellAsId(row[c.queryId])) || `q${line}`
    const ids = (v: unknown): string[] => (Array.isArray(v) ? v : [v]).map(cellAsId).filter((x): x is string => x !== undefined)
    const pos = ids(row[pc])
    const neg = ids(row[nc])
    if (pos.length === 0) throw bad(spec.path, `no positive id in column '${pc}'`, line)
    const q = new Map<string, number>()
    const list: string[] = []
    for (const [id, g] of [...pos.map((p) => [p, 1] as const), ...neg.map((n) => [n, 0] as const)]) {
      const t = collection.get(id)
      if (t === undefined) throw bad(spec.path, `document ${id} is not in the collection ${spec.collection}`, line)
      docs.set(id, t)
      if (!q.has(id)) list.push(id)
      if (!q.has(id) || g > 0) q.set(id, g)
    }
    queries.push({ id: qid, text: String(row[qc] ?? '') })
    qrels.set(qid, q)
    candidates.set(qid, list)
  }
  return { queries, docs, qrels, candidates }
}

export async function readEvalDataset(spec: DatasetSpec): Promise<EvalDataset> {
  switch (spec.format) {
    case 'beir': return readBeir(spec)
    case 'squad': return readSquad(spec)
    case 'rerank-long': return readRerankLong(spec)
    case 'rerank-wide': return readRerankWide(spec)
  }
}

/**
 * Presets: the papers' datasets with the column names of their dataset cards and the metric JaColBERTv2.5 reports
 * (Table 9). README § Evaluation lists the files to download.
 */
export const PRESETS: Record<string, { format: DatasetSpec['format']; metric: string; columns?: ColumnMap; filters?: Array<[string, string]>; labelMap?: Array<[string, number]>; mode: 'retrieval' | 'rerank' }> = {
  // JGLUE JSQuAD valid-v1.3.json: SQuAD layout; retrieval over its 1,145 paragraphs
  jsquad: { format: 'squad', metric: 'recall@3', mode: 'retrieval' },
  // MIRACL ja (miracl/miracl): topics TSV (qid, query), qrels TREC, corpus jsonl(.gz) {docid, title, text}
  miracl: { format: 'beir', metric: 'ndcg@10', mode: 'retrieval' },
  // hotchpotch/JQaRA data/test-*.parquet: q_id, passage_row_id, label (0/1), title, text, question, answers
  jqara: { format: 'rerank-long', metric: 'ndcg@10', mode: 'rerank', columns: { queryId: 'q_id', query: 'question', docId: 'passage_row_id', text: ['title', 'text'], label: 'label' } },
  // hotchpotch/JaCWIR eval/eval-*.parquet: query, positive (doc_id), negatives (doc_id list);
  // collection/collection-*.parquet: doc_id, title, description, link, date
  jacwir: { format: 'rerank-wide', metric: 'map@10', mode: 'rerank', columns: { query: 'query', positive: 'positive', negatives: 'negatives', collectionId: 'doc_id', collectionText: ['title', 'description'] } },
  // amazon-science/esci-data shopping_queries_dataset_examples.parquet (query_id, query, product_id, product_locale,
  // esci_label, small_version, split) + shopping_queries_dataset_products.parquet (product_id, product_title, …):
  // Japanese test rows; gains E=3 S=2 C=1 I=0 (our choice: the paper does not state them)
  esci: {
    format: 'rerank-long', metric: 'ndcg@10', mode: 'rerank',
    columns: { queryId: 'query_id', query: 'query', docId: 'product_id', label: 'esci_label', collectionId: 'product_id', collectionText: ['product_title'] },
    filters: [['product_locale', 'jp'], ['split', 'test']],
    labelMap: [['E', 3], ['S', 2], ['C', 1], ['I', 0]],
  },
}
