/**
 * The CLI against the clouds, offline:
 *
 * - `--emulate` (and `SANDKIT_EMULATE=1`): `exec`, `shell` and `ls` with each cloud's emulator started inside the CLI
 *   process, through the cloud's real adapter and official SDK;
 * - the live path: an emulator started here, in the test process, and the CLI pointed at it through the cloud's
 *   ordinary environment variables (`E2B_API_URL`, `DAYTONA_API_URL`, `MODAL_SERVER_URL`, `RUNLOOP_BASE_URL`), so
 *   `ls` and `reap` see sandboxes another process created, and a rejected key never shows up in the output.
 *
 * A cloud whose adapter or emulator is not installed is skipped with the reason.
 */
import { SandboxProvider } from "@sandkit/core"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer } from "effect"
import { emulatorLeftovers, listLocal, makeTestDirs, run, type Sandbox } from "./harness.ts"

type Cloud = "e2b" | "daytona" | "modal" | "runloop"

interface RunningEmulator {
  /** The variables that point the adapter's `layerConfig` at this emulator. */
  readonly env: Record<string, string>
  readonly close: () => Promise<void>
}

const exportNames: Record<Cloud, { readonly adapter: string; readonly emulator: string }> = {
  e2b: { adapter: "E2bProvider", emulator: "E2bEmulator" },
  daytona: { adapter: "DaytonaProvider", emulator: "DaytonaEmulator" },
  modal: { adapter: "ModalProvider", emulator: "ModalEmulator" },
  runloop: { adapter: "RunloopProvider", emulator: "RunloopEmulator" }
}

/** Each emulator's credentials and URL, as the cloud's usual variables. */
const liveEnv: Record<Cloud, (emulator: any, apiKey?: string) => Record<string, string>> = {
  e2b: (e, key) => ({ E2B_API_KEY: key ?? e.sdkOptions.apiKey, E2B_API_URL: e.apiUrl, E2B_SANDBOX_URL: e.sandboxUrl }),
  daytona: (e, key) => ({ DAYTONA_API_KEY: key ?? e.sdkOptions.apiKey, DAYTONA_API_URL: e.apiUrl, DAYTONA_TARGET: e.sdkOptions.target }),
  modal: (e, key) => ({
    MODAL_TOKEN_ID: e.credentials.tokenId,
    MODAL_TOKEN_SECRET: key ?? e.credentials.tokenSecret,
    MODAL_SERVER_URL: e.serverUrl
  }),
  runloop: (e, key) => ({ RUNLOOP_API_KEY: key ?? e.sdkOptions.bearerToken, RUNLOOP_BASE_URL: e.url })
}

const clouds = Object.keys(exportNames) as ReadonlyArray<Cloud>

/** Whether the adapter and its emulator load here (the reason when not). */
const availability = new Map<Cloud, true | string>()
for (const cloud of clouds) {
  try {
    const [adapter, emulators] = await Promise.all([import(`@sandkit/${cloud}`), import(`@sandkit/emulators/${cloud}`)])
    const ok = typeof adapter[exportNames[cloud].adapter]?.layerConfig === "function" &&
      typeof emulators[exportNames[cloud].emulator]?.start === "function"
    availability.set(cloud, ok ? true : "adapter or emulator incomplete")
  } catch (error) {
    availability.set(cloud, `not installed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`)
  }
}
const unavailable = (cloud: Cloud) => availability.get(cloud) !== true

const startEmulator = async (cloud: Cloud, options: { readonly apiKey?: string } = {}): Promise<RunningEmulator & { readonly emulator: any }> => {
  const emulators = await import(`@sandkit/emulators/${cloud}`)
  const factory = emulators[exportNames[cloud].emulator]
  const emulator = await factory.start(options.apiKey === undefined ? {} : cloud === "modal" ? {} : { apiKey: options.apiKey })
  return { emulator, env: liveEnv[cloud](emulator), close: () => emulator.close() }
}

/** Create a sandbox that outlives this call, through the adapter's `layerConfig` reading `env`. */
const createDetached = async (cloud: Cloud, env: Record<string, string>, labels: Record<string, string>) => {
  const adapter = (await import(`@sandkit/${cloud}`))[exportNames[cloud].adapter]
  const layer = (adapter.layerConfig() as Layer.Layer<SandboxProvider, unknown>).pipe(
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
  )
  return Effect.runPromise(
    Effect.scoped(
      Effect.gen(function*() {
        const provider = Context.get(yield* Layer.build(layer), SandboxProvider)
        const sandbox = yield* provider.createDetached({ labels })
        return sandbox.id
      })
    )
  )
}

/** A test's own directories; afterwards nothing may be left in the local root or the emulators' temporary roots. */
const withDirs = async (use: (dirs: Sandbox) => Promise<void>) => {
  const dirs = makeTestDirs()
  try {
    await use(dirs)
    expect(await listLocal(dirs.root)).toEqual([])
    expect(emulatorLeftovers(dirs.tmp)).toEqual([])
  } finally {
    dirs.cleanup()
  }
}

