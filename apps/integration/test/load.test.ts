/**
 * Load under a concurrency quota (issue #10, part 5): 100 scoped sandboxes started at once against each emulated
 * cloud, whose quota lets 20 live at a time and refuses the rest with 429 + `Retry-After: 1` (what the clouds answer
 * a concurrency limit with). Every create must eventually succeed by waiting on `RateLimited`, the quota must hold,
 * every refusal must have been retried within the policy's bound, and nothing may be left. No assertion on time: the
 * timings are `pnpm bench:load`'s job.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { CLOUDS } from "../src/emulatedClouds.ts"
import { defaultLoad, runLoad } from "../src/load/loadRun.ts"

describe("100 concurrent creates under a concurrency quota of 20", () => {
  for (const cloud of CLOUDS) {
    it.live(cloud, () =>
      Effect.gen(function*() {
        const result = yield* runLoad(cloud, defaultLoad)
        assert.deepStrictEqual(result.failures, [], "every create succeeded")
        assert.strictEqual(result.succeeded, 100)
        assert.isAtMost(result.peak!, 20, "the quota held: never more than 20 live sandboxes")
        assert.isAtLeast(result.peak!, 1)
        // Each sandbox's successful create, plus one request per refusal.
        assert.strictEqual(result.attempts, 100 + result.refused, "every create request either succeeded or was refused")
        assert.isAbove(result.refused, 0, "the quota was reached (otherwise this checks nothing)")
        // The client saw every refusal the server sent, and since every sandbox ended with a success, each one was
        // followed by another attempt; none needed more retries than the policy allows.
        assert.strictEqual(result.refusalsSeen, result.refused)
        assert.isAtMost(result.maxRefusalsOfOne, defaultLoad.maxRetries)
        assert.strictEqual(result.leaked, 0, "nothing left in the registry or the provider's list")
      }).pipe(Effect.scoped), 240_000)
  }
})
