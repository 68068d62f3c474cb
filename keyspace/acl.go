package keyspace

import "github.com/arrakis/gaib/sandbox"

// denied are the commands a sandbox user may not run even on its own keys.
var denied = []string{
	// ACL key patterns do not confine these: they list, scan, flush or reconfigure the
	// whole server.
	"-@admin", "-@dangerous", "-keys", "-scan", "-randomkey", "-dbsize", "-flushall", "-flushdb",
	"-config", "-acl", "-select", "-swapdb", "-move", "-migrate", "-monitor", "-debug", "-shutdown",
	"-client", "-info", "-pubsub", "-script", "-function", "-save", "-bgsave", "-bgrewriteaof",
	"-replicaof", "-slaveof", "-sync", "-psync", "-failover", "-cluster", "-readonly", "-readwrite",
	"-latency", "-memory", "-module", "-slowlog", "-lastsave", "-role", "-object",
	// A script runs alone on the server: `while true do end` answers BUSY to every tenant
	// until killed, and SCRIPT KILL cannot stop one that has written. Scripts are denied
	// rather than watched (EVAL*, FCALL*, FUNCTION, SCRIPT).
	"-@scripting",
	// COPY … DB n writes into another database, out of sight of destroy and orphan
	// detection (the managed server has one database; an external one may have 16).
	"-copy",
	// The server is single-threaded: one command holds it for every tenant as long as it
	// runs. These cost what an argument says rather than what the sandbox stores, so no
	// memory budget bounds them (measured on Redis 7.0, 3-member set or 1,000-member key):
	// - a count that allocates: SRANDMEMBER/HRANDFIELD/ZRANDMEMBER with a negative count
	//   return that many elements, repeats allowed (-3,000,000: 0.2-0.6 s, the reply built
	//   even past the output buffer limit);
	// - one key named again and again: each occurrence costs the whole key. SUNIONSTORE
	//   over a 1,000-member set named 20,000 times: 1 s; ZUNIONSTORE 0.44 s; SINTER,
	//   ZINTER and SINTERCARD over two sets alternated: 0.16 s; PFCOUNT of one HyperLogLog
	//   20,000 times: 0.4 s; BITOP and PFMERGE likewise. A 64 MB query buffer holds about
	//   2 million names: minutes.
	// Bots use these rarely and have cheap equivalents (SMISMEMBER, SSCAN, ZRANGE and
	// combining in the bot); ACL rules cannot tell a two-key SINTER from a 20,000-key one,
	// so the commands go. SORT and SORT_RO are in @dangerous already. XREAD and XREADGROUP
	// have the same shape (a stream named N times with COUNT c costs N·c) but stream
	// consumers have no other way to read: they stay, a known limit (docs/architecture.md).
	"-srandmember", "-hrandfield", "-zrandmember",
	"-sunion", "-sunionstore", "-sinter", "-sinterstore", "-sintercard", "-sdiff", "-sdiffstore",
	"-zunion", "-zunionstore", "-zinter", "-zinterstore", "-zintercard", "-zdiff", "-zdiffstore",
	"-bitop", "-pfcount", "-pfmerge",
	// Client libraries introduce themselves on connect; that much CLIENT is harmless.
	"+client|setname", "+client|getname", "+client|id",
}

// freeing are the write commands a sandbox over its memory budget keeps: they delete,
// expire or pop, so it can get back under; everything else in @write is taken away.
var freeing = []string{
	"+del", "+unlink", "+expire", "+pexpire", "+expireat", "+pexpireat", "+getdel",
	"+hdel", "+srem", "+zrem", "+zremrangebyscore", "+zremrangebyrank", "+zremrangebylex",
	"+lrem", "+ltrim", "+lpop", "+rpop", "+spop", "+zpopmin", "+zpopmax", "+lmpop", "+zmpop",
	"+blpop", "+brpop", "+bzpopmin", "+bzpopmax", "+blmpop", "+bzmpop", "+xdel", "+xtrim", "+xack",
}

// commandRules are a sandbox user's command rules: every command but the denied and,
// when restricted (over its memory budget), no write but the freeing ones. They are
// complete on their own ("+@all" first), so applying them to an existing user switches
// exactly its commands and leaves its password and patterns as they are.
func commandRules(restricted bool) []any {
	args := make([]any, 0, 1+len(denied)+1+len(freeing))
	args = append(args, "+@all")
	for _, d := range denied {
		args = append(args, d)
	}
	if restricted {
		args = append(args, "-@write")
		for _, f := range freeing {
			args = append(args, f)
		}
	}
	return args
}

// rules are the ACL SETUSER arguments that make a sandbox user from scratch: reset first,
// so re-provisioning is exact; then its password, its key and channel patterns, and its
// command rules.
func (r *Redis) rules(id string, res sandbox.Resources, restricted bool) []any {
	pattern := res.RedisPrefix + "*"
	args := []any{"ACL", "SETUSER", res.RedisUser, "reset", "on",
		">" + r.secret.Password(PlaneName, id), "~" + pattern, "&" + pattern}
	return append(args, commandRules(restricted)...)
}

// switchCommands sets only the user's command rules. It never uses reset, on or a
// password: should the user have been deleted meanwhile (a destroy racing the watchdog),
// the user this creates is off, has no password and no key, and logs nobody in.
func switchCommands(user string, restricted bool) []any {
	return append([]any{"ACL", "SETUSER", user}, commandRules(restricted)...)
}
