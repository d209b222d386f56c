/**
 * Child process for the crash tests: saves fakeState(tag, scale) to <dir> and SIGKILLs itself right after the named
 * point (`step:<SnapshotStep>` or `file:<file name>`), or runs to the end (`none`, for kills timed by the parent).
 * Usage: node --import tsx snapshot-crash-child.ts <dir> <tag> <scale> <killAt>
 */
import { replaceDirAtomically } from '../../src/index/snapshot-atomic.js'
import { writeStateFiles } from '../../src/index/snapshot-format.js'
import { fakeState } from './snapshot-fake-state.js'

const [dir, tag, scale, killAt] = process.argv.slice(2)
const die = (): void => {
  process.kill(process.pid, 'SIGKILL')
}
const state = fakeState(Number(tag), Number(scale))
process.stdout.write('ready\n')
await replaceDirAtomically(dir, async (tmp) => {
  await writeStateFiles(state, tmp, { afterFile: (f) => (killAt === `file:${f}` ? die() : undefined) })
}, { afterStep: (s) => (killAt === `step:${s}` ? die() : undefined) })
process.stdout.write('saved\n')
