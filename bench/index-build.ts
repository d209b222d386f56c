/**
 * Build time and memory of the PLAID index per data preset (issue 9: "build ≤ 60 s and bytes/vector ≤ 40 on the 10k
 * set", on every preset of bench/data-models.ts).
 *
 *   npm run bench:build -- [--presets a,b] [--cache /tmp/jacolbert-matrix] [--nbits 2] [--searches 20]
 *                            [--json FILE] [--no-save]
 *
 * Per preset (data from the bench:matrix cache, generated there if missing): one upsert of all documents into a new
 * index (what bench:matrix and bench:index time, but with the input's pages touched beforehand), measured as wall time and as this process's CPU time
 * (process.cpuUsage, user + system, all threads) and per thread (/proc: the main thread vs V8's helpers): the build
 * runs on the main thread, so on a machine shared with other jobs CPU seconds stand in for a quiet machine's wall
 * seconds. Phases are the index's own wall timings (lastTrainTimings). Bytes/vector are the index's own accounting
 * (stats().bytes) with its breakdown (stats().memory), right after the build, after a snapshot save + load, and after
 * --searches queries on the loaded index (search scratch). The snapshot is written where bench:matrix looks for it
 * (index/<preset key>-nbits<n>-<index code hash>, with bench-build.json), so a matrix run afterwards only loads it;
 * --no-save skips that.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { writeFile } from 'node:fs/promises'
import { readEmbeddingSet } from '../src/index/embedding-set.js'
import { createPlaidIndex, lastTrainCpuTimings, lastTrainTimings, type IndexStats, type PlaidIndex } from '../src/index/plaid-index.js'
import { loadIndexSnapshot, originalsDirOf, saveIndexSnapshot } from '../src/index/snapshot.js'
import { PRESETS, findPreset, modelKey, writeGeneratedSet } from './data-models.js'
import { exists, indexCodeHash, writeAtomic } from './index-matrix.js'

interface Row {
  preset: string; docs: number; vectors: number; centroids: number
  wall_s: number; cpu_s: number; cpu_over_wall: number; main_thread_cpu_s?: number; other_threads_cpu_s?: number; load_before: number; load_after: number
  phases_s: Record<string, number>
  phases_cpu_s: Record<string, number>
  originals_disk_bytes_per_vector: number
  bytes_per_vector: { built: number; loaded: number; loaded_searched: number }
  memory_per_vector: { built: Record<string, number>; loaded: Record<string, number>; loaded_searched: Record<string, number> }
  snapshot_dir?: string
}

/**
 * CPU seconds of this process's threads (Linux /proc): the main thread (tid = pid) and all the others (V8's GC and
 * compiler helpers, libuv), to check that the build is single-threaded. undefined where /proc is missing.
 */
function threadCpu(): { main: number; others: number } | undefined {
  try {
    let main = 0, others = 0
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ticks = (Number(f[11]) + Number(f[12])) / 100 // utime + stime, in USER_HZ = 100
      if (Number(tid) === process.pid) main += ticks
      else others += ticks
    }
    return { main, others }
  } catch {
    return undefined
  }
}

const perVector = (s: IndexStats): Record<string, number> =>
  Object.fromEntries(Object.entries(s.memory ?? {}).map(([k, v]) => [k, v / s.vectors]))

