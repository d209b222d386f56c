/**
 * Writes a parquet file with hyparquet-writer (dev dependency) in a plain Node child process: under the test
 * runner's module hooks hyparquet-writer's deep imports of hyparquet/src/*.js do not resolve.
 */
import { spawnSync } from 'node:child_process'
import { REPO_ROOT } from './shared.js'

export interface ParquetColumn { name: string; type: 'STRING' | 'INT64' | 'INT32' | 'DOUBLE' | 'BOOLEAN'; data: Array<string | number | bigint | boolean> }

export function writeParquet(filename: string, columns: ParquetColumn[]): void {
  const payload = JSON.stringify({ filename, columns: columns.map((c) => ({ ...c, data: c.data.map((v) => (typeof v === 'bigint' ? v.toString() : v)) })) })
  const script = `
import { parquetWriteFile } from 'hyparquet-writer'
let input = ''
for await (const chunk of process.stdin) input += chunk
const { filename, columns } = JSON.parse(input)
parquetWriteFile({ filename, columnData: columns.map((c) => ({ ...c, data: c.type === 'INT64' ? c.data.map(BigInt) : c.data })) })
`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { input: payload, encoding: 'utf8', cwd: REPO_ROOT })
  if (r.status !== 0) throw new Error(`writing ${filename} failed: ${r.stderr}`)
}
