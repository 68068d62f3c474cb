// Package schema gives each sandbox its slice of Postgres: a schema sandbox_<id> holding
// the bot's tables (from SQL migrations) and a login role sandbox_<id> that may use only
// that schema and connect only to the plane's database.
//
// The tenant owns its schema and may create anything there (views, functions, triggers,
// operators), so gaib never reads, calls or triggers an object in it while holding the
// admin role: the admin's sessions resolve names in pg_catalog only, every catalog call is
// schema-qualified, and what gaib must know about a sandbox (its migration version) is kept
// in the admin-owned schema "gaib". Migrations and the health check log in as the sandbox's
// own role, with the URL `connect` hands out. Every name is derived from the sandbox id at
// the moment of use, and every identifier is quoted by the server (format %I / %L).
package schema
