/**
 * The API's request validators: fastify's own ajv compiler, with every integer parameter of a
 * query string or a path held to plain decimal digits in range first (domain/strict-integers.ts).
 * Installed once in app.ts as the schema controller's validator factory, so it covers every
 * route, present and future, with no per-route schema work; the OpenAPI document still says
 * `integer` with its minimum and maximum.
 */
import { AjvCompiler } from '@fastify/ajv-compiler'
import type { FastifyServerOptions } from 'fastify'
import { integerParameters, strictIntegerIssues } from './domain/strict-integers.ts'

type ValidatorFactory = NonNullable<
  NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']
>
type Validate = ((data: unknown, context?: unknown) => unknown) & { errors?: unknown; schemaEnv?: unknown }

export function strictIntegerValidatorFactory(): ValidatorFactory {
  const ajvFactory = AjvCompiler() as unknown as ValidatorFactory
  return ((externalSchemas: unknown, options: unknown) => {
    const compile = (ajvFactory as unknown as (s: unknown, o: unknown) => (route: unknown) => Validate)(
      externalSchemas,
      options,
    )
    return (route: { schema: unknown; httpPart?: string }) => {
      const validate = compile(route)
      if (route.httpPart !== 'querystring' && route.httpPart !== 'params') return validate
      // Throws at start for an integer parameter without a range (the route does not build).
      const parameters = integerParameters(route.schema)
      if (parameters.length === 0) return validate
      const strict: Validate = (data, context) => {
        const issues = strictIntegerIssues(parameters, data)
        if (issues.length > 0) {
          strict.errors = issues.map((i) => ({
            keyword: 'decimalInteger',
            instancePath: i.instancePath,
            schemaPath: `#/properties${i.instancePath}`,
            params: {},
            message: i.message,
          }))
          return false
        }
        const ok = validate(data, context)
        strict.errors = validate.errors
        return ok
      }
      // fastify hands ajv's functions their parent (so a root value can be coerced) when it sees this.
      strict.schemaEnv = validate.schemaEnv
      return strict
    }
  }) as unknown as ValidatorFactory
}
