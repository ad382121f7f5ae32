/**
 * `pnpm bench:load`: 100 scoped sandboxes started at once against each emulated cloud under a concurrency quota of
 * 20 (refusals: 429 + `Retry-After: 1`), and against the local provider without a quota for comparison. Prints one
 * row per provider: counts from both sides of the wire, and per-create latency (asking → handle, waits included).
 *
 *   node --conditions=@sandkit/source apps/integration/src/load/main.ts [--providers local,e2b,…] [-n 100] [--quota 20]
 *
 * Exit code 1 when a create failed, the quota was exceeded or a sandbox was left. Ctrl-C / SIGTERM interrupt the
 * run: the scopes close, so what was created is destroyed.
 */
import { Cause, Effect, Exit, Fiber } from "effect"
import { CLOUDS } from "../emulatedClouds.ts"
import { defaultLoad, type LoadResult, type LoadTarget, quantile, runLoad } from "./loadRun.ts"

const usage = "usage: main.ts [--providers local,e2b,daytona,modal,runloop] [-n 100] [--quota 20]"

const parseArgs = (argv: ReadonlyArray<string>) => {
  let targets: ReadonlyArray<LoadTarget> = ["local", ...CLOUDS]
  let sandboxes = defaultLoad.sandboxes
  let quota = defaultLoad.quota
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = argv[i + 1]
    if (value === undefined) throw new Error(usage)
    i++
    if (flag === "--providers") {
      const names = value.split(",").map((s) => s.trim()).filter((s) => s !== "")
      const unknown = names.filter((n) => n !== "local" && !(CLOUDS as ReadonlyArray<string>).includes(n))
      if (unknown.length > 0 || names.length === 0) throw new Error(`unknown provider(s) ${unknown.join(", ")}; ${usage}`)
      targets = names as ReadonlyArray<LoadTarget>
    } else if (flag === "-n" || flag === "--quota") {
      const n = Number(value)
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} takes a positive integer; ${usage}`)
      if (flag === "-n") sandboxes = n
      else quota = n
    } else {
      throw new Error(usage)
    }
  }
  return { targets, options: { ...defaultLoad, sandboxes, quota } }
}

const ms = (value: number) => (Number.isNaN(value) ? "-" : `${Math.round(value)} ms`)

const row = (r: LoadResult): ReadonlyArray<string> => [
  r.target === "local" ? "local" : `${r.target} (emulated)`,
  String(r.sandboxes),
  String(r.succeeded),
  r.quota === undefined ? "none" : String(r.quota),
  r.peak === undefined ? "-" : String(r.peak),
  String(r.attempts),
  String(r.refused),
  String(r.maxRefusalsOfOne),
  ms(quantile(r.createMs, 0.5)),
  ms(quantile(r.createMs, 0.95)),
  ms(Math.max(...r.createMs)),
  ms(r.totalMs),
  String(r.leaked)
]

const header = ["provider", "n", "succeeded", "quota", "peak live", "create attempts", "429s", "max retries (one)", "p50 create", "p95 create", "max create", "total", "leaked"]

const table = (rows: ReadonlyArray<ReadonlyArray<string>>) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n")
}

const program = (targets: ReadonlyArray<LoadTarget>, options: typeof defaultLoad) =>
  Effect.gen(function*() {
    const results: Array<LoadResult> = []
    for (const target of targets) {
      process.stderr.write(`${target}: ${options.sandboxes} at once${target === "local" ? "" : `, quota ${options.quota}`}…\n`)
      // One scope per provider: its emulator stops before the next one starts.
      results.push(yield* Effect.scoped(runLoad(target, options)))
    }
    process.stdout.write(`${table(results.map(row))}\n`)
    process.stdout.write(
      "create = asking → handle, including the waits on 429 + Retry-After: 1; total = first create → last release.\n"
    )
    for (const r of results) for (const failure of new Set(r.failures)) process.stdout.write(`${r.target}: ${failure}\n`)
    const bad = results.some((r) =>
      r.succeeded !== r.sandboxes || r.leaked > 0 || (r.quota !== undefined && r.peak !== undefined && r.peak > r.quota)
    )
    if (bad) process.exitCode = 1
  })

let parsed: ReturnType<typeof parseArgs>
try {
  parsed = parseArgs(process.argv.slice(2))
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(2)
}

const fiber = Effect.runFork(program(parsed.targets, parsed.options))
// Interrupt instead of dying, so the scopes close and every sandbox is destroyed.
const interrupt = () => void Effect.runFork(Fiber.interrupt(fiber))
process.once("SIGINT", interrupt)
process.once("SIGTERM", interrupt)
const exit = await Effect.runPromise(Fiber.await(fiber))
process.off("SIGINT", interrupt)
process.off("SIGTERM", interrupt)
if (Exit.isFailure(exit)) {
  process.stderr.write(Cause.hasInterruptsOnly(exit.cause) ? "interrupted\n" : `${Cause.pretty(exit.cause)}\n`)
  process.exitCode = Cause.hasInterruptsOnly(exit.cause) ? 130 : 1
}
