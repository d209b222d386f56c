/**
 * The int8 graph a CPU gets: the u8·s8 probe against what the CPU says of itself, and, on an emulated CPU without
 * VNNI (qemu-x86_64 -cpu Haswell), that the probe sees the saturation and the graph picked there matches golden.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { signedInt8GemmIsExact } from '../../src/encoder/int8-gemm-probe.js'
import { REPO_ROOT, sharedOnly } from '../helpers/shared.js'
import type { GoldenAgreement } from '../helpers/int8-golden.js'

/** x86 CPU flags from /proc/cpuinfo (the kernel's reading of CPUID); undefined where there is none. */
function cpuFlags(): Set<string> | undefined {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'))
    return line ? new Set(line.split(':')[1]!.trim().split(/\s+/)) : undefined
  } catch {
    return undefined
  }
}

t.test('the probe agrees with the CPU flags: u8·s8 is exact exactly where there is VNNI', async (t) => {
  const exact = await signedInt8GemmIsExact()
  const flags = cpuFlags()
  if (process.arch !== 'x64' || !flags) {
    t.ok(exact, `no x86 int16 pair kernel on ${process.arch}: exact`)
    return
  }
  const vnni = (flags.has('avx512_vnni') && flags.has('avx512bw')) || flags.has('avx_vnni')
  t.equal(exact, vnni, `VNNI ${vnni ? 'present' : 'absent'} (avx512_vnni ${flags.has('avx512_vnni')}, avx_vnni ${flags.has('avx_vnni')}): probe says ${exact ? 'exact' : 'saturating'}`)
  t.equal(await signedInt8GemmIsExact(), exact, 'asked again: the same answer (measured once per process)')
})

const EMULATED_CPU = ['-cpu', 'Haswell-v4']

/** Why this machine cannot run Node on an emulated CPU, or false when it can (checked by running one). */
function qemuUnavailable(): string | false {
  if (process.arch !== 'x64') return `emulating an x86 CPU needs an x64 host (this is ${process.arch})`
  const v = spawnSync('qemu-x86_64', ['-version'], { encoding: 'utf8' })
  if (v.status !== 0) return 'qemu-x86_64 not found (Debian package qemu-user; .ci/run installs it)'
  const r = spawnSync('qemu-x86_64', [...EMULATED_CPU, process.execPath, '-e', 'process.stdout.write("up")'], { encoding: 'utf8', timeout: 60_000 })
  return r.status === 0 && r.stdout === 'up' ? false : `qemu-x86_64 cannot run node on this machine (status ${r.status}, ${r.error?.message ?? r.stderr.split('\n').filter((l) => l && !l.includes('TCG doesn')).slice(-1)[0] ?? ''})`
}

t.test('on a CPU without VNNI (emulated Haswell) the probe sees saturation and the encoder picks exact unsigned weights', { ...sharedOnly(), skip: sharedOnly().skip || qemuUnavailable() }, async (t) => {
  const r = spawnSync('qemu-x86_64', [...EMULATED_CPU, process.execPath, '--import', 'tsx', join(REPO_ROOT, 'test/helpers/int8-emulated-child.ts')], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 240_000 })
  t.equal(r.status, 0, `child exited cleanly${r.status === 0 ? '' : `: ${r.stderr.split('\n').filter((l) => !l.includes('TCG doesn')).join('\n').slice(-2000)}`}`)
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { signedExact: boolean; chosen: string; signed: GoldenAgreement; unsigned: GoldenAgreement }
  t.equal(out.signedExact, false, 'the probe finds the int16 saturation of AVX2 u8·s8 GEMMs')
  t.equal(out.chosen, 'int8-u8u8-fused', 'so int8 precision picks unsigned weights')
  t.comment(`emulated Haswell vs golden, cosine per token: int8-fused worst ${out.signed.worstCos.toFixed(5)} mean ${out.signed.meanCos.toFixed(5)}; int8-u8u8-fused worst ${out.unsigned.worstCos.toFixed(5)} mean ${out.unsigned.meanCos.toFixed(5)}`)
  t.ok(out.unsigned.worstCos > 0.98, `int8-u8u8-fused: every token within cosine 0.98 of golden (worst ${out.unsigned.worstCos.toFixed(5)})`)
  t.ok(out.unsigned.meanCos > 0.995, `int8-u8u8-fused: mean cosine > 0.995 (${out.unsigned.meanCos.toFixed(5)})`)
  t.ok(out.unsigned.worstCos > out.signed.worstCos, 'and closer to golden than the signed graph is on this CPU (the saturation is real, not a probe artefact)')
})
