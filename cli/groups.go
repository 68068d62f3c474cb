package cli

// Detailed help of the command groups: what `gaib GROUP` alone shows above its commands.

// Help is the detailed help of `gaib sandbox`.
func (SandboxCmd) Help() string {
	return detail("A sandbox is a named, short-lived slice of the mesh: a Postgres schema and role, a Redis prefix and user, "+
		"its own event stream and NATS credential, and the Discord guilds routed to it.",
		"gaib sandbox create demo --guild 123456789012345678",
		"gaib sandbox events demo",
		"gaib sandbox run demo -- bot-worker",
		"gaib sandbox destroy demo")
}

// Help is the detailed help of `gaib events`.
func (EventsCmd) Help() string {
	return examples("gaib events publish --guild 123456789012345678 --type member.join")
}

// Help is the detailed help of `gaib guild`.
func (GuildCmd) Help() string {
	return examples("gaib guild allow 123456789012345678 --note \"QA server\"", "gaib guild list")
}

// Help is the detailed help of `gaib router`.
func (RouterCmd) Help() string {
	return examples("gaib router stats", "gaib router lookup 123456789012345678")
}

// Help is the detailed help of `gaib cleanup`.
func (CleanupCmd) Help() string {
	return examples("gaib cleanup run", "gaib cleanup orphans --remove")
}

// Help is the detailed help of `gaib user`.
func (UserCmd) Help() string {
	return examples("gaib user add alice --save alice.creds", "gaib user list", "gaib user whoami")
}
