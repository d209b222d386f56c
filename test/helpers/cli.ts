/** Runs `jacolbert <args>` as a child process (through tsx, from the sources), as a user would. */
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { REPO_ROOT } from './shared.js'

export interface CliResult { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export const CLI_ARGS = ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts')]

export function cliSync(args: string[], input = '', env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [...CLI_ARGS, ...args], { input, encoding: 'utf8', cwd: REPO_ROOT, env: { ...process.env, ...env }, maxBuffer: 256 << 20 })
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }
}

/** Async variant (the test's own server keeps serving meanwhile). */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI_ARGS, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }))
  })
}
