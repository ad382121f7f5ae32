/**
 * `sandkit reap`: destroy the Sandkit-created sandboxes that match, after showing them (and asking, on a terminal).
 *
 * The candidates come from the core's `reap({ dryRun: true })`, which only ever picks sandboxes carrying the
 * `sandkit.owner` label; exactly those are then destroyed, so nothing that appeared or changed after the list was
 * shown is touched.
 */
import type { SandboxInfo, SandboxProviderShape } from "@sandkit/core"
import { Clock, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { handler } from "../cli.ts"
import { Aborted, type CliFailure, ExitCodes } from "../errors.ts"
import { formatAge, formatLabels, plural, table } from "../format.ts"
import { confirm, stderr, stderrIsTTY, stdinIsTTY, stdout } from "../io.ts"
import { selectTargets } from "../providers.ts"
import { countBy, durationFlag, labelFilterFlag, openTargets, providerFlag, skippedNote } from "./common.ts"

interface Candidate {
  readonly label: string
  readonly provider: SandboxProviderShape
  readonly id: string
  readonly info: SandboxInfo | undefined
}

export const reap = Command.make(
  "reap",
  {
    provider: providerFlag,
    olderThan: durationFlag("older-than", "Only sandboxes created longer ago than this, e.g. 2h, 30m, 1d"),
    label: labelFilterFlag,
    orphaned: Flag.Boolean("orphaned").pipe(
      Flag.withDescription("Only sandboxes whose creating process is gone (providers that can tell, like local)"),
      Flag.withDefault(false)
    ),
    dryRun: Flag.Boolean("dry-run").pipe(Flag.withDescription("Show what would be destroyed; destroy nothing"), Flag.withDefault(false)),
    yes: Flag.Boolean("yes").pipe(Flag.withAlias("y"), Flag.withDescription("Do not ask for confirmation on a terminal"), Flag.withDefault(false))
  },
  handler("reap", (flags, context) =>
    Effect.gen(function*() {
      const { explicit, targets } = yield* selectTargets(flags.provider, { emulate: context.emulate, command: context.command })
      const labels = Option.getOrUndefined(flags.label)
      const opened = yield* openTargets(targets, explicit, context)
      const failures: Array<CliFailure> = []
      for (const o of opened) if (o._tag === "Failed") failures.push(o.failure)

      // 1. What would go: the core decides (Sandkit-owned, older than, labels, orphaned).
      const planned = yield* Effect.forEach(opened, (o) => {
        if (o._tag !== "Ready") return Effect.succeed([] as ReadonlyArray<Candidate>)
        return Effect.gen(function*() {
          const report = yield* o.provider.reap({
            ...(labels === undefined ? {} : { labels }),
            ...(Option.isSome(flags.olderThan) ? { olderThan: flags.olderThan.value } : {}),
            ...(flags.orphaned ? { orphaned: true } : {}),
            dryRun: true
          })
          if (report.destroyed.length === 0) return [] as ReadonlyArray<Candidate>
          const infos = yield* o.provider.list(labels === undefined ? {} : { labels }).pipe(Effect.orElseSucceed(() => []))
          return report.destroyed.map((id): Candidate => ({
            label: o.label,
            provider: o.provider,
            id,
            info: infos.find((info) => info.id === id)
          }))
        }).pipe(Effect.catch((failure) => Effect.sync(() => {
          failures.push(failure)
          return [] as ReadonlyArray<Candidate>
        })))
      }, { concurrency: "unbounded" })
      const candidates = planned.flat()
      const note = skippedNote("not searched", opened)
      if (note !== undefined) yield* stderr(note)

      if (candidates.length === 0) {
        yield* stdout("Nothing to reap.\n")
      } else {
        const now = yield* Clock.currentTimeMillis
        yield* stdout(table(
          ["PROVIDER", "ID", "AGE", "LABELS"],
          candidates.map((c) => [
            c.label,
            c.id,
            c.info === undefined ? "?" : formatAge(now - c.info.createdAt.getTime()),
            c.info === undefined ? "?" : formatLabels(c.info.labels)
          ])
        ))
      }

      // 2. Dry run, confirmation.
      if (candidates.length > 0 && flags.dryRun) {
        yield* stdout(`Dry run: would destroy ${plural(candidates.length, "sandbox")} (${countBy(candidates)}).\n`)
      }
      if (candidates.length > 0 && !flags.dryRun && !flags.yes && stdinIsTTY() && stderrIsTTY()) {
        const ok = yield* confirm(`Destroy ${plural(candidates.length, "sandbox")}? [y/N] `)
        if (!ok) return yield* new Aborted({ message: "nothing was destroyed" })
      }

      // 3. Destroy exactly those.
      if (candidates.length > 0 && !flags.dryRun) {
        const outcomes = yield* Effect.forEach(
          candidates,
          (c) => c.provider.destroy(c.id).pipe(Effect.as(c), Effect.result),
          { concurrency: 8 }
        )
        const destroyed = outcomes.flatMap((r) => (r._tag === "Success" ? [r.success] : []))
        for (const r of outcomes) if (r._tag === "Failure") failures.push(r.failure)
        yield* stdout(
          `Destroyed ${plural(destroyed.length, "sandbox")}${destroyed.length > 0 ? ` (${countBy(destroyed)})` : ""}` +
            `${failures.length > 0 ? `; ${failures.length} failed` : ""}.\n`
        )
      }
      for (const failure of failures) yield* context.report(failure)
      return failures.length > 0 ? ExitCodes.failure : ExitCodes.ok
    }))
).pipe(
  Command.withShortDescription("Destroy leftover Sandkit sandboxes (filters, --dry-run, confirmation, summary)"),
  Command.withDescription(
    "Destroy the sandboxes Sandkit created (labelled sandkit.owner) that match the filters, on every provider set up " +
      "here or the ones named. Shows them first; asks on a terminal unless --yes; prints a summary. Exit 1 if any " +
      "could not be destroyed or a provider could not be searched."
  ),
  Command.withExamples([
    { command: "sandkit reap --older-than 2h --dry-run", description: "What a crashed run left behind more than 2 hours ago" },
    { command: "sandkit reap --provider local --orphaned --yes", description: "Local sandboxes whose creator is gone, no questions" },
    { command: "sandkit reap --label sandkit.run=r1a2b3c4d5e6f", description: "Everything one run created" }
  ])
)
