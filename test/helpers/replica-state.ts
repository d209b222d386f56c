import type { IndexStore } from '../../src/index/index-store.js'

/** id -> metadata.v of an index, from a replica's memory (undefined when the replica has no such index). */
export function contents(store: IndexStore, name: string): Record<string, unknown> | undefined {
  const ix = store.get(name)
  if (!ix) return undefined
  return Object.fromEntries(ix.ids().sort().map((id) => [id, ix.get(id)?.metadata?.v]))
}

/** Polls `cond` every 10 ms; throws when it has not held within `ms`. */
export async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}
