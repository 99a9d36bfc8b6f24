// A PostgreSQL schema of its own for a test file, in the machine's `test`
// database, dropped afterwards.
import pg from 'pg';

export const PG_URL = process.env.AOAIGW_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function tempSchema(): Promise<{ url: (base?: string) => string; drop: () => Promise<void> }> {
  const name = `aoaigw_t_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${name}`);
  await admin.end();
  return {
    /** the URL of `base` (default: the test database) with this schema as the search path */
    url: (base = PG_URL) => `${base}?options=${encodeURIComponent(`-c search_path=${name}`)}`,
    async drop() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${name} CASCADE`);
      await c.end();
    },
  };
}
