#!/usr/bin/env node
/**
 * `jacolbert` command dispatcher. Each command lives in its own module under src/cli/ and exports
 * `run(argv: string[]): Promise<number>` (the exit code); modules are loaded lazily so that, e.g.,
 * `jacolbert segment` never loads onnxruntime.
 */
const COMMANDS: Record<string, { module: string; summary: string }> = {
  serve: { module: './serve-command.js', summary: 'run the HTTP service (same as npm start)' },
  segment: { module: './segment-command.js', summary: 'MeCab word segmentation of stdin lines (like mecab -Owakati)' },
  tokenize: { module: './tokenize-command.js', summary: 'ColBERT tokenisation of stdin lines, one JSON object per line' },
  encode: { module: './encode-command.js', summary: 'ColBERT vectors of stdin lines, one JSON object per line' },
  pull: { module: './pull-command.js', summary: 'download a checkpoint from the Hugging Face Hub (and unidic-lite)' },
  convert: { module: './convert-command.js', summary: 'convert a checkpoint to ONNX (fp32 and/or fp16) and cache it' },
  eval: { module: './eval-command.js', summary: 'retrieval / reranking evaluation (Recall, nDCG, MRR, MAP, success@k)' },
  index: { module: './index-command.js', summary: 'bulk indexing from JSONL/TSV/parquet into an index folder or a server' },
  merge: { module: './merge-command.js', summary: 'weighted average of checkpoints (the JaColBERTv2.5 recipe)' },
  'mine-negatives': { module: './mine-negatives-command.js', summary: 'hard negatives from an index, as ColBERT/PyLate training data' },
}

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(15)} ${c.summary}`)
  return `usage: jacolbert <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'jacolbert <command> --help' for a command's options.\n`
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage())
    return name ? 0 : 2
  }
  const command = COMMANDS[name]
  if (!command) {
    process.stderr.write(`jacolbert: unknown command '${name}'\n\n${usage()}`)
    return 2
  }
  const mod = (await import(command.module)) as { run: (argv: string[]) => Promise<number> }
  return mod.run(rest)
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string }
    process.stderr.write(`jacolbert: ${e.code ? `[${e.code}] ` : ''}${e.message ?? String(err)}\n`)
    process.exitCode = 1
  },
)
