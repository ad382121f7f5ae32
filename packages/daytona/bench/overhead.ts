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
import { pair, reportOverhead, rotate, roundsFromArgv, runtimeName, timed } from "@sandkit/emulators/overhead"
import { Effect, Exit, Redacted, Scope } from "effect"
import { DaytonaProvider } from "../src/index.ts"

const { create: createRounds, exec: execRounds } = roundsFromArgv({ create: 60, exec: 300 })


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
  await rotate(createRounds, [shortRound, sameRound, adapterRound])

  const sdkSandbox = await daytona.create()
  await sdkSandbox.process.createSession("bench")
  const adapterSandbox = await run(provider.createDetached())
  const script = wrapped((await sdkSandbox.getWorkDir())!)
  const rawSession = () => sdkSandbox.process.executeSessionCommand("bench", { command: script })
  const rawExecute = () => sdkSandbox.process.executeCommand("true")
  const adapterExec = () => run(adapterSandbox.exec("true"))
  const [execSession, execAdapter] = await pair(rawSession, adapterExec, execRounds)
  const [execExecute, execAdapterAgain] = await pair(rawExecute, adapterExec, execRounds)
  await sdkSandbox.delete()
  await run(adapterSandbox.destroy)

  reportOverhead(`Daytona adapter overhead against the emulator (${runtimeName()}):`, [
    { name: "create + first exec", raw: createSame, adapter: createAdapter },
    { name: "warm exec", raw: execSession, adapter: execAdapter },
    { name: "create (shortest path)", raw: createShort, adapter: createAdapter, gated: false },
    { name: "exec (executeCommand)", raw: execExecute, adapter: execAdapterAgain, gated: false }
  ])
} finally {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await daytona[Symbol.asyncDispose]()
  await emulator.close()
}
