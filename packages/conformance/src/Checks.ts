/**
 * The suite: every check, in the order the runners run them.
 */
import type { ConformanceCheck } from "./Check.ts"
import { capabilityChecks } from "./checks/capabilities.ts"
import { execChecks } from "./checks/exec.ts"
import { filesChecks } from "./checks/files.ts"
import { invalidChecks } from "./checks/invalid.ts"
import { lifecycleChecks } from "./checks/lifecycle.ts"
import { snapshotChecks } from "./checks/snapshot.ts"
import { spawnChecks } from "./checks/spawn.ts"
import { streamChecks } from "./checks/stream.ts"

export const conformanceChecks: ReadonlyArray<ConformanceCheck> = [
  ...execChecks,
  ...streamChecks,
  ...spawnChecks,
  ...filesChecks,
  ...lifecycleChecks,
  ...capabilityChecks,
  ...snapshotChecks,
  ...invalidChecks
]
