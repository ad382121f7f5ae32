/**
 * `pnpm soak [--seed N] [--scenarios N | --long] [--providers local,e2b,…] [--only K] [--concurrency N] [--json out.json]`
 *
 * The seeded fault soak. Prints the seed first, progress, every failing scenario with the one-line command that
 * reruns it, then the summary; exits 1 on any invariant violation. The seed defaults to `SANDKIT_SOAK_SEED`, else a
 * fresh one. `SANDKIT_SOAK_API_KEY` (or `--api-key`) makes every emulator accept only that key, for the secrets
 * audit; no output carries it.
 */
import { Cause, Effect, Exit, Fiber } from "effect"
import { writeFile } from "node:fs/promises"
import { pathToFileURL } from "node:url"
import { freshSeed } from "./Prng.ts"
import { PROVIDERS, type ProviderName } from "./Scenario.ts"
import { defaultReproduce, formatSummary, runSoak } from "./Soak.ts"

export const BOUNDED_SCENARIOS = 200
export const LONG_SCENARIOS = 2000

const usage = "usage: pnpm soak [--seed N] [--scenarios N | --long] [--providers local,e2b,daytona,modal,runloop] [--only K] [--concurrency N] [--json out.json]"

interface Args {
  seed: number
  scenarios: number
  providers: ReadonlyArray<ProviderName>
  only: number | undefined
  concurrency: number | undefined
  json: string | undefined
  apiKey: string | undefined
}

const integer = (flag: string, value: string | undefined): number => {
  const n = Number(value)
  if (value === undefined || !Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a non-negative integer\n${usage}`)
  return n
}

export const parseArgs = (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): Args => {
  const envSeed = env["SANDKIT_SOAK_SEED"]
  const args: Args = {
    seed: envSeed === undefined || envSeed === "" ? freshSeed() : integer("SANDKIT_SOAK_SEED", envSeed),
    scenarios: BOUNDED_SCENARIOS,
    providers: PROVIDERS,
    only: undefined,
    concurrency: undefined,
    json: undefined,
    apiKey: env["SANDKIT_SOAK_API_KEY"] === "" ? undefined : env["SANDKIT_SOAK_API_KEY"]
  }
  // pnpm passes a literal "--" through when the user writes `pnpm soak -- --seed 1`.
  const rest = argv.filter((a) => a !== "--")
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i]!
    const value = rest[i + 1]
    switch (flag) {
      case "--seed":
        args.seed = integer(flag, value) >>> 0
        i++
        break
      case "--scenarios":
        args.scenarios = integer(flag, value)
        i++
        break
      case "--long":
        args.scenarios = LONG_SCENARIOS
        break
      case "--only":
        args.only = integer(flag, value)
        i++
        break
      case "--concurrency":
        args.concurrency = Math.max(1, integer(flag, value))
        i++
        break
      case "--providers": {
        const names = (value ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "")
        const unknown = names.filter((n) => !(PROVIDERS as ReadonlyArray<string>).includes(n))
        if (names.length === 0 || unknown.length > 0) throw new Error(`unknown provider ${unknown.join(", ")} (known: ${PROVIDERS.join(", ")})`)
        args.providers = names as Array<ProviderName>
        i++
        break
      }
      case "--json":
        if (value === undefined) throw new Error(`--json needs a file name\n${usage}`)
        args.json = value
        i++
        break
      case "--api-key":
        if (value === undefined) throw new Error(`--api-key needs a value\n${usage}`)
        args.apiKey = value
        i++
        break
      case "--help":
      case "-h":
        console.log(usage)
        process.exit(0)
        break
      default:
        throw new Error(`unknown argument ${flag}\n${usage}`)
    }
  }
  return args
}

const main = async () => {
  let args: Args
  try {
    args = parseArgs(process.argv.slice(2), process.env)
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error))
    process.exit(2)
  }
  console.log(`soak seed ${args.seed}`)
  const count = args.only === undefined ? `${args.scenarios} scenarios` : `scenario ${args.only} only`
  console.log(`${count} over ${args.providers.join(", ")}`)
  const program = runSoak({
    seed: args.seed,
    scenarios: args.scenarios,
    providers: args.providers,
    only: args.only,
    apiKey: args.apiKey,
    reproduce: defaultReproduce(args.seed, args.providers),
    print: (line) => console.log(line),
    ...(args.concurrency === undefined ? {} : { concurrency: args.concurrency })
  })
  const fiber = Effect.runFork(program)
  // Ctrl-C interrupts the run, so every scope closes and every sandbox is destroyed before the process ends.
  const stop = () => void Effect.runFork(Fiber.interrupt(fiber))
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  const exit = await Effect.runPromise(Fiber.await(fiber))
  if (Exit.isFailure(exit)) {
    console.error(`the soak could not run: ${Cause.pretty(exit.cause)}`)
    process.exit(Exit.hasInterrupts(exit) ? 130 : 2)
  }
  const summary = exit.value
  for (const line of formatSummary(summary)) console.log(line)
  if (args.json !== undefined) await writeFile(args.json, `${JSON.stringify(summary, null, 2)}\n`)
  if (summary.violations > 0) {
    console.log(`FAILED: ${summary.violations} invariant violation(s); rerun one with the command printed above`)
    process.exit(1)
  }
  process.exit(0)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) void main()
