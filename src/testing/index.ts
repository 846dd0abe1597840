/**
 * `kafka-decider/testing`: test a decider without Kafka (given/when/then), a projection (givenEvents/then), or a
 * whole topology (TopologyTestDriver).
 */
export { given, SpecFailedError, type ThenStep, type WhenStep } from './given.ts'
export {
  givenEvents,
  GIVEN_BASE_TIME,
  type EnvelopeFields,
  type GivenEvent,
  type GivenStoredEvent,
  type ProjectionSpecOptions,
  type ProjectionThenStep,
} from './projection-spec.ts'
export { decideAfter, upcastHistory, type Decision, type DecideResult, type StoredEvent } from './decide.ts'
export {
  TopologyTestDriver,
  SimulatedCrash,
  type CrashPoint,
  type DeadLetter,
  type DriverCommand,
  type TypedDriverCommand,
  type TopologyTestDriverOptions,
} from './driver.ts'
export { MemoryLog } from './memory-log.ts'
export { MemoryFaults } from './memory-faults.ts'
export { memoryTaskPorts, silentLogger } from './memory-ports.ts'
