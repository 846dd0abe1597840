export { partitionOf } from '../kafka/partitioner.ts'
