/** Locations of ../shared fixtures and system dictionaries, and skip helpers for tests that need them. */
import { existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const SHARED_DIR = process.env.JACOLBERT_SHARED_DIR ?? resolve(REPO_ROOT, '..', 'shared')
export const FIXTURES_DIR = resolve(SHARED_DIR, 'fixtures')
export const TINY_MODEL_DIR = resolve(FIXTURES_DIR, 'tiny-jacolbert', 'model')
export const GOLDEN_PATH = resolve(FIXTURES_DIR, 'tiny-jacolbert', 'golden.json')
export const JSQUAD_PATH = resolve(FIXTURES_DIR, 'jsquad-valid-v1.3.json')
export const VOCAB_PATH = resolve(FIXTURES_DIR, 'vocab-bert-base-japanese-v3.txt')

export const IPADIC_DIR = '/var/lib/mecab/dic/ipadic-utf8'
export const JUMANDIC_DIR = '/var/lib/mecab/dic/juman-utf8'

export const hasShared = existsSync(GOLDEN_PATH)

/** `{ skip: reason }` when ../shared is absent (a user's fresh clone), for `t.test(name, sharedOnly(), fn)`. */
export function sharedOnly(): { skip: string | false } {
  return { skip: hasShared ? false : `../shared fixtures not found at ${SHARED_DIR}; this test needs them (CI has them)` }
}

let mecabChecked: boolean | undefined
export function hasMecabCommand(): boolean {
  if (mecabChecked === undefined) {
    try {
      execFileSync('mecab', ['--version'], { stdio: 'ignore' })
      mecabChecked = true
    } catch {
      mecabChecked = false
    }
  }
  return mecabChecked
}

/** `{ skip: reason }` unless the dictionary folder exists (install: apt-get install mecab-ipadic-utf8 mecab-jumandic-utf8). */
export function dictionaryOnly(dir: string): { skip: string | false } {
  return { skip: existsSync(resolve(dir, 'sys.dic')) ? false : `MeCab dictionary not found at ${dir} (apt-get install -y mecab mecab-ipadic-utf8 mecab-jumandic-utf8)` }
}
