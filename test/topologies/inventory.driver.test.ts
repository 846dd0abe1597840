/** The inventory topology (JSON serialization, several events per command) through TopologyTestDriver. */
import { describe, expect, it } from 'vitest'
import { TopologyTestDriver } from '../../src/testing/index.ts'

describe('inventory topology (TopologyTestDriver)', () => {
  it('reserves to depletion, crashes between send and commit, and restarts without a duplicate', async () => {
    const driver = await TopologyTestDriver.fromFile('topologies/inventory.yaml')
    expect(driver.topology.definition.serialization).toBe('json')
    await driver.pipe({ aggregateId: 'sku-1', type: 'ReceiveStock', payload: { quantity: 5 } })
    await driver.pipe({
      aggregateId: 'sku-1',
      type: 'ReserveStock',
      payload: { reservationId: 'r1', quantity: 2 },
    })
    driver.crashAt('before-commit', { aggregateId: 'sku-1' })
    expect(
      await driver.pipe({
        aggregateId: 'sku-1',
        type: 'ReserveStock',
        payload: { reservationId: 'r2', quantity: 3 },
        commandId: 'r2',
      }),
    ).toBeUndefined()
    expect(driver.events('sku-1')).toHaveLength(2)
    await driver.restart()
    expect(driver.reply('r2')).toMatchObject({
      status: 'accepted',
      events: [
        ['StockReserved', 3],
        ['StockDepleted', 4],
      ],
    })
    expect(driver.events('sku-1').map((e) => e.type)).toEqual([
      'StockReceived',
      'StockReserved',
      'StockReserved',
      'StockDepleted',
    ])
    expect(await driver.state('sku-1')).toEqual({ onHand: 5, reservations: { r1: 2, r2: 3 } })
    expect(await driver.storeSnapshots()).toEqual(driver.changelogSnapshots())
    expect(
      await driver.pipe({
        aggregateId: 'sku-1',
        type: 'ReserveStock',
        payload: { reservationId: 'r3', quantity: 1 },
      }),
    ).toMatchObject({
      status: 'rejected',
      error: { code: 'insufficient_stock' },
    })
  })
})
