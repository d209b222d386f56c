/**
 * Child process for the crash tests: saves a snapshot to <dir> and SIGKILLs itself right after the named point
 * (`step:<SnapshotStep>` or `file:<file name>`), or runs to the end (`none`, for kills timed by the parent).
 * `scale` > 0 saves fakeState(tag, scale) through the format writer; `scale` = 0 builds a real PlaidIndex
 * (realIndex(tag)) and saves it with saveIndexSnapshot.
 * Usage: node --import tsx snapshot-crash-child.ts <dir> <tag> <scale> <killAt>
 */
import { replaceDirAtomically, type SnapshotHooks } from '../../src/index/snapshot-atomic.js'
import { writeStateFiles } from '../../src/index/snapshot-format.js'
import { saveIndexSnapshot } from '../../src/index/snapshot.js'
import { fakeState, realIndex } from './snapshot-fake-state.js'

const args = process.argv.slice(2)
if (args.length !== 4) {
  // run on its own (tap given the whole folder runs every file in it): without the parent's arguments there is
  // nothing to save; a plan of 0 tests tells tap so instead of a crash on an undefined folder
  process.stdout.write('1..0 # a child process of snapshot.test.ts and snapshot-format.test.ts, run by them with arguments\n')
  process.exit(0)
}
const [dir, tag, scale, killAt] = args
const die = (): void => {
  process.kill(process.pid, 'SIGKILL')
}
const hooks: SnapshotHooks = {
  afterFile: (f) => (killAt === `file:${f}` ? die() : undefined),
  afterStep: (s) => (killAt === `step:${s}` ? die() : undefined),
}
if (Number(scale) === 0) {
  const index = realIndex(Number(tag))
  process.stdout.write('ready\n')
  await saveIndexSnapshot(index, dir, { hooks })
} else {
  const state = fakeState(Number(tag), Number(scale))
  process.stdout.write('ready\n')
  await replaceDirAtomically(dir, async (tmp) => {
    await writeStateFiles(state, tmp, hooks)
  }, hooks)
}
process.stdout.write('saved\n')
