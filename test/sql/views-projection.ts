/**
 * A projector for the SQL integration test's projection topology: one view per owner. Its logic is not exercised
 * there (the test writes the views changelog itself, in the projection runtime's format); only the topology loads.
 */
import { defineProjection } from '../../src/domain/projection.ts'

export default defineProjection<{ type: string; payload: unknown }, { n: number }>({
  key: (e) => e.aggregateId,
  initialState: () => ({ n: 0 }),
  project: (view) => ({ n: (view?.n ?? 0) + 1 }),
})
