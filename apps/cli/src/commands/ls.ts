/**
 * `sandkit ls`: every sandbox Sandkit can see, on every provider set up here (or the ones named).
 */
import type { SandboxInfo } from "@sandkit/core"
import { Clock, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { handler } from "../cli.ts"
import { type CliFailure, ExitCodes } from "../errors.ts"
import { formatAge, formatLabels, sandboxJson, table } from "../format.ts"
import { stderr, stdout } from "../io.ts"
import { selectTargets } from "../providers.ts"
import { labelFilterFlag, type Opened, openTargets, providerFlag, skippedNote } from "./common.ts"

interface Listed {
  readonly opened: Opened
  readonly infos: ReadonlyArray<SandboxInfo>
  readonly failure: CliFailure | undefined
}

const orphanedCell = (info: SandboxInfo) => (info.orphaned === undefined ? "-" : info.orphaned ? "yes" : "no")

export const ls = Command.make(
  "ls",
  {
    provider: providerFlag,
    label: labelFilterFlag,
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print a JSON array (one object per sandbox) instead of a table"), Flag.withDefault(false))
  },
  handler("ls", ({ json, label, provider }, context) =>
    Effect.gen(function*() {
      const { explicit, targets } = yield* selectTargets(provider, { emulate: context.emulate, command: context.command })
      const labels = Option.getOrUndefined(label)
      const opened = yield* openTargets(targets, explicit, context)
      const listed = yield* Effect.forEach(opened, (o): Effect.Effect<Listed> =>
        o._tag !== "Ready"
          ? Effect.succeed({ opened: o, infos: [], failure: o._tag === "Failed" ? o.failure : undefined })
          : o.provider.list(labels === undefined ? {} : { labels }).pipe(
            Effect.map((infos): Listed => ({ opened: o, infos, failure: undefined })),
            Effect.catch((failure) => Effect.succeed<Listed>({ opened: o, infos: [], failure }))
          ), { concurrency: "unbounded" })
      const now = yield* Clock.currentTimeMillis
      const rows = listed.flatMap(({ infos, opened: o }) => infos.map((info) => ({ info, label: o.label, emulated: o.target.mode === "emulated" })))

      if (json) {
        yield* stdout(JSON.stringify(rows.map((r) => sandboxJson(r.info, now, r.emulated)), null, 2) + "\n")
      } else if (rows.length === 0) {
        yield* stdout("No sandboxes.\n")
      } else {
        yield* stdout(table(
          ["PROVIDER", "ID", "AGE", "STATE", "ORPHANED", "LABELS"],
          rows.map(({ info, label: l }) => [
            l,
            info.name === undefined ? info.id : `${info.id} (${info.name})`,
            formatAge(now - info.createdAt.getTime()),
            info.state,
            orphanedCell(info),
            formatLabels(info.labels)
          ])
        ))
      }
      const note = skippedNote("not listed", opened)
      if (note !== undefined) yield* stderr(note)
      const failures = listed.flatMap((l) => (l.failure === undefined ? [] : [l.failure]))
      for (const failure of failures) yield* context.report(failure)
      return failures.length > 0 ? ExitCodes.failure : ExitCodes.ok
    }))
).pipe(
  Command.withShortDescription("List the sandboxes on every provider (or --provider), with age, state and labels"),
  Command.withDescription(
    "List every sandbox Sandkit can see: provider, id, age, state, whether its creator is gone (orphaned), labels. " +
      "Without --provider: local and every cloud whose credentials are set (with --emulate: the emulated clouds)."
  ),
  Command.withExamples([
    { command: "sandkit ls", description: "Everything, as a table" },
    { command: "sandkit ls --provider local --label task=demo", description: "Local sandboxes labelled task=demo" },
    { command: "sandkit ls --json | jq -r '.[] | select(.orphaned) | .id'", description: "Ids of orphaned sandboxes" }
  ])
)
