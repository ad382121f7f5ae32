/**
 * Lifetimes: connect, list, destroy, scoped create (success, failure, interruption), detached + reap, findOrCreate.
 */
import { Data, Deferred, Effect, Exit, Fiber } from "effect"
import { assertEqual, assertTrue, expectFailure, fail } from "../Assert.ts"
import { CONFORMANCE_LABEL, makeCheck, type ConformanceCheck } from "../Check.ts"
import { assertGone, ok, within } from "../internal/helpers.ts"

const connect = makeCheck("connect: reaches the same sandbox", (ctx) =>
  Effect.gen(function*() {
    const first = yield* ctx.sandbox()
    const token = ctx.unique("token")
    yield* ok(first, `echo ${token} > connect.txt`)
    const second = yield* ctx.provider.connect(first.id)
    yield* assertEqual(second.id, first.id, "connect(id).id")
    yield* assertEqual(second.provider, ctx.provider.name, "connect(id).provider")
    yield* assertEqual(second.info.labels[CONFORMANCE_LABEL], ctx.labels[CONFORMANCE_LABEL], "connect(id).info.labels")
    yield* assertEqual(second.info.workdir, first.info.workdir, "connect(id).info.workdir")
    const read = yield* ok(second, "cat connect.txt")
    yield* assertEqual(read.stdout, `${token}\n`, "a file written through one handle, read through the other")
    yield* ok(second, "echo back > back.txt")
    yield* assertEqual((yield* ok(first, "cat back.txt")).stdout, "back\n", "and the other way round")
  }))

const list = makeCheck("list: finds a sandbox by its labels", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const found = yield* ctx.provider.list({ labels: ctx.labels })
    yield* assertEqual(found.length, 1, `list({ labels }) finds exactly this check's sandbox (found ${found.map((i) => i.id).join(", ") || "none"})`)
    const info = found[0]!
    yield* assertEqual(info.id, sandbox.id, "listed id")
    yield* assertEqual(info.provider, ctx.provider.name, "listed provider")
    yield* assertEqual(info.state, "running", "listed state")
    yield* assertEqual(info.labels[CONFORMANCE_LABEL], ctx.labels[CONFORMANCE_LABEL], "listed labels")
    const running = yield* ctx.provider.list({ labels: ctx.labels, state: "running" })
    yield* assertTrue(running.some((i) => i.id === sandbox.id), "list({ labels, state: running }) finds it")
    const paused = yield* ctx.provider.list({ labels: ctx.labels, state: "paused" })
    yield* assertEqual(paused.length, 0, "list({ labels, state: paused }) finds nothing")
    const other = yield* ctx.provider.list({ labels: ctx.moreLabels() })
    yield* assertEqual(other.length, 0, "list with another label value finds nothing")
    const superset = yield* ctx.provider.list({ labels: { ...ctx.labels, "conformance-extra": "x" } })
    yield* assertEqual(superset.length, 0, "list requires every given label to match")
    const all = yield* ctx.provider.list()
    yield* assertTrue(all.some((i) => i.id === sandbox.id), "list() without a filter includes it")
  }))

const destroyTwice = makeCheck("destroy: twice is fine", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    yield* sandbox.destroy
    yield* sandbox.destroy
    yield* ctx.provider.destroy(sandbox.id)
    yield* assertGone(ctx, sandbox.id, "after destroy")
  }))

const connectAfterDestroy = makeCheck("connect: after destroy fails with SandboxNotFound", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    yield* ctx.provider.destroy(sandbox.id)
    const error = yield* expectFailure(ctx.provider.connect(sandbox.id), "SandboxNotFound", "connect after destroy")
    yield* assertEqual(error.provider, ctx.provider.name, "SandboxNotFound.provider")
    yield* expectFailure(ctx.provider.connect(ctx.unique("never-existed")), "SandboxNotFound", "connect to an id that never existed")
    yield* expectFailure(sandbox.exec("echo hi"), "SandboxNotFound", "exec through a handle whose sandbox was destroyed")
  }))

class Boom extends Data.TaggedError("ConformanceBoom")<{}> {}

const scopeSuccess = makeCheck("scope: closing after success destroys the sandbox", (ctx) =>
  Effect.gen(function*() {
    const id = yield* Effect.scoped(Effect.gen(function*() {
      const sandbox = yield* ctx.sandbox()
      yield* ok(sandbox, "true")
      return sandbox.id
    }))
    yield* assertGone(ctx, id, "after the scope closed")
  }))

const scopeFailure = makeCheck("scope: closing after failure destroys the sandbox", (ctx) =>
  Effect.gen(function*() {
    let id: string | undefined
    const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
      const sandbox = yield* ctx.sandbox()
      id = sandbox.id
      return yield* new Boom()
    })))
    yield* assertTrue(Exit.isFailure(exit), "the scoped effect failed")
    if (id === undefined) return yield* fail("the sandbox was not created")
    yield* assertGone(ctx, id, "after the scope failed")
  }))

