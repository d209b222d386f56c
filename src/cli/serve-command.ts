/** `jacolbert serve`: run the HTTP service; flags mirror the environment variables (see --help). */
import { configHelp } from '../config.js'

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      `usage: jacolbert serve [--flag value ...]\n\nEvery setting is an environment variable; flags override them.\n\n${configHelp()}\n`,
    )
    return 0
  }
  const { main } = await import('../main.js')
  return main(argv)
}