function searchSome(index: PlaidIndex, queries: Float32Array, qBytes: number, n: number): void {
  for (let q = 0; q < n; q++) {
    index.search(queries.subarray(q * qBytes, (q + 1) * qBytes), { k: 10 })
    index.search(queries.subarray(q * qBytes, (q + 1) * qBytes), { k: 100 })
  }
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      presets: { type: 'string' }, cache: { type: 'string', default: '/tmp/jacolbert-matrix' }, nbits: { type: 'string', default: '2' },
      searches: { type: 'string', default: '20' }, json: { type: 'string' }, 'no-save': { type: 'boolean' },
    },
  })
  const presets = values.presets === undefined ? PRESETS : values.presets.split(',').map((x) => findPreset(x.trim()))
  const nbits = Number(values.nbits) as 1 | 2 | 4
  const cache = resolve(values.cache)
  const code = await indexCodeHash()
  const nSearch = Number(values.searches)
  console.log(`index build: ${presets.map((p) => p.name).join(', ')}; nbits ${nbits}; index code ${code}; load average ${loadavg()[0].toFixed(1)}`)
  const rows: Row[] = []
  for (const preset of presets) {
    const key = `${preset.name}-${modelKey(preset.model, preset.seed)}`
    const dataDir = join(cache, 'data', key)
    if (!(await exists(join(dataDir, 'manifest.json')))) {
      console.log(`${preset.name}: generating into ${dataDir} …`)
      const tmp = `${dataDir}.tmp-${process.pid}`
      await writeGeneratedSet(tmp, preset.model, preset.seed)
      await import('node:fs/promises').then((fs) => fs.rename(tmp, dataDir))
    }
    const set = await readEmbeddingSet(dataDir)
    const docs = Array.from({ length: set.nDocs }, (_, d) => ({
      id: `d${d}`, vectors: set.docs.subarray(set.docOffsets[d] * set.dim, (set.docOffsets[d] + set.doclens[d]) * set.dim),
    }))
    // touch every page of the input first: the first read of a freshly loaded gigabyte costs this VM ~2.5 s of CPU
    // (measured: one float per 4 KiB page), a cost of loading the set, not of building the index
    let touched = 0
    for (let i = 0; i < set.docs.length; i += 1024) touched += set.docs[i]
    if (Number.isNaN(touched)) console.log('  (input holds NaN: the build will refuse it)')
    const loadBefore = loadavg()[0]
    const threads0 = threadCpu()
    const cpu0 = process.cpuUsage()
    const tmpSnap = join(cache, 'index', `.build-bench-${process.pid}`)
    const dir = values['no-save'] === true ? tmpSnap : join(cache, 'index', `${key}-nbits${nbits}-${code}`)
    await rm(dir, { recursive: true, force: true })
    await rm(originalsDirOf(join(dir, 'snapshot')), { recursive: true, force: true })
    await mkdir(dir, { recursive: true })
    const t0 = performance.now()
    // the original vectors in a file beside the snapshot, as the service keeps them (not in memory)
    const index = createPlaidIndex({ dim: set.dim, nbits }, { originalsDir: originalsDirOf(join(dir, 'snapshot')) })
    index.upsert(docs)
    const wall = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const cpuS = (cpu.user + cpu.system) / 1e6
    const threads1 = threadCpu()
    const threads = threads0 !== undefined && threads1 !== undefined
      ? { main_thread_cpu_s: threads1.main - threads0.main, other_threads_cpu_s: threads1.others - threads0.others } : {}
    const loadAfter = loadavg()[0]
    const phases = Object.fromEntries(Object.entries(lastTrainTimings).map(([k, v]) => [k, v / 1000]))
    const phasesCpu = Object.fromEntries(Object.entries(lastTrainCpuTimings).map(([k, v]) => [k, v / 1000]))
    phasesCpu.upsert = cpuS - Object.values(phasesCpu).reduce((a, b) => a + b, 0)
    const built = index.stats()
    await saveIndexSnapshot(index, join(dir, 'snapshot'))
    if (values['no-save'] !== true) {
      await writeAtomic(join(dir, 'bench-build.json'), JSON.stringify({ build_s: wall, build_cpu_s: cpuS, built_at: new Date().toISOString() }) + '\n')
    }
    const loadedIndex = await loadIndexSnapshot(join(dir, 'snapshot'))
    if (values['no-save'] === true) {
      await rm(tmpSnap, { recursive: true, force: true })
      await rm(originalsDirOf(join(tmpSnap, 'snapshot')), { recursive: true, force: true })
    }
    const loaded = loadedIndex.stats()
    searchSome(loadedIndex, set.queries, set.queryLen * set.dim, Math.min(nSearch, set.nQueries))
    const searched = loadedIndex.stats()
    const row: Row = {
      preset: preset.name, docs: set.nDocs, vectors: set.nTokens, centroids: built.centroids,
      wall_s: wall, cpu_s: cpuS, cpu_over_wall: cpuS / wall, ...threads, load_before: loadBefore, load_after: loadAfter, phases_s: phases, phases_cpu_s: phasesCpu,
      originals_disk_bytes_per_vector: (built.originals?.bytesOnDisk ?? 0) / built.vectors,
      bytes_per_vector: { built: built.bytes / built.vectors, loaded: loaded.bytes / loaded.vectors, loaded_searched: searched.bytes / searched.vectors },
      memory_per_vector: { built: perVector(built), loaded: perVector(loaded), loaded_searched: perVector(searched) },
      ...(values['no-save'] === true ? {} : { snapshot_dir: dir }),
    }
    rows.push(row)
    const f = (x: number): string => x.toFixed(2)
    console.log(`${preset.name}: ${set.nDocs} docs, ${set.nTokens} vectors, K ${built.centroids}; build wall ${wall.toFixed(1)} s, cpu ${cpuS.toFixed(1)} s ` +
      `(main thread ${threads.main_thread_cpu_s?.toFixed(1) ?? '?'} s, other threads ${threads.other_threads_cpu_s?.toFixed(1) ?? '?'} s; ` +
      `load ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}); CPU by phase ${Object.entries(phasesCpu).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`)
    console.log(`  bytes/vector built ${f(row.bytes_per_vector.built)}, loaded ${f(row.bytes_per_vector.loaded)}, loaded + ${nSearch}×2 searches ${f(row.bytes_per_vector.loaded_searched)}`)
    for (const [name, m] of Object.entries(row.memory_per_vector)) console.log(`  ${name.padEnd(15)} ${Object.entries(m).map(([k, v]) => `${k} ${f(v)}`).join(', ')}`)
  }
  const f1 = (x: number): string => x.toFixed(1)
  const lines = [
    '| preset | vectors | K | build wall s | build CPU s | CPU/wall | main-thread share of CPU | load avg | CPU s: upsert / sample / k-means / codec / encode / IVF | B/vec built | loaded | loaded + searches | built: vectors / centroids / scratch / IVF / slack |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const m = r.memory_per_vector.built
      const p = r.phases_cpu_s
      return `| ${r.preset} | ${(r.vectors / 1e6).toFixed(2)} M | ${r.centroids} | ${f1(r.wall_s)} | ${f1(r.cpu_s)} | ${r.cpu_over_wall.toFixed(2)} | ${r.main_thread_cpu_s === undefined ? '?' : (r.main_thread_cpu_s / (r.main_thread_cpu_s + r.other_threads_cpu_s!)).toFixed(3)} | ${f1(r.load_before)}–${f1(r.load_after)} | ` +
        `${['upsert', 'sample', 'kmeans', 'codec', 'encode', 'ivf'].map((k) => f1(p[k] ?? 0)).join(' / ')} | ${r.bytes_per_vector.built.toFixed(2)} | ${r.bytes_per_vector.loaded.toFixed(2)} | ` +
        `${r.bytes_per_vector.loaded_searched.toFixed(2)} | ${m.vectors.toFixed(2)} / ${m.centroids.toFixed(2)} / ${m.centroidScratch.toFixed(2)} / ${m.ivf.toFixed(2)} / ${m.slack.toFixed(2)} |`
    }),
  ]
  console.log('\n' + lines.join('\n'))
  const started = new Date().toISOString().replace(/[:.]/g, '-')
  const jsonPath = values.json ?? `bench/results/index-build-${started}.json`
  await mkdir(resolve(jsonPath, '..'), { recursive: true })
  await writeFile(jsonPath, JSON.stringify({ index_code: code, nbits, rows }, null, 2) + '\n')
  console.log(`wrote ${jsonPath}`)
  return 0
}

process.exitCode = await main(process.argv.slice(2))