const scopeInterruption = makeCheck("scope: interruption destroys the sandbox", (ctx) =>
  Effect.gen(function*() {
    const created = yield* Deferred.make<string>()
    const fiber = yield* Effect.forkChild(Effect.scoped(Effect.gen(function*() {
      const sandbox = yield* ctx.sandbox()
      yield* Deferred.succeed(created, sandbox.id)
      yield* Effect.sleep("5 minutes")
    })))
    const id = yield* within(120_000, "scoped create in a forked fiber")(Deferred.await(created))
    yield* within(60_000, "interrupting the fiber")(Fiber.interrupt(fiber))
    yield* assertGone(ctx, id, "after the fiber was interrupted")
    // Interrupted while create is still in flight: the sandbox, once made, must still be destroyed.
    const early = yield* Effect.forkChild(Effect.scoped(Effect.andThen(ctx.sandbox(), Effect.never)))
    yield* Effect.sleep(1)
    yield* within(120_000, "interrupting a fiber during create")(Fiber.interrupt(early))
    const left = yield* ctx.provider.list({ labels: ctx.labels })
    yield* assertEqual(left.length, 0, `sandboxes left after interrupting during create: ${left.map((i) => i.id).join(", ")}`)
  }))

const detached = makeCheck("createDetached: survives its scope; reap destroys it", (ctx) =>
  Effect.gen(function*() {
    const id = yield* Effect.scoped(Effect.gen(function*() {
      const sandbox = yield* ctx.provider.createDetached(ctx.spec())
      yield* ok(sandbox, "echo kept > kept.txt")
      return sandbox.id
    }))
    const listed = yield* ctx.provider.list({ labels: ctx.labels })
    yield* assertTrue(listed.some((i) => i.id === id), "the detached sandbox is listed after its scope closed")
    const again = yield* ctx.provider.connect(id)
    yield* assertEqual((yield* ok(again, "cat kept.txt")).stdout, "kept\n", "the detached sandbox still works")
    const dry = yield* ctx.provider.reap({ labels: ctx.labels, dryRun: true })
    yield* assertEqual(dry.dryRun, true, "reap({ dryRun: true }).dryRun")
    yield* assertTrue(dry.destroyed.includes(id), `reap({ dryRun: true }) reports ${id} (got ${dry.destroyed.join(", ") || "nothing"})`)
    const stillThere = yield* ctx.provider.list({ labels: ctx.labels })
    yield* assertTrue(stillThere.some((i) => i.id === id), "a dry-run reap destroys nothing")
    const report = yield* ctx.provider.reap({ labels: ctx.labels })
    yield* assertEqual(report.dryRun, false, "reap().dryRun")
    yield* assertTrue(report.destroyed.includes(id), `reap() reports ${id} destroyed (got ${report.destroyed.join(", ") || "nothing"})`)
    yield* assertEqual(report.failed.length, 0, "reap() failures")
    yield* assertGone(ctx, id, "after reap")
  }))

const findOrCreate = makeCheck("findOrCreate: attaches by name or labels; destroys only what it created", (ctx) =>
  Effect.gen(function*() {
    const name = ctx.unique("conformance")
    const id = yield* Effect.scoped(Effect.gen(function*() {
      const owner = yield* ctx.provider.findOrCreate({ name, spec: ctx.spec() })
      yield* assertEqual(owner.info.name, name, "info.name of the created sandbox")
      yield* ok(owner, "echo shared > shared.txt")
      const byName = yield* Effect.scoped(Effect.gen(function*() {
        const attached = yield* ctx.provider.findOrCreate({ name, spec: ctx.spec() })
        yield* assertEqual(attached.id, owner.id, "findOrCreate({ name }) attaches to the existing sandbox")
        yield* assertEqual((yield* ok(attached, "cat shared.txt")).stdout, "shared\n", "the attached handle sees the same files")
        return attached.id
      }))
      const afterName = yield* ctx.provider.list({ labels: ctx.labels })
      yield* assertTrue(afterName.some((i) => i.id === byName), "an attached sandbox is left running when the attaching scope closes")
      yield* Effect.scoped(Effect.gen(function*() {
        const attached = yield* ctx.provider.findOrCreate({ labels: ctx.labels, spec: ctx.spec() })
        yield* assertEqual(attached.id, owner.id, "findOrCreate({ labels }) attaches to the existing sandbox")
      }))
      const afterLabels = yield* ctx.provider.list({ labels: ctx.labels })
      yield* assertEqual(afterLabels.length, 1, "still exactly one sandbox after attaching by labels")
      yield* ok(owner, "true")
      return owner.id
    }))
    yield* assertGone(ctx, id, "a sandbox findOrCreate created, after its scope closed")
  }))

export const lifecycleChecks: ReadonlyArray<ConformanceCheck> = [
  connect,
  list,
  destroyTwice,
  connectAfterDestroy,
  scopeSuccess,
  scopeFailure,
  scopeInterruption,
  detached,
  findOrCreate
]
