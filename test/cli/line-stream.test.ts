/** streamLines: byte-level splitting whatever the chunking, and each command's rule for a last line without '\n'. */
import t from 'tap'
import { streamLines } from '../../src/cli/line-stream.js'

const input = Buffer.from('一行目\n\n二行目\r\n絵文字😀\nlast')

function chunked(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size))
  return out
}

async function collect(chunks: Iterable<Buffer | string> | AsyncIterable<Buffer | string>, keepLastLine?: (b: Buffer) => boolean): Promise<{ out: string; writes: number }> {
  let out = ''
  let writes = 0
  await streamLines(chunks, (s) => {
    out += s
    writes++
  }, { render: (buf, start, end) => `<${buf.toString('utf8', start, end)}>`, ...(keepLastLine ? { keepLastLine } : {}) })
  return { out, writes }
}

t.test('lines are whole across chunk boundaries, even inside a multi-byte character', async (t) => {
  for (const size of [input.length, 7, 2, 1]) {
    const { out } = await collect(chunked(input, size))
    t.equal(out, '<一行目><><二行目\r><絵文字😀><last>', `chunks of ${size} bytes`)
  }
})

t.test('one write per chunk that completes a line, one for the unterminated last line', async (t) => {
  t.same(await collect([Buffer.from('a\nb\n'), Buffer.from('c'), Buffer.from('d\ne')]), { out: '<a><b><cd><e>', writes: 3 })
  t.same(await collect([Buffer.from('a\n')]), { out: '<a>', writes: 1 })
  t.same(await collect([]), { out: '', writes: 0 })
})

t.test('keepLastLine decides about an unterminated last line only', async (t) => {
  const noNul = (b: Buffer): boolean => b[0] !== 0
  t.equal((await collect([Buffer.from('\0x\n\0y')], noNul)).out, '<\0x>')
  t.equal((await collect([Buffer.from('a\nb')], noNul)).out, '<a><b>')
  t.equal((await collect([Buffer.from('a\nb')], () => false)).out, '<a>')
})

t.test('async iterables and strings are read too', async (t) => {
  async function* gen(): AsyncGenerator<string> {
    yield 'x\ny'
    yield 'z'
  }
  t.equal((await collect(gen())).out, '<x><yz>')
})
