/**
 * Argument handling shared by the `jacolbert` commands, so every command reports usage errors the same way:
 * `jacolbert <command>: <message>`, a blank line, the command's help on stderr, exit code 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'

type OptionsConfig = NonNullable<ParseArgsConfig['options']>
type HelpOption = { help: { type: 'boolean'; short: 'h' } }
type Parsed<O extends OptionsConfig> = ReturnType<typeof parseArgs<{ args: string[]; options: O & HelpOption; strict: true; allowPositionals: boolean }>>

export interface CommandArgsOptions<O extends OptionsConfig> {
  /** Accept positional arguments (otherwise one is a usage error). */
  positionals?: boolean
  /** A folder option the command cannot run without, and the environment variable that stands in for it. */
  require?: { option: keyof O & string; env?: string }
}

/** Writes the usage error to stderr; returns the exit code for it. */
export function usageError(command: string, message: string, help: string): 2 {
  process.stderr.write(`jacolbert ${command}: ${message}\n\n${help}`)
  return 2
}

/**
 * Parses `argv` strictly, with `-h, --help` added. Returns the exit code when the command should stop here
 * (a usage error, or the help was printed); otherwise the parsed values and positionals, and with `require`
 * the required option's value (the flag, else its environment variable).
 */
export function parseCommandArgs<O extends OptionsConfig>(
  command: string, argv: string[], options: O, help: string, opts: CommandArgsOptions<O> & { require: object },
): (Parsed<O> & { required: string }) | number
export function parseCommandArgs<O extends OptionsConfig>(
  command: string, argv: string[], options: O, help: string, opts?: CommandArgsOptions<O>,
): Parsed<O> | number
export function parseCommandArgs<O extends OptionsConfig>(
  command: string, argv: string[], options: O, help: string, opts: CommandArgsOptions<O> = {},
): (Parsed<O> & { required?: string }) | number {
  let parsed: Parsed<O>
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } } as O & HelpOption,
      strict: true,
      allowPositionals: opts.positionals ?? false,
    })
  } catch (err) {
    return usageError(command, (err as Error).message, help)
  }
  const values = parsed.values as Record<string, unknown>
  if (values.help) {
    process.stdout.write(help)
    return 0
  }
  if (!opts.require) return parsed
  const { option, env } = opts.require
  const required = (values[option] as string | undefined) ?? (env ? process.env[env] : undefined)
  if (!required) return usageError(command, `--${option} DIR is required${env ? ` (or set ${env})` : ''}`, help)
  return { ...parsed, required }
}
