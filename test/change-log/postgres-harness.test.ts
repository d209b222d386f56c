/** The test PostgreSQL harness itself: a real server as a non-root user, restartable with its data, removed at the end. */
import t from 'tap'
import { existsSync } from 'node:fs'
import pg from 'pg'
import { postgresOnly, startPostgres } from '../helpers/postgres.js'

t.test('starts, keeps data across a fast and an immediate restart, and is removed on close', postgresOnly(), async (t) => {
  const server = await startPostgres()
  t.teardown(() => server.close())
  const q = async (sql: string): Promise<pg.QueryResult> => {
    const c = new pg.Client({ connectionString: server.url })
    await c.connect()
    try {
      return await c.query(sql)
    } finally {
      await c.end()
    }
  }
  const who = await q('SELECT current_user AS u, version() AS v')
  t.equal(who.rows[0].u, 'postgres')
  t.match(who.rows[0].v, /^PostgreSQL \d+/)
  await q('CREATE TABLE kept (x int); INSERT INTO kept VALUES (1), (2)')

  await server.stop('fast')
  t.notOk(server.running())
  await t.rejects(q('SELECT 1'), 'refused while stopped')
  await server.start()
  t.same((await q('SELECT sum(x)::int AS s FROM kept')).rows[0].s, 3)

  await server.stop('immediate')
  await server.start()
  t.same((await q('SELECT sum(x)::int AS s FROM kept')).rows[0].s, 3, 'committed rows survive crash recovery')

  const dbUrl = await server.createDatabase('other_db')
  const c = new pg.Client({ connectionString: dbUrl })
  await c.connect()
  t.equal((await c.query('SELECT current_database() AS d')).rows[0].d, 'other_db')
  await c.end()

  const logText = server.log()
  await server.close()
  t.notOk(server.running())
  t.match(logText, /database system is ready to accept connections/)
  t.notOk(existsSync(server.dir), 'temporary folder removed')
})
