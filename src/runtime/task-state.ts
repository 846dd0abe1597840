/**
 * Task lifecycle (one task per input partition):
 *
 *   CREATED -> INITIALIZING -> RESTORING -> RUNNING -> CLOSING -> CLOSED
 *                  ^   |                       |
 *                  |   +---------------------> CLOSING   (init failed, revoked, fenced, shutdown)
 *                  +---------------------------+         (commit outcome unknown / store behind:
 *                                                          re-initialise: new producer, restore the tail)
 *
 * INITIALIZING: open the store, new producer + InitProducerId (fences zombies and waits out their open
 *               transaction), THEN read the committed input offset (never before: it may be stale).
 * RESTORING:    changelog from the store's checkpoint to the last stable offset.
 * RUNNING:      batches, one transaction each.
 */
import { IllegalTaskTransitionError } from '../errors.ts'

export const TaskState = {
  CREATED: 'CREATED',
  INITIALIZING: 'INITIALIZING',
  RESTORING: 'RESTORING',
  RUNNING: 'RUNNING',
  CLOSING: 'CLOSING',
  CLOSED: 'CLOSED',
} as const
export type TaskState = (typeof TaskState)[keyof typeof TaskState]

const TRANSITIONS: Record<TaskState, readonly TaskState[]> = {
  CREATED: ['INITIALIZING', 'CLOSING'],
  INITIALIZING: ['RESTORING', 'CLOSING'],
  RESTORING: ['RUNNING', 'CLOSING'],
  RUNNING: ['INITIALIZING', 'CLOSING'],
  CLOSING: ['CLOSED'],
  CLOSED: [],
}

export function checkTransition(from: TaskState, to: TaskState, task: string): void {
  if (!TRANSITIONS[from].includes(to)) {
    throw new IllegalTaskTransitionError(
      `task ${task}: illegal transition ${from} -> ${to} (allowed: ${TRANSITIONS[from].join(', ') || 'none'})`,
    )
  }
}
