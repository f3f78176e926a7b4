import t from 'tap'
import { decideRange } from '../../src/host/routes/range.js'

t.test('single byte ranges', async (t) => {
  t.same(decideRange(undefined, 100), { kind: 'full' })
  t.same(decideRange('bytes=0-9', 100), { kind: 'partial', start: 0, end: 9 })
  t.same(decideRange('bytes=90-', 100), { kind: 'partial', start: 90, end: 99 })
  t.same(decideRange('bytes=-10', 100), { kind: 'partial', start: 90, end: 99 })
  t.same(decideRange('bytes=-1000', 100), { kind: 'partial', start: 0, end: 99 })
  t.same(decideRange('bytes=50-5000', 100), { kind: 'partial', start: 50, end: 99 })
  t.same(decideRange('bytes=99-99', 100), { kind: 'partial', start: 99, end: 99 })
})

t.test('what cannot be served exactly is unsatisfiable', async (t) => {
  for (const h of ['bytes=100-', 'bytes=100-200', 'bytes=5-4', 'bytes=-0', 'bytes=-', 'bytes=0-1,3-4', 'lines=1-2', 'bytes=a-b', 'bytes=99999999999999999999-']) {
    t.same(decideRange(h, 100), { kind: 'unsatisfiable' }, h)
  }
  t.same(decideRange('bytes=0-', 0), { kind: 'unsatisfiable' }, 'nothing to serve in an empty shard')
  t.same(decideRange('bytes=-5', 0), { kind: 'unsatisfiable' })
})
