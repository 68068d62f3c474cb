// Package schema gives each sandbox its slice of Postgres: a schema sandbox_<id> holding
// the bot's tables (from SQL migrations) and a login role sandbox_<id> that may use only
// that schema, created in one transaction and dropped together. Every identifier is quoted
// by the server (format %I / %L); nothing is concatenated from input.
package schema
