// The adapter's overhead over the raw SDK, against one emulator in one run (not a test):
//   node --conditions=@sandkit/source packages/daytona/bench/overhead.ts [createRounds=60] [execRounds=300]
//   (or: pnpm --filter @sandkit/daytona bench)
// Adapter and raw SDK alternate round by round, so drift hits both alike. The budget, p50 overhead ≤ max(0.5 ms,
// 10 % of the raw p50), is checked where the raw SDK makes the same calls with the same command text, which
// isolates what the adapter itself costs (validation, labels, Effect, error mapping):
//   create + first exec   create, get, (work dir ‖ create session), session exec   vs  createDetached() + exec("true")
//   warm exec             session exec of the adapter's wrapper for `true`        vs  exec("true")
// Reported for information, against the SDK's shortest path (its create also waits for `started`):
//   create + first exec   daytona.create() + process.executeCommand("true")
//   warm exec             process.executeCommand("true")
// The shortest path is two round trips shorter on create (the adapter fetches the SDK object and asks the work dir
// before it calls the sandbox ready) and runs a bare `true` without a wrapper; but `executeCommand` merges stdout
// and stderr and has no shell, which the contract cannot accept.
import { Daytona } from "@daytonaio/sdk"
import { makeProvider, type Sandbox as CoreSandbox } from "@sandkit/core"
import { DaytonaEmulator } from "@sandkit/emulators/daytona"
import { Effect, Exit, Redacted, Scope } from "effect"
import { DaytonaProvider } from "../src/index.ts"

const createRounds = Number(process.argv[2] ?? 60)
const execRounds = Number(process.argv[3] ?? 300)

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

const timed = async (f: () => Promise<unknown>): Promise<number> => {
  const start = performance.now()
  await f()
  return performance.now() - start
}

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

const emulator = await DaytonaEmulator.start()
const daytona = new Daytona({ ...emulator.sdkOptions })
const scope = Effect.runSync(Scope.make())
try {
  const driver = await run(
    DaytonaProvider.make({
      apiKey: Redacted.make(emulator.sdkOptions.apiKey),
      apiUrl: emulator.apiUrl,
      target: emulator.sdkOptions.target
    }).pipe(Scope.provide(scope))
  )
  const provider = makeProvider(driver)

  // Warm up both paths (JIT, connection pools, the local engine's first sandboxes).
  for (let i = 0; i < 5; i++) {
    const s = await daytona.create()
    await s.process.executeCommand("true")
    await s.delete()
    const a = await run(provider.createDetached())
    await run(a.exec("true"))
    await run(a.destroy)
  }

  /** The adapter's wrapper script for `true` in `workdir`: what its exec sends. */
  const wrapped = (workdir: string) => DaytonaProvider.execScript(DaytonaProvider.commandBody("true", workdir, undefined), undefined)

  const createShort: Array<number> = []
  const createSame: Array<number> = []
  const createAdapter: Array<number> = []
  for (let i = 0; i < createRounds; i++) {
    const shortRound = async () => {
      let sandbox: Awaited<ReturnType<Daytona["create"]>> | undefined
      createShort.push(await timed(async () => {
        sandbox = await daytona.create()
        await sandbox.process.executeCommand("true")
      }))
      await sandbox!.delete()
    }
    const sameRound = async () => {
      let sandbox: Awaited<ReturnType<Daytona["create"]>> | undefined
      createSame.push(await timed(async () => {
        const created = await daytona.create()
        sandbox = await daytona.get(created.id)
        const [workdir] = await Promise.all([sandbox.getWorkDir(), sandbox.process.createSession("first")])
        await sandbox.process.executeSessionCommand("first", { command: wrapped(workdir!) })
      }))
      await sandbox!.delete()
    }
    const adapterRound = async () => {
      let sandbox: CoreSandbox | undefined
      createAdapter.push(await timed(async () => {
        sandbox = await run(provider.createDetached())
        await run(sandbox.exec("true"))
      }))
      await run(sandbox!.destroy)
    }
    const rounds = [shortRound, sameRound, adapterRound]
    for (let j = 0; j < rounds.length; j++) await rounds[(i + j) % rounds.length]!()
  }

  const sdkSandbox = await daytona.create()
  await sdkSandbox.process.createSession("bench")
  const adapterSandbox = await run(provider.createDetached())
  const script = wrapped((await sdkSandbox.getWorkDir())!)
  const rawSession = () => sdkSandbox.process.executeSessionCommand("bench", { command: script })
  const rawExecute = () => sdkSandbox.process.executeCommand("true")
  const adapterExec = () => run(adapterSandbox.exec("true"))
  for (let i = 0; i < 20; i++) {
    await rawSession()
    await rawExecute()
    await adapterExec()
  }
  const execSession: Array<number> = []
  const execExecute: Array<number> = []
  const execAdapter: Array<number> = []
  const jobs: ReadonlyArray<readonly [Array<number>, () => Promise<unknown>]> = [
    [execSession, rawSession],
    [execExecute, rawExecute],
    [execAdapter, adapterExec]
  ]
  for (let i = 0; i < execRounds; i++) {
    // Rotate which goes first, so none always runs on a just-warmed connection.
    for (let j = 0; j < jobs.length; j++) {
      const [into, job] = jobs[(i + j) % jobs.length]!
      into.push(await timed(job))
    }
  }
  await sdkSandbox.delete()
  await run(adapterSandbox.destroy)

  // Overhead = adapter p50 - raw p50; "paired" is the p50 of the per-round differences (less sensitive to load).
  const report = (name: string, rawMs: ReadonlyArray<number>, adapterMs: ReadonlyArray<number>, budgeted: boolean) => {
    const r = percentile(rawMs, 50)
    const a = percentile(adapterMs, 50)
    const overhead = a - r
    const paired = percentile(rawMs.map((x, i) => adapterMs[i]! - x), 50)
    const budget = Math.max(0.5, 0.1 * r)
    const verdict = overhead <= budget ? "OK" : budgeted ? "OVER" : "over (informational)"
    console.log(
      `${name.padEnd(22)} raw p50 ${r.toFixed(2).padStart(7)} ms  adapter p50 ${a.toFixed(2).padStart(7)} ms  ` +
        `overhead ${overhead.toFixed(2).padStart(5)} ms (${((overhead / r) * 100).toFixed(1).padStart(5)} %)  ` +
        `paired ${paired.toFixed(2).padStart(5)} ms  budget ${budget.toFixed(2)} ms  ${verdict}  ` +
        `[p90 raw ${percentile(rawMs, 90).toFixed(2)} / adapter ${percentile(adapterMs, 90).toFixed(2)} ms, n=${rawMs.length}]`
    )
    return !budgeted || overhead <= budget
  }
  const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : `node ${process.versions.node}`
  console.log(`Daytona adapter overhead against the emulator (${runtime}):`)
  const ok = [
    report("create + first exec", createSame, createAdapter, true),
    report("warm exec", execSession, execAdapter, true),
    report("create (shortest path)", createShort, createAdapter, false),
    report("exec (executeCommand)", execExecute, execAdapter, false)
  ].every(Boolean)
  if (!ok) process.exitCode = 1
} finally {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await daytona[Symbol.asyncDispose]()
  await emulator.close()
}
