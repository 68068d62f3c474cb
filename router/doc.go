// Package router moves Discord events from the gateway's stream to where they belong: the
// subject namespace of the sandbox a guild is registered to (sandbox.<id>.events.…), or
// production (events.…, commands.…). It keeps the route table in memory, fed live by a
// watch on the routes bucket, and never reads its own output, so it cannot loop.
package router
