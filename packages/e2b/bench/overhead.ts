// The adapter's overhead over the raw SDK, against one emulator in one run (not a test):
//   node --conditions=@sandkit/source packages/e2b/bench/overhead.ts [createRounds=30] [execRounds=300]
//   (or: pnpm --filter @sandkit/e2b bench)
// Measures, interleaving adapter and raw SDK round by round so drift hits both alike:
//   create + first exec: Sandbox.create + commands.run("true")   vs  provider.createDetached() + sandbox.exec("true")
//   warm exec:           commands.run("true")                     vs  sandbox.exec("true")
// and reports the p50s and whether the p50 overhead is within max(0.5 ms, 10 % of the raw p50). The adapter's create
// is measured twice: as configured by default (it asks the new sandbox for its home: one extra envd call), and with
// the workdir known in advance (`workdir` option; on real E2B `workdir: "/home/user"`, here `emulator.homeOf`).
import { Sandbox } from "@e2b/code-interpreter"
import { makeProvider, type Sandbox as CoreSandbox } from "@sandkit/core"
import { E2bEmulator } from "@sandkit/emulators/e2b"
import { pair, reportOverhead, rotate, roundsFromArgv, runtimeName, timed } from "@sandkit/emulators/overhead"
import { Effect, Redacted } from "effect"
import { E2bProvider } from "../src/index.ts"

const { create: createRounds, exec: execRounds } = roundsFromArgv({ create: 60, exec: 300 })


const emulator = await E2bEmulator.start()
try {
  const raw = { ...emulator.sdkOptions, retries: 0 }
  const options = {
    apiKey: Redacted.make(emulator.sdkOptions.apiKey),
    apiUrl: emulator.apiUrl,
    sandboxUrl: emulator.sandboxUrl
  }
  const provider = makeProvider(await Effect.runPromise(E2bProvider.make(options)))
  const knowing = makeProvider(await Effect.runPromise(E2bProvider.make({ ...options, workdir: emulator.homeOf })))
  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

  // Warm up both paths (JIT, connection pools, the local engine's first sandbox).
  for (let i = 0; i < 3; i++) {
    const s = await Sandbox.create(raw)
    await s.commands.run("true")
    await s.kill()
    for (const p of [provider, knowing]) {
      const a = await run(p.createDetached())
      await run(a.exec("true"))
      await run(a.destroy)
    }
  }

  const createRaw: Array<number> = []
  const createAdapter: Array<number> = []
  const createKnowing: Array<number> = []
  const adapterRound = async (p: typeof provider, into: Array<number>) => {
    let sandbox: CoreSandbox | undefined
    into.push(await timed(async () => {
      sandbox = await run(p.createDetached())
      await run(sandbox.exec("true"))
    }))
    await run(sandbox!.destroy)
  }
  const rawRound = async () => {
    let sdkSandbox: Sandbox | undefined
    createRaw.push(await timed(async () => {
      sdkSandbox = await Sandbox.create(raw)
      await sdkSandbox.commands.run("true")
    }))
    await sdkSandbox!.kill()
  }
  await rotate(createRounds, [rawRound, () => adapterRound(provider, createAdapter), () => adapterRound(knowing, createKnowing)])

  const sdkSandbox = await Sandbox.create(raw)
  const adapterSandbox = await run(provider.createDetached())
  const [execRaw, execAdapter] = await pair(() => sdkSandbox.commands.run("true"), () => run(adapterSandbox.exec("true")), execRounds)
  await sdkSandbox.kill()
  await run(adapterSandbox.destroy)

  reportOverhead(`E2B adapter overhead against the emulator (${runtimeName()}):`, [
    { name: "create + first exec", raw: createRaw, adapter: createAdapter },
    { name: "  (workdir known)", raw: createRaw, adapter: createKnowing },
    { name: "warm exec", raw: execRaw, adapter: execAdapter }
  ])
} finally {
  await emulator.close()
}
