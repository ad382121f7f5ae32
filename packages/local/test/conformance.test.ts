import { describeConformance } from "@sandkit/conformance/vitest"
import { LocalProvider } from "../src/index.ts"

// The best tier this host allows (bubblewrap → namespaces → process), then the plain-process tier forced.
describeConformance("conformance: local (auto isolation)", LocalProvider.layer())
describeConformance("conformance: local (process isolation)", LocalProvider.layer({ isolation: "process" }))
