/**
 * Snapshots: what was in the sandbox when the snapshot was taken is in a sandbox created from it; what came later is
 * not; the original keeps running; a deleted snapshot cannot be created from.
 */
import { Effect } from "effect"
import { assertEqual, assertTrue, expectUnsupported, show } from "../Assert.ts"
import { capabilityCheck, type ConformanceCheck } from "../Check.ts"
import { ok, within } from "../internal/helpers.ts"

const snapshot = capabilityCheck("snapshot: create from a snapshot has the files of that moment", "snapshot", (ctx) =>
  Effect.gen(function*() {
    const original = yield* ctx.sandbox()
    yield* ok(original, "mkdir -p data && echo before > data/before.txt")
    const ref = yield* within(300_000, "snapshot")(original.snapshot)
    yield* assertEqual(ref.provider, ctx.provider.name, "SnapshotRef.provider")
    yield* ok(original, "echo after > data/after.txt")
    const listed = yield* ctx.provider.listSnapshots()
    yield* assertTrue(listed.some((s) => s.id === ref.id), `listSnapshots() includes ${ref.id}: ${show(listed.map((s) => s.id))}`)

    const copy = yield* within(300_000, "create from snapshot")(ctx.sandbox({ from: ref }))
    yield* assertEqual((yield* ok(copy, "cat data/before.txt")).stdout, "before\n", "a file written before the snapshot")
    yield* assertEqual((yield* copy.files.exists("data/after.txt")), false, "a file written after the snapshot is absent")
    yield* assertEqual((yield* ok(original, "cat data/after.txt")).stdout, "after\n", "the original keeps running")

    yield* ctx.provider.deleteSnapshot(ref)
    yield* ctx.provider.deleteSnapshot(ref) // twice is fine
    const error = yield* Effect.flip(ctx.provider.createDetached({ ...ctx.spec(), from: ref }))
    yield* assertEqual(error._tag, "SandboxNotFound", `create({ from }) after deleteSnapshot: ${show(error)}`)
  }), (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    yield* expectUnsupported(sandbox.snapshot, "snapshot", "snapshot (not declared)")
    yield* expectUnsupported(ctx.provider.listSnapshots(), "snapshot", "listSnapshots (not declared)")
    yield* expectUnsupported(
      ctx.provider.createDetached({ ...ctx.spec(), from: { provider: ctx.provider.name, id: "snap-none" } }),
      "snapshot",
      "create({ from }) (not declared)"
    )
  }))

export const snapshotChecks: ReadonlyArray<ConformanceCheck> = [snapshot]
