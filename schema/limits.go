package schema

import "github.com/arrakis/gaib/sandbox"

// What one sandbox may use of the server it shares. Postgres bounds a role in few ways:
//
//   - Connections: the role's CONNECTION LIMIT, and MaxSandboxes keeps their sum under
//     max_connections (postgres.go). Enforced.
//   - Temporary files: temp_file_limit, per session, superuser-only: set in the server's
//     configuration (the managed cluster: embedded.StartPostgres), no tenant can raise it.
//     A role cannot be given its own (ALTER ROLE … SET of a superuser-only parameter needs
//     a superuser, which gaib's admin is not).
//   - Time: sessionDefaults. Overridable by the tenant.
//   - Memory: work_mem, hash_mem_multiplier, maintenance_work_mem, temp_buffers and
//     logical_decoding_work_mem are USERSET: any session may raise them (up to 2 TB), and
//     Postgres has no privilege to take that away (GRANT/REVOKE SET ON PARAMETER means
//     nothing for USERSET parameters). One query holds work_mem × hash_mem_multiplier per
//     sort or hash node, times (1 + parallel workers); a sandbox holds that times its
//     connection limit. Not bounded inside Postgres: bound the server's memory from the
//     outside (a cgroup) so the OOM killer takes a backend, not the host.
//   - Disk: Postgres has no size quota on a schema or a role. Not bounded (a tablespace per
//     sandbox on a size-limited filesystem would be).
//   - Shared namespaces: advisory locks (taken from PUBLIC on the managed cluster, see
//     embedded.lockAdvisory), LISTEN/NOTIFY channels (not restrictable) and the lock
//     table: one session may hold as many locks as there are slots
//     (max_locks_per_transaction × max_connections) by locking that many of its own
//     tables, and every session of the cluster then fails with "out of shared memory".

// sessionDefault is one of a sandbox role's session defaults, from server version since.
type sessionDefault struct {
	name, value string
	since       int
}

// sessionDefaults are set on every sandbox role (ALTER ROLE … SET) against accidents, not
// against the tenant: they are USERSET, so the tenant may SET them in its sessions, put
// them in its URL's options, or ALTER ROLE itself; Repair puts the role's back.
//   - statement_timeout: a runaway query stops after a minute.
//   - idle_in_transaction_session_timeout: a forgotten open transaction ends after a
//     minute; until then it holds its locks and VACUUM's horizon for the whole cluster.
//   - idle_session_timeout: a leaked connection frees its slot of the role's limit.
var sessionDefaults = []sessionDefault{
	{"statement_timeout", "1min", 0},
	{"idle_in_transaction_session_timeout", "1min", 0},
	{"idle_session_timeout", "1h", 140000},
}

// defaultSteps are the steps that set the role's search_path and sessionDefaults.
func (p *Postgres) defaultSteps(res sandbox.Resources) []step {
	steps := []step{{"ALTER ROLE %I SET search_path = %I", []string{res.Role, res.Schema}}}
	for _, d := range sessionDefaults {
		if p.version >= d.since {
			steps = append(steps, step{"ALTER ROLE %I SET %I = %L", []string{res.Role, d.name, d.value}})
		}
	}
	return steps
}
