/**
 * Who created a sandbox, for finding leftovers later. Every sandbox carries `sandkit.owner` and `sandkit.run`.
 */
import { Context } from "effect"

export const OWNER_LABEL = "sandkit.owner"
export const RUN_LABEL = "sandkit.run"

export interface SandkitRun {
  /** Who (or what program) created the sandboxes. Default `"sandkit"`. */
  readonly owner: string
  /** One id per program run; `reap({ labels: { "sandkit.run": id } })` cleans up after a crashed run. */
  readonly runId: string
}

/** A fresh run id: `r` + 12 hex characters (fits every provider's label rules). */
export const makeRunId = (): string => "r" + globalThis.crypto.randomUUID().replaceAll("-", "").slice(0, 12)

/** The current run. Provide your own (`Effect.provideService(SandkitRun, …)`) to label a run yourself. */
export const SandkitRun = Context.Reference<SandkitRun>("@sandkit/core/SandkitRun", {
  defaultValue: () => defaultRun
})

const defaultRun: SandkitRun = { owner: "sandkit", runId: makeRunId() }

/** The labels Sandkit adds to a user's. */
export const runLabels = (run: SandkitRun): Record<string, string> => ({
  [OWNER_LABEL]: run.owner,
  [RUN_LABEL]: run.runId
})
