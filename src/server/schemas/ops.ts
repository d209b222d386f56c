/** /healthz and /readyz. */
import { Type } from 'typebox'

export const HealthResponse = Type.Object({ status: Type.Literal('ok') })

export const ReadyResponse = Type.Object({
  status: Type.Literal('ready'),
  model: Type.String(),
  dim: Type.Integer(),
  provider: Type.String(),
  indexes: Type.Integer(),
  database: Type.Optional(Type.Union([Type.Literal('up'), Type.Literal('down')], {
    description: 'shared mode: whether the database answers (while down, writes get 503 and searches are still served)',
  })),
})
