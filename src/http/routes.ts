/**
 * Every route the worker's HTTP server serves, as docs/openapi.yaml names them (a test checks that the two lists
 * are equal and that the server answers each).
 */
export const HTTP_ROUTES = [
  { method: 'GET', path: '/livez' },
  { method: 'GET', path: '/readyz' },
  { method: 'GET', path: '/metrics' },
  { method: 'GET', path: '/state/{topology}/{aggregateId}' },
  { method: 'GET', path: '/aggregates/{topology}/{aggregateId}/events' },
  { method: 'GET', path: '/aggregates/{topology}/{aggregateId}/state' },
  { method: 'GET', path: '/events/{topology}' },
  { method: 'GET', path: '/views/{projection}/{key}' },
  { method: 'GET', path: '/views/{projection}' },
  { method: 'POST', path: '/commands/{topology}' },
  { method: 'POST', path: '/sql' },
  { method: 'GET', path: '/console/' },
  { method: 'GET', path: '/console/{file}' },
  { method: 'GET', path: '/topologies' },
  { method: 'GET', path: '/cluster' },
  { method: 'GET', path: '/dead-letters/{topology}' },
  { method: 'GET', path: '/dead-letters/{topology}/{partition}/{offset}' },
  { method: 'POST', path: '/dead-letters/{topology}/replay' },
] as const
