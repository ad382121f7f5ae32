import { describeConformance } from "@sandkit/conformance/vitest"
import { Effect } from "effect"
import { describe, it } from "vitest"
import { LocalProvider } from "../src/index.ts"

// The best tier this host allows (bubblewrap → namespaces → process), then each lower tier forced, where it works.
describeConformance("conformance: local (auto isolation)", LocalProvider.layer())

for (const isolation of ["namespaces", "process"] as const) {
  const unavailable = await Effect.runPromise(
    Effect.match(LocalProvider.make({ isolation }), { onFailure: (e) => e.message, onSuccess: () => undefined })
  )
  if (unavailable === undefined) {
    describeConformance(`conformance: local (${isolation} isolation)`, LocalProvider.layer({ isolation }))
  } else {
    describe(`conformance: local (${isolation} isolation)`, () => {
      console.log(`skipped: the ${isolation} tier does not work here (${unavailable})`)
      it.skipIf(true)(`the ${isolation} tier is unavailable here`, () => {})
    })
  }
}
