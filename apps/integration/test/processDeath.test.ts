/**
 * Process death (issue #10, part 2). A child program (`fixtures/deathChild.ts`, run by `NodeRuntime.runMain`) creates
 * one scoped sandbox on a provider and runs `sleep 30` in it; the test signals it at a marker:
 *
 * - SIGINT or SIGTERM mid-create (cloud emulators hold the create request, so the signal lands while it is in
 *   flight) and mid-exec (while the command's process is running): the child exits with 130 without finishing the
 *   command, and what it created is destroyed — the emulator's registry is empty (for local: `list()` is, and its
 *   root holds no sandbox), and no process of the command is left.
 * - SIGKILL mid-exec: nothing can run, so the sandbox survives; `reap` by the child's label (local: also
 *   `orphaned`) from this process removes it.
 *
 * The emulators run in this process, so they outlive the child; the local provider's state is on disk under a root
 * both processes use.
 */
import { describe, expect, it } from "@effect/vitest"
import { SandboxProvider, type SandboxProviderShape } from "@sandkit/core"
import { LocalProvider } from "@sandkit/local"
import { Context, Effect, Layer } from "effect"
import { chmod, mkdtemp, readdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CLOUDS, type Cloud, providerLayer, type RunningEmulator, startEmulator } from "../src/emulatedClouds.ts"
import { killIfRunning, processesMentioning, spawnDeathChild, waitFor, waitForMarker } from "./deathHarness.ts"

type Target = Cloud | "local"
type Phase = "create" | "exec"

/** How long a cloud emulator holds a create before answering: long enough for the signal to land mid-create. */
const CREATE_LATENCY_MS = 1_500

const uniqueLabel = () => `death${Math.random().toString(36).slice(2, 12)}`

const providerOf = (layer: Layer.Layer<SandboxProvider, unknown>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, SandboxProvider))

/** A local root both processes use; 0755 so the per-sandbox uids (when run as root) can reach the workspaces. */
const sharedLocalRoot = Effect.acquireRelease(
  Effect.promise(async () => {
    const root = await mkdtemp(join(tmpdir(), "sandkit-death-"))
    await chmod(root, 0o755)
    return root
  }),
  (root) => Effect.promise(() => rm(root, { recursive: true, force: true }).catch(() => undefined))
)

/** Where the child's sandbox lives, seen from this process. */
interface World {
  readonly env: Record<string, string>
  /** The parent's own provider over the same backend (for `list` and `reap`). */
  readonly provider: SandboxProviderShape
  readonly emulator: RunningEmulator | undefined
  /** Sandboxes the backend holds now. */
  readonly held: Effect.Effect<number, unknown>
}

/** Whatever a failed case left (the checks stop at the first failure) is reaped before the backend goes away. */
const reapOnClose = (provider: SandboxProviderShape, label: string) =>
  Effect.addFinalizer(() => Effect.ignore(provider.reap({ labels: { soak: label } })))

const makeWorld = (target: Target, label: string) =>
  Effect.gen(function*() {
    if (target === "local") {
      const root = yield* sharedLocalRoot
      const provider = yield* providerOf(LocalProvider.layer({ root }))
      yield* reapOnClose(provider, label)
      const held = Effect.promise(() => readdir(root)).pipe(Effect.map((names) => names.filter((n) => n.startsWith("local-")).length))
      return { env: { DEATH_PROVIDER: target, DEATH_LABEL: label, SANDKIT_LOCAL_ROOT: root }, provider, emulator: undefined, held } satisfies World
    }
    const emulator = yield* startEmulator(target)
    const provider = yield* providerOf(providerLayer(target, emulator.connection))
    yield* reapOnClose(provider, label)
    return {
      env: { DEATH_PROVIDER: target, DEATH_LABEL: label, DEATH_CONNECTION: JSON.stringify(emulator.connection) },
      provider,
      emulator,
      held: Effect.sync(() => emulator.registry.size)
    } satisfies World
  })

/** Signal the child at `phase`: mid-create waits for the create request to be in flight at the emulator. */
const signalAt = (target: Target, phase: Phase, signal: NodeJS.Signals) =>
  Effect.gen(function*() {
    const label = uniqueLabel()
    const world = yield* makeWorld(target, label)
    if (phase === "create") world.emulator?.faults.latency(world.emulator.createRoute, CREATE_LATENCY_MS)
    const child = spawnDeathChild(world.env)
    yield* Effect.addFinalizer(() => killIfRunning(child))
    if (phase === "create") {
      yield* waitForMarker(child, "creating")
      const emulator = world.emulator
      if (emulator !== undefined) {
        yield* waitFor("the create request in flight", () => emulator.log.entries(emulator.createRoute).some((e) => e.status === 0))
      }
    } else {
      yield* waitForMarker(child, "exec-started")
      yield* waitFor("the command running", () => processesMentioning(label).length > 0)
    }
    child.process.kill(signal)
    const exit = yield* Effect.promise(() => child.exited)
    return { label, world, child, exit }
  })

const expectNothingLeft = (world: World, label: string) =>
  Effect.gen(function*() {
    expect(yield* world.provider.list({ labels: { soak: label } })).toEqual([])
    expect(yield* world.held).toBe(0)
    // Destroying stops the command's processes; the kill may take a moment to be reaped.
    yield* waitFor("no process of the command", () => processesMentioning(label).length === 0).pipe(
      Effect.catchDefect(() => Effect.sync(() => expect(processesMentioning(label)).toEqual([])))
    )
  })

const targets: ReadonlyArray<Target> = ["local", ...CLOUDS]

describe.concurrent("process death", () => {
  for (const target of targets) {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      for (const phase of ["create", "exec"] as const) {
        it.live(`${target}: ${signal} mid-${phase} → the scope closes, the sandbox is destroyed`, () =>
          Effect.gen(function*() {
            const { label, world, child, exit } = yield* signalAt(target, phase, signal)
            const output = `stdout:\n${child.stdout()}\nstderr:\n${child.stderr()}`
            // runMain interrupts the main fiber on either signal and exits with 130 once the finalizers have run.
            expect(exit, output).toEqual({ code: 130, signal: null })
            expect(child.stdout(), "the command was interrupted, not waited for").not.toContain("exec-finished")
            const emulator = world.emulator
            if (emulator !== undefined) {
              // The create did reach the server and make a sandbox (also mid-create), and the child destroyed it.
              expect(emulator.registry.removals.map((r) => r.reason), output).toEqual(["destroyed"])
            }
            yield* expectNothingLeft(world, label)
          }).pipe(Effect.scoped), 90_000)
      }
    }

    it.live(`${target}: SIGKILL mid-exec → the sandbox survives, reap by label removes it`, () =>
      Effect.gen(function*() {
        const { label, world, exit } = yield* signalAt(target, "exec", "SIGKILL")
        expect(exit).toEqual({ code: null, signal: "SIGKILL" })
        const survivors = yield* world.provider.list({ labels: { soak: label } })
        expect(survivors.length).toBe(1)
        if (target === "local") expect(survivors[0]!.orphaned, "its creating process is gone").toBe(true)
        const report = yield* world.provider.reap({ labels: { soak: label }, ...(target === "local" ? { orphaned: true } : {}) })
        expect(report.failed).toEqual([])
        expect(report.destroyed).toEqual([survivors[0]!.id])
        yield* expectNothingLeft(world, label)
      }).pipe(Effect.scoped), 90_000)
  }
})