for (const cloud of clouds) {
  const reason = availability.get(cloud)
  describe.concurrent(`${cloud}${reason === true ? "" : ` (skipped: ${reason})`}`, () => {
    it.skipIf(unavailable(cloud))("exec --emulate: output streamed, exit code propagated", { timeout: 90_000 }, () =>
      withDirs(async (dirs) => {
        const result = await run(["exec", cloud, "--emulate", "--env", "WHO=emulator", "--", "echo hello $WHO; echo to-stderr >&2; exit 3"], {
          env: dirs.env
        })
        expect(result.stderr).toContain("to-stderr")
        expect(result).toMatchObject({ code: 3, stdout: "hello emulator\n" })
        // SANDKIT_EMULATE=1 is the same as --emulate.
        const viaEnv = await run(["exec", cloud, "--", "exit 5"], { env: { ...dirs.env, SANDKIT_EMULATE: "1" } })
        expect(viaEnv.code).toBe(5)
      }))

    it.skipIf(unavailable(cloud))("shell --emulate with piped stdin", { timeout: 90_000 }, () =>
      withDirs(async (dirs) => {
        const result = await run(["shell", cloud, "--emulate"], { env: dirs.env, input: "echo hi; exit 4\n" })
        expect(result).toMatchObject({ code: 4, stdout: "hi\n" })
      }))

    it.skipIf(unavailable(cloud))("ls --emulate: the emulator's (empty) list", { timeout: 90_000 }, () =>
      withDirs(async (dirs) => {
        const json = await run(["ls", "--emulate", "--provider", cloud, "--json"], { env: dirs.env })
        expect(json).toMatchObject({ code: 0, stdout: "[]\n", stderr: "" })
      }))

    it.skipIf(unavailable(cloud))(
      "live path against an emulator in another process: ls sees a leftover, reap destroys it",
      { timeout: 120_000 },
      () =>
        withDirs(async (dirs) => {
          const emulator = await startEmulator(cloud)
          try {
            const env = { ...dirs.env, ...emulator.env }
            const id = await createDetached(cloud, emulator.env, { task: "leftover" })
            const listed = await run(["ls", "--provider", cloud, "--json", "--label", "task=leftover"], { env })
            expect(listed.code, listed.stderr).toBe(0)
            const rows = JSON.parse(listed.stdout) as ReadonlyArray<{ id: string; provider: string; emulated: boolean; sandkit: boolean }>
            expect(rows.map((r) => [r.id, r.provider, r.emulated, r.sandkit])).toEqual([[id, cloud, false, true]])

            const dry = await run(["reap", "--provider", cloud, "--dry-run"], { env })
            expect(dry.stdout).toContain(id)
            expect(dry.stdout).toContain(`Dry run: would destroy 1 sandbox (${cloud}: 1).`)

            const reaped = await run(["reap", "--provider", cloud, "--label", "task=leftover", "--yes"], { env })
            expect(reaped.code, reaped.stderr).toBe(0)
            expect(reaped.stdout).toContain(`Destroyed 1 sandbox (${cloud}: 1).`)
            const after = await run(["ls", "--provider", cloud, "--json", "--label", "task=leftover"], { env })
            expect(JSON.parse(after.stdout)).toEqual([])
          } finally {
            await emulator.close()
          }
        })
    )
  })
}

describe("every emulated cloud", () => {
  it("ls --emulate goes through every emulator that is installed, and says which are not", { timeout: 120_000 }, () =>
    withDirs(async (dirs) => {
      const all = await run(["ls", "--emulate"], { env: dirs.env })
      expect(all.code, all.stderr).toBe(0)
      expect(all.stdout).toBe("No sandboxes.\n")
      for (const cloud of clouds) {
        if (unavailable(cloud)) expect(all.stderr).toContain(`${cloud} (emulated): `)
        else expect(all.stderr).not.toContain(`${cloud} (emulated)`)
      }
    }))
})

describe("doctor --check", () => {
  it("proves each installed emulator answers (no credentials here, so the emulated twin is checked)", { timeout: 120_000 }, () =>
    withDirs(async (dirs) => {
      const result = await run(["doctor", "--check", "--json"], { env: dirs.env })
      expect(result.code, result.stderr).toBe(0)
      const report = JSON.parse(result.stdout) as {
        clouds: ReadonlyArray<{ provider: Cloud; check?: { mode: string; ok: boolean; detail: string } }>
      }
      for (const cloud of report.clouds) {
        if (unavailable(cloud.provider)) continue
        expect(cloud.check, cloud.provider).toEqual({ mode: "emulated", ok: true, detail: "listed 0 sandboxes" })
      }
    }))
})

describe("credentials", () => {
  it.skipIf(unavailable("e2b"))("a rejected key: AuthenticationFailed with the variable to check, the value never printed", { timeout: 90_000 }, () =>
    withDirs(async (dirs) => {
      const emulator = await startEmulator("e2b", { apiKey: "e2b_the_right_key" })
      try {
        const secret = "e2b_wrong_key_that_must_not_leak"
        const env = { ...dirs.env, ...liveEnv.e2b(emulator.emulator, secret) }
        for (const args of [["ls", "--provider", "e2b"], ["exec", "e2b", "--verbose", "--", "true"]]) {
          const result = await run(args, { env })
          expect(result.code, args.join(" ")).toBe(1)
          expect(result.stderr).toMatch(/^AuthenticationFailed \(e2b\): .*\nhint: check E2B_API_KEY/)
          expect(result.stdout + result.stderr).not.toContain(secret)
        }
      } finally {
        await emulator.close()
      }
    }))
})
