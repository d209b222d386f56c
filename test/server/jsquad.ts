/** JSQuAD passages and questions from the shared fixture. */
import { readFileSync } from 'node:fs'
import { JSQUAD_PATH } from '../helpers/shared.js'

export interface Passage { id: string; title: string; text: string; questions: string[] }

export function loadJsquad(): Passage[] {
  const d = JSON.parse(readFileSync(JSQUAD_PATH, 'utf8')) as {
    data: Array<{ title: string; paragraphs: Array<{ context: string; qas: Array<{ id: string; question: string }> }> }>
  }
  const out: Passage[] = []
  for (const a of d.data) {
    a.paragraphs.forEach((p, i) => {
      out.push({ id: `${a.title}#${i}`, title: a.title, text: p.context, questions: p.qas.map((q) => q.question) })
    })
  }
  return out
}
